"""Benchmark: `llmops diff --base HEAD~1` vs raw `kubectl kustomize` of the same overlays at both sides.

    .venv/bin/python benchmarks/diff_bench.py [--repeat N] [--models M]   (--models 0: reference only)

Each case is a real git repository whose last commit is a change; the command under
test is the CLI itself (a fresh `python -m llmops diff --base HEAD~1` process, start-up
included), exactly as a CI job would run it. The baseline, measured in the same run,
is what a shell script would do to get the two renders: `kubectl kustomize` of every
overlay at HEAD~1 and at HEAD, one after the other, on trees already checked out (so
the baseline gets its checkouts for free, and computes no diff). The anchor is
argocd-diff-preview's ~99 s per run (kind cluster + Argo CD install), from its own demo.

Cases:
- reference, base change: deploy_model/base changes, so all 3 environments render at both sides;
- fleet, one model's base changes: 3 of the fleet's Applications are affected (the rest skipped);
- fleet, same change with --all: every Application rendered at both sides.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, best_of, fleet_repo, git_init, raw_kustomize
from llmops.gitops import git
from llmops.gitops.repo import Repository

ANCHOR_S = 99.0
REFERENCE_PARTS = ("deploy_model", "argocd", "setup", "llmops.yaml", "policies")


def _commit_change(repo: Path, rel: str, old: str, new: str) -> None:
    path = repo / rel
    path.write_text(path.read_text().replace(old, new, 1))
    for args in (["add", "-A"], ["commit", "-qm", "change"]):
        subprocess.run(
            ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@llmops.invalid", *args],
            check=True,
            capture_output=True,
        )


def reference_repo() -> Path:
    dest = Path(tempfile.mkdtemp(prefix="llmops-diffbench-")) / "repo"
    dest.mkdir()
    for part in REFERENCE_PARTS:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, dest / part)
        else:
            shutil.copy(src, dest / part)
    git_init(dest)
    _commit_change(dest, "deploy_model/base/servingruntime.yaml", "sizeLimit: 2Gi", "sizeLimit: 4Gi")
    return dest


def llmops_diff(repo: Path, *extra: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "llmops", "diff", "--base", "HEAD~1", "--repo", str(repo), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"llmops diff failed: {proc.stderr}")


def measure(label: str, repo: Path, repeat: int, *extra: str) -> None:
    paths = [a.path for a in Repository(repo).applications()]
    base_tree = Path(tempfile.mkdtemp(prefix="llmops-diffbench-base-"))
    git.export_tree(repo, "HEAD~1", base_tree)

    def raw() -> None:
        raw_kustomize(base_tree, paths)
        raw_kustomize(repo, paths)

    raw_s, _ = best_of(raw, repeat)
    ours_s, ours_min = best_of(lambda: llmops_diff(repo, *extra), repeat)
    print(
        f"{label:<38} apps={len(paths):>3}  raw kustomize x{2 * len(paths):<3} {raw_s:6.2f}s"
        f"  llmops diff {ours_s:6.2f}s (min {ours_min:.2f})  ratio {ours_s / raw_s:5.2f}x"
        f"  vs ~{ANCHOR_S:.0f}s anchor: {ANCHOR_S / ours_s:5.0f}x faster"
    )
    shutil.rmtree(base_tree, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--models", type=int, default=20)
    opts = parser.parse_args()
    print(f"cores: {os.cpu_count()}  (median of {opts.repeat} runs after one warm-up)")
    ref = reference_repo()
    measure("reference, base change", ref, opts.repeat)
    shutil.rmtree(ref.parent, ignore_errors=True)
    if opts.models < 1:  # --models 0: the reference repository only
        return
    fleet = fleet_repo(opts.models)
    model = f"model-{(opts.models + 1) // 2:02d}"
    _commit_change(fleet, f"models/{model}/base/servingruntime.yaml", "sizeLimit: 2Gi", "sizeLimit: 4Gi")
    measure(f"fleet {opts.models}x3, one model's base", fleet, opts.repeat)
    measure(f"fleet {opts.models}x3, same, --all", fleet, opts.repeat, "--all")
    shutil.rmtree(fleet.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
