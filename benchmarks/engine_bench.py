"""Benchmark: the embedded engine (`llmops up`), on real git, kustomize and vLLM (CPU build, demo model).

    .venv/bin/python benchmarks/engine_bench.py [--only detect,drift,serve,proxy,idle] [--requests N]

Each figure is printed beside a baseline measured in the same run:
- detect: commit -> the engine reports the new desired revision, against one `kubectl kustomize`
  of the overlay (the least work any detector must do after noticing);
- drift: a patch -> OutOfSync (a manual environment), and -> healed (a self-healing one, the
  PostSync hook included), against Argo CD's 5 s self-heal wait;
- first: `llmops up` on a fresh state directory -> dev Healthy (the demo model built, vLLM's first
  start), split by the engine's events;
- serve: commit -> the new vLLM configuration answers at the stable endpoint, split into vLLM's
  own start (process started -> ready, from the engine's events) and the engine's overhead (the
  rest: detection, render, apply, stopping the old process, routing);
- proxy: chat completion latency through the stable endpoint and straight to the vLLM port,
  requests alternating in one run (median, p90);
- idle: CPU used by the engine process over 60 s with three environments running, against what
  one idle vLLM process uses in the same window.
Runs in temporary folders with their own state; skips the vLLM parts (exit 0) without vllm.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from testing.engine import EngineProcess, change, light_repo, start_engine, wait_for
from testing.repos import reference_repo

import _common  # noqa: F401  (puts src/ and testing/ on the path)
from llmops.gitops import kustomize

TICK = os.sysconf("SC_CLK_TCK")


def _isolate(base: Path) -> None:
    """Everything this benchmark starts keeps its state under ``base``."""
    for var, sub in (("HOME", "home"), ("XDG_STATE_HOME", "state"), ("XDG_CACHE_HOME", "cache")):
        os.environ[var] = str(base / sub)
    for who in ("AUTHOR", "COMMITTER"):
        os.environ[f"GIT_{who}_NAME"] = "bench"
        os.environ[f"GIT_{who}_EMAIL"] = "bench@llmops.invalid"


def _timed(until: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> float:
    start = time.monotonic()
    wait_for(until, timeout, what, interval)
    return time.monotonic() - start


def _raw_kustomize(path: Path) -> float:
    start = time.monotonic()
    subprocess.run([*kustomize.command(), str(path)], check=True, capture_output=True)
    return time.monotonic() - start


def _median(values: list[float]) -> float:
    return statistics.median(values)


# -- detect and drift: the light repository (no vLLM) -------------------------------------------


def bench_detect(engine: EngineProcess, repo: Path, repeat: int) -> None:
    detect, raw = [], []
    for n in range(repeat):
        sha = change(
            repo,
            "deploy/base/config.yaml",
            f"greeting: hello{n - 1 if n else ''}\n",
            f"greeting: hello{n}\n",
            f"bench {n}",
        )
        detect.append(
            _timed(
                lambda s=sha: engine.status("light-staging")["desired_revision"]["sha"] == s,
                30,
                "the new revision",
            )
        )
        raw.append(_raw_kustomize(repo / "deploy/overlays/staging"))
    print(
        f"detect: commit -> new desired revision: median {_median(detect):.3f} s (max {max(detect):.3f}) "
        f"over {repeat} commits; one raw kustomize build: {_median(raw):.3f} s; "
        f"ratio {_median(detect) / _median(raw):.2f}x"
    )


def bench_drift(engine: EngineProcess, repeat: int) -> None:
    detected, healed = [], []
    for n in range(repeat):
        # Staging starts each round Synced (a person's sync), so each patch is a new difference.
        engine.post("/applications/light-staging/sync", {"initiator": "bench"})
        wait_for(lambda: engine.status("light-staging")["sync_status"] == "Synced", 60, "staging synced")
        wait_for(lambda: engine.status("light-staging")["operation"]["phase"] != "Running", 60, "sync done")
        body = {
            "ref": "ConfigMap/settings",
            "type": "merge",
            "patch": json.dumps({"data": {"greeting": f"drift {n}"}}),  # a field Git declares
        }
        start = time.monotonic()
        assert engine.post("/applications/light-staging/patch", body).status_code == 200
        wait_for(lambda: engine.status("light-staging")["sync_status"] == "OutOfSync", 30, "OutOfSync", 0.01)
        detected.append(time.monotonic() - start)
        # The last entry's id: revisionHistoryLimit caps how many entries there are.
        before = engine.get("/applications/light-dev/history")["items"][-1]["id"]
        time.sleep(6)  # past the 5 s self-heal wait since dev's last operation
        start = time.monotonic()
        assert engine.post("/applications/light-dev/patch", body).status_code == 200

        def healed_now(b: int = before) -> bool:
            live = engine.objects("light-dev")["ConfigMap/settings"]
            ops = engine.get("/applications/light-dev/history")["items"]
            done = ops[-1]["id"] > b and ops[-1]["result"] == "Succeeded"
            return done and not str(live.get("data", {}).get("greeting")).startswith("drift")

        wait_for(healed_now, 60, "healed", 0.02)
        healed.append(time.monotonic() - start)
    print(
        f"drift: patch -> OutOfSync (manual staging): median {_median(detected):.3f} s "
        f"(max {max(detected):.3f})"
    )
    print(
        "drift: patch -> healed, self-heal sync and its PostSync hook done (dev): "
        f"median {_median(healed):.2f} s "
        f"(max {max(healed):.2f}); Argo CD's self-heal wait 5 s + 2 s = 7 s; ratio {_median(healed) / 7:.2f}x"
    )


# -- serve, proxy, idle: the reference repository with vLLM -------------------------------------


def _events(engine: EngineProcess, app: str, since: int) -> list[dict[str, Any]]:
    return list(engine.get("/events", app=app, since=since)["items"])


def _chat(client: httpx.Client, url: str, model: str) -> float:
    body = {"model": model, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}
    start = time.perf_counter()
    response = client.post(url + "/v1/chat/completions", json=body)
    response.raise_for_status()
    return time.perf_counter() - start


def _event_span(events: list[dict[str, Any]], first: str, last: str) -> float:
    """Seconds from the first ``first`` event to the last ``last`` one (1 s resolution)."""

    def at(reason: str, pick: int) -> float:
        found = [e for e in events if e["reason"] == reason]
        return datetime.strptime(found[pick]["time"], "%Y-%m-%dT%H:%M:%SZ").timestamp()

    return at(last, -1) - at(first, 0)


def bench_first(engine: EngineProcess, started: float) -> None:
    """`llmops up` on a fresh state directory -> dev Healthy (demo model built, first vLLM start)."""
    dev = "llmops-dev"
    api = time.monotonic() - started
    wait_for(lambda: engine.status(dev)["health_status"] == "Healthy", 900, "dev Healthy", 0.2)
    total = time.monotonic() - started
    events = _events(engine, dev, 0)
    demo = (
        _event_span(events, "DemoModel", "ProcessStarted")
        if any(e["reason"] == "DemoModel" for e in events)
        else 0.0
    )
    vllm = _event_span(events, "ProcessStarted", "ProcessReady")
    print(
        f"first: llmops up (fresh state) -> dev Healthy: {total:.1f} s; API answering after {api:.1f} s; "
        f"demo model build ~{demo:.0f} s; vLLM's own start ~{vllm:.0f} s (1 s resolution); "
        f"the rest (read, render, apply, probes) ~{total - api - demo - vllm:.1f} s"
    )


def bench_serve(engine: EngineProcess, repo: Path) -> None:
    dev = "llmops-dev"
    wait_for(lambda: engine.status(dev)["health_status"] == "Healthy", 600, "dev Healthy", 0.5)
    since = engine.get("/events", limit=1)["items"][-1]["id"]
    endpoint = engine.endpoint("dev")
    start = time.monotonic()
    change(
        repo,
        "deploy_model/overlays/dev/release.yaml",
        "--max-num-seqs=64",
        "--max-num-seqs=32",
        "bench: new configuration",
    )

    def serving() -> bool:
        status = engine.status(dev)
        if status["health_status"] != "Healthy" or not status["extra"]["processes"]:
            return False
        args = (
            Path(f"/proc/{status['extra']['processes'][0]['pid']}/cmdline").read_bytes().decode().split("\0")
        )
        if "32" not in args:
            return False
        try:
            _chat(httpx.Client(timeout=30), endpoint, "dev-qwen25-05b-instruct")
        except httpx.HTTPError:
            return False
        return True

    wait_for(serving, 900, "the new configuration serving", 0.2)
    total = time.monotonic() - start
    events = _events(engine, dev, since)

    def at(reason: str) -> float:
        found = [e for e in events if e["reason"] == reason]
        return datetime.strptime(found[-1]["time"], "%Y-%m-%dT%H:%M:%SZ").timestamp()

    vllm_start = at("ProcessReady") - at("ProcessStarted")  # 1 s resolution
    print(
        f"serve: commit -> new configuration answering at the endpoint: {total:.1f} s; vLLM's own start "
        f"(process started -> ready, 1 s resolution): {vllm_start:.0f} s; "
        f"engine overhead ~{total - vllm_start:.1f} s "
        f"(includes stopping the old vLLM: Recreate)"
    )


def bench_proxy(engine: EngineProcess, requests: int) -> None:
    status = engine.status("llmops-dev")
    port = status["extra"]["processes"][0]["port"]
    direct, proxied = f"http://127.0.0.1:{port}", engine.endpoint("dev")
    model = "dev-qwen25-05b-instruct"
    times: dict[str, list[float]] = {"direct": [], "endpoint": []}
    with httpx.Client(timeout=60) as client:
        for url in (direct, proxied):
            for _ in range(5):
                _chat(client, url, model)  # warm-up, keep-alive connections open
        for _ in range(requests):
            times["direct"].append(_chat(client, direct, model))
            times["endpoint"].append(_chat(client, proxied, model))
    d, e = (statistics.median(times[k]) * 1000 for k in ("direct", "endpoint"))
    p90 = {k: statistics.quantiles(v, n=10)[-1] * 1000 for k, v in times.items()}
    print(
        f"proxy: chat completion (8 tokens), {requests} alternating requests: direct median {d:.2f} ms "
        f"(p90 {p90['direct']:.2f}), through the endpoint {e:.2f} ms (p90 {p90['endpoint']:.2f}); "
        f"added {e - d:+.2f} ms median; ratio {e / d:.3f}x"
    )


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def bench_idle(engine: EngineProcess, window: float) -> None:
    for env in ("staging", "production"):
        engine.post(f"/applications/llmops-{env}/sync", {"initiator": "bench"})
    for app in ("llmops-dev", "llmops-staging", "llmops-production"):
        wait_for(lambda a=app: engine.status(a)["health_status"] == "Healthy", 900, f"{app} Healthy", 1.0)
    time.sleep(10)  # let the last hooks and probes settle
    vllm_pid = engine.status("llmops-dev")["extra"]["processes"][0]["pid"]
    e0, v0, t0 = _cpu_seconds(engine.proc.pid), _cpu_seconds(vllm_pid), time.monotonic()
    time.sleep(window)
    e1, v1, t1 = _cpu_seconds(engine.proc.pid), _cpu_seconds(vllm_pid), time.monotonic()
    engine_pct, vllm_pct = (e1 - e0) / (t1 - t0) * 100, (v1 - v0) / (t1 - t0) * 100
    print(
        f"idle: engine process {engine_pct:.2f} % of one core over {t1 - t0:.0f} s with three environments "
        f"running; one idle vLLM API server in the same window: {vllm_pct:.2f} %"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="detect,drift,serve,proxy,idle")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--window", type=float, default=60.0)
    args = parser.parse_args()
    parts = set(args.only.split(","))
    base = Path(tempfile.mkdtemp(prefix="llmops-engine-bench-"))
    _isolate(base)
    print(f"engine benchmark in {base} (load average {os.getloadavg()[0]:.1f})")
    if parts & {"detect", "drift"}:
        repo = light_repo(base / "light")
        engine = start_engine(repo, base / "light-engine")
        try:
            wait_for(lambda: engine.status("light-dev")["sync_status"] == "Synced", 60, "dev synced")
            if "detect" in parts:
                bench_detect(engine, repo, args.repeat)
            if "drift" in parts:
                bench_drift(engine, args.repeat)
        finally:
            engine.stop()
    if not parts & {"serve", "proxy", "idle"}:
        return
    if importlib.util.find_spec("vllm") is None:
        print("serve/proxy/idle skipped: vllm is not installed (serve extra)")
        return
    repo = reference_repo(base / "reference")  # committed: the engine reads HEAD
    started = time.monotonic()
    engine = start_engine(repo, base / "reference-engine")
    try:
        bench_first(engine, started)
        if "serve" in parts:
            bench_serve(engine, repo)
        else:
            wait_for(
                lambda: engine.status("llmops-dev")["health_status"] == "Healthy", 900, "dev Healthy", 0.5
            )
        if "proxy" in parts:
            bench_proxy(engine, args.requests)
        if "idle" in parts:
            bench_idle(engine, args.window)
    finally:
        engine.stop()


if __name__ == "__main__":
    main()
