"""Kubernetes manifests as plain data: parse, identify, serialise.

Rendered resources are ``dict[str, Any]`` trees straight from YAML; this module
is the only place that knows how to load and dump them.

YAML from a repository is untrusted (anyone can open a pull request), so every load
goes through a :class:`YamlBudget` first: a file larger than ``max_bytes`` is refused
unread, and one whose aliases would expand to more than ``max_alias_nodes`` extra
nodes (a "billion laughs" document: a few hundred bytes that expand to gigabytes in
kustomize or in any code that walks the loaded tree) is refused before anything
expands it. The budget in force is the repository's (``limits`` in llmops.yaml, set by
:func:`llmops.gitops.limits.apply`); the defaults are below.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llmops.errors import ManifestError
from llmops.support.files import MiB

Resource = dict[str, Any]

# The C loader is several times faster on large renders; PyYAML may be built without it.
# Every YAML read in llmops uses this one (``yaml.load(text, Loader=manifests.Loader)``).
Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


# -- the budget every YAML load goes through ----------------------------------------------------


@dataclass(frozen=True)
class YamlBudget:
    """What one YAML file may cost before llmops (or kustomize) reads it."""

    max_bytes: int = 8 * MiB  # limits.yaml_file_mib
    max_alias_nodes: int = 100_000  # limits.yaml_alias_nodes: nodes that aliases add, per file


class YamlBudgetError(ManifestError):
    """A YAML file is larger, or expands to more, than the budget allows."""


_budget = YamlBudget()


def budget() -> YamlBudget:
    """The budget in force in this process."""
    return _budget


def set_budget(value: YamlBudget) -> None:
    """Set the budget for this process (:func:`llmops.gitops.limits.apply` does, from llmops.yaml)."""
    global _budget
    _budget = value


def _alias_nodes(text: str, limit: int) -> int:
    """Nodes the aliases of ``text`` add when expanded, counted on parser events (nothing expands).

    Stops counting once ``limit`` is passed. Syntax errors are left to the loader.
    """
    anchors: dict[str, int] = {}
    stack: list[tuple[int, str | None]] = []  # (nodes so far, anchor) of each open collection
    added = 0
    try:
        for event in yaml.parse(text, Loader=Loader):
            if isinstance(event, yaml.AliasEvent):
                size = anchors.get(event.anchor or "", 1)
                added += size
                if stack:
                    stack[-1] = (stack[-1][0] + size, stack[-1][1])
                if added > limit:
                    return added
            elif isinstance(event, yaml.ScalarEvent):
                if event.anchor:
                    anchors[event.anchor] = 1
                if stack:
                    stack[-1] = (stack[-1][0] + 1, stack[-1][1])
            elif isinstance(event, yaml.CollectionStartEvent):
                stack.append((1, event.anchor))
            elif isinstance(event, yaml.CollectionEndEvent) and stack:
                size, anchor = stack.pop()
                if anchor:
                    anchors[anchor] = size
                if stack:
                    stack[-1] = (stack[-1][0] + size, stack[-1][1])
    except yaml.YAMLError:
        pass
    return added


def check_budget(text: str, source: str, limits: YamlBudget | None = None) -> None:
    """Refuse ``text`` (the content of ``source``) when it is over the YAML budget."""
    limits = limits or _budget
    size = len(text.encode("utf-8")) if len(text) * 4 > limits.max_bytes else len(text)
    if size > limits.max_bytes:
        raise _too_large(source, size, limits)
    if "&" in text and "*" in text:  # no anchor or no alias: nothing can expand
        added = _alias_nodes(text, limits.max_alias_nodes)
        if added > limits.max_alias_nodes:
            raise YamlBudgetError(
                f"{source}: YAML aliases expand to more than {limits.max_alias_nodes:,} extra nodes "
                "(limits.yaml_alias_nodes): refused before anything expands them",
                hint="write the values out instead of nesting aliases (a 'billion laughs' document "
                "costs gigabytes to expand)",
            )


def _too_large(source: str, size: int, limits: YamlBudget) -> YamlBudgetError:
    return YamlBudgetError(
        f"{source} is {size / MiB:.1f} MiB, over the limit of {limits.max_bytes / MiB:g} MiB "
        "for one YAML file (limits.yaml_file_mib)",
        hint="split the file; raise limits.yaml_file_mib on the base branch if it must be this large",
    )


def check_size(path: Path, source: str | None = None, limits: YamlBudget | None = None) -> None:
    """Refuse a file larger than the budget, before reading it (OSError when it cannot be stat'ed)."""
    limits = limits or _budget
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise _too_large(source or str(path), size, limits)


def read_text(path: Path, source: str | None = None, limits: YamlBudget | None = None) -> str:
    """The text of a YAML file, refused unread when larger than the budget (and checked for aliases)."""
    limits = limits or _budget
    shown = source or str(path)
    try:
        check_size(path, shown, limits)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read {shown}: {exc}") from exc
    check_budget(text, shown, limits)
    return text


def safe_load(text: str, source: str = "<input>", limits: YamlBudget | None = None) -> Any:
    """One YAML document as plain data, within the budget."""
    check_budget(text, source, limits)
    return yaml.load(text, Loader=Loader)


@dataclass(frozen=True, order=True)
class ResourceId:
    """Identity of a resource inside one environment: kind, namespace, name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


def resource_id(resource: Resource) -> ResourceId:
    meta = resource.get("metadata") or {}
    if not isinstance(meta, dict):
        meta = {}
    return ResourceId(
        kind=str(resource.get("kind", "")),
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
    )


def parse_documents(
    text: str, source: str = "<input>", *, objects_only: bool = True, checked: bool = False
) -> list[Resource]:
    """All mapping documents of a YAML stream; empty documents are skipped.

    With ``objects_only=False`` a document that is not a mapping (a JSON patch is a list) is
    skipped too, instead of being an error. The text is checked against the YAML budget first,
    unless ``checked`` (it was, or it is kustomize's output, which has no aliases and whose size
    its memory limit bounds).
    """
    if not checked:
        check_budget(text, source)
    try:
        docs = list(yaml.load_all(text, Loader=Loader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ManifestError(
            f"{where}: invalid YAML: {problem}", hint="fix the YAML syntax at that position"
        ) from exc
    out: list[Resource] = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            if not objects_only:
                continue
            raise ManifestError(
                f"{source}: a YAML document is a {type(doc).__name__}, not a Kubernetes object",
                hint="every document must be a mapping with apiVersion, kind and metadata",
            )
        out.append(doc)
    return out


def load_file(path: Path, source: str | None = None, *, objects_only: bool = True) -> list[Resource]:
    text = read_text(path, source)
    return parse_documents(text, source or str(path), objects_only=objects_only, checked=True)


def iter_kind(resources: Iterable[Resource], kind: str) -> Iterator[Resource]:
    return (r for r in resources if r.get("kind") == kind)


def dump_yaml(resources: Iterable[Resource]) -> str:
    return yaml.dump_all(
        list(resources), Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=1000
    )


def dump_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True)


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a list, else an empty list (a field a malformed manifest holds as a scalar)."""
    return value if isinstance(value, list) else []


def get_path(resource: Any, dotted: str) -> Any:
    """Value at a dotted path such as ``spec.predictor.minReplicas``; None when absent.

    A numeric segment indexes a list (``spec.containers.0.image``).
    """
    node = resource
    for part in dotted.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
        if node is None:
            return None
    return node


# -- Secret values: never shown -----------------------------------------------------------------

SECRET_KINDS = ("Secret",)
SECRET_FIELDS = ("data", "stringData")
REDACTED = "<redacted>"


def is_secret(resource: Any) -> bool:
    return isinstance(resource, dict) and resource.get("kind") in SECRET_KINDS


def secret_values(resource: Any) -> set[str]:
    """The values a Secret holds, as written and (``data``) base64-decoded; empty for other kinds.

    Whoever prints text that may quote a resource removes these first.
    """
    import base64
    import binascii

    if not is_secret(resource):
        return set()
    found: set[str] = set()
    for key in SECRET_FIELDS:
        values = resource.get(key)
        for value in values.values() if isinstance(values, dict) else []:
            found |= _leaves(value)
            if key == "data" and isinstance(value, str):
                try:
                    found.add(base64.b64decode(value, validate=True).decode("utf-8"))
                except (binascii.Error, UnicodeDecodeError, ValueError):
                    pass
    return found


def _leaves(value: Any) -> set[str]:
    """Every scalar inside ``value`` as text (a malformed Secret may hold lists or mappings)."""
    if isinstance(value, dict):
        return {t for v in value.values() for t in _leaves(v)}
    if isinstance(value, list):
        return {t for v in value for t in _leaves(v)}
    if value is None or isinstance(value, bool):
        return set()
    return {str(value)}


def redact_secrets(resources: Iterable[Resource]) -> list[Resource]:
    """Copies of ``resources`` in which every Secret value reads ``<redacted>`` (keys are kept)."""
    out: list[Resource] = []
    for resource in resources:
        if is_secret(resource):
            resource = dict(resource)
            for key in SECRET_FIELDS:
                values = resource.get(key)
                if isinstance(values, dict):
                    resource[key] = {k: REDACTED for k in values}
        out.append(resource)
    return out
