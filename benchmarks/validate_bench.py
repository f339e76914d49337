"""Benchmark: `llmops validate` against raw `kubectl kustomize` of the same kustomizations, same run.

    PYTHONPATH=.:src .venv/bin/python benchmarks/validate_bench.py [--models 20] [--repeat 3]

Two repositories: this reference repository and a generated fleet (
``testing.fleet``: N models x 3 environments, with the reference schema catalog). For each, the baseline
is what a CI script without llmops runs: ``kubectl kustomize DIR`` for every
kustomization llmops builds (each environment overlay plus the kustomizations no
overlay includes, e.g. ``argocd/``), one after another. The overlays-only figure is
printed as well. llmops is timed end to end as CI runs it (a fresh
``python -m llmops validate`` process) and in-process (``llmops.validation.runner.run``).
Medians of --repeat rounds in which the cases take turns; the ratio is llmops / baseline (goal: at most 1.3).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from testing import fleet
from testing.repos import init_repo, reference_repo

from llmops.gitops import kustomize
from llmops.gitops.repo import Repository
from llmops.validation import catalog as schemas
from llmops.validation.rules import REGISTRY
from llmops.validation.runner import inventory, run

ROOT = Path(__file__).resolve().parent.parent


def raw_kustomize(dirs: list[Path]) -> None:
    for d in dirs:
        subprocess.run([*kustomize.command(), str(d)], check=True, capture_output=True)


def cli_validate(repo: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "llmops", "validate", "--repo", str(repo), "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode not in (0, 1):
        raise SystemExit(f"llmops validate could not run on {repo}: {proc.stderr}")


def interleaved(cases: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median wall seconds of each case, the cases taking turns so that a slow moment of a
    shared machine falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def measure(name: str, repo_root: Path, repeat: int) -> None:
    repo = Repository(repo_root)
    apps = repo.applications()
    checked = inventory(repo, repo.config.validate_, apps)
    overlays = [repo_root / a.path for a in apps]
    everything = overlays + checked.repo_kustomizations
    raw_kustomize(everything)  # warm the page cache and kubectl once
    cli_validate(repo_root)  # ...and the yamllint cache, as in CI after the first run

    def in_process() -> None:
        schemas.clear_cache()
        run(Repository(repo_root), REGISTRY)

    got = interleaved(
        {
            "raw_all": lambda: raw_kustomize(everything),
            "raw_overlays": lambda: raw_kustomize(overlays),
            "cli": lambda: cli_validate(repo_root),
            "lib": in_process,
        },
        repeat,
    )
    report = run(Repository(repo_root), REGISTRY)
    base_all, base_overlays, cli, lib = got["raw_all"], got["raw_overlays"], got["cli"], got["lib"]
    print(
        f"\n{name}: {len(apps)} Applications, {len(everything)} kustomizations, {len(report.rules)} rules, "
        f"{len(checked.files)} YAML files; findings: {len(report.findings)} (exit {report.exit_code})"
    )
    print(f"  raw kubectl kustomize, all {len(everything):3d} kustomizations : {base_all:7.2f} s")
    print(f"  raw kubectl kustomize, {len(overlays):3d} overlays only        : {base_overlays:7.2f} s")
    print(
        f"  llmops validate (CLI process)                  : {cli:7.2f} s   ratio {cli / base_all:5.2f}x "
        f"(vs overlays only {cli / base_overlays:5.2f}x)"
    )
    print(f"  llmops.validation.runner.run (in-process)      : {lib:7.2f} s   ratio {lib / base_all:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"kustomize: {' '.join(kustomize.command())}; python {sys.version.split()[0]}; repeat {args.repeat}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        ref = reference_repo(Path(tmp) / "reference")
        measure("reference repository", ref, args.repeat)
        gen = Path(tmp) / "fleet"
        fleet.generate(ref, gen, args.models)
        init_repo(gen)
        measure(f"generated fleet ({args.models} models x 3 environments)", gen, args.repeat)


if __name__ == "__main__":
    main()
