"""Render Applications to Kubernetes resources with real kustomize, in parallel."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from llmops.errors import LlmopsError
from llmops.gitops import kustomize, manifests
from llmops.gitops.manifests import Resource
from llmops.gitops.repo import Application


@dataclass(frozen=True)
class Rendered:
    app: Application
    resources: list[Resource]


def _workers(n: int) -> int:
    # kustomize is a subprocess: threads only wait on it, so a few more than cores is fine.
    return max(1, min(n, (os.cpu_count() or 2) * 2, 16))


def render_paths(root: Path, paths: Sequence[str]) -> dict[str, list[Resource]]:
    """Render each distinct overlay path once; kustomize runs concurrently."""
    unique = list(dict.fromkeys(paths))

    def one(path: str) -> list[Resource]:
        return manifests.parse_documents(kustomize.build(root / path), f"{path} (rendered)")

    if len(unique) == 1:
        return {unique[0]: one(unique[0])}
    with ThreadPoolExecutor(max_workers=_workers(len(unique))) as pool:
        results = list(pool.map(one, unique))
    return dict(zip(unique, results, strict=True))


def render_apps(root: Path, apps: Sequence[Application]) -> list[Rendered]:
    by_path = render_paths(root, [a.path for a in apps])
    return [Rendered(a, by_path[a.path]) for a in apps]


def render_each(root: Path, paths: Sequence[str]) -> dict[str, list[Resource] | LlmopsError]:
    """Like :func:`render_paths`, but one failing overlay does not stop the others.

    Each path maps to its resources or to the error that rendering it raised.
    """
    unique = list(dict.fromkeys(paths))

    def one(path: str) -> list[Resource] | LlmopsError:
        try:
            return manifests.parse_documents(kustomize.build(root / path), f"{path} (rendered)")
        except LlmopsError as exc:
            return exc

    if len(unique) <= 1:
        return {p: one(p) for p in unique}
    with ThreadPoolExecutor(max_workers=_workers(len(unique))) as pool:
        results = list(pool.map(one, unique))
    return dict(zip(unique, results, strict=True))
