"""Desired and live objects made comparable the way Argo CD compares them (``diff ENV --live``).

Argo CD's diff (gitops-engine ``pkg/diff``, argo-cd ``util/argo/normalizers``) ignores what
the cluster adds and nobody asked for. Here, in order:

1. server bookkeeping and ``status`` go (:func:`llmops.delivery.diff.normalize`), with Argo CD's
   own tracking marks (the ``argocd.argoproj.io/tracking-id`` annotation, the
   ``app.kubernetes.io/instance`` label it adds);
2. the Application's ``ignoreDifferences`` apply to both sides: ``jsonPointers``,
   ``jqPathExpressions`` (run as ``del(EXPR)`` in jq, as Argo CD runs them in gojq) and
   ``managedFieldsManagers`` (fields those managers own, from ``metadata.managedFields``);
3. defaulted fields go: a live field that Git does not set is kept only when Argo CD's own
   field manager owns it (so a field deleted from Git still shows as removed), and list items
   are paired by ``name`` where they have one (containers, ports, env).

Namespaced objects without a namespace get the Application's destination namespace, as Argo CD
deploys them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Sequence
from typing import Any

import jq

from llmops.delivery.diff import normalize as strip_server_fields
from llmops.errors import ConfigError

ARGOCD_MANAGERS = ("argocd-controller", "argocd-application-controller")
TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
INSTANCE_LABEL = "app.kubernetes.io/instance"
ALL: Any = object()  # a subtree owned as a whole


class IgnoreDifferencesError(ConfigError):
    """An ``ignoreDifferences`` rule of the Application cannot be applied (a jq expression that fails)."""


# -- managedFields --------------------------------------------------------------------------------


def _fields_tree(fields: dict[str, Any]) -> Any:
    """fieldsV1 as a tree of owned keys: ``{"spec": {"replicas": ALL}}``; list entries own the list."""
    out: dict[str, Any] = {}
    for key, sub in fields.items():
        if key == ".":
            continue
        if key.startswith("f:"):
            child = _fields_tree(sub) if isinstance(sub, dict) and sub and set(sub) != {"."} else ALL
            out[key[2:]] = child
        else:  # k:{...}, v:..., i:N: an item of a list; the list is taken as owned
            return ALL
    return out or ALL


def _merge_trees(a: Any, b: Any) -> Any:
    if a is ALL or b is ALL:
        return ALL
    out = dict(a)
    for key, value in b.items():
        out[key] = _merge_trees(out[key], value) if key in out else value
    return out


def owned_by(obj: dict[str, Any], managers: Iterable[str]) -> Any:
    """The fields of ``obj`` its ``managers`` own (a tree, ALL, or None)."""
    wanted = set(managers)
    tree: Any = None
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if not isinstance(entry, dict) or entry.get("manager") not in wanted:
            continue
        fields = entry.get("fieldsV1")
        if isinstance(fields, dict):
            part = _fields_tree(fields)
            tree = part if tree is None else _merge_trees(tree, part)
    return tree


def _drop_tree(obj: Any, tree: Any) -> Any:
    """``obj`` without the fields of ``tree``."""
    if tree is ALL or tree is None or not isinstance(obj, dict):
        return None if tree is ALL else obj
    out = {}
    for key, value in obj.items():
        if key in tree:
            kept = _drop_tree(value, tree[key])
            if kept is not None and kept != {}:
                out[key] = kept
        else:
            out[key] = value
    return out


# -- ignoreDifferences ----------------------------------------------------------------------------


def _matches(rule: dict[str, Any], obj: dict[str, Any]) -> bool:
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    meta = obj.get("metadata") or {}
    if str(rule.get("group") or "") != group or rule.get("kind") != obj.get("kind"):
        return False
    if rule.get("name") and rule["name"] != meta.get("name"):
        return False
    return not (rule.get("namespace") and rule["namespace"] != meta.get("namespace"))


def _remove_pointer(obj: Any, pointer: str) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    node = obj
    for part in parts[:-1]:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return
    if not parts:
        return
    last = parts[-1]
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node.pop(int(last))


def _jq_delete(obj: dict[str, Any], expression: str) -> dict[str, Any]:
    try:
        result = jq.compile(f"del({expression})").input_value(obj).first()
    except ValueError as exc:
        raise IgnoreDifferencesError(
            f"ignoreDifferences jqPathExpression {expression!r} fails: {str(exc).splitlines()[0]}",
            hint="fix the expression in the Application (Argo CD runs it as del(EXPR))",
        ) from exc
    return result if isinstance(result, dict) else obj


def ignore_differences(
    obj: dict[str, Any], rules: Sequence[dict[str, Any]], live: dict[str, Any] | None
) -> dict[str, Any]:
    """``obj`` with the fields the Application's ``ignoreDifferences`` rules name removed.

    ``live`` is the live object whose ``managedFields`` say which fields
    ``managedFieldsManagers`` own (the same fields go from both sides).
    """
    out = copy.deepcopy(obj)
    for rule in rules:
        if not isinstance(rule, dict) or not _matches(rule, obj):
            continue
        for pointer in rule.get("jsonPointers") or []:
            _remove_pointer(out, str(pointer))
        for expression in rule.get("jqPathExpressions") or []:
            out = _jq_delete(out, str(expression))
        managers = rule.get("managedFieldsManagers") or []
        if managers and live is not None:
            tree = owned_by(live, managers)
            if tree is not None:
                out = _drop_tree(out, tree) or {}
    return out


# -- defaulted fields -----------------------------------------------------------------------------


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def _trim_list(live: list[Any], desired: list[Any], owned: Any) -> list[Any]:
    if _named(live) and _named(desired):
        wanted = {d["name"]: d for d in desired}
        return [_trim(i, wanted[i["name"]], owned) for i in live if i["name"] in wanted]
    if len(live) == len(desired):
        return [_trim(a, b, owned) for a, b in zip(live, desired, strict=True)]
    return live


def _trim(live: Any, desired: Any, owned: Any) -> Any:
    """``live`` keeping what ``desired`` sets, and what Argo CD owns (``owned``) that Git dropped."""
    if isinstance(live, dict) and isinstance(desired, dict):
        out = {}
        for key, value in live.items():
            sub = owned if owned is ALL else (owned.get(key) if isinstance(owned, dict) else None)
            if key in desired:
                out[key] = _trim(value, desired[key], sub)
            elif sub is not None:
                out[key] = value
        return out
    if isinstance(live, list) and isinstance(desired, list):
        return _trim_list(live, desired, owned)
    return live


# -- the whole pass -------------------------------------------------------------------------------


def _without_tracking(obj: dict[str, Any], app_name: str, desired: dict[str, Any] | None) -> dict[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return obj
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(TRACKING_ANNOTATION, None)
        if not annotations:
            meta.pop("annotations")
    labels = meta.get("labels")
    wanted = ((desired or {}).get("metadata") or {}).get("labels") or {}
    if isinstance(labels, dict) and labels.get(INSTANCE_LABEL) == app_name and INSTANCE_LABEL not in wanted:
        labels.pop(INSTANCE_LABEL)
        if not labels:
            meta.pop("labels")
    return obj


def with_namespace(obj: dict[str, Any], namespace: str, namespaced: bool) -> dict[str, Any]:
    meta = obj.setdefault("metadata", {})
    if namespaced and not meta.get("namespace") and namespace:
        meta["namespace"] = namespace
    return obj


def pair(
    desired: dict[str, Any] | None,
    live: dict[str, Any] | None,
    *,
    app_name: str,
    rules: Sequence[dict[str, Any]],
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """One resource's desired and live forms, normalized the same way (either may be absent)."""
    owned = owned_by(live, ARGOCD_MANAGERS) if live is not None else None
    want = ignore_differences(desired, rules, live) if desired is not None else None
    have = ignore_differences(live, rules, live) if live is not None else None
    if want is not None:
        want = _without_tracking(strip_server_fields(want), app_name, None)
    if have is not None:
        have = _without_tracking(strip_server_fields(have), app_name, desired)
        if want is not None:
            have = _trim(have, want, owned)
    return want, have


def canonical(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True)
