"""Benchmark: what hostile input costs with llmops' limits, against what it costs without them.

    PYTHONPATH=.:src .venv/bin/python benchmarks/budget_bench.py [--repeat 3]

Every case runs the baseline and llmops in the same run, as fresh processes (wall seconds
and the peak resident memory of the process tree, from ``getrusage``):

- alias bomb: a 500-byte ConfigMap of seven nested alias levels in the dev overlay.
  Baseline: ``kubectl kustomize`` of the overlay under a 2 GiB ``RLIMIT_DATA`` (without
  one, six levels take about 45 s and 8.7 GB on this machine; seven exhaust it);
  llmops: ``llmops render dev`` (the YAML budget refuses the file before kustomize starts).
- alias bomb past the YAML budget (``limits.yaml_alias_nodes`` raised): six levels,
  so kustomize runs; llmops stops it at ``limits.kustomize_memory_mib`` (1 GiB).
- a 50 MiB YAML file in the repository: baseline ``llmops validate`` without it, then with it
  (refused unread by ``limits.yaml_file_mib``); and, for scale, yamllint reading 1 MiB of it.
- an endpoint whose stream never ends: ``llmops smoke --deadline 3 --timeout 1``, wall
  seconds against the deadline; an endpoint whose body never ends: peak memory against
  the 16 MiB answer cap.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from testing import servers  # noqa: E402
from testing.hostile import alias_bomb  # noqa: E402
from testing.repos import edit, reference_repo  # noqa: E402

from llmops.gitops import kustomize  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
DEV = Path("deploy_model/overlays/dev")


# Runs a command and reports the largest resident memory of any process below it (ru_maxrss of
# its children), so each measurement gets a fresh parent of its own.
_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], capture_output=True).returncode\n"
    "sys.stderr.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def measure(args: list[str], data_mib: int | None = None) -> tuple[float, float, int]:
    """(wall seconds, peak MiB of the process tree, exit code) of one fresh process."""
    limit = None
    if data_mib is not None:
        limit = lambda: resource.setrlimit(resource.RLIMIT_DATA, (data_mib * 2**20, data_mib * 2**20))  # noqa: E731
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *args], env=ENV, capture_output=True, text=True, preexec_fn=limit
    )
    wall = time.perf_counter() - start
    return wall, int(proc.stderr.strip().splitlines()[-1]) / 1024, proc.returncode


def median(runs: list[tuple[float, float, int]]) -> tuple[float, float, int]:
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs), runs[-1][2]


def llmops(*args: str) -> list[str]:
    return [sys.executable, "-m", "llmops", *args]


def row(case: str, base: tuple[float, float, int], mine: tuple[float, float, int], note: str = "") -> None:
    ratio = mine[0] / base[0] if base[0] else float("nan")
    print(
        f"| {case} | {base[0]:.2f} s, {base[1]:.0f} MiB (exit {base[2]}) | "
        f"{mine[0]:.2f} s, {mine[1]:.0f} MiB (exit {mine[2]}) | {ratio:.2f}x | {note} |"
    )


def alias_cases(tmp: Path, repeat: int) -> None:
    repo = reference_repo(tmp / "bomb")
    (repo / DEV / "bomb.yaml").write_text(alias_bomb("bomb", 7), encoding="utf-8")
    edit(repo / DEV / "kustomization.yaml", "  - ../../base\n", "  - ../../base\n  - bomb.yaml\n")
    raw = [*kustomize.command(), str(repo / DEV)]
    base = median([measure(raw, data_mib=2048) for _ in range(repeat)])
    mine = median([measure(llmops("render", "dev", "--repo", str(repo))) for _ in range(repeat)])
    row("alias bomb, 7 levels (9^7 strings)", base, mine, "refused by the YAML budget")
    config = repo / "llmops.yaml"
    config.write_text(config.read_text() + "limits:\n  yaml_alias_nodes: 100000000\n", encoding="utf-8")
    (repo / DEV / "bomb.yaml").write_text(alias_bomb("bomb", 6), encoding="utf-8")
    base = median([measure(raw, data_mib=4096) for _ in range(repeat)])
    mine = median([measure(llmops("render", "dev", "--repo", str(repo))) for _ in range(repeat)])
    row("alias bomb, 6 levels, budget raised", base, mine, "kustomize stopped at 1024 MiB")


def large_file_case(tmp: Path, repeat: int) -> None:
    repo = reference_repo(tmp / "large")
    clean = median([measure(llmops("validate", "--repo", str(repo), "-o", "json")) for _ in range(repeat)])
    big = repo / "argocd/big.yaml"
    line = "  - value: " + "x" * 60 + "\n"
    with big.open("w", encoding="utf-8") as fh:
        fh.write("items:\n")
        for _ in range(50 * 2**20 // len(line)):
            fh.write(line)
    mine = median([measure(llmops("validate", "--repo", str(repo), "-o", "json")) for _ in range(repeat)])
    row("validate with a 50 MiB YAML file", clean, mine, "baseline: the same repository without it")
    sample = tmp / "sample.yaml"
    sample.write_text("items:\n" + line * (2**20 // len(line)), encoding="utf-8")
    lint = median([measure([sys.executable, "-m", "yamllint", str(sample)]) for _ in range(repeat)])
    print(f"| (for scale) yamllint reading 1 MiB of that file | | {lint[0]:.2f} s | | |")


def endpoint_cases(repeat: int) -> None:
    import itertools

    models = servers.json_answer('{"data":[{"id":"m"}]}')

    def forever() -> object:
        for _ in itertools.count():
            yield b'data: {"choices":[{"delta":{"content":"la"}}]}\n\n'
            time.sleep(0.02)

    def handler(method: str, path: str) -> tuple[int, dict[str, str], object]:
        if path == "/v1/models":
            return models
        if path == "/health":
            return 200, {}, [b""]
        return 200, {"Content-Type": "text/event-stream"}, forever()

    with servers.Scripted(handler) as server:  # type: ignore[arg-type]
        args = llmops("smoke", "--url", server.url, "--deadline", "3", "--timeout", "1", "-o", "json")
        runs = [measure(args) for _ in range(repeat)]
    wall = median(runs)
    print(f"| smoke, stream never ends, --deadline 3 | deadline 3.00 s | {wall[0]:.2f} s (exit {wall[2]}) | "
          f"{wall[0] / 3:.2f}x | every check answered |")  # fmt: skip

    def endless(method: str, path: str) -> tuple[int, dict[str, str], object]:
        if path == "/v1/models":
            return models
        if path == "/health":
            return 200, {}, [b""]
        return 200, {"Content-Type": "application/json"}, (b"x" * 2**20 for _ in itertools.count())

    with servers.Scripted(endless) as server:  # type: ignore[arg-type]
        runs = [measure(llmops("smoke", "--url", server.url, "-o", "json")) for _ in range(repeat)]
    body = median(runs)
    mine = f"{body[0]:.2f} s, {body[1]:.0f} MiB peak (exit {body[2]})"
    print(f"| smoke, body never ends | cap 16 MiB | {mine} | | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llmops-budget-bench-"))
    try:
        print("| case | baseline | llmops | ratio | note |")
        print("|---|--:|--:|--:|---|")
        alias_cases(tmp, args.repeat)
        large_file_case(tmp, args.repeat)
        endpoint_cases(args.repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
