"""Benchmark: the InferenceService health check's deadline path against its Healthy path, same run.

    PYTHONPATH=.:src .venv/bin/python benchmarks/health_bench.py [--checks 2000] [--repeat 5]

argocd/health/inferenceservice.lua reads the Ready condition's RFC 3339 stamp without a string
library (a binary search over calendar arithmetic, about 38 steps) when an InferenceService is
not Ready. Argo CD gives a health check one second (util/lua/lua.go, context.WithTimeout). The
baseline is the same script on a Ready InferenceService, which returns before any of that; the
ratio is the cost of the deadline path. Both run in the emulation of Argo CD's sandbox
(testing/argocd_lua.py) and in plain C Lua 5.1 (lupa); gopher-lua, Argo CD's interpreter, is
a Go implementation and slower than C Lua, so read the absolute figures as a lower bound.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from testing.argocd_lua import argocd_check, c_lua_check

from _common import ROOT

SCRIPT = (ROOT / "argocd" / "health" / "inferenceservice.lua").read_text()
SINCE = "2026-11-20T10:00:00Z"
# Ten minutes after SINCE: within the deadline, so the whole path runs and the answer is Progressing.
NOW = int(datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()) + 600


def _isvc(ready: bool) -> dict[str, Any]:
    status = "True" if ready else "False"
    return {
        "metadata": {"name": "bench", "annotations": {}},
        "status": {
            "conditions": [
                {"type": "PredictorReady", "status": status, "lastTransitionTime": SINCE},
                {"type": "Ready", "status": status, "reason": "Unavailable", "lastTransitionTime": SINCE},
            ]
        },
    }


def per_check(check: Callable[..., tuple[str, str]], obj: dict[str, Any], checks: int, repeat: int) -> float:
    """Median microseconds per evaluation (each evaluation builds its own Lua state, as Argo CD does)."""
    check(SCRIPT, obj, now=NOW)
    rounds = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(checks):
            check(SCRIPT, obj, now=NOW)
        rounds.append((time.perf_counter() - start) / checks * 1e6)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    assert argocd_check(SCRIPT, _isvc(False), now=NOW)[0] == "Progressing"
    print(f"{args.checks} checks x {args.repeat} rounds (median of rounds)")
    for name, check in (("Argo CD sandbox (emulated)", argocd_check), ("C Lua 5.1", c_lua_check)):
        healthy = per_check(check, _isvc(True), args.checks, args.repeat)
        deadline = per_check(check, _isvc(False), args.checks, args.repeat)
        print(
            f"  {name:27s} healthy {healthy:7.1f} us   not ready (stamp read) {deadline:7.1f} us   "
            f"ratio {deadline / healthy:5.2f}x"
        )


if __name__ == "__main__":
    main()
