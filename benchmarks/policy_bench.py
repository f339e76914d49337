"""Benchmark: what the repository's own rules (admission policies, llmops.yaml CEL rules) add to validate.

    PYTHONPATH=.:src .venv/bin/python benchmarks/policy_bench.py [--models 20] [--repeat 3]

Two repositories: the reference repository (3 policies, 1 CEL rule) and a generated fleet
(``testing.fleet``: N models x 3 environments, the same policies). The baseline is
``llmops.validation.runner.run`` with the built-in rules only; the measured case adds the
custom rules (``llmops.validation.custom.rules``), as ``llmops validate`` runs them. Medians of
--repeat rounds in which the two cases take turns; the ratio is with / without (goal: at most 1.2).
The CEL evaluation alone is timed too: every policy on every rendered object of every environment.
For the reference repository, a fresh ``python -m llmops validate`` process is timed as well, on a
copy without the policies and CEL rules (baseline) and with them: what CI pays, the CEL engine's
start-up (cel-python's parser) included.
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
from testing.repos import init_repo, reference_repo

from llmops.gitops.render import render_each
from llmops.gitops.repo import Repository
from llmops.validation import admission, custom
from llmops.validation.rules import REGISTRY
from llmops.validation.runner import run


def interleaved(cases: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeat):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def evaluation_only(root: Path) -> tuple[int, int, float]:
    """(objects, decisions, seconds) for the policies alone on every rendered environment object."""
    repo = Repository(root)
    apps = repo.applications()
    rendered = render_each([(root, a.path) for a in apps])
    policies = admission.load(custom.policy_files(repo))
    objects = [(r, a.namespace) for a in apps for r in rendered[(root, a.path)] if isinstance(r, dict)]
    namespaces = {r["metadata"]["name"]: r for r, _ in objects if r.get("kind") == "Namespace"}
    namespaces.update(custom._namespaces(custom.policy_files(repo), []))
    namespaces.update(custom._namespaces([root / "setup/namespaces.yaml"], []))
    world = admission.World(namespaces=namespaces, objects=[*policies.objects, *(o for o, _ in objects)])
    start = time.perf_counter()
    count = 0
    for obj, ns in objects:
        count += len(admission.admit(policies, admission.request_for(obj, ns), world))
    return len(objects), count, time.perf_counter() - start


def measure(name: str, root: Path, repeat: int) -> None:
    repo = Repository(root)
    own = custom.rules(repo, REGISTRY)
    with_custom = {**REGISTRY, **own.rules}
    run(Repository(root), REGISTRY)  # warm kustomize and the caches
    got = interleaved(
        {
            "built-in": lambda: run(Repository(root), REGISTRY),
            "built-in + own": lambda: run(
                Repository(root), {**REGISTRY, **custom.rules(repo, REGISTRY).rules}
            ),
        },
        repeat,
    )
    objects, decisions, seconds = evaluation_only(root)
    base, mine = got["built-in"], got["built-in + own"]
    print(f"\n{name}: {len(REGISTRY)} built-in rules, {len(own.rules)} own rules ({len(with_custom)} in all)")
    print(f"  validate, built-in rules only       : {base:6.2f} s")
    print(f"  validate, built-in + own rules      : {mine:6.2f} s   ratio {mine / base:5.2f}x")
    print(
        f"  policies alone: {objects} objects, {decisions} decisions, {seconds:6.3f} s "
        f"({1000 * seconds / max(objects, 1):.2f} ms per object)"
    )


def cli_validate(root: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "llmops", "validate", "--repo", str(root), "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode not in (0, 1):
        raise SystemExit(f"llmops validate could not run on {root}: {proc.stderr}")


def measure_cli(root: Path, repeat: int) -> None:
    bare = root.parent / "without-own-rules"
    shutil.copytree(root, bare)
    config = bare / "llmops.yaml"
    text = config.read_text(encoding="utf-8")
    start, end = text.index("  # ValidatingAdmissionPolicies"), text.index("  rules:\n")
    config.write_text(text[:start] + text[end:], encoding="utf-8")
    cli_validate(root)
    cli_validate(bare)
    got = interleaved({"without": lambda: cli_validate(bare), "with": lambda: cli_validate(root)}, repeat)
    print("\nreference repository, llmops validate as a fresh process (what CI runs):")
    print(f"  without policies and CEL rules      : {got['without']:6.2f} s")
    ratio = got["with"] / got["without"]
    print(f"  with them                           : {got['with']:6.2f} s   ratio {ratio:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}; repeat {args.repeat}")
    with tempfile.TemporaryDirectory() as tmp:
        ref = reference_repo(Path(tmp) / "reference")
        measure("reference repository", ref, args.repeat)
        measure_cli(ref, args.repeat)
        gen = Path(tmp) / "fleet"
        fleet.generate(ref, gen, args.models)
        init_repo(gen)
        measure(f"generated fleet ({args.models} models x 3 environments)", gen, args.repeat)


if __name__ == "__main__":
    main()
