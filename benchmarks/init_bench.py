"""Benchmark: what reading Argo CD's build options, applying an Application's kustomize options,
and `llmops init` cost, against raw `kubectl kustomize` measured in the same run.

    PYTHONPATH=.:src .venv/bin/python benchmarks/init_bench.py [--models 20] [--repeat 3]

On a generated fleet (``testing.fleet``: N models x 3 environments):

- ``plan_root`` (read llmops.yaml, look for an ArgoCD resource or argocd-cm, read the
  Applications' ``spec.source.kustomize``), which every render now does once per tree,
  against one raw ``kubectl kustomize`` of one overlay;
- one overlay rendered with an Application's kustomize options (a throw-away copy of the
  repository, the kustomization edited as ``kustomize edit`` would, then built) against the
  same overlay built without them;
- ``llmops init --dry-run`` (in-process) against raw ``kubectl kustomize`` of every overlay.

Medians of --repeat rounds in which the cases take turns.
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
from testing.repos import edit, init_repo, reference_repo

from llmops.gitops import build_options, discover, kustomize
from llmops.gitops.repo import Repository


def raw(dirs: list[Path]) -> None:
    for d in dirs:
        subprocess.run([*kustomize.command(), str(d)], check=True, capture_output=True)


def interleaved(cases: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


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
        root = Path(tmp) / "fleet"
        fleet.generate(ref, root, args.models)
        init_repo(root)
        apps = Repository(root).applications()
        app = apps[0]
        edit(
            root / app.file,
            f"    path: {app.path}\n",
            f"    path: {app.path}\n    kustomize:\n      namePrefix: x-\n",
        )
        edited = build_options.plan_root(root).for_path(app.path)
        plain = build_options.Plan(options=edited.options, kube_version=edited.kube_version)
        overlays = [root / a.path for a in apps]
        raw(overlays)  # warm the page cache and kubectl once
        got = interleaved(
            {
                "raw_one": lambda: raw([root / app.path]),
                "plan_root": lambda: build_options.plan_root(root),
                "render_plain": lambda: build_options.render(root, app.path, plain),
                "render_edited": lambda: build_options.render(root, app.path, edited),
                "raw_all": lambda: raw(overlays),
                "init": lambda: discover.propose(root),
            },
            args.repeat,
        )
    base, every = got["raw_one"], got["raw_all"]
    print(f"\ngenerated fleet: {args.models} models x 3 environments, {len(apps)} Applications")
    rows = [
        ("raw kubectl kustomize, one overlay", got["raw_one"], base),
        ("plan_root (options, Applications' kustomize)", got["plan_root"], base),
        ("render one overlay, no Application options", got["render_plain"], base),
        ("render one overlay with namePrefix (copy+edit)", got["render_edited"], base),
        (f"raw kubectl kustomize, all {len(overlays)} overlays", got["raw_all"], every),
        ("llmops init proposal (discover.propose)", got["init"], every),
    ]
    for label, seconds, baseline in rows:
        print(f"  {label:<48}: {seconds:7.3f} s   ratio {seconds / baseline:5.2f}x")


if __name__ == "__main__":
    main()
