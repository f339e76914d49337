"""Where pod specs and containers live in the kinds llmops checks (shared by rule families)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from llmops.gitops.manifests import Resource, get_path

Path_ = tuple[str | int, ...]
_TEMPLATE_KINDS = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
    "ServingRuntime": ("spec",),
    "ClusterServingRuntime": ("spec",),
    "InferenceService": ("spec", "predictor"),
}


def pod_spec(resource: Resource) -> tuple[Path_, dict[str, Any]] | None:
    path = _TEMPLATE_KINDS.get(str(resource.get("kind", "")))
    if path is None:
        return None
    spec = get_path(resource, ".".join(path))
    return (path, spec) if isinstance(spec, dict) else None


def containers(resource: Resource) -> Iterator[tuple[Path_, dict[str, Any]]]:
    """Every container of the resource with its path; an InferenceService's model counts as one."""
    found = pod_spec(resource)
    if found is None:
        return
    path, spec = found
    for key in ("initContainers", "containers"):
        items = spec.get(key)
        if isinstance(items, list):
            for i, c in enumerate(items):
                if isinstance(c, dict):
                    yield (*path, key, i), c
    if resource.get("kind") == "InferenceService":
        model = spec.get("model")
        if isinstance(model, dict):
            yield (*path, "model"), model
