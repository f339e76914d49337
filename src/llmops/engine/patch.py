"""``llmops patch``: change a live object as ``oc patch`` would, with a JSON merge patch (RFC 7386,
``--type merge``) or a JSON patch (RFC 6902, ``--type json``).

The fields a patch sets are recorded under its field manager, so an Application's
``ignoreDifferences.managedFieldsManagers`` can ignore them as Argo CD ignores fields owned by a
manager. ``status`` belongs to the engine (the runtime's report) and cannot be patched; nor can an
object's kind, name or namespace.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from llmops.errors import UsageError

from .compare import JsonPath, parse_pointer

DEFAULT_FIELD_MANAGER = "kubectl-patch"  # what `kubectl patch` records


class PatchError(UsageError):
    """The patch is not valid JSON, or cannot apply to the object."""


def _load(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise PatchError(
            f"the patch is not valid JSON: {exc}", hint="quote it for the shell: -p '{\"spec\": {...}}'"
        ) from exc


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _container(doc: Any, path: JsonPath, op: str) -> tuple[Any, str]:
    node = doc
    for part in path[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and str(part).isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PatchError(f"{op}: path /{'/'.join(map(str, path))} does not exist")
    return node, str(path[-1])


def _get(doc: Any, path: JsonPath, op: str) -> Any:
    if not path:
        return doc
    node, last = _container(doc, path, op)
    if isinstance(node, dict) and last in node:
        return node[last]
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        return node[int(last)]
    raise PatchError(f"{op}: path /{'/'.join(map(str, path))} does not exist")


def _add(doc: Any, path: JsonPath, value: Any, op: str) -> None:
    node, last = _container(doc, path, op)
    if isinstance(node, dict):
        node[last] = copy.deepcopy(value)
    elif isinstance(node, list):
        index = len(node) if last == "-" else int(last) if last.isdigit() else -1
        if not 0 <= index <= len(node):
            raise PatchError(f"{op}: index {last} is out of range")
        node.insert(index, copy.deepcopy(value))
    else:
        raise PatchError(f"{op}: /{'/'.join(map(str, path))} is inside a scalar")


def _remove(doc: Any, path: JsonPath, op: str) -> Any:
    node, last = _container(doc, path, op)
    if isinstance(node, dict) and last in node:
        return node.pop(last)
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        return node.pop(int(last))
    raise PatchError(f"{op}: path /{'/'.join(map(str, path))} does not exist")


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: add, remove, replace, move, copy, test, applied in order (all or nothing)."""
    if not isinstance(operations, list):
        raise PatchError(
            "a JSON patch is a list of operations",
            hint='e.g. [{"op": "replace", "path": "/spec/x", "value": 1}]',
        )
    doc = copy.deepcopy(target)
    for step in operations:
        if not isinstance(step, dict) or "op" not in step or "path" not in step:
            raise PatchError(f"not a JSON patch operation: {json.dumps(step)}")
        op, path = str(step["op"]), parse_pointer(str(step["path"]))
        if op in ("add", "replace", "test") and "value" not in step:
            raise PatchError(f"{op} at {step['path']} needs a value")
        if op == "add":
            _add(doc, path, step["value"], op)
        elif op == "remove":
            _remove(doc, path, op)
        elif op == "replace":
            _remove(doc, path, op)
            _add(doc, path, step["value"], op)
        elif op in ("move", "copy"):
            source = parse_pointer(str(step.get("from", "")))
            value = _remove(doc, source, op) if op == "move" else copy.deepcopy(_get(doc, source, op))
            _add(doc, path, value, op)
        elif op == "test":
            if _get(doc, path, op) != step["value"]:
                raise PatchError(f"test failed at {step['path']}")
        else:
            raise PatchError(f"unknown JSON patch operation {op!r}")
    return doc


def apply(obj: dict[str, Any], patch_type: str, text: str) -> dict[str, Any]:
    """The object after the patch; PatchError when the patch is malformed or touches what it may not."""
    patch = _load(text)
    if patch_type == "merge":
        if not isinstance(patch, dict):
            raise PatchError(
                "a merge patch is a JSON object", hint='e.g. {"spec": {"predictor": {"minReplicas": 2}}}'
            )
        result = merge_patch(obj, patch)
    elif patch_type == "json":
        result = json_patch(obj, patch)
    else:
        raise PatchError(f"unknown patch type {patch_type!r}", hint="use --type merge or --type json")
    if not isinstance(result, dict):
        raise PatchError("the patch replaced the whole object with something that is not one")
    if result.get("status") != obj.get("status"):
        raise PatchError("status is written by the engine from its processes and cannot be patched")
    for field in ("apiVersion", "kind"):
        if result.get(field) != obj.get(field):
            raise PatchError(f"{field} cannot be patched")
    before, after = obj.get("metadata") or {}, result.get("metadata") or {}
    for field in ("name", "namespace"):
        if before.get(field) != after.get(field):
            raise PatchError(f"metadata.{field} cannot be patched")
    return result


def changed_pointers(before: Any, after: Any, prefix: str = "") -> list[str]:
    """JSON pointers of the leaves that differ; a list that differs counts as a whole (atomic, like args)."""
    if isinstance(before, dict) and after is None:
        after = {}
    if isinstance(after, dict) and before is None:
        before = {}
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            escaped = str(key).replace("~", "~0").replace("/", "~1")
            out += changed_pointers(before.get(key), after.get(key), f"{prefix}/{escaped}")
        return out
    return [] if before == after else [prefix or "/"]
