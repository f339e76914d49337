"""Benchmark: a redeploy of dev under RollingUpdate and under Recreate, on real git, kustomize and
vLLM (CPU build, demo model), with a client sending chat requests in a loop (streamed and not, in turn).

    .venv/bin/python benchmarks/rollout_bench.py [--requests 200]

Reports, for each strategy: requests sent during the redeploy and how many failed; for RollingUpdate
the time from the new vLLM answering its readiness probe to the endpoint routing to it (as the
engine records it) and the same seen from outside (this script polls the new process's port every
10 ms); for Recreate the gap the clients saw. The baseline is the chat latency through the endpoint
with no redeploy, measured in the same run: the ratio says what a redeploy costs a request.
Runs in temporary folders with their own state; exits 0 (with a note) without vllm.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from testing.chatloop import ChatLoop
from testing.engine import EngineProcess, change, start_engine, wait_for
from testing.repos import commit, edit, reference_repo

import _common  # noqa: F401  (puts src/ and testing/ on the path)

START = 600.0
DEV = "llmops-dev"
MODEL = "dev-qwen25-05b-instruct"
RELEASE = "deploy_model/overlays/dev/release.yaml"
ENVIRONMENT = "deploy_model/overlays/dev/environment.yaml"


def _verified(engine: EngineProcess, sha: str) -> None:
    def done() -> bool:
        items = engine.get(f"/applications/{DEV}/history")["items"]
        return any(h["revision"]["sha"] == sha and h.get("verification") == "Passed" for h in items)

    wait_for(done, START, f"{sha[:8]} verified")


def _ready_outside(engine: EngineProcess, deadline: float) -> float | None:
    """Wall time at which the rolling-in process first answered /health and listed the model."""
    port = None
    while time.monotonic() < deadline:
        procs = engine.status(DEV)["extra"]["processes"]
        new = [p for p in procs if p["rolling_in"]]
        if new:
            port = new[0]["port"]
            break
        time.sleep(0.05)
    if port is None:
        return None
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    models = client.get(f"http://127.0.0.1:{port}/v1/models").json()
                    if any(m.get("id") == MODEL for m in models.get("data", [])):
                        return time.time()
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.01)
    return None


def _redeploy(engine: EngineProcess, repo: Path, old: str, new: str, minimum: int) -> dict[str, Any]:
    url = engine.endpoint("dev")
    loop = ChatLoop(url, MODEL).start()
    wait_for(lambda: len(loop.outcomes) >= 4, 120, "the chat loop")
    sha = change(repo, RELEASE, f"--max-num-seqs={old}", f"--max-num-seqs={new}", f"dev: {new} sequences")
    outside = _ready_outside(engine, time.monotonic() + START)
    _verified(engine, sha)
    wait_for(lambda: len(loop.outcomes) >= minimum, START, f"{minimum} requests")
    loop.stop()
    (rollout,) = engine.status(DEV)["extra"]["rollouts"]
    return {"loop": loop, "rollout": rollout, "outside_ready": outside}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    if importlib.util.find_spec("vllm") is None:
        print("vllm is not installed: nothing to measure (install the serve extra)")
        return
    with tempfile.TemporaryDirectory(prefix="llmops-rollout-bench-") as tmp:
        work = Path(tmp)
        os.environ["LLMOPS_STATE_DIR"] = str(work / "state")
        repo = reference_repo(work / "gitops")
        edit(repo / ENVIRONMENT, "      type: Recreate\n", "      type: RollingUpdate\n")
        automated = "    sync: automated   # Argo CD syncs on every commit, prunes, and reverts drift\n"
        edit(repo / "llmops.yaml", automated, automated + "    verification: {window_s: 2}\n")
        commit(repo, "bench: RollingUpdate")
        engine = start_engine(repo, work / "engine")
        try:
            engine.wait_status(DEV, "first deploy", lambda s: s["health_status"] == "Healthy", START)
            url = engine.endpoint("dev")
            steady = ChatLoop(url, MODEL).start()
            wait_for(lambda: len(steady.outcomes) >= 40, START, "the baseline requests")
            steady.stop()
            base = statistics.median(o.ended - o.started for o in steady.outcomes)
            rolling = _redeploy(engine, repo, "64", "32", args.requests)
            edit(repo / ENVIRONMENT, "      type: RollingUpdate\n", "      type: Recreate\n")
            recreate = _redeploy(engine, repo, "32", "16", args.requests)
        finally:
            engine.stop()
    report(base, rolling, recreate)


def report(base: float, rolling: dict[str, Any], recreate: dict[str, Any]) -> None:
    for name, run in (("RollingUpdate", rolling), ("Recreate", recreate)):
        loop: ChatLoop = run["loop"]
        streamed = sum(1 for o in loop.outcomes if o.streamed)
        during = statistics.median(o.ended - o.started for o in loop.outcomes)
        print(
            f"{name}: {len(loop.failures)} of {len(loop.outcomes)} requests failed "
            f"({streamed} streamed); median latency {during * 1000:.0f} ms = {during / base:.2f}x the "
            f"{base * 1000:.0f} ms baseline without a redeploy"
        )
    r = rolling["rollout"]
    print(f"RollingUpdate: ready -> switched inside the engine {r['ready_to_switched_ms']:.3f} ms")
    if rolling["outside_ready"] and r["switched_wall"]:
        print(
            "RollingUpdate: new vLLM ready (polled from outside every 10 ms) -> endpoint switched "
            f"{(r['switched_wall'] - rolling['outside_ready']) * 1000:.0f} ms (the engine probes every 0.5 s)"
        )
    loop = recreate["loop"]
    print(
        f"Recreate: the endpoint was unavailable {recreate['rollout']['unavailable_s']:.1f} s; clients saw "
        f"{len(loop.failures)} failed requests over {loop.gap_s():.1f} s"
    )


if __name__ == "__main__":
    main()
