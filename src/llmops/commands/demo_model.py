"""``llmops demo-model PATH``: write the tiny offline test model."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.commands import console
from llmops.serving import demo_model

if TYPE_CHECKING:
    from rich.console import Console


def serve_command(path: Path) -> str:
    """How to serve the model with vLLM's CPU build (docs/guide-smoke-bench.md, the same line)."""
    return (
        "HF_HUB_OFFLINE=1 VLLM_CPU_KVCACHE_SPACE=1 python -m vllm.entrypoints.openai.api_server "
        f"--model {shlex.quote(str(path))} --served-model-name demo --host 127.0.0.1 --port 8000 "
        "--max-model-len 512 --dtype bfloat16 --enforce-eager -O0"
    )


def run(
    path: Path, *, seed: int = 0, force: bool = False, fmt: str = "text", output_file: Path | None = None
) -> int:
    shape = demo_model.DemoShape()
    with console.progress(f"building a random-weight Qwen2 model in {path}"):
        built = demo_model.build(path, seed=seed, shape=shape, force=force)
    facts = shape.model_facts()
    data: dict[str, Any] = {
        "path": str(built),
        "architecture": facts.architecture,
        "parameters": facts.num_parameters,
        "hidden_size": shape.hidden_size,
        "attention_heads": shape.num_attention_heads,
        "kv_heads": shape.num_key_value_heads,
        "head_dim": shape.head_dim,
        "layers": shape.num_hidden_layers,
        "seed": seed,
        "serve": serve_command(built),
    }
    console.emit(data, fmt, output_file=output_file, human=lambda out: _text(data, out))
    return 0


def _text(data: dict[str, Any], out: Console) -> None:
    out.print(
        f"wrote a random-weight Qwen2 model ({data['parameters']:,} parameters, "
        f"hidden {data['hidden_size']}, {data['attention_heads']} heads, {data['kv_heads']} KV head, "
        f"head_dim {data['head_dim']}, {data['layers']} layers) to {data['path']}",
        soft_wrap=True,
        markup=False,
    )
    out.print(f"serve it: {data['serve']}", soft_wrap=True, markup=False)
    out.print("its answers are random text: it tests the serving path, not quality", style="dim")
