"""The validation engine behind ``llmops validate``: rules, findings, configuration.

A rule (see :class:`Rule`) has a stable id, a default severity, a one-line
rationale and a fix hint; rules live in the explicit registry
:data:`llmops.rules.REGISTRY` (tests pass their own). Each rule runs in one scope:

- ``files``: once, over the repository's YAML files (runs while kustomize renders);
- ``repository``: once, over the Applications, the AppProject and every
  kustomization that no environment overlay includes (``argocd/``, ``setup/``, ...);
- ``environment``: once per environment, over its rendered resources;
- ``resources``: both of the above (checks on any resource, wherever it comes from).

``llmops.yaml`` (``validate.rules``) can change a rule's severity, per environment,
or disable it with a written reason. A resource can suppress a rule for itself with
the annotation ``llmops.io/suppress: "<rule-id>: <reason>"``: the finding is kept in
the report, marked suppressed, and does not fail the run. A rule that raises becomes
an error finding; the engine itself never crashes on malformed manifests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, Protocol

from llmops.errors import LlmopsError
from llmops.gitops import manifests
from llmops.gitops.config import RuleSetting, ValidateConfig
from llmops.gitops.kustomize_tree import KUSTOMIZATION_FILES, closure
from llmops.gitops.locate import Location, SourceIndex
from llmops.gitops.manifests import Resource
from llmops.gitops.render import render_each
from llmops.gitops.repo import Application, Repository
from llmops.validation import catalog

SUPPRESS_ANNOTATION = "llmops.io/suppress"
REPOSITORY = "(repository)"  # the environment column of repository-scope findings
Scope = Literal["files", "repository", "environment", "resources"]  # resources: repository + each env
_SKIP_DIRS = frozenset({".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"})


class Severity(StrEnum):
    error = "error"
    warning = "warning"
    info = "info"


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


@dataclass(frozen=True)
class Issue:
    """What a rule reports; the engine turns it into a :class:`Finding`."""

    message: str
    resource: str = ""
    location: Location | None = None
    hint: str | None = None  # replaces the rule's generic hint
    severity: Severity | None = None  # replaces the rule's default (rarely needed)
    manifest: Resource | None = None  # for the suppression annotation


@dataclass(frozen=True)
class Finding:
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


@dataclass
class Context:
    """Everything a rule may look at, for one scope."""

    repo: Repository
    config: ValidateConfig
    index: SourceIndex
    environment: str | None = None  # None outside the environment scope
    apps: list[Application] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # YAML files in scope (files scope)
    build_errors: dict[Path, LlmopsError] = field(default_factory=dict)  # kustomization dir -> error
    all_apps: list[Application] = field(default_factory=list)
    app_error: LlmopsError | None = None  # the Applications could not be read
    memo: dict[str, Any] = field(default_factory=dict)  # results shared by rules of one scope

    @cached_property
    def schema_set(self) -> catalog.SchemaSet:
        return catalog.load(self.repo.root / self.config.schemas, self.config.kubernetes_version)

    def issue(
        self,
        item: Item,
        message: str,
        path: Sequence[str | int] = (),
        *,
        hint: str | None = None,
        severity: Severity | None = None,
    ) -> Issue:
        """An issue on one resource, located at ``path`` inside it when the source is found."""
        where = self.index.locate(item.source, item.kind, item.name, tuple(path))
        if where is None:
            where = self.index.file_location(item.source) if item.source.is_file() else None
        return Issue(message, item.ident, where, hint, severity, item.resource)

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


@dataclass(frozen=True)
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


@dataclass
class Report:
    findings: list[Finding]
    environments: list[str]
    rules: list[str]
    disabled: dict[str, str]  # rule id -> reason

    def count(self, severity: Severity, *, suppressed: bool = False) -> int:
        return sum(
            1 for f in self.findings if f.severity == severity and (f.suppressed is not None) == suppressed
        )

    @property
    def exit_code(self) -> int:
        return 1 if any(f.blocking for f in self.findings) else 0


# -- configuration and suppression ------------------------------------------------------------


def effective_severity(rule: Rule, setting: RuleSetting | None, environment: str | None) -> Severity:
    severity = rule.severity
    if environment and environment in rule.env_severity:
        severity = rule.env_severity[environment]
    if setting is not None:
        if setting.severity:
            severity = Severity(setting.severity)
        if environment and environment in setting.environments:
            severity = Severity(setting.environments[environment])
    return severity


def suppression(manifest: Resource | None, rule_id: str) -> tuple[bool, str | None]:
    """(matched, reason) for the resource's ``llmops.io/suppress`` annotation and this rule."""
    if not isinstance(manifest, dict):
        return False, None
    meta = manifest.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    value = annotations.get(SUPPRESS_ANNOTATION) if isinstance(annotations, dict) else None
    if not isinstance(value, str):
        return False, None
    for entry in value.replace(";", "\n").splitlines():
        rid, _, reason = entry.partition(":")
        if rid.strip() == rule_id:
            return True, reason.strip() or None
    return False, None


def _finding(rule: Rule, issue: Issue, env: str | None, setting: RuleSetting | None) -> Finding:
    severity = issue.severity or effective_severity(rule, setting, env)
    if issue.severity and setting is not None and (setting.severity or (env in setting.environments)):
        severity = effective_severity(rule, setting, env)
    matched, reason = suppression(issue.manifest, rule.id)
    message = issue.message
    if matched and reason is None:
        message += f" (the {SUPPRESS_ANNOTATION} annotation names this rule without a reason: ignored)"
    loc = issue.location
    return Finding(
        rule=rule.id,
        severity=severity,
        environment=env or REPOSITORY,
        resource=issue.resource,
        message=message,
        hint=issue.hint or rule.hint,
        file=loc.file if loc else None,
        line=loc.line if loc else None,
        column=loc.column if loc else None,
        suppressed=reason if matched else None,
        justification=setting.reason if setting is not None else None,
    )


def _run_rule(rule: Rule, ctx: Context, setting: RuleSetting | None) -> list[Finding]:
    try:
        return [_finding(rule, issue, ctx.environment, setting) for issue in rule.check(ctx)]
    except Exception as exc:  # a broken rule or an input it did not expect: report, never crash
        crash = Issue(
            f"the rule could not finish: {type(exc).__name__}: {str(exc)[:200]}",
            hint="the input is probably malformed in a way this rule does not expect; "
            "fix the reported resources first, or rerun with --debug and report it",
            severity=Severity.error,
        )
        if os.environ.get("LLMOPS_DEBUG"):
            raise
        return [_finding(rule, crash, ctx.environment, None)]


# -- discovering what to check ----------------------------------------------------------------


def yaml_files(root: Path, paths: Sequence[str]) -> list[Path]:
    """YAML files under the configured paths (default: the whole repository)."""
    starts = [root / p for p in paths] if paths else [root]
    found: set[Path] = set()
    for start in starts:
        if start.is_file():
            found.add(start)
            continue
        if not start.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
            for name in filenames:
                if name.endswith((".yaml", ".yml")) or name == "Kustomization":
                    found.add(Path(dirpath) / name)
    return sorted(found)


def _standalone(root: Path, files: list[Path], kustomization_dirs: set[Path]) -> list[Path]:
    """Files that no kustomization folder (or an ancestor folder) owns."""
    out = []
    for file in files:
        parents = [p for p in file.parents if p == root or root in p.parents]
        if not any(p in kustomization_dirs for p in parents):
            out.append(file)
    return out


def _manifest_items(file: Path) -> list[Item]:
    try:
        docs = manifests.load_file(file)
    except LlmopsError:
        return []  # the yaml rules report unreadable files
    return [
        Item(d, file)
        for d in docs
        if d.get("apiVersion") and d.get("kind") and not str(d.get("apiVersion")).startswith("kustomize.")
    ]


@dataclass(frozen=True)
class Plan:
    environments: list[str]
    files: list[Path]
    repo_kustomizations: list[Path]  # kustomizations no environment overlay includes
    standalone: list[Path]


def plan(repo: Repository, config: ValidateConfig, environments: list[str], apps: list[Application]) -> Plan:
    root = repo.root
    files = yaml_files(root, config.paths)
    kdirs = {f.parent for f in files if f.name in KUSTOMIZATION_FILES}
    covered: set[Path] = set()
    for app in apps:
        covered.update(closure(root / app.path))
    repo_kdirs = sorted(d for d in kdirs if d.resolve() not in covered and d not in covered)
    standalone = _standalone(root, files, kdirs)
    return Plan(environments, files, repo_kdirs, standalone)


# -- the run ----------------------------------------------------------------------------------


def run(
    repo: Repository,
    *,
    environments: Sequence[str] | None = None,
    registry: Mapping[str, Rule] | None = None,
) -> Report:
    """Validate the repository (all environments, or the given ones)."""
    if registry is None:
        from llmops.validation.rules import REGISTRY

        registry = REGISTRY
    config = repo.config.validate_
    settings = config.rules
    root = repo.root
    env_names = list(environments) if environments is not None else repo.config.environment_names()
    unknown = [n for n in env_names if n not in repo.config.environment_names()]
    if unknown:
        repo.environment(unknown[0])  # raises UsageError naming the known environments
    index = SourceIndex(root)
    app_error: LlmopsError | None = None
    try:
        all_apps = repo.applications()
    except LlmopsError as exc:
        all_apps, app_error = [], exc
    selected = [a for a in all_apps if a.environment in env_names]
    the_plan = plan(repo, config, env_names, all_apps)

    active = {rid: r for rid, r in registry.items() if not (rid in settings and settings[rid].disabled)}
    disabled = {
        rid: settings[rid].reason or "" for rid in registry if rid in settings and settings[rid].disabled
    }

    render_paths = [a.path for a in selected] + [
        str(d.relative_to(root)) for d in the_plan.repo_kustomizations
    ]
    findings: list[Finding] = []
    with ThreadPoolExecutor(max_workers=1) as background:
        pending = background.submit(render_each, root, render_paths)
        files_ctx = Context(repo, config, index, files=the_plan.files, all_apps=all_apps, app_error=app_error)
        for rule in active.values():
            if rule.scope == "files":
                findings += _run_rule(rule, files_ctx, settings.get(rule.id))
        try:  # load the schemas while kustomize is still running
            files_ctx.schema_set.validator("serving.kserve.io/v1beta1", "InferenceService")
        except LlmopsError:
            pass  # reported by the schema rules, which load it again
        rendered = pending.result()

    build_errors = {root / p: r for p, r in rendered.items() if isinstance(r, LlmopsError)}
    repo_items: list[Item] = []
    for d in the_plan.repo_kustomizations:
        result = rendered.get(str(d.relative_to(root)))
        if isinstance(result, list):
            repo_items += [Item(r, d) for r in result]
        else:  # it does not build (reported): still check the manifests it holds, file by file
            for file in the_plan.files:
                if file.parent == d:
                    repo_items += _manifest_items(file)
    for file in the_plan.standalone:
        repo_items += _manifest_items(file)
    repo_ctx = Context(
        repo, config, index, items=repo_items, files=the_plan.files, build_errors=build_errors,
        all_apps=all_apps, app_error=app_error,
    )  # fmt: skip
    for rule in active.values():
        if rule.scope in ("repository", "resources"):
            findings += _run_rule(rule, repo_ctx, settings.get(rule.id))

    for env in env_names:
        apps = [a for a in selected if a.environment == env]
        items: list[Item] = []
        errors: dict[Path, LlmopsError] = {}
        for app in apps:
            result = rendered.get(app.path)
            if isinstance(result, list):
                items += [Item(r, root / app.path, app) for r in result]
            elif result is not None:
                errors[root / app.path] = result
        ctx = Context(repo, config, index, env, apps, items, the_plan.files, errors, all_apps, app_error)
        for rule in active.values():
            if rule.scope in ("environment", "resources"):
                findings += _run_rule(rule, ctx, settings.get(rule.id))

    order = {name: i for i, name in enumerate([REPOSITORY, *env_names])}
    rank = {Severity.error: 0, Severity.warning: 1, Severity.info: 2}
    findings.sort(
        key=lambda f: (
            order.get(f.environment, 99),
            rank[f.severity],
            f.rule,
            f.resource,
            f.file or "",
            f.line or 0,
        )
    )
    return Report(findings, env_names, list(active), disabled)
