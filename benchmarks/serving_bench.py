"""Benchmark: `llmops smoke` and `llmops bench` against a real vLLM (CPU build) with the demo model.

    .venv/bin/python benchmarks/serving_bench.py [--repeat N] [--requests N] [--streams N]

Builds the demo model, starts one vLLM server on a free loopback port, then prints:
- smoke: the median wall time of the smoke checks in-process, against a baseline
  of the same HTTP calls made bare with httpx (health, models, chat, streamed chat),
  and the wall time of the `llmops smoke --url` command line (Python start-up included);
- bench: `llmops bench` wall time against GuideLLM run directly with the same
  scenario, and the throughput and TTFT figures GuideLLM measured.
Skips (exit 0) when vllm is not installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from _common import ROOT, best_of
from llmops.gitops.config import BenchProfile
from llmops.probes import bench
from llmops.probes.endpoint import Endpoint
from llmops.probes.smoke import SmokeSettings, run_smoke
from llmops.serving import demo_model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_vllm(model_dir: Path, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = dict(os.environ, HOME=str(workdir), HF_HUB_OFFLINE="1", VLLM_CPU_KVCACHE_SPACE="1")
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
        "--served-model-name", "demo", "--host", "127.0.0.1", "--port", str(port),
        "--max-model-len", "512", "--dtype", "bfloat16", "--enforce-eager", "-O0",
    ]  # fmt: skip
    log = (workdir / "vllm.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    stop(proc)
    raise SystemExit(f"vLLM did not start; see {workdir / 'vllm.log'}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def raw_smoke(url: str) -> None:
    """The baseline: the smoke test's HTTP calls with nothing around them."""
    body = {"model": "demo", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16}
    with httpx.Client(base_url=url, timeout=10) as c:
        c.get("/health").raise_for_status()
        c.get("/v1/models").raise_for_status()
        c.post("/v1/chat/completions", json=body).raise_for_status()
        stream = body | {"stream": True, "stream_options": {"include_usage": True}}
        with c.stream("POST", "/v1/chat/completions", json=stream) as r:
            for _ in r.iter_lines():
                pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--streams", type=int, default=4)
    opts = parser.parse_args()
    if importlib.util.find_spec("vllm") is None:
        print("skipped: vllm is not installed (pip install '.[serve]')")
        return
    print(f"cores: {os.cpu_count()}")
    work = Path(tempfile.mkdtemp(prefix="llmops-serving-bench-"))
    model = demo_model.build(work / "demo")
    t0 = time.perf_counter()
    proc, url = start_vllm(model, work)
    print(f"vLLM start-up (demo model, --enforce-eager -O0): {time.perf_counter() - t0:.1f}s")
    try:
        raw, _ = best_of(lambda: raw_smoke(url), opts.repeat)
        settings = SmokeSettings(retries=0)

        def ours() -> None:
            with Endpoint(url) as ep:
                assert run_smoke(ep, settings, model=None).passed

        mine, _ = best_of(ours, opts.repeat)
        print(f"smoke: bare httpx calls {raw * 1000:6.1f} ms  llmops smoke checks {mine * 1000:6.1f} ms  "
              f"ratio {mine / raw:4.2f}x")  # fmt: skip
        cli = [sys.executable, "-m", "llmops", "smoke", "--url", url]
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        wall, _ = best_of(lambda: subprocess.run(cli, check=True, capture_output=True, env=env), opts.repeat)
        print(f"smoke: `llmops smoke --url` command line, Python start-up included: {wall:.2f}s")

        plan = bench.BenchPlan(
            url=url, model="demo", profile=BenchProfile(kind="concurrent", streams=opts.streams),
            max_requests=opts.requests, max_seconds=None, prompt_tokens=128, output_tokens=64,
            tokenizer=str(model),
        )  # fmt: skip
        scen = work / "scenario.json"
        scen.write_text(json.dumps(bench.scenario(plan)))
        t0 = time.perf_counter()
        subprocess.run(bench.command(scen, work / "direct.json"), check=True, capture_output=True, cwd=work)
        direct = time.perf_counter() - t0
        t0 = time.perf_counter()
        data, _ = bench.run_guidellm(plan)
        wrapped = time.perf_counter() - t0
        (b,) = bench.parse_report(data)
        print(
            f"bench: guidellm direct {direct:5.1f}s  llmops bench {wrapped:5.1f}s  "
            f"ratio {wrapped / direct:4.2f}x"
        )
        print(
            f"bench: {plan.describe()}: {b.requests_total} requests, {b.requests_errored} errors, "
            f"{b.requests_per_s:.1f} req/s, {b.output_tokens_per_s:.0f} output tokens/s, "
            f"TTFT p50 {b.ttft_p50_ms:.1f} ms p95 {b.ttft_p95_ms:.1f} ms, ITL p95 {b.itl_p95_ms:.2f} ms"
        )
        if b.first_error:
            print(f"bench: first error: {b.first_error}")
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
