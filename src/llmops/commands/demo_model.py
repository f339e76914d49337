"""``llmops demo-model PATH``: write the tiny offline test model."""

from __future__ import annotations

from pathlib import Path

from llmops.commands import console
from llmops.serving import demo_model


def run(path: Path, *, seed: int = 0, force: bool = False) -> int:
    shape = demo_model.DemoShape()
    built = demo_model.build(path, seed=seed, shape=shape, force=force)
    console.stdout.print(
        f"wrote a random-weight Qwen2 model ({shape.model_facts().num_parameters:,} parameters, "
        f"hidden {shape.hidden_size}, {shape.num_attention_heads} heads, "
        f"{shape.num_key_value_heads} KV head, "
        f"head_dim {shape.head_dim}, {shape.num_hidden_layers} layers) to {built}"
    )
    console.stdout.print(
        "serve it: python -m vllm.entrypoints.openai.api_server "
        f"--model {built} --served-model-name demo --host 127.0.0.1 --port 8000 "
        "--max-model-len 512 --dtype bfloat16 --enforce-eager",
        soft_wrap=True,
    )
    console.stdout.print("[dim]its answers are random text: it tests the serving path, not quality[/]")
    return 0
