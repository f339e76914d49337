"""Kubernetes manifests as plain data: parse, identify, serialise.

Rendered resources are ``dict[str, Any]`` trees straight from YAML; this module
is the only place that knows how to load and dump them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from llmops.errors import ManifestError

Resource = dict[str, Any]

# The C loader is several times faster on large renders; PyYAML may be built without it.
# Every YAML read in llmops uses this one (``yaml.load(text, Loader=manifests.Loader)``).
Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


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


def parse_documents(text: str, source: str = "<input>", *, objects_only: bool = True) -> list[Resource]:
    """All mapping documents of a YAML stream; empty documents are skipped.

    With ``objects_only=False`` a document that is not a mapping (a JSON patch is a list) is
    skipped too, instead of being an error.
    """
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


def load_file(path: Path, *, objects_only: bool = True) -> list[Resource]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read {path}: {exc}") from exc
    return parse_documents(text, str(path), objects_only=objects_only)


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
