"""ValidatingAdmissionPolicies evaluated before merge, as the API server evaluates them at admission.

The semantics follow the API server's own code (kubernetes
``staging/src/k8s.io/apiserver/pkg/admission/plugin/policy``: ``generic/policy_matcher.go``,
``generic/policy_dispatcher.go`` (``CollectParams``), ``matching/matching.go``,
``validating/dispatcher.go``, ``validating/validator.go``, and
``webhook/predicates/{rules,namespace,object}``, ``webhook/matchconditions/matcher.go``):

1. Policies and bindings never apply to admission configuration itself (policies, bindings,
   webhook configurations).
2. The policy's ``matchConstraints`` must match: namespace selector (against the labels of the
   object's Namespace; cluster-scoped objects other than Namespaces always pass), object
   selector, ``excludeResourceRules``, then ``resourceRules`` (operations, groups, versions,
   resources, scope, resourceNames). A policy without ``matchConstraints`` is a configuration
   error.
3. Each binding naming the policy: its ``matchResources`` (unset = everything the policy matches).
4. Params from the binding's ``paramRef`` (by name or selector, in ``paramRef.namespace`` or the
   object's namespace for namespaced kinds); none found: ``parameterNotFoundAction: Deny`` is a
   configuration error, ``Allow`` skips the binding. No ``paramKind``: one evaluation without params.
5. ``matchConditions``: any false skips; errors without a false follow ``failurePolicy``.
6. ``validations``: not true denies with ``messageExpression`` (a non-empty one-line string), else
   ``message``, else ``failed expression: EXPR``; an evaluation error follows ``failurePolicy``
   (``Fail`` denies with ``expression 'EXPR' resulted in error: ...``, ``Ignore`` admits).
7. A denial becomes one decision per ``validationActions`` entry (Deny, Warn, Audit);
   configuration errors deny unless ``failurePolicy: Ignore``.

Every object is admitted as a CREATE (``oldObject`` is null): what Argo CD's first sync of the
rendered manifest would send. The repository stands in for the cluster: Namespaces and params
come from the policy folders and the rendered manifests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from llmops.validation import cel, cel_library
from llmops.validation.admission_match import collect_params, matches
from llmops.validation.admission_model import (
    API_GROUP,
    BINDING_KIND,
    EXEMPT_KINDS,
    POLICY_KIND,
    Action,
    Binding,
    Decision,
    NamespaceUnknown,
    Policy,
    PolicyError,
    PolicySet,
    Problem,
    Request,
    World,
    load,
    request_for,
)

__all__ = [
    "BINDING_KIND",
    "POLICY_KIND",
    "Binding",
    "Decision",
    "Policy",
    "PolicySet",
    "Problem",
    "Request",
    "World",
    "admit",
    "load",
    "request_for",
]

MAX_MESSAGE_BYTES = 5 * 1024  # celconfig.MaxEvaluatedMessageExpressionSizeBytes

# -- evaluation -------------------------------------------------------------------------------


def _request_value(request: Request) -> dict[str, Any]:
    kind = {"group": request.group, "version": request.version, "kind": request.kind}
    resource = {"group": request.group, "version": request.version, "resource": request.resource}
    return {
        "kind": kind,
        "resource": resource,
        "subResource": "",
        "requestKind": kind,
        "requestResource": resource,
        "requestSubResource": "",
        "name": request.name,
        "namespace": request.namespace,
        "operation": request.operation,
        "dryRun": False,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
    }


def _namespace_value(request: Request, world: World) -> dict[str, Any] | None:
    ns = world.namespaces.get(request.namespace) if request.namespace else None
    if ns is None:
        return None
    meta = ns.get("metadata") if isinstance(ns.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    kept = {k: meta[k] for k in ("name", "labels", "annotations", "uid", "creationTimestamp") if k in meta}
    return {"metadata": kept, "spec": ns.get("spec") or {}, "status": ns.get("status") or {}}


def activation(policy: Policy, request: Request, world: World, param: Any) -> dict[str, Any]:
    """The CEL variables of one evaluation (``variables`` computed lazily, in order)."""
    values: dict[str, Any] = {
        "object": cel.to_cel(dict(request.object)),
        "oldObject": None,
        "request": cel.to_cel(_request_value(request)),
        "params": cel.to_cel(param) if param is not None else None,
        "namespaceObject": cel.to_cel(_namespace_value(request, world)),
        **cel_library.NAMESPACES,
    }
    compute: dict[str, Callable[[], Any]] = {}
    for entry in policy.entries("variables"):
        compute[str(entry.get("name", ""))] = _variable(str(entry.get("expression", "")), values)
    values["variables"] = cel.LazyMap(compute)
    return values


def _variable(source: str, values: Mapping[str, Any]) -> Callable[[], Any]:
    def compute() -> Any:
        try:
            return cel.compile(source).evaluate(values)
        except cel.CelError as exc:  # an error value: the expressions that read it fail with it
            return cel.error_value(str(exc))

    return compute


def _match_conditions(policy: Policy, values: Mapping[str, Any]) -> bool | str:
    """True to go on, False to skip, or the error message (``matchconditions.matcher``)."""
    errors: list[str] = []
    for entry in policy.entries("matchConditions"):
        source = str(entry.get("expression", ""))
        try:
            result = cel.compile(source).evaluate(values)
        except cel.CelError as exc:
            errors.append(f"expression '{source}' resulted in error: {exc}")
            continue
        if not cel.is_bool(result):
            errors.append(f"expression '{source}' did not return a bool")
        elif not bool(result):
            return False
    return "; ".join(errors) if errors else True


def _message(entry: Mapping[str, Any], values: Mapping[str, Any]) -> str:
    if isinstance(entry.get("messageExpression"), str):
        try:
            text = cel.compile(str(entry["messageExpression"])).evaluate(values)
        except cel.CelError:
            text = None
        if isinstance(text, str):
            text = text.strip()
            if text and "\n" not in text and len(text.encode()) <= MAX_MESSAGE_BYTES:
                return str(text)
    message = str(entry.get("message") or "").strip()
    return message or f"failed expression: {str(entry.get('expression', '')).strip()}"


@dataclass(frozen=True, kw_only=True)
class _Failure:
    message: str
    reason: str = "Invalid"
    field_path: tuple[str | int, ...] = ()
    policy_path: tuple[str | int, ...] = ()


def _variables(policy: Policy) -> dict[str, str]:
    return {str(v.get("name", "")): str(v.get("expression", "")) for v in policy.entries("variables")}


def field_path(policy: Policy, program: cel.Program | None, depth: int = 0) -> tuple[str | int, ...]:
    """The field of ``object`` an expression reads first, through the policy's variables."""
    if program is None or depth > 8:
        return ()
    for chain in program.chains:
        if chain[0] == "object" and len(chain) > 1:
            return chain[1:]
        if chain[0] == "variables" and len(chain) > 1 and chain[1] in _variables(policy):
            try:
                inner = cel.compile(_variables(policy)[chain[1]])
            except cel.CelError:
                continue
            base = field_path(policy, inner, depth + 1)
            if base:
                return (*base, *chain[2:])
    return ()


def validate(policy: Policy, values: Mapping[str, Any]) -> list[_Failure]:
    """The failed validations of one evaluation (``validator.Validate``)."""
    failures: list[_Failure] = []
    for i, entry in enumerate(policy.entries("validations")):
        source = str(entry.get("expression", ""))
        path: tuple[str | int, ...] = ("spec", "validations", i, "expression")
        program = None
        try:
            program = cel.compile(source)
            result = program.evaluate(values)
        except cel.CelError as exc:
            if policy.failure_policy != "Ignore":
                failures.append(
                    _Failure(
                        message=f"expression '{source}' resulted in error: {exc}",
                        field_path=field_path(policy, program),
                        policy_path=path,
                    )
                )
            continue
        if not cel.is_true(result):
            failures.append(
                _Failure(
                    message=_message(entry, values),
                    reason=str(entry.get("reason") or "Invalid"),
                    field_path=field_path(policy, program),
                    policy_path=path,
                )
            )
    return failures


def _decisions(policy: Policy, binding: Binding, failures: list[_Failure]) -> Iterator[Decision]:
    pair = f"ValidatingAdmissionPolicy '{policy.name}' with binding '{binding.name}'"
    texts: dict[Action, str] = {
        "Deny": f"{pair} denied request: ",
        "Warn": f"Validation failed for {pair}: ",
        "Audit": f"audit annotation validation.policy.admission.k8s.io/validation_failure for {pair}: ",
    }
    for failure in failures:
        for action, text in texts.items():
            if action not in binding.actions:
                continue
            yield Decision(
                policy=policy.name,
                binding=binding.name,
                action=action,
                message=text + failure.message,
                reason=failure.reason,
                field_path=failure.field_path,
                policy_path=failure.policy_path,
            )


def _config_error(policy: Policy, binding: Binding | None, error: Exception) -> list[Decision]:
    if policy.failure_policy == "Ignore":
        return []
    what = "binding" if binding else "policy"
    prefix = f"ValidatingAdmissionPolicy '{policy.name}'" + (
        f" with binding '{binding.name}'" if binding else ""
    )
    return [
        Decision(
            policy=policy.name,
            binding=binding.name if binding else None,
            action="Deny",
            message=f"{prefix} denied request: failed to configure {what}: {error}",
        )
    ]


def _note(policy: Policy, binding: Binding | None, error: NamespaceUnknown) -> Decision:
    prefix = f"ValidatingAdmissionPolicy '{policy.name}'" + (
        f" with binding '{binding.name}'" if binding else ""
    )
    return Decision(
        policy=policy.name,
        binding=binding.name if binding else None,
        action="Note",
        message=f"{prefix}: {error}",
    )


def _evaluate_binding(policy: Policy, binding: Binding, request: Request, world: World) -> list[Decision]:
    try:
        if binding.match_resources is not None and not matches(
            binding.match_resources, request, world, require_rules=False
        ):
            return []
        params = collect_params(policy, binding, request, world)
    except NamespaceUnknown as exc:
        return [_note(policy, binding, exc)]
    except PolicyError as exc:
        return _config_error(policy, binding, exc)
    decisions: list[Decision] = []
    for param in params:
        values = activation(policy, request, world, param)
        matched = _match_conditions(policy, values)
        if matched is False:
            continue
        if isinstance(matched, str):
            if policy.failure_policy != "Ignore":
                decisions += _decisions(policy, binding, [_Failure(message=matched)])
            continue
        decisions += _decisions(policy, binding, validate(policy, values))
    return decisions


def admit(policies: PolicySet, request: Request, world: World) -> list[Decision]:
    """Every decision the policies and bindings of ``policies`` make on ``request``."""
    if request.group == API_GROUP and request.kind in EXEMPT_KINDS:
        return []
    decisions: list[Decision] = []
    for policy in policies.policies.values():
        if policy.name in policies.unusable:
            continue  # its problems are reported on the policy itself
        constraints = policy.spec.get("matchConstraints")
        try:
            if not isinstance(constraints, dict):
                raise PolicyError("policy contained no match constraints, a required field")
            if not matches(constraints, request, world, require_rules=True):
                continue
        except NamespaceUnknown as exc:
            decisions.append(_note(policy, None, exc))
            continue
        except PolicyError as exc:
            decisions += _config_error(policy, None, exc)
            continue
        for binding in policies.bindings_of(policy.name):
            decisions += _evaluate_binding(policy, binding, request, world)
    return decisions
