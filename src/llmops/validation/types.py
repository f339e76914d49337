"""What rules and the runner share: the Rule protocol, what rules see and report, the report.

A rule (see :class:`Rule`) has a stable id, a default severity, a one-line
rationale and a fix hint, and runs in one scope:

- ``files``: once, over the repository's YAML files (runs while kustomize renders);
- ``repository``: once, over the Applications, the AppProject and every
  kustomization that no environment overlay includes (``argocd/``, ``setup/``, ...);
- ``environment``: once per environment, over its rendered resources;
- ``resources``: both of the above (checks on any resource, wherever it comes from).

Rule modules import this module only (never the runner), so the registry in
:mod:`llmops.validation.rules` and the runner do not import each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, Protocol

from llmops.errors import LlmopsError
from llmops.gitops import manifests
from llmops.gitops.config import Severity, ValidateConfig
from llmops.gitops.locate import Location, SourceIndex
from llmops.gitops.manifests import Resource
from llmops.gitops.repo import Application, Repository
from llmops.support.files import inside
from llmops.validation import catalog

__all__ = [
    "REPOSITORY",
    "YAMLLINT_CONFIG_FILES",
    "BasePolicy",
    "Context",
    "Finding",
    "FunctionRule",
    "Issue",
    "Item",
    "PolicyChange",
    "Report",
    "Rule",
    "Scope",
    "Severity",
]

REPOSITORY = "(repository)"  # the environment column of repository-scope findings
Scope = Literal["files", "repository", "environment", "resources"]  # resources: repository + each env
# yamllint's own configuration file names at the repository root, the first found wins.
YAMLLINT_CONFIG_FILES = (".yamllint", ".yamllint.yaml", ".yamllint.yml")


@dataclass(frozen=True)
class Item:
    """A resource to check, with where it came from (a kustomization folder or a file)."""

    resource: Resource
    source: Path
    app: Application | None = None

    @property
    def kind(self) -> str:
        return str(self.resource.get("kind", ""))

    @property
    def name(self) -> str:
        return manifests.resource_id(self.resource).name

    @property
    def ident(self) -> str:
        return str(manifests.resource_id(self.resource))


@dataclass(frozen=True, kw_only=True)
class Issue:
    """What a rule reports; the runner turns it into a :class:`Finding`."""

    message: str
    resource: str = ""
    location: Location | None = None
    hint: str | None = None  # replaces the rule's generic hint
    severity: Severity | None = None  # replaces the rule's default (rarely needed)
    manifest: Resource | None = None  # for the suppression annotation
    justification: str | None = None  # why llmops.yaml accepts this very issue (e.g. unpinned_images)


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One line of the report: a rule's issue with its effective severity and suppression."""

    rule: str
    severity: Severity
    environment: str
    resource: str
    message: str
    hint: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    suppressed: str | None = None  # the reason given in the suppression annotation
    justification: str | None = None  # the reason llmops.yaml gives for this rule's setting

    @property
    def location(self) -> str:
        return str(Location(self.file, self.line, self.column)) if self.file else ""

    @property
    def blocking(self) -> bool:
        return self.severity == Severity.error and self.suppressed is None


@dataclass(frozen=True, kw_only=True)
class PolicyChange:
    """A change a pull request makes to the gate itself (``validate --policy-from BASE``)."""

    kind: Literal["config", "suppression", "appproject", "schemas", "pipeline"]
    message: str
    resource: str
    location: Location | None = None


@dataclass(frozen=True, kw_only=True)
class BasePolicy:
    """The gate as the base revision has it: what ``validate --policy-from BASE`` judges by.

    ``root`` holds the base revision's files (a temporary checkout): its llmops.yaml gate
    settings, yamllint configuration and schema catalog are used instead of the change's;
    ``projects`` are its AppProjects; ``changes`` what the change does to all of these.
    """

    ref: str
    commit: str
    root: Path
    projects: list[Resource]
    changes: list[PolicyChange]


@dataclass(frozen=True, kw_only=True)
class Context:
    """Everything a rule may look at, for one scope."""

    repo: Repository
    config: ValidateConfig
    index: SourceIndex
    environment: str | None = None  # None outside the environment scope
    apps: list[Application] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # YAML files in scope (files scope)
    refused: dict[Path, str] = field(default_factory=dict)  # YAML files over the budget, not read (why)
    build_errors: dict[Path, LlmopsError] = field(default_factory=dict)  # kustomization dir -> error
    all_apps: list[Application] = field(default_factory=list)
    app_error: LlmopsError | None = None  # the Applications could not be read
    memo: dict[str, Any] = field(default_factory=dict)  # results shared by rules of one scope
    policy: BasePolicy | None = None  # set by validate --policy-from: the base revision's gate

    @property
    def settings_root(self) -> Path:
        """Where the gate's own files (schema catalog, yamllint configuration) are read from:
        the base revision's checkout under ``--policy-from``, else the repository."""
        return self.policy.root if self.policy is not None else self.repo.root

    @cached_property
    def schema_set(self) -> catalog.SchemaSet:
        folder = inside(self.settings_root, self.config.schemas, what="the schema catalog (validate.schemas)")
        return catalog.load(folder, self.config.kubernetes_version)

    def app_projects(self) -> list[Resource]:
        """The AppProjects Applications are judged against: the base revision's under
        ``--policy-from`` (a change cannot widen the project that judges it), else those in scope."""
        if self.policy is not None:
            return self.policy.projects
        return [i.resource for i in self.of_kind("AppProject")]

    def issue(
        self,
        item: Item,
        message: str,
        path: Sequence[str | int] = (),
        *,
        hint: str | None = None,
        severity: Severity | None = None,
        justification: str | None = None,
    ) -> Issue:
        """An issue on one resource, located at ``path`` inside it when the source is found."""
        where = self.index.locate(item.source, item.kind, item.name, tuple(path))
        if where is None:
            where = self.index.file_location(item.source) if item.source.is_file() else None
        return Issue(
            message=message,
            resource=item.ident,
            location=where,
            hint=hint,
            severity=severity,
            manifest=item.resource,
            justification=justification,
        )

    def app_issue(self, app: Application, message: str, path: Sequence[str | int] = ()) -> Issue:
        """An issue on an Argo CD Application, located at ``path`` inside its manifest."""
        file = self.repo.root / app.file
        where = self.index.locate(file, "Application", app.name, tuple(path))
        return Issue(
            message=message,
            resource=f"Application/{app.name}",
            location=where or self.index.file_location(file),
            manifest=app.manifest,
        )

    def of_kind(self, *kinds: str) -> list[Item]:
        return [i for i in self.items if i.kind in kinds]


class Rule(Protocol):
    """A validation rule: stable id, default severity, rationale, fix hint, scope, check."""

    @property
    def id(self) -> str: ...
    @property
    def severity(self) -> Severity: ...
    @property
    def rationale(self) -> str: ...
    @property
    def hint(self) -> str: ...
    @property
    def scope(self) -> Scope: ...
    @property
    def env_severity(self) -> Mapping[str, Severity]: ...

    def check(self, ctx: Context) -> Iterable[Issue]: ...


@dataclass(frozen=True, kw_only=True)
class FunctionRule:
    """A :class:`Rule` made of metadata and a check function (how the built-in rules are written)."""

    id: str
    severity: Severity
    rationale: str
    hint: str
    scope: Scope
    fn: Callable[[Context], Iterable[Issue]]
    env_severity: Mapping[str, Severity] = field(default_factory=dict)

    def check(self, ctx: Context) -> Iterable[Issue]:
        return self.fn(ctx)


@dataclass(frozen=True, kw_only=True)
class Report:
    """The outcome of one run: sorted findings, what was checked, which rules were off and why."""

    findings: list[Finding]
    environments: list[str]
    rules: list[str]
    disabled: dict[str, str]  # rule id -> reason
    policy_from: str | None = None  # "REF (commit)" when the gate's settings came from a base revision

    def count(self, severity: Severity, *, suppressed: bool = False) -> int:
        return sum(
            1 for f in self.findings if f.severity == severity and (f.suppressed is not None) == suppressed
        )

    @property
    def exit_code(self) -> int:
        return 1 if any(f.blocking for f in self.findings) else 0
