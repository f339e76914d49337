"""Benchmark: how fast the CLI starts, against a bare interpreter started the same way, same run.

    .venv/bin/python benchmarks/startup_bench.py [--repeat 15]

Each case is a fresh process of the installed ``llmops`` console script (what a user
types); the baseline is ``python -c pass`` from the same virtual environment, so the
ratio shows what llmops adds on top of the interpreter. Goal: ``llmops --help`` at most
0.15 s on a 2-core machine. Medians (and minimums) of --repeat runs after one warm-up.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]

from _common import ROOT, best_of  # noqa: E402

LLMOPS = Path(sys.executable).parent / "llmops"


def _run(argv: list[str]) -> None:
    subprocess.run(argv, cwd=ROOT, capture_output=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    base_med, base_min = best_of(lambda: _run([sys.executable, "-c", "pass"]), args.repeat)
    print(f"python -c pass: {base_med * 1000:.0f} ms (min {base_min * 1000:.0f})")
    cases = {
        "llmops --help": [str(LLMOPS), "--help"],
        "llmops validate --help": [str(LLMOPS), "validate", "--help"],
        "llmops --version": [str(LLMOPS), "--version"],
        "llmops envs": [str(LLMOPS), "envs"],
        "llmops envs -o json": [str(LLMOPS), "envs", "-o", "json"],
    }
    for name, argv in cases.items():
        med, low = best_of(lambda argv=argv: _run(argv), args.repeat)
        print(
            f"{name:<24} {med * 1000:5.0f} ms (min {low * 1000:.0f})  "
            f"{med / base_med:4.1f}x the bare interpreter, +{(med - base_med) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
