"""Desired (Git) against live (the engine's store), normalized as Argo CD normalizes them.

* Desired objects get the Application's destination namespace when they are namespaced and name
  none; Argo CD hooks (``argocd.argoproj.io/hook``) are set aside (they are run, not compared) and
  ``Skip`` hooks dropped.
* Both sides lose what is noise in a comparison: ``status``, server bookkeeping (resourceVersion,
  uid, timestamps, managedFields) and Argo CD's tracking annotation.
* The Application's ``ignoreDifferences`` (group and kind globs, optional name and namespace) remove
  fields from both sides: ``jsonPointers`` (RFC 6901), ``jqPathExpressions`` (a real jq, time-limited
  as Argo CD does: util/argo/normalizers/diff_normalizer.go deletes ``del(expr)``) and
  ``managedFieldsManagers`` (the fields ``llmops patch --field-manager NAME`` set on the live object).
* A field a hand patch added where Git declares nothing is no difference (Argo CD's three-way diff
  keeps such fields); a field Git declares, changed or removed by hand, is.
* A resource is Synced when the normalized sides are equal, OutOfSync otherwise; one that is live
  but gone from Git requires pruning. ``argocd.argoproj.io/compare-options: IgnoreExtraneous`` keeps
  such a resource out of the Application's sync status, as in Argo CD.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llmops.delivery.diff import FieldChange, field_changes, normalize, redact_pair
from llmops.gitops.appstate import SyncStatus
from llmops.gitops.manifests import Resource

from .jqworker import JqError, JqWorker
from .store import LiveObject, ResourceKey

TRACKING_ANNOTATION = "argocd.argoproj.io/tracking-id"
HOOK_ANNOTATION = "argocd.argoproj.io/hook"
SYNC_OPTIONS_ANNOTATION = "argocd.argoproj.io/sync-options"
COMPARE_OPTIONS_ANNOTATION = "argocd.argoproj.io/compare-options"
SYNC_WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
HOOK_PHASES = ("PreSync", "Sync", "PostSync", "SyncFail", "PostDelete")

# Kinds that have no namespace (the ones a GitOps repository of this shape may hold).
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "StorageClass",
        "PersistentVolume",
        "PriorityClass",
        "ClusterServingRuntime",
        "ClusterStorageContainer",
        "IngressClass",
        "APIService",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    }
)

JsonPath = list[str | int]


def tracking_id(app: str, key: ResourceKey) -> str:
    """Argo CD's tracking annotation value (its default tracking method): app:group/kind:ns/name."""
    return f"{app}:{key.group}/{key.kind}:{key.namespace}/{key.name}"


def annotations_of(obj: Resource) -> dict[str, Any]:
    meta = obj.get("metadata")
    found = meta.get("annotations") if isinstance(meta, dict) else None
    return found if isinstance(found, dict) else {}


def csv_annotation(obj: Resource, name: str) -> list[str]:
    return [p.strip() for p in str(annotations_of(obj).get(name) or "").split(",") if p.strip()]


def hook_phases(obj: Resource) -> list[str]:
    """The Argo CD hook phases an object is annotated with ([] for a normal resource)."""
    return [p for p in csv_annotation(obj, HOOK_ANNOTATION) if p in (*HOOK_PHASES, "Skip")]


def sync_wave(obj: Resource) -> int:
    try:
        return int(str(annotations_of(obj).get(SYNC_WAVE_ANNOTATION) or 0))
    except ValueError:
        return 0


def has_option(obj: Resource, annotation: str, option: str) -> bool:
    return option in csv_annotation(obj, annotation)


@dataclass(frozen=True, kw_only=True)
class Desired:
    """An Application's desired state at one revision."""

    resources: dict[ResourceKey, Resource]
    hooks: tuple[Resource, ...]


def desired_state(rendered: Sequence[Resource], namespace: str) -> Desired:
    resources: dict[ResourceKey, Resource] = {}
    hooks: list[Resource] = []
    for original in rendered:
        obj = copy.deepcopy(original)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            continue
        if obj.get("kind") not in CLUSTER_SCOPED and not meta.get("namespace") and namespace:
            meta["namespace"] = namespace
        phases = hook_phases(obj)
        if "Skip" in phases:
            continue
        if phases:
            hooks.append(obj)
            continue
        resources[ResourceKey.of(obj)] = obj
    return Desired(resources=resources, hooks=tuple(hooks))


# -- ignoreDifferences --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class IgnoreRule:
    """One ``spec.ignoreDifferences`` entry."""

    group: str
    kind: str
    name: str = ""
    namespace: str = ""
    json_pointers: tuple[str, ...] = ()
    jq_paths: tuple[str, ...] = ()
    managers: tuple[str, ...] = ()

    def matches(self, key: ResourceKey) -> bool:
        return (
            fnmatch.fnmatchcase(key.group, self.group or "")
            and fnmatch.fnmatchcase(key.kind, self.kind or "*")
            and (not self.name or self.name == key.name)
            and (not self.namespace or self.namespace == key.namespace)
        )


def ignore_rules(application: Resource) -> list[IgnoreRule]:
    spec = application.get("spec") if isinstance(application.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    rules = []
    for entry in spec.get("ignoreDifferences") or []:
        if not isinstance(entry, dict):
            continue
        rules.append(
            IgnoreRule(
                group=str(entry.get("group") or ""),
                kind=str(entry.get("kind") or "*"),
                name=str(entry.get("name") or ""),
                namespace=str(entry.get("namespace") or ""),
                json_pointers=tuple(str(p) for p in entry.get("jsonPointers") or []),
                jq_paths=tuple(str(p) for p in entry.get("jqPathExpressions") or []),
                managers=tuple(str(p) for p in entry.get("managedFieldsManagers") or []),
            )
        )
    return rules


def parse_pointer(pointer: str) -> JsonPath:
    """An RFC 6901 JSON pointer as a path (numbers stay strings; :func:`_walk` reads them by context)."""
    if pointer in ("", "/"):
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]


def _walk(doc: Any, path: JsonPath) -> tuple[bool, Any]:
    node = doc
    for part in path:
        if isinstance(node, dict) and str(part) in node:
            node = node[str(part)]
        elif isinstance(node, list) and str(part).isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def _remove(doc: Any, path: JsonPath) -> None:
    if not path:
        return
    found, parent = _walk(doc, path[:-1])
    last = path[-1]
    if not found:
        return
    if isinstance(parent, dict):
        parent.pop(str(last), None)
    elif isinstance(parent, list) and str(last).isdigit() and int(last) < len(parent):
        del parent[int(last)]


def _set(doc: Any, path: JsonPath, value: Any) -> None:
    node = doc
    for part in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(str(part), {})
        elif isinstance(node, list) and str(part).isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return
    if isinstance(node, dict):
        node[str(path[-1])] = copy.deepcopy(value)
    elif isinstance(node, list) and str(path[-1]).isdigit() and int(path[-1]) < len(node):
        node[int(path[-1])] = copy.deepcopy(value)


class Normalizer:
    """Applies an Application's ignoreDifferences; a bad jq expression is a comparison error."""

    def __init__(self, rules: Sequence[IgnoreRule], jq: JqWorker) -> None:
        self.rules = list(rules)
        self.jq = jq

    def ignored_paths(self, objs: Sequence[tuple[Resource, LiveObject | None]]) -> list[list[JsonPath]]:
        """For each object: the concrete paths its matching rules ignore."""
        out: list[list[JsonPath]] = [[] for _ in objs]
        batch: list[tuple[Any, list[str]]] = []
        slots: list[int] = []
        for i, (obj, live) in enumerate(objs):
            key = ResourceKey.of(obj)
            for rule in (r for r in self.rules if r.matches(key)):
                out[i] += [parse_pointer(p) for p in rule.json_pointers]
                for manager in rule.managers:
                    out[i] += [parse_pointer(p) for p in (live.managed.get(manager, []) if live else [])]
                if rule.jq_paths:
                    batch.append((obj, list(rule.jq_paths)))
                    slots.append(i)
        try:
            evaluated = self.jq.paths(batch)
        except JqError as exc:
            raise ComparisonError(f"ignoreDifferences: {exc}") from exc
        for i, results in zip(slots, evaluated, strict=True):
            for result in results:
                if isinstance(result, JqError):
                    raise ComparisonError(f"ignoreDifferences: jq path expression failed: {result}")
                out[i] += result
        return out


class ComparisonError(Exception):
    """The comparison itself failed (Argo CD's ComparisonError condition)."""


def strip_noise(obj: Resource) -> Resource:
    """A copy without status, server bookkeeping and the tracking annotation."""
    out = normalize(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        annotations_ = meta.get("annotations")
        if isinstance(annotations_, dict):
            annotations_.pop(TRACKING_ANNOTATION, None)
            if not annotations_:
                meta.pop("annotations")
    return out


def without(obj: Resource, paths: Sequence[JsonPath]) -> Resource:
    """``obj`` without ``paths``; labels or annotations left empty count as absent (as in Kubernetes)."""
    out = copy.deepcopy(obj)
    # Remove deeper paths (and higher list indexes) first so earlier removals do not shift later ones.
    for path in sorted(paths, key=lambda p: (len(p), [str(x).zfill(8) for x in p]), reverse=True):
        _remove(out, path)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in ("labels", "annotations"):
            if meta.get(key) == {}:
                meta.pop(key)
    return out


def respecting_ignored(desired: Resource, live: Resource, paths: Sequence[JsonPath]) -> Resource:
    """``desired`` with the ignored fields as they are live (sync option RespectIgnoreDifferences)."""
    out = copy.deepcopy(desired)
    for path in paths:
        found, value = _walk(live, path)
        if found:
            _set(out, path, value)
        else:
            _remove(out, path)
    return out


# -- the comparison -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ResourceDiff:
    key: ResourceKey
    desired: Resource | None
    live: LiveObject | None
    status: SyncStatus
    requires_pruning: bool = False
    extraneous_ignored: bool = False  # IgnoreExtraneous: not counted in the Application's status
    changes: tuple[FieldChange, ...] = ()
    normalized_desired: Resource | None = None
    normalized_live: Resource | None = None


@dataclass(frozen=True, kw_only=True)
class Comparison:
    resources: tuple[ResourceDiff, ...]
    sync_status: SyncStatus
    hooks: tuple[Resource, ...] = ()
    ignored: dict[ResourceKey, list[JsonPath]] = field(default_factory=dict)

    def out_of_sync(self) -> list[ResourceDiff]:
        return [r for r in self.resources if r.status == "OutOfSync" and not r.extraneous_ignored]


def compare(desired: Desired, live: Sequence[LiveObject], normalizer: Normalizer) -> Comparison:
    """Each resource of ``desired`` and ``live`` (hooks excluded), with the Application's status."""
    live_by_key = {o.key: o for o in live if not hook_phases(o.manifest)}
    keys = sorted(set(desired.resources) | set(live_by_key))
    pairs = [(desired.resources.get(k), live_by_key.get(k)) for k in keys]
    subjects: list[tuple[Resource, LiveObject | None]] = []
    for d, lv in pairs:
        subjects.append((d if d is not None else lv.manifest if lv is not None else {}, lv))
        if d is not None and lv is not None:
            subjects.append((lv.manifest, lv))
    found = normalizer.ignored_paths(subjects)
    ignored: dict[ResourceKey, list[JsonPath]] = {}
    cursor = 0
    results: list[ResourceDiff] = []
    for key, (d, lv) in zip(keys, pairs, strict=True):
        paths = list(found[cursor])
        cursor += 1
        if d is not None and lv is not None:
            paths += found[cursor]
            cursor += 1
        ignored[key] = paths
        results.append(_resource_diff(key, d, lv, paths))
    counted = [r for r in results if not r.extraneous_ignored]
    status: SyncStatus = "Synced" if all(r.status == "Synced" for r in counted) else "OutOfSync"
    return Comparison(resources=tuple(results), sync_status=status, hooks=desired.hooks, ignored=ignored)


def added_by_hand(desired: Resource, live: LiveObject) -> list[JsonPath]:
    """Fields a hand patch (``llmops patch``) added where Git declares nothing: no difference.

    Argo CD's default diff is three-way (gitops-engine pkg/diff/diff.go ``ThreeWayDiff``): the
    predicted live object is the live one with Git's fields applied over it, so a field that neither
    Git nor the last apply set (a label someone added) stays, and is no drift. A field Git declares
    and a hand changed, or removed, is drift; so is any change inside a list Git declares (a JSON
    merge patch replaces a list whole, as for a custom resource's ``args``).
    """
    out: list[JsonPath] = []
    for pointers in live.managed.values():
        for pointer in pointers:
            path = parse_pointer(pointer)
            for depth in range(len(path)):
                _, node = _walk(desired, path[:depth])
                if isinstance(node, dict) and str(path[depth]) not in node:
                    out.append(path[: depth + 1])
                    break
                if not isinstance(node, dict):
                    break  # inside a list (replaced whole) or below a value: drift
    return out


def _resource_diff(
    key: ResourceKey, d: Resource | None, lv: LiveObject | None, paths: list[JsonPath]
) -> ResourceDiff:
    nd = without(strip_noise(d), paths) if d is not None else None
    extra = added_by_hand(nd, lv) if nd is not None and lv is not None else []
    nl = without(strip_noise(lv.manifest), paths + extra) if lv is not None else None
    if nd is None:
        extraneous = lv is not None and has_option(
            lv.manifest, COMPARE_OPTIONS_ANNOTATION, "IgnoreExtraneous"
        )
        return ResourceDiff(
            key=key,
            desired=None,
            live=lv,
            status="OutOfSync",
            requires_pruning=True,
            extraneous_ignored=extraneous,
            normalized_live=nl,
        )
    if nl is None:
        return ResourceDiff(key=key, desired=d, live=None, status="OutOfSync", normalized_desired=nd)
    old, new = redact_pair(nl, nd)
    changes = tuple(field_changes(old, new))
    return ResourceDiff(
        key=key,
        desired=d,
        live=lv,
        status="Synced" if not changes else "OutOfSync",
        changes=changes,
        normalized_desired=nd,
        normalized_live=nl,
    )
