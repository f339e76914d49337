"""``llmops size``: will this vLLM configuration fit the GPU, and how much KV cache does it get?"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.table import Table

from llmops.commands import console
from llmops.errors import EXIT_FINDINGS, EXIT_OK
from llmops.gitops import manifests
from llmops.gitops.repo import Repository
from llmops.serving import gpus, sizer, sizing
from llmops.serving.sizer import Sized
from llmops.serving.sizing import format_gib


def run(
    repository: Callable[[], Repository],
    targets: list[str],
    flags: list[str],
    *,
    model: str | None = None,
    model_config: Path | None = None,
    gpu: str | None = None,
    gpu_count: int | None = None,
    fmt: str = "table",
) -> int:
    # Sizing a model by name needs no repository; sizing deployments does.
    repo = None if sizer.standalone(targets, model=model, model_config=model_config) else repository()
    results = sizer.size(
        repo, targets, flags, model=model, model_config=model_config, gpu=gpu, gpu_count=gpu_count
    )
    if fmt == "json":
        console.plain(manifests.dump_json([{**r.report.to_dict(), "context": r.context} for r in results]))
    else:
        for r in results:
            _print(r)
    return EXIT_OK if all(r.report.fits for r in results) else EXIT_FINDINGS


def _gib(n: int) -> str:
    return f"{format_gib(n)} GiB"


def _print(sized: Sized) -> None:
    r, ctx = sized.report, sized.context
    s, m = r.settings, r.memory
    where = f" ({ctx['environment']}, {ctx['namespace']})" if "environment" in ctx else ""
    gpu = gpus.CATALOG[r.gpu]
    label = f"{r.name}{where}: " if r.name and r.name != r.model else ""
    title = console.safe(
        f"{label}{r.model} on {r.gpu_count} x {gpu.name} ({gpu.memory_gb} GB, {ctx['gpu_source']})"
    )
    est = "" if r.exact else " (estimate)"
    table = Table(title=title, title_justify="left", show_header=True)
    table.add_column("per GPU")
    table.add_column("value", justify="right")
    table.add_column("how")
    if r.exact:
        table.add_row("KV cache memory", _gib(m.kv_available), "--kv-cache-memory-bytes (exact)")
    else:
        table.add_row("device memory", _gib(m.device_total), "what the driver reports (conservative)")
        table.add_row("budget", _gib(m.budget), f"x --gpu-memory-utilization {s.gpu_memory_utilization}")
        table.add_row(
            "- weights",
            _gib(m.weights),
            f"parameters x {sizing.DTYPE_BYTES[s.dtype]} B ({s.dtype})"
            + (f" / TP {s.tensor_parallel}" if s.tensor_parallel > 1 else ""),
        )
        table.add_row(
            "- activation" + est,
            _gib(m.activation),
            f"{s.max_num_batched_tokens:,} batched tokens, {s.max_num_seqs} sequences",
        )
        table.add_row(
            "- non-torch" + est,
            _gib(m.non_torch),
            "CUDA libraries" + (", NCCL" if s.tensor_parallel > 1 else ""),
        )
        table.add_row(
            "- CUDA graphs" + est,
            _gib(m.cuda_graphs),
            "off (--enforce-eager)" if s.enforce_eager else "captured",
        )
        table.add_row("= KV cache memory", _gib(m.kv_available), "")
    table.add_row(
        "KV bytes per token", f"{m.kv_bytes_per_token:,}", f"{s.kv_cache_dtype}, TP {s.tensor_parallel}"
    )
    table.add_row(
        "KV cache tokens", f"{r.kv_cache_tokens:,}", f"{r.kv_cache_blocks:,} blocks of {s.block_size}"
    )
    table.add_row("max-model-len", f"{s.max_model_len:,}", s.max_model_len_source)
    table.add_row(
        "full-length sequences",
        f"{r.full_length_sequences:,}",
        f"at once (vLLM: maximum concurrency {r.max_concurrency:.2f}x)",
    )
    console.stdout.print(table)
    if r.fits:
        console.stdout.print(
            f"[green]fits[/]: {r.kv_cache_tokens:,} tokens of KV cache, "
            f"{r.full_length_sequences:,} sequences of {s.max_model_len:,} tokens at once; "
            f"margin {r.margin_fraction:.1%} of the budget"
        )
    else:
        console.stdout.print(
            f"[red]does not fit[/]: vLLM would refuse to start: {console.safe(r.error)}", soft_wrap=True
        )
    for w in r.warnings:
        console.stdout.print(f"[yellow]warning:[/] {console.safe(w)}", soft_wrap=True)
    for rec in r.recommendations:
        console.stdout.print(f"[cyan]recommendation:[/] {console.safe(rec)}", soft_wrap=True)
    console.stdout.print("")
