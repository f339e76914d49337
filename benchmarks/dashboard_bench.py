"""Benchmark: the engine's dashboard, on a real engine (light repository: no vLLM, seconds to start).

    .venv/bin/python benchmarks/dashboard_bench.py [--requests N]

Each figure is printed beside a baseline measured in the same run:
- pages: the time to serve the Applications page and an Application page (diff, history, events and
  the resource tree rendered), against the JSON status of the same Applications (`/api/v1/applications`,
  what `llmops status` reads), requests alternating (median, p90);
- live: a patch through the API -> its event on an open page's stream (`/ui/stream`), against the
  patch request's own round trip.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
from testing.engine import EngineProcess, isolated_env, light_repo, start_engine, wait_for

import _common  # noqa: F401  (puts src/ and testing/ on the path)

STAGING = "light-staging"


def _median_p90(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"median {statistics.median(ordered) * 1000:6.1f} ms, p90 {p90 * 1000:6.1f} ms"


def pages(engine: EngineProcess, n: int) -> None:
    urls = {
        "status JSON (baseline)": "/api/v1/applications",
        "Applications page": "/ui/",
        "Application page": f"/ui/apps/{STAGING}",
    }
    times: dict[str, list[float]] = {k: [] for k in urls}
    with httpx.Client(base_url=engine.api, timeout=30) as client:
        for _ in range(n):
            for name, url in urls.items():
                start = time.perf_counter()
                client.get(url).raise_for_status()
                times[name].append(time.perf_counter() - start)
    base = statistics.median(times["status JSON (baseline)"])
    for name, values in times.items():
        ratio = statistics.median(values) / base
        print(f"  {name:<24} {_median_p90(values)}   x{ratio:4.1f} the status JSON")


def live(engine: EngineProcess, n: int) -> None:
    arrived: list[float] = []  # when each ResourcePatched event reached the page's stream
    ready = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", f"{engine.api}/ui/stream?app_name={STAGING}", timeout=60) as stream:
            for line in stream.iter_lines():
                ready.set()
                if line.startswith("data:") and json.loads(line[5:])["reason"] == "ResourcePatched":
                    arrived.append(time.perf_counter())

    threading.Thread(target=listen, daemon=True).start()
    ready.wait(10)
    to_event, round_trip = [], []
    for i in range(n):
        patch = json.dumps({"data": {"greeting": f"bench {i}"}})
        start = time.perf_counter()
        response = engine.post(
            f"/applications/{STAGING}/patch", {"ref": "ConfigMap/settings", "patch": patch}
        )
        round_trip.append(time.perf_counter() - start)
        response.raise_for_status()
        wait_for(lambda: len(arrived) > i, 10, "the event on the stream", 0.001)  # noqa: B023
        to_event.append(arrived[i] - start)
    ratio = statistics.median(to_event) / statistics.median(round_trip)
    print(f"  patch -> event on the page  {_median_p90(to_event)}   x{ratio:4.1f} the patch round trip")
    print(f"  patch round trip (baseline) {_median_p90(round_trip)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmops-dashboard-bench-") as tmp, isolated_env(Path(tmp)):
        engine = start_engine(light_repo(Path(tmp) / "repo"), Path(tmp) / "engine")
        try:
            engine.wait_status(STAGING, "compared", lambda s: s["sync_status"] != "Unknown", 60)
            engine.post(f"/applications/{STAGING}/sync", {}).raise_for_status()
            engine.wait_status(STAGING, "synced", lambda s: s["sync_status"] == "Synced", 60)
            print(f"dashboard of {engine.api} ({os.cpu_count()} CPUs), {args.requests} requests each")
            pages(engine, args.requests)
            live(engine, min(args.requests, 30))
        finally:
            engine.stop()


if __name__ == "__main__":
    main()
