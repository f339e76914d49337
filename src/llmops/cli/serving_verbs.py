"""Verbs about how a model is served: ``size`` and ``demo-model``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from llmops.cli.app import app, invocation
from llmops.cli.boundary import dispatch
from llmops.cli.options import TableFormat


def split_targets_and_flags(tokens: Sequence[str]) -> tuple[list[str], list[str]]:
    """Targets come first; everything from the first flag on is a vLLM flag (after ``--``)."""
    for i, tok in enumerate(tokens):
        if tok.startswith("-"):
            return list(tokens[:i]), list(tokens[i:])
    return list(tokens), []


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def size(
    ctx: typer.Context,
    tokens: Annotated[
        list[str],
        typer.Argument(
            help="Environments or Application names, then vLLM flags (after --) to try.",
            metavar="[TARGET]... [-- VLLM_FLAGS]",
            show_default=False,
        ),
    ] = [],  # noqa: B006
    model: Annotated[
        str | None, typer.Option("--model", help="Size a model by name instead of a deployment.")
    ] = None,
    model_config: Annotated[
        Path | None, typer.Option("--model-config", help="The model's config.json (or its directory).")
    ] = None,
    gpu: Annotated[
        str | None, typer.Option("--gpu", help="GPU type, e.g. L4, A10G, A100-80GB, H100.")
    ] = None,
    gpus: Annotated[
        int | None, typer.Option("--gpus", help="GPU count with --model (default: TP x PP).")
    ] = None,
    fmt: Annotated[TableFormat, typer.Option("--format", "-o", help="Output format.")] = TableFormat.table,
) -> None:
    """Will the vLLM configuration fit the GPU? KV cache tokens, sequences at full length, vLLM's error."""
    from llmops.commands import size as cmd

    inv = invocation(ctx)
    targets, flags = split_targets_and_flags(tokens)
    dispatch(
        inv.debug,
        lambda: cmd.run(
            inv.repository,
            targets,
            flags,
            model=model,
            model_config=model_config,
            gpu=gpu,
            gpu_count=gpus,
            fmt=fmt.value,
        ),
    )


@app.command("demo-model")
def demo_model(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Directory to write the model to (absent or empty).")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed for the weights.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a non-empty directory.")] = False,
) -> None:
    """Write a tiny random-weight Qwen2 model (offline) that vLLM's CPU build serves."""
    from llmops.commands import demo_model as cmd

    inv = invocation(ctx)
    dispatch(inv.debug, lambda: cmd.run(path, seed=seed, force=force))
