"""Verbs about how a model is served: ``size`` and ``demo-model``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from llmops.cli.app import app, invocation
from llmops.cli.boundary import dispatch
from llmops.cli.options import output_file, output_format

SECTION = "Serving"


def split_targets_and_flags(tokens: Sequence[str]) -> tuple[list[str], list[str]]:
    """Targets come first; everything from the first flag on is a vLLM flag (after ``--``)."""
    for i, tok in enumerate(tokens):
        if tok.startswith("-"):
            return list(tokens[:i]), list(tokens[i:])
    return list(tokens), []


@app.verb(
    SECTION,
    context_settings={"ignore_unknown_options": True},
    examples=[
        "llmops size dev                                   # every InferenceService of dev",
        "llmops size dev -- --max-model-len 131072         # other vLLM flags: vLLM's own verdict",
        "llmops size --model Qwen/Qwen3-8B --gpu L4 -- --max-model-len 16k",
        "llmops size --model-config ./my-model/ --gpu H100 -o json",
    ],
)
@click.argument("tokens", nargs=-1, type=click.UNPROCESSED, metavar="[TARGET]... [-- VLLM_FLAGS]")
@click.option("--model", help="Size a model by name instead of a deployment.")
@click.option(
    "--model-config", type=click.Path(path_type=Path), metavar="PATH",
    help="The model's config.json (or its directory).",
)  # fmt: skip
@click.option("--gpu", metavar="TYPE", help="GPU type, e.g. L4, A10G, A100-80GB, H100.")
@click.option(
    "--gpus", type=click.IntRange(min=0), metavar="N", help="GPU count with --model (default: TP x PP)."
)
@output_format(["table", "wide", "json", "yaml"], "table")
@output_file
@click.pass_context
def size(
    ctx: click.Context,
    tokens: tuple[str, ...],
    model: str | None,
    model_config: Path | None,
    gpu: str | None,
    gpus: int | None,
    fmt: str,
    output_file: Path | None,
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
            fmt=fmt,
            output_file=output_file,
        ),
    )


@app.verb(
    SECTION,
    "demo-model",
    examples=[
        "llmops demo-model /tmp/demo                       # then serve it as the output says",
        "llmops demo-model /tmp/demo --force               # rebuild a demo model llmops wrote",
    ],
)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed for the weights.")
@click.option(
    "--force", is_flag=True,
    help="Replace a demo model llmops wrote there before (never another folder: not ., not a git "
    "work tree, not files llmops did not write).",
)  # fmt: skip
@output_format(["text", "json", "yaml"], "text")
@output_file
@click.pass_context
def demo_model(
    ctx: click.Context, path: Path, seed: int, force: bool, fmt: str, output_file: Path | None
) -> None:
    """Write a tiny random-weight Qwen2 model (offline) that vLLM's CPU build serves."""
    from llmops.commands import demo_model as cmd

    inv = invocation(ctx)
    dispatch(inv.debug, lambda: cmd.run(path, seed=seed, force=force, fmt=fmt, output_file=output_file))
