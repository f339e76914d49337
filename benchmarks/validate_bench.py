"""Benchmark: `llmops validate` against raw `kubectl kustomize` of the same kustomizations, same run.

    PYTHONPATH=src .venv/bin/python benchmarks/validate_bench.py [--models 20] [--repeat 3]

Two repositories: this reference repository and a generated fleet (``llmops.fleet``,
N models x 3 environments, with the reference schema catalog). For each, the baseline
is what a CI script without llmops runs: ``kubectl kustomize DIR`` for every
kustomization llmops builds (each environment overlay plus the kustomizations no
overlay includes, e.g. ``argocd/``), one after another. The overlays-only figure is
printed as well. llmops is timed end to end as CI runs it (a fresh
``python -m llmops validate`` process) and in-process (``llmops.validation.runner.run``).
Medians of --repeat runs; the ratio is llmops / baseline (goal: at most 1.3).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from testing import fleet

from llmops.gitops import kustomize
from llmops.gitops.repo import Repository
from llmops.validation import catalog as schemas
from llmops.validation.rules import REGISTRY
from llmops.validation.runner import inventory, run

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("deploy_model", "argocd", "setup", "llmops.yaml", ".yamllint", "schemas", "pipelines", ".tekton")


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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


def git_init(path: Path) -> None:
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=bench", "-c", "user.email=bench@llmops.invalid", "commit", "-qm", "bench"],
    ):
        subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True)


def measure(name: str, repo_root: Path, repeat: int) -> None:
    repo = Repository(repo_root)
    apps = repo.applications()
    checked = inventory(repo, repo.config.validate_, apps)
    overlays = [repo_root / a.path for a in apps]
    everything = overlays + checked.repo_kustomizations
    raw_kustomize(everything)  # warm the page cache and kubectl once
    schemas.clear_cache()
    base_all = median_time(lambda: raw_kustomize(everything), repeat)
    base_overlays = median_time(lambda: raw_kustomize(overlays), repeat)
    cli = median_time(lambda: cli_validate(repo_root), repeat)

    def in_process() -> None:
        schemas.clear_cache()
        run(Repository(repo_root), REGISTRY)

    lib = median_time(in_process, repeat)
    report = run(Repository(repo_root), REGISTRY)
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
        ref = Path(tmp) / "reference"
        ref.mkdir()
        for part in PARTS:
            src = ROOT / part
            if src.is_dir():
                shutil.copytree(src, ref / part)
            elif src.is_file():
                shutil.copy(src, ref / part)
        git_init(ref)
        measure("reference repository", ref, args.repeat)
        gen = Path(tmp) / "fleet"
        fleet.generate(ref, gen, args.models)
        git_init(gen)
        measure(f"generated fleet ({args.models} models x 3 environments)", gen, args.repeat)


if __name__ == "__main__":
    main()
