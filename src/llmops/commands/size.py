"""``llmops size``: will this vLLM configuration fit the GPU, and how much KV cache does it get?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from llmops.commands import console
from llmops.errors import EXIT_FINDINGS, EXIT_OK, UsageError
from llmops.gitops import manifests
from llmops.gitops.manifests import iter_kind
from llmops.gitops.render import render_apps
from llmops.gitops.repo import Repository
from llmops.serving import gpus, models, sizing, vllm_args
from llmops.serving.kserve import inputs_for
from llmops.serving.sizing import SizingReport, format_gib


@dataclass(frozen=True)
class Sized:
    report: SizingReport
    context: dict[str, str]  # where things came from: environment, namespace, model, gpu


def split_tokens(tokens: Sequence[str]) -> tuple[list[str], list[str]]:
    """Targets come first; everything from the first flag on is a vLLM flag."""
    for i, tok in enumerate(tokens):
        if tok.startswith("-"):
            return list(tokens[:i]), list(tokens[i:])
    return list(tokens), []


def _refuse_unknown(flags: Sequence[str]) -> vllm_args.VllmArgs:
    args = vllm_args.from_cli(list(flags))
    unknown = [o.raw for o in args.unknown()]
    if unknown:
        raise UsageError(
            f"unknown vLLM flag(s): {', '.join(unknown)}",
            hint=f"flags are checked against vLLM {vllm_args.catalog().vllm_version}'s own parser",
        )
    return args


def size_deployments(
    repo: Repository,
    targets: list[str],
    *,
    gpu: str | None = None,
    model_config: Path | None = None,
    flags: Sequence[str] = (),
) -> list[Sized]:
    _refuse_unknown(flags)
    apps = repo.resolve_many(targets)
    out: list[Sized] = []
    for item in render_apps(repo.root, apps):
        isvcs = list(iter_kind(item.resources, "InferenceService"))
        for isvc in isvcs:
            inp = inputs_for(isvc, item.resources, gpu=gpu, model_config=model_config, extra_flags=flags)
            report = sizing.assess(inp.model, inp.gpu, inp.args, inp.gpu_count, name=inp.name)
            out.append(
                Sized(
                    report,
                    {
                        "environment": item.app.environment,
                        "application": item.app.name,
                        "namespace": inp.namespace,
                        "model_source": inp.model_source,
                        "gpu_source": inp.gpu_source,
                    },
                )
            )
    if not out:
        raise UsageError(
            "no InferenceService in " + ", ".join(a.name for a in apps),
            hint="llmops size reads spec.predictor of rendered InferenceServices",
        )
    return out


def size_standalone(
    *,
    model: str | None,
    model_config: Path | None,
    gpu: str | None,
    gpu_count: int | None,
    flags: Sequence[str],
) -> Sized:
    if gpu is None:
        raise UsageError(
            "--gpu is required with --model/--model-config",
            hint="known GPUs: " + ", ".join(gpus.known_gpus()),
        )
    if model_config is not None:
        facts, source = models.load_config_file(model_config), f"--model-config {model_config}"
    elif model is not None:
        facts, source = models.lookup(model), f"--model {model}"
    else:
        raise UsageError("name an environment, or a model with --model NAME or --model-config PATH")
    args = _refuse_unknown(flags)
    if gpu_count is None:
        settings, _ = sizing.settings_for(facts, gpus.get(gpu), args)
        gpu_count = settings.tensor_parallel * settings.pipeline_parallel
    if gpu_count < 0:
        raise UsageError(f"--gpus={gpu_count} must be zero or more")
    report = sizing.assess(facts, gpus.get(gpu), args, gpu_count, name=facts.name)
    return Sized(report, {"model_source": source, "gpu_source": f"--gpu {gpu}"})


def run(
    repo: Repository | None,
    tokens: list[str],
    *,
    model: str | None = None,
    model_config: Path | None = None,
    gpu: str | None = None,
    gpu_count: int | None = None,
    fmt: str = "table",
) -> int:
    targets, flags = split_tokens(tokens)
    if model is not None or (model_config is not None and not targets):
        if targets:
            raise UsageError("give either environments/applications or --model, not both")
        results = [
            size_standalone(model=model, model_config=model_config, gpu=gpu, gpu_count=gpu_count, flags=flags)
        ]
    else:
        if repo is None:
            raise UsageError("no repository to read environments from")
        results = size_deployments(repo, targets, gpu=gpu, model_config=model_config, flags=flags)
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
    title = (
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
        console.stdout.print(f"[red]does not fit[/]: vLLM would refuse to start: {r.error}", soft_wrap=True)
    for w in r.warnings:
        console.stdout.print(f"[yellow]warning:[/] {w}", soft_wrap=True)
    for rec in r.recommendations:
        console.stdout.print(f"[cyan]recommendation:[/] {rec}", soft_wrap=True)
    console.stdout.print("")
