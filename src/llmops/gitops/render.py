"""Render overlays to Kubernetes resources with real kustomize, in parallel (the one place that does).

:func:`render_each` runs every kustomize build of a command concurrently, for one
repository tree or several (``llmops diff`` renders a base and a head tree at once);
the other functions are views of it. Each tree is rendered as Argo CD would render it:
with the kustomize build options it declares and each Application's
``spec.source.kustomize`` (:mod:`llmops.gitops.build_options`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from llmops.errors import LlmopsError
from llmops.gitops import build_options, kustomize, manifests
from llmops.gitops.build_options import Option, Plan
from llmops.gitops.manifests import Resource
from llmops.gitops.repo import Application
from llmops.support import processes
from llmops.support.files import MiB

Overlay = tuple[Path, str]  # (repository root, kustomization folder relative to it)
Rendering = list[Resource] | LlmopsError  # an overlay's resources, or why it does not render


@dataclass(frozen=True)
class Rendered:
    app: Application
    resources: list[Resource]


def _available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``); None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _workers(n: int) -> int:
    """Concurrent builds: kustomize is a subprocess, so a few more than cores, but never more
    than the memory available holds at each build's memory limit."""
    by_cpu = (os.cpu_count() or 2) * 2
    available = _available_memory()
    by_memory = by_cpu if available is None else available // (kustomize.limits().memory_mib * MiB)
    return max(1, min(n, by_cpu, by_memory, 16))


def _render(job: tuple[Overlay, Plan]) -> Rendering:
    (root, path), plan = job
    try:
        text = build_options.render(root, path, plan)
        return manifests.parse_documents(text, f"{path} (rendered)", checked=True)
    except LlmopsError as exc:
        return exc


def render_each(
    overlays: Iterable[Overlay], *, trusted: Iterable[Option] | None = None
) -> dict[Overlay, Rendering]:
    """Render each distinct overlay once, concurrently; one failing overlay does not stop the others.

    Each overlay maps to its resources or to the error that rendering it raised.
    ``trusted``: the build options of the base revision of a change under review; an
    option only the change adds is not used.
    """
    unique = list(dict.fromkeys(overlays))
    trusted = list(trusted) if trusted is not None else None
    roots = {root: build_options.plan_root(root, trusted) for root in dict.fromkeys(r for r, _ in unique)}
    jobs = [(o, roots[o[0]].for_path(o[1])) for o in unique]
    if len(jobs) <= 1:
        return {job[0]: _render(job) for job in jobs}
    pool = ThreadPoolExecutor(max_workers=_workers(len(jobs)), thread_name_prefix="llmops-render")
    try:
        results = list(pool.map(_render, jobs))
    except BaseException:
        # Ctrl-C, SIGTERM: stop every kustomize now instead of waiting for the builds to finish.
        pool.shutdown(wait=False, cancel_futures=True)
        processes.stop_all()
        raise
    pool.shutdown()
    return dict(zip(unique, results, strict=True))


def render_paths(root: Path, paths: Sequence[str]) -> dict[str, list[Resource]]:
    """Render each distinct overlay path of one repository; the first failure (in order) is raised."""
    rendered = render_each((root, p) for p in paths)
    out: dict[str, list[Resource]] = {}
    for (_, path), result in rendered.items():
        if isinstance(result, LlmopsError):
            raise result
        out[path] = result
    return out


def render_apps(root: Path, apps: Sequence[Application]) -> list[Rendered]:
    by_path = render_paths(root, [a.path for a in apps])
    return [Rendered(a, by_path[a.path]) for a in apps]
