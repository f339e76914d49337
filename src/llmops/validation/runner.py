"""The validation run behind ``llmops validate``: what to check, in which scope, and the findings.

The rules come from the caller (the command passes :data:`llmops.validation.rules.REGISTRY`,
tests pass their own); their types live in :mod:`llmops.validation.types`.

``llmops.yaml`` (``validate.rules``) can change a rule's severity, per environment,
or disable it with a written reason. A resource can suppress a rule for itself with
the annotation ``llmops.io/suppress: "<rule-id>: <reason>"``: the finding is kept in
the report, marked suppressed, and does not fail the run. A rule that raises becomes
an error finding (``debug=True`` lets the exception through instead); the runner
itself never crashes on malformed manifests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from llmops.errors import LlmopsError
from llmops.gitops import build_options, git, kustomize_tree, limits, manifests
from llmops.gitops.affected import affected_environments
from llmops.gitops.build_options import Option
from llmops.gitops.config import CONFIG_FILE, Limits, RuleSetting, ValidateConfig
from llmops.gitops.kustomize_tree import KUSTOMIZATION_FILES, closure
from llmops.gitops.locate import SourceIndex
from llmops.gitops.render import Rendering, render_each
from llmops.gitops.repo import Application, Repository
from llmops.support.files import MiB, yaml_files
from llmops.support.text import printable, scrub
from llmops.validation import policy
from llmops.validation.types import (
    REPOSITORY,
    YAMLLINT_CONFIG_FILES,
    BasePolicy,
    Context,
    Finding,
    Issue,
    Item,
    Report,
    Rule,
    Scope,
    Severity,
)

SUPPRESS_ANNOTATION = "llmops.io/suppress"
_REPOSITORY_SCOPES: tuple[Scope, ...] = ("repository", "resources")
_ENVIRONMENT_SCOPES: tuple[Scope, ...] = ("environment", "resources")
_RANK = {Severity.error: 0, Severity.warning: 1, Severity.info: 2}

# The rules to run, or a function that returns them (called once kustomize is running).
Registry = Mapping[str, Rule] | Callable[[], Mapping[str, Rule]]


# -- which environments a change needs checked --------------------------------------------------


def validation_inputs(repo: Repository) -> tuple[tuple[str, ...], str]:
    """(files, folder) that validation itself reads: a change to them can change any finding."""
    return (CONFIG_FILE, *YAMLLINT_CONFIG_FILES), repo.config.validate_.schemas.strip("/") + "/"


def environments_to_check(repo: Repository, base: str, requested: Sequence[str] = ()) -> list[str]:
    """Environments to validate for the change from ``base`` to the working tree.

    A change to what validation itself reads (``llmops.yaml``, the yamllint
    configuration, the schema catalog, the admission policies) needs every environment checked; otherwise the
    environments whose renders the changed files feed
    (:func:`llmops.gitops.affected.affected_environments`). ``requested`` (when given)
    narrows the answer; the result keeps the promotion order.
    """
    changed = git.changed_files(repo.root, git.resolve_commit(repo.root, base), None)
    files, catalog_folder = validation_inputs(repo)
    folders = (catalog_folder, *(p.strip("/") + "/" for p in repo.config.validate_.policies))
    if any(c in files or c.startswith(folders) or c in repo.config.validate_.policies for c in changed):
        touched = repo.config.environment_names()
    else:
        touched = affected_environments(repo, base, None)
    return [e for e in touched if not requested or e in requested]


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


def suppression(manifest: manifests.Resource | None, rule_id: str) -> tuple[bool, str | None]:
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


def _severity(rule: Rule, issue: Issue, env: str | None, setting: RuleSetting | None) -> Severity:
    """The issue's own severity, unless llmops.yaml sets this rule's severity (which wins)."""
    configured = setting is not None and bool(setting.severity or env in setting.environments)
    if issue.severity is None or configured:
        return effective_severity(rule, setting, env)
    return issue.severity


def _finding(rule: Rule, issue: Issue, env: str | None, setting: RuleSetting | None) -> Finding:
    matched, reason = suppression(issue.manifest, rule.id)
    message = issue.message
    if matched and reason is None:
        message += f" (the {SUPPRESS_ANNOTATION} annotation names this rule without a reason: ignored)"
    loc = issue.location
    return Finding(
        rule=rule.id,
        severity=_severity(rule, issue, env, setting),
        environment=env or REPOSITORY,
        resource=issue.resource,
        message=message,
        hint=issue.hint or rule.hint,
        file=loc.file if loc else None,
        line=loc.line if loc else None,
        column=loc.column if loc else None,
        suppressed=reason if matched else None,
        justification=issue.justification or (setting.reason if setting is not None else None),
    )


def _run_rule(rule: Rule, ctx: Context, setting: RuleSetting | None, *, debug: bool = False) -> list[Finding]:
    """The rule's findings; a rule that raises becomes one error finding, unless ``debug``."""
    try:
        return [_finding(rule, issue, ctx.environment, setting) for issue in rule.check(ctx)]
    except Exception as exc:  # a broken rule or an input it did not expect: report, never crash
        if debug:
            raise
        crash = Issue(
            message=f"the rule could not finish: {type(exc).__name__}: {str(exc)[:200]}",
            hint="the input is probably malformed in a way this rule does not expect; "
            "fix the reported resources first, or rerun with --debug and report it",
            severity=Severity.error,
        )
        return [_finding(rule, crash, ctx.environment, None)]


# -- discovering what to check ----------------------------------------------------------------


def _within_budget(files: list[Path], limits: Limits) -> tuple[list[Path], dict[Path, str]]:
    """The files a run reads, and those refused unread: one over the per-file limit, or every
    file past the run's total (``limits.yaml_file_mib``, ``limits.validate_total_mib``)."""
    per_file = limits.yaml_file_mib * MiB
    total_limit = limits.validate_total_mib * MiB
    kept: list[Path] = []
    refused: dict[Path, str] = {}
    total = 0
    for file in files:
        try:
            size = file.stat().st_size
        except OSError:
            kept.append(file)  # unreadable: the yaml rules say so
            continue
        if size > per_file:
            refused[file] = (
                f"{size / MiB:.1f} MiB, over the limit of {limits.yaml_file_mib:g} MiB for one YAML file "
                "(limits.yaml_file_mib): not checked"
            )
        elif total + size > total_limit:
            refused[file] = (
                f"not checked: the run has read {total / MiB:.1f} MiB of YAML, and this file would pass "
                f"the limit of {limits.validate_total_mib:g} MiB for a run (limits.validate_total_mib)"
            )
        else:
            total += size
            kept.append(file)
    return kept, refused


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


@dataclass(frozen=True, kw_only=True)
class Inventory:
    """The YAML files and the kustomizations of a repository that a run checks."""

    files: list[Path]
    repo_kustomizations: list[Path]  # kustomizations no environment overlay includes
    standalone: list[Path]
    refused: dict[Path, str] = field(default_factory=dict)  # over the YAML budget: not read


def inventory(repo: Repository, config: ValidateConfig, apps: list[Application]) -> Inventory:
    """What a run checks besides the overlays of ``apps``: YAML files, other kustomizations, loose files."""
    root = repo.root
    files, refused = _within_budget(yaml_files(root, config.paths), repo.config.limits)
    kdirs = {f.parent for f in files if f.name in KUSTOMIZATION_FILES}
    covered: set[Path] = set()
    for app in apps:
        covered.update(closure(root / app.path))
    repo_kdirs = sorted(d for d in kdirs if d.resolve() not in covered and d not in covered)
    # A kustomization that another one includes (pipelines/ in ci/) is checked once, as part of it.
    included = {folder for d in repo_kdirs for folder in closure(d)[1:]}
    repo_kdirs = [d for d in repo_kdirs if d.resolve() not in included]
    return Inventory(
        files=files,
        repo_kustomizations=repo_kdirs,
        standalone=_standalone(root, files, kdirs),
        refused=refused,
    )


# -- the run, in named steps ------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Run:
    """What every step of one run shares."""

    repo: Repository
    config: ValidateConfig
    index: SourceIndex
    active: dict[str, Rule]
    registry: Mapping[str, Rule] = field(default_factory=dict)  # every rule, disabled ones too
    debug: bool
    all_apps: list[Application]
    app_error: LlmopsError | None
    selected: list[Application]  # the Applications of the environments checked
    inventory: Inventory
    # The kustomize build options of the base revision of a change (None: the tree's own are trusted).
    trusted: list[Option] | None = None
    policy: BasePolicy | None = None  # --policy-from: the base revision's gate

    def context(
        self,
        *,
        environment: str | None = None,
        apps: list[Application] | None = None,
        items: list[Item] | None = None,
        build_errors: dict[Path, LlmopsError] | None = None,
    ) -> Context:
        return Context(
            repo=self.repo,
            config=self.config,
            index=self.index,
            environment=environment,
            apps=apps or [],
            items=items or [],
            files=self.inventory.files,
            refused=self.inventory.refused,
            build_errors=build_errors or {},
            all_apps=self.all_apps,
            app_error=self.app_error,
            policy=self.policy,
        )

    def check(self, scopes: Sequence[Scope], ctx: Context) -> list[Finding]:
        findings: list[Finding] = []
        for rule in self.active.values():
            if rule.scope in scopes:
                findings += _run_rule(rule, ctx, self.config.rules.get(rule.id), debug=self.debug)
        return findings

    def render_paths(self) -> list[str]:
        root = self.repo.root
        return [a.path for a in self.selected] + [
            str(d.relative_to(root)) for d in self.inventory.repo_kustomizations
        ]


def _environment_names(repo: Repository, environments: Sequence[str] | None) -> list[str]:
    known = repo.config.environment_names()
    names = list(environments) if environments is not None else known
    unknown = [n for n in names if n not in known]
    if unknown:
        repo.environment(unknown[0])  # raises UsageError naming the known environments
    return names


def _applications(repo: Repository) -> tuple[list[Application], LlmopsError | None]:
    try:
        return repo.applications(), None
    except LlmopsError as exc:  # reported by the build rules
        return [], exc


def _active(registry: Mapping[str, Rule], settings: Mapping[str, RuleSetting]) -> dict[str, Rule]:
    return {rid: r for rid, r in registry.items() if not (rid in settings and settings[rid].disabled)}


def _disabled(registry: Mapping[str, Rule], settings: Mapping[str, RuleSetting]) -> dict[str, str]:
    return {rid: settings[rid].reason or "" for rid in registry if rid in settings and settings[rid].disabled}


def _prepare(repo: Repository, env_names: list[str], debug: bool) -> _Run:
    config = repo.config.validate_
    all_apps, app_error = _applications(repo)
    return _Run(
        repo=repo,
        config=config,
        index=SourceIndex(repo.root),
        active={},  # filled once the renders are under way (_files_phase)
        debug=debug,
        all_apps=all_apps,
        app_error=app_error,
        selected=[a for a in all_apps if a.environment in env_names],
        inventory=inventory(repo, config, all_apps),
    )


def _files_phase(state: _Run, registry: Registry) -> tuple[_Run, list[Finding], dict[str, Rendering]]:
    """Render every overlay in the background while the rules load, the files-scope rules run
    and the schemas load.

    Returns the run with its active rules, the files-scope findings and each rendered path's
    resources (or its error).
    """
    root = state.repo.root
    with ThreadPoolExecutor(max_workers=1) as background:
        pending = background.submit(
            render_each, [(root, p) for p in state.render_paths()], trusted=state.trusted
        )
        rules = registry() if callable(registry) else registry
        state = replace(state, registry=rules, active=_active(rules, state.config.rules))
        files_ctx = state.context()
        findings = state.check(("files",), files_ctx)
        try:  # load the schemas while kustomize is still running
            files_ctx.schema_set.validator("serving.kserve.io/v1beta1", "InferenceService")
        except LlmopsError:
            pass  # reported by the schema rules, which load it again
        rendered = {path: result for (_, path), result in pending.result().items()}
    return state, findings, rendered


def _repository_context(state: _Run, rendered: Mapping[str, Rendering]) -> Context:
    """The kustomizations no overlay includes (rendered, or file by file when they fail) and loose files."""
    root = state.repo.root
    items: list[Item] = []
    for d in state.inventory.repo_kustomizations:
        result = rendered.get(str(d.relative_to(root)))
        if isinstance(result, list):
            items += [Item(r, d) for r in result]
        else:  # it does not build (reported): still check the manifests it holds, file by file
            items += [i for file in state.inventory.files if file.parent == d for i in _manifest_items(file)]
    for file in state.inventory.standalone:
        items += _manifest_items(file)
    errors = {root / p: r for p, r in rendered.items() if isinstance(r, LlmopsError)}
    return state.context(items=items, build_errors=errors)


def _environment_context(state: _Run, rendered: Mapping[str, Rendering], env: str) -> Context:
    root = state.repo.root
    apps = [a for a in state.selected if a.environment == env]
    items: list[Item] = []
    errors: dict[Path, LlmopsError] = {}
    for app in apps:
        result = rendered.get(app.path)
        if isinstance(result, list):
            items += [Item(r, root / app.path, app) for r in result]
        elif result is not None:
            errors[root / app.path] = result
    return state.context(environment=env, apps=apps, items=items, build_errors=errors)


def _sorted(findings: list[Finding], env_names: list[str]) -> list[Finding]:
    order = {name: i for i, name in enumerate([REPOSITORY, *env_names])}
    return sorted(
        findings,
        key=lambda f: (
            order.get(f.environment, 99),
            _RANK[f.severity],
            f.rule,
            f.resource,
            f.file or "",
            f.line or 0,
        ),
    )


def _secrets(state: _Run, contexts: Iterable[Context]) -> set[str]:
    """Every Secret value a finding could quote: rendered and written Secrets, secretGenerators."""
    found: set[str] = set()
    for ctx in contexts:
        for item in ctx.items:
            found |= manifests.secret_values(item.resource)
    root = state.repo.root
    for path in state.render_paths():
        found |= kustomize_tree.secret_values(root, kustomize_tree.overlay_dependencies(root, path).folders)
    # A value that is also a file or folder name of the repository is public in the pull request
    # (a bucket named like its folder): hiding it would only garble paths.
    names = {part for f in state.inventory.files for part in f.relative_to(root).parts}
    return found - names


def _clean(finding: Finding, secrets: set[str]) -> Finding:
    """The finding as every format may show it: no Secret value, no control characters."""

    def safe(text: str | None) -> str | None:
        return None if text is None else printable(scrub(text, secrets))

    return replace(
        finding,
        message=printable(scrub(finding.message, secrets)),
        hint=printable(scrub(finding.hint, secrets)),
        resource=printable(scrub(finding.resource, secrets)),
        file=safe(finding.file),
        suppressed=safe(finding.suppressed),
        justification=safe(finding.justification),
    )


def _checked(state: _Run, registry: Registry, env_names: list[str]) -> tuple[_Run, list[Finding]]:
    """Every scope checked, in order; the findings cleaned of secrets and control characters."""
    state, findings, rendered = _files_phase(state, registry)
    contexts = [_repository_context(state, rendered)]
    contexts += [_environment_context(state, rendered, env) for env in env_names]
    findings += state.check(_REPOSITORY_SCOPES, contexts[0])
    for ctx in contexts[1:]:
        findings += state.check(_ENVIRONMENT_SCOPES, ctx)
    secrets = _secrets(state, contexts)
    return state, [_clean(f, secrets) for f in findings]


def run(
    repo: Repository,
    registry: Registry,
    *,
    environments: Sequence[str] | None = None,
    debug: bool = False,
    base: str | None = None,
    policy_from: str | None = None,
) -> Report:
    """Validate the repository (all environments, or the given ones) with the rules of ``registry``.

    ``registry`` may be a function returning the rules: it is called once kustomize is
    running, so importing the rule modules costs no wall time.

    ``debug=True`` lets an exception raised by a rule propagate instead of becoming a
    "the rule could not finish" finding. ``base``: the revision a change is checked
    against (``--changed-only``); kustomize build options only the change adds are not used.

    ``policy_from`` (a git revision) takes the gate's own settings from that revision
    (:mod:`llmops.validation.policy`) and reports what the change does to them; its build
    options are the trusted ones too.
    """
    trusted_rev = base or policy_from
    trusted = build_options.declared_at(repo.root, trusted_rev).options() if trusted_rev else None
    if policy_from is None:
        return _run(repo, registry, environments, debug, (None, trusted))
    with policy.from_base(repo, policy_from) as (judged, gate):
        return _run(judged, registry, environments, debug, (gate, trusted))


def _run(
    repo: Repository,
    registry: Registry,
    environments: Sequence[str] | None,
    debug: bool,
    judged_by: tuple[BasePolicy | None, list[Option] | None],
) -> Report:
    base, trusted = judged_by
    env_names = _environment_names(repo, environments)
    with limits.applied(repo.config.limits):
        state = replace(_prepare(repo, env_names, debug), policy=base, trusted=trusted)
        state, findings = _checked(state, registry, env_names)
    return Report(
        findings=_sorted(findings, env_names),
        environments=env_names,
        rules=list(state.active),
        disabled=_disabled(state.registry, state.config.rules),
        policy_from=f"{base.ref} ({base.commit[:8]})" if base is not None else None,
    )
