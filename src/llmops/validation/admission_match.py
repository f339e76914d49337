"""Which policies and bindings apply to a request, and their params (the API server's matching).

Sources: kubernetes ``staging/src/k8s.io/apiserver/pkg/admission/plugin``:
``policy/matching/matching.go``, ``policy/generic/policy_matcher.go``,
``policy/generic/policy_dispatcher.go`` (``CollectParams``) and
``webhook/predicates/{rules,namespace,object}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmops.gitops import manifests
from llmops.validation.admission_model import (
    CLUSTER_KINDS,
    Binding,
    NamespaceUnknown,
    Policy,
    PolicyError,
    Request,
    World,
)


def _labels(obj: Mapping[str, Any] | None) -> dict[str, str]:
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def _requirement(req: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, op = str(req.get("key", "")), str(req.get("operator", ""))
    values = [str(v) for v in req.get("values") or []]
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    raise PolicyError(f"{op!r} is not a valid label selector operator")


def selector_matches(selector: Any, labels: Mapping[str, str]) -> bool:
    """``metav1.LabelSelector`` semantics: matchLabels and matchExpressions all hold; {} matches all."""
    if not isinstance(selector, dict):
        return True
    match_labels = selector.get("matchLabels") or {}
    if any(labels.get(str(k)) != str(v) for k, v in match_labels.items()):
        return False
    return all(_requirement(r, labels) for r in selector.get("matchExpressions") or [] if isinstance(r, dict))


def _empty(selector: Any) -> bool:
    return not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    )


def _any(items: Any, wanted: str) -> bool:
    return isinstance(items, list) and any(str(i) in ("*", wanted) for i in items)


def _resource_matches(rule: Mapping[str, Any], request: Request) -> bool:
    resources = [str(r) for r in rule.get("resources") or []]
    if not any(
        r.partition("/")[0] in ("*", request.resource) and r.partition("/")[2] in ("", "*") for r in resources
    ):
        return False
    scope = str(rule.get("scope") or "*")
    if scope == "Namespaced" and (request.kind == "Namespace" or not request.namespace):
        return False
    if scope == "Cluster" and request.kind != "Namespace" and request.namespace:
        return False
    names = rule.get("resourceNames") or []
    return not names or request.name in [str(n) for n in names]


def rule_matches(rule: Mapping[str, Any], request: Request) -> bool:
    return (
        _any(rule.get("operations"), request.operation)
        and _any(rule.get("apiGroups"), request.group)
        and _any(rule.get("apiVersions"), request.version)
        and _resource_matches(rule, request)
    )


def _namespace_matches(selector: Any, request: Request, world: World) -> bool:
    if request.kind == "Namespace":
        return selector_matches(selector, _labels(request.object))
    if not request.namespace or _empty(selector):
        return True
    if request.namespace not in world.namespaces:
        raise NamespaceUnknown(
            f"namespace {request.namespace} is not in the repository, so the namespaceSelector "
            "cannot be evaluated: the policy was not applied to this object"
        )
    return selector_matches(selector, _labels(world.namespaces[request.namespace]))


def matches(criteria: Mapping[str, Any], request: Request, world: World, *, require_rules: bool) -> bool:
    """``matching.Matcher.Matches``: selectors, excluded rules, resource rules (errors raise PolicyError)."""
    try:
        ns_ok: bool | PolicyError = _namespace_matches(criteria.get("namespaceSelector"), request, world)
    except PolicyError as exc:
        ns_ok = exc
    if ns_ok is False or not selector_matches(criteria.get("objectSelector"), _labels(request.object)):
        return False
    excluded = criteria.get("excludeResourceRules") or []
    if any(rule_matches(r, request) for r in excluded if isinstance(r, dict)):
        return False
    rules = [r for r in criteria.get("resourceRules") or [] if isinstance(r, dict)]
    if (rules or require_rules) and not any(rule_matches(r, request) for r in rules):
        return False
    if isinstance(ns_ok, PolicyError):
        raise ns_ok
    return True


# -- params -----------------------------------------------------------------------------------


def _param_namespaced(policy: Policy, candidates: list[Mapping[str, Any]]) -> bool:
    kind = (policy.param_kind or ("", ""))[1]
    if kind in CLUSTER_KINDS:
        return False
    return kind in ("ConfigMap", "Secret") or any(
        isinstance(c.get("metadata"), dict) and c["metadata"].get("namespace") for c in candidates
    )


def _namespace_of(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata")
    return str(meta.get("namespace") or "") if isinstance(meta, dict) else ""


def collect_params(policy: Policy, binding: Binding, request: Request, world: World) -> list[Any]:
    """``generic.CollectParams``: the params to evaluate with (``[None]`` when the policy has none)."""
    ref = binding.param_ref
    if policy.param_kind is None or ref is None:
        return [None]
    api_version, kind = policy.param_kind
    candidates = [
        o for o in world.objects if o.get("kind") == kind and str(o.get("apiVersion")) == api_version
    ]
    if _param_namespaced(policy, candidates):
        namespace = str(ref.get("namespace") or request.namespace)
        if not namespace:
            raise PolicyError(
                "cannot use namespaced paramRef in policy binding that matches cluster-scoped resources"
            )
        candidates = [c for c in candidates if _namespace_of(c) == namespace]
    elif ref.get("namespace"):
        raise PolicyError("paramRef.namespace must not be provided for a cluster-scoped `paramKind`")
    if ref.get("name"):
        if ref.get("selector") is not None:
            raise PolicyError("paramRef.name and paramRef.selector are mutually exclusive")
        params = [c for c in candidates if manifests.resource_id(dict(c)).name == str(ref["name"])][:1]
    elif ref.get("selector") is not None:
        params = [c for c in candidates if selector_matches(ref.get("selector"), _labels(c))]
    else:
        raise PolicyError("one of name or selector must be provided")
    if not params and ref.get("parameterNotFoundAction") == "Deny":
        raise PolicyError("no params found for policy binding with `Deny` parameterNotFoundAction")
    return list(params)
