"""Rules of a repository's own: admission policies, CEL rules in llmops.yaml, Python rules of other packages.

:func:`rules` turns them into :class:`~llmops.validation.types.Rule` objects that run in the
same runner, formats and suppression model as the built-in rules:

- ``policy/<name>``: one rule per ValidatingAdmissionPolicy found in ``validate.policies``
  (and ``--policy``), evaluated on every checked resource as the API server would
  (:mod:`llmops.validation.admission`); a Deny binding gives errors, Warn warnings, Audit notes.
  ``admission.invalid`` reports policies the API server would refuse and bindings that cannot
  work; ``admission.unsupported`` names the CEL llmops cannot evaluate (never a silent pass).
- ``validate.cel_rules`` in llmops.yaml: the expression must be true for every resource of
  the listed kinds.
- entry points of the group ``llmops.rules`` (:data:`ENTRY_POINT_GROUP`): each names a
  ``Rule`` or an iterable of them; they are loaded here, when validate runs, never at import.
  A plugin that fails to load is reported as ``custom.entry-point``, not a crash.

:func:`origins` says where each rule comes from, for ``llmops validate --list-rules``.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops.errors import ConfigError, LlmopsError
from llmops.gitops import manifests
from llmops.gitops.config import CONFIG_FILE, CelRule
from llmops.gitops.locate import Location
from llmops.gitops.repo import Repository
from llmops.support.files import yaml_files
from llmops.validation import admission, cel, cel_library
from llmops.validation.types import Context, FunctionRule, Issue, Item, Rule, Severity

__all__ = ["ENTRY_POINT_GROUP", "Custom", "rules"]

ENTRY_POINT_GROUP = "llmops.rules"
POLICY_PREFIX = "policy/"
_SEVERITY: dict[str, Severity] = {
    "Deny": Severity.error,
    "Warn": Severity.warning,
    "Audit": Severity.info,
    "Note": Severity.info,
}
_RULE_ATTRS = ("id", "severity", "rationale", "hint", "scope", "check")


@dataclass(frozen=True, kw_only=True)
class Custom:
    """The custom rules of one run and where each comes from."""

    rules: dict[str, Rule] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)


# -- admission policies -----------------------------------------------------------------------


def policy_files(repo: Repository, extra: Sequence[Path] = ()) -> list[Path]:
    """YAML files of the configured policy folders (inside the repository) and of ``extra``."""
    root = repo.root.resolve()
    for entry in repo.config.validate_.policies:
        target = (root / entry).resolve()
        if target != root and root not in target.parents:
            raise ConfigError(
                f"{CONFIG_FILE}: validate.policies entry {entry!r} is outside the repository",
                hint="list folders inside the repository (e.g. policies); use --policy for files elsewhere",
            )
        if not target.exists():
            raise ConfigError(
                f"{CONFIG_FILE}: validate.policies entry {entry!r} does not exist",
                hint="create the folder or remove the entry",
            )
    files = yaml_files(repo.root, repo.config.validate_.policies) if repo.config.validate_.policies else []
    for path in extra:
        if not path.exists():
            raise ConfigError(
                f"--policy {path}: no such file or folder", hint="pass a policy YAML file or a folder"
            )
        files += yaml_files(path.parent, [path.name])
    return list(dict.fromkeys(files))


def _namespaces(files: Iterable[Path], extra: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    docs: list[Mapping[str, Any]] = list(extra)
    for file in files:
        try:
            docs += manifests.load_file(file)
        except LlmopsError:  # the yaml rules report unreadable files
            continue
    for doc in docs:
        if doc.get("kind") == "Namespace" and str(doc.get("apiVersion")) == "v1":
            found.setdefault(manifests.resource_id(dict(doc)).name, doc)
    return found


class _Admission:
    """Evaluates every policy once per scope and hands each policy rule its decisions."""

    def __init__(self, policies: admission.PolicySet) -> None:
        self.policies = policies
        self._namespaces: dict[str, Mapping[str, Any]] | None = None

    def world(self, ctx: Context) -> admission.World:
        if self._namespaces is None:  # the repository's Namespaces (setup/), parsed once per run
            self._namespaces = _namespaces(ctx.files, self.policies.objects)
        rendered = [i.resource for i in ctx.items]
        namespaces = dict(self._namespaces)
        namespaces.update(_namespaces((), rendered))
        return admission.World(namespaces=namespaces, objects=[*self.policies.objects, *rendered])

    def decisions(self, ctx: Context) -> list[tuple[Item, admission.Decision]]:
        key = "admission.decisions"
        if key not in ctx.memo:
            world = self.world(ctx)
            out: list[tuple[Item, admission.Decision]] = []
            for item in ctx.items:
                default_ns = item.app.namespace if item.app else ""
                request = admission.request_for(item.resource, default_ns)
                out += [(item, d) for d in admission.admit(self.policies, request, world)]
            ctx.memo[key] = out
        result: list[tuple[Item, admission.Decision]] = ctx.memo[key]
        return result


def _policy_hint(ctx: Context, policy: admission.Policy, decision: admission.Decision) -> str:
    where: Location | None = None
    if decision.policy_path:
        where = ctx.index.locate(policy.file, admission.POLICY_KIND, policy.name, decision.policy_path)
    where = where or ctx.index.file_location(policy.file)
    if decision.action == "Note":
        return "add the Namespace manifest to the repository (e.g. setup/) or to a policy folder"
    if decision.action == "Deny":
        return (
            f"the API server will refuse this at sync: change the resource, or the policy "
            f"{policy.name} ({where}) if the rule is wrong"
        )
    return f"reported by the policy {policy.name} ({where}) without blocking admission"


def _policy_rule(policy: admission.Policy, engine: _Admission) -> FunctionRule:
    def check(ctx: Context) -> Iterator[Issue]:
        for item, decision in engine.decisions(ctx):
            if decision.policy == policy.name:
                yield ctx.issue(
                    item,
                    decision.message,
                    decision.field_path,
                    hint=_policy_hint(ctx, policy, decision),
                    severity=_SEVERITY[decision.action],
                )

    bindings = engine.policies.bindings_of(policy.name)
    actions = {a for b in bindings for a in b.actions if a in _SEVERITY}
    severity = min((_SEVERITY[a] for a in actions), key=list(Severity).index, default=Severity.error)
    bound = ", ".join(f"{b.name} [{', '.join(b.actions)}]" for b in bindings) or "none (it checks nothing)"
    count = len(policy.entries("validations"))
    return FunctionRule(
        id=POLICY_PREFIX + policy.name,
        severity=severity,
        rationale=f"ValidatingAdmissionPolicy {policy.name}: {count} validation(s); bindings: {bound}",
        hint="change the resource so the policy admits it",
        scope="resources",
        fn=check,
    )


def _problems_rule(rule_id: str, policies: admission.PolicySet, *, unsupported: bool) -> FunctionRule:
    def check(ctx: Context) -> Iterator[Issue]:
        for p in policies.problems:
            if p.unsupported == unsupported:
                where = ctx.index.locate(p.file, p.kind, p.name, p.path) or ctx.index.file_location(p.file)
                severity = Severity.warning if p.path == ("spec", "policyName") else None
                yield Issue(
                    message=f"{p.kind} {p.name}: {p.message}",
                    resource=f"{p.kind}/{p.name}",
                    location=where,
                    hint=p.hint,
                    severity=severity,
                )

    if unsupported:
        return FunctionRule(
            id=rule_id,
            severity=Severity.error,
            scope="repository",
            rationale="A policy llmops cannot evaluate would pass unchecked: the CEL is named instead.",
            hint="rewrite the expression with supported functions, or accept the finding in llmops.yaml",
            fn=check,
        )
    return FunctionRule(
        id=rule_id,
        severity=Severity.error,
        scope="repository",
        rationale="A policy the API server refuses, or a binding that binds nothing, protects nothing.",
        hint="fix the policy or binding at the reported line",
        fn=check,
    )


# -- CEL rules from llmops.yaml ----------------------------------------------------------------


def _dotted(path: str | None) -> tuple[str | int, ...]:
    if not path:
        return ()
    return tuple(int(p) if p.isdigit() else p for p in path.strip(".").split("."))


def _cel_message(spec: CelRule, values: Mapping[str, Any]) -> str:
    if spec.message_expression:
        try:
            text = cel.compile(spec.message_expression).evaluate(values)
            if isinstance(text, str) and text.strip():
                return str(text).strip()
        except cel.CelError:
            pass
    return spec.message or f"failed expression: {spec.expression.strip()}"


def _cel_check(spec: CelRule, index: int) -> Callable[[Context], Iterator[Issue]]:
    reported: list[bool] = []  # a rule that cannot compile is reported once per run, not per scope

    def check(ctx: Context) -> Iterator[Issue]:
        try:
            program = cel.compile(spec.expression)
            if spec.message_expression:
                cel.compile(spec.message_expression)
        except cel.CelError as exc:
            if reported:
                return
            reported.append(True)
            where = ctx.index.key_location(
                ctx.repo.root / CONFIG_FILE, ("validate", "cel_rules", index, "expression")
            )
            yield Issue(
                message=f"the rule cannot run: {exc}",
                location=where,
                severity=Severity.error,
                hint=exc.hint or "fix the expression in llmops.yaml",
            )
            return
        path = _dotted(spec.field) or program.object_path
        for item in ctx.items:
            if spec.kinds and item.kind not in spec.kinds:
                continue
            values = {
                "object": cel.to_cel(item.resource),
                "environment": ctx.environment or "",
                **cel_library.NAMESPACES,
            }
            try:
                ok = program.evaluate(values)
            except cel.CelEvaluationError as exc:
                yield ctx.issue(item, f"expression '{spec.expression}' resulted in error: {exc}", path)
                continue
            if not cel.is_true(ok):
                yield ctx.issue(item, _cel_message(spec, values), path)

    return check


def _cel_rule(spec: CelRule, index: int) -> FunctionRule:
    return FunctionRule(
        id=spec.id,
        severity=spec.severity,
        rationale=spec.rationale or spec.message or spec.expression,
        hint=spec.hint,
        scope=spec.scope,
        fn=_cel_check(spec, index),
        env_severity=dict(spec.environments),
    )


# -- entry points -----------------------------------------------------------------------------


def _as_rules(obj: Any) -> list[Any]:
    if callable(obj) and not all(hasattr(obj, a) for a in _RULE_ATTRS):
        obj = obj()  # a factory returning the rules
    if all(hasattr(obj, a) for a in _RULE_ATTRS):
        return [obj]
    if isinstance(obj, Mapping):
        return list(obj.values())
    if isinstance(obj, Iterable) and not isinstance(obj, str | bytes):
        return list(obj)
    raise TypeError(f"expected a Rule or rules, got {type(obj).__name__}")


def _valid_rule(obj: Any) -> str | None:
    missing = [a for a in _RULE_ATTRS if not hasattr(obj, a)]
    if missing:
        return f"{obj!r} is not a rule (missing {', '.join(missing)})"
    if not isinstance(obj.severity, Severity):
        return f"rule {obj.id}: severity must be a llmops Severity, got {obj.severity!r}"
    if obj.scope not in ("files", "repository", "environment", "resources"):
        return f"rule {obj.id}: unknown scope {obj.scope!r}"
    return None


def _entry_point_origin(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    where = f" ({dist.name} {dist.version})" if dist is not None else ""
    return f"entry point {ep.name} = {ep.value}{where}"


def entry_point_rules() -> tuple[list[tuple[Any, str]], list[str]]:
    """(rule, origin) of every ``llmops.rules`` entry point, and the problems loading them."""
    found: list[tuple[Any, str]] = []
    problems: list[str] = []
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        origin = _entry_point_origin(ep)
        try:
            loaded = _as_rules(ep.load())
        except Exception as exc:  # someone else's code: report it, never crash
            problems.append(f"{origin} could not be loaded: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        for rule in loaded:
            error = _valid_rule(rule)
            if error:
                problems.append(f"{origin}: {error}")
            else:
                found.append((rule, origin))
    return found, problems


def _messages_rule(rule_id: str, messages: list[str], hint: str, rationale: str) -> FunctionRule:
    def check(ctx: Context) -> Iterator[Issue]:
        for message in messages:
            yield Issue(message=message, hint=hint)

    return FunctionRule(
        id=rule_id, severity=Severity.error, rationale=rationale, hint=hint, scope="repository", fn=check
    )


# -- all together -----------------------------------------------------------------------------


def rules(repo: Repository, reserved: Iterable[str] = (), *, policies: Sequence[Path] = ()) -> Custom:
    """The custom rules of ``repo`` (ids in ``reserved``, the built-in ones, are refused)."""
    taken = set(reserved)
    out = Custom()
    clashes: list[str] = []

    def add(rule: Rule, origin: str) -> None:
        if rule.id in taken:
            owner = out.origins.get(rule.id, "a built-in rule")
            clashes.append(f"{origin}: rule id {rule.id} is already used by {owner}")
            return
        taken.add(rule.id)
        out.rules[rule.id] = rule
        out.origins[rule.id] = origin

    for i, spec in enumerate(repo.config.validate_.cel_rules):
        add(_cel_rule(spec, i), f"{CONFIG_FILE} validate.cel_rules[{i}]")
    found, problems = entry_point_rules()
    for rule, origin in found:
        add(rule, origin)
    _add_policies(repo, policies, add)
    problems += clashes
    if problems:
        add(
            _messages_rule(
                "custom.entry-point",
                problems,
                "fix or uninstall the package that provides the rule",
                "A rule that cannot load checks nothing; it is reported instead of skipped.",
            ),
            "llmops",
        )
    return out


def _add_policies(repo: Repository, extra: Sequence[Path], add: Callable[[Rule, str], None]) -> None:
    files = policy_files(repo, extra)
    if not files:
        return
    loaded = admission.load(files)
    engine = _Admission(loaded)
    for policy in loaded.policies.values():
        rel = policy.file.relative_to(repo.root) if repo.root in policy.file.parents else policy.file
        add(_policy_rule(policy, engine), f"ValidatingAdmissionPolicy in {rel}")
    add(_problems_rule("admission.invalid", loaded, unsupported=False), "llmops (admission policies)")
    add(_problems_rule("admission.unsupported", loaded, unsupported=True), "llmops (admission policies)")
