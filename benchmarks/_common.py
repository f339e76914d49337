"""Helpers shared by the benchmark scripts: timing, the generated fleet repository."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from testing import fleet  # noqa: E402

from llmops.gitops import kustomize  # noqa: E402


def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, min) wall seconds over ``repeat`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def raw_kustomize(root: Path, paths: list[str]) -> None:
    """The baseline: `kubectl kustomize` of each overlay, one after the other, as a shell loop would."""
    for path in paths:
        subprocess.run([*kustomize.command(), str(root / path)], check=True, capture_output=True)


def git_init(path: Path) -> None:
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "generated"]):
        subprocess.run(
            ["git", "-C", str(path), "-c", "user.name=bench", "-c", "user.email=bench@llmops.invalid", *args],
            check=True,
            capture_output=True,
        )


def fleet_repo(models: int) -> Path:
    dest = Path(tempfile.mkdtemp(prefix=f"llmops-fleet{models}-")) / "repo"
    fleet.generate(ROOT, dest, models)
    git_init(dest)
    return dest
