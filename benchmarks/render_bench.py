"""Benchmark: `llmops render` of every environment vs raw `kubectl kustomize` of the same overlays.

    .venv/bin/python benchmarks/render_bench.py [--repeat N] [--models M]

Prints, for the reference repository and a generated M-model x 3-environment one,
the median wall time of each side and their ratio (llmops / raw). llmops renders
distinct overlays concurrently and parses the output; the baseline runs kustomize
once per overlay in sequence and parses nothing.
"""

from __future__ import annotations

import argparse
import os

from _common import ROOT, best_of, fleet_repo, raw_kustomize
from llmops.gitops.render import render_apps
from llmops.gitops.repo import Repository


def measure(label: str, repo: Repository, repeat: int) -> None:
    apps = repo.applications()
    paths = [a.path for a in apps]
    raw, _ = best_of(lambda: raw_kustomize(repo.root, paths), repeat)
    ours, _ = best_of(lambda: render_apps(repo.root, apps), repeat)
    print(
        f"{label:<28} apps={len(apps):>3}  raw kustomize {raw:6.2f}s  llmops render {ours:6.2f}s"
        f"  ratio {ours / raw:4.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", type=int, default=20)
    opts = parser.parse_args()
    print(f"cores: {os.cpu_count()}")
    measure("reference (1 model x 3)", Repository(ROOT), opts.repeat)
    measure(f"fleet ({opts.models} models x 3)", Repository(fleet_repo(opts.models)), opts.repeat)


if __name__ == "__main__":
    main()
