"""`llmops demo-model`: the tiny offline model vLLM's CPU build serves."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from llmops.errors import EXIT_ERROR
from llmops.serving import demo_model


def test_demo_model_has_a_shape_cpu_attention_accepts_and_a_chat_tokenizer(demo_model_dir: Path) -> None:
    config = json.loads((demo_model_dir / "config.json").read_text())
    assert config["architectures"] == ["Qwen2ForCausalLM"]
    assert config["hidden_size"] // config["num_attention_heads"] == 64  # head_dim 16 fails in vLLM
    assert (config["num_attention_heads"], config["num_key_value_heads"], config["num_hidden_layers"]) == (
        2,
        1,
        2,
    )
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(demo_model_dir))
    text = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tok.convert_ids_to_tokens(tok.encode("<|im_end|>")) == ["<|im_end|>"]
    assert tok.decode(tok.encode("Grüße, 世界!")) == "Grüße, 世界!"  # byte-level: any text round-trips


def _safetensors_parameters(file: Path) -> int:
    """Parameters stored in a safetensors file, counted from its JSON header (8-byte length, then JSON)."""
    with file.open("rb") as fh:
        header = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))
    return sum(math.prod(t["shape"]) for name, t in header.items() if name != "__metadata__")


def test_demo_model_command_writes_a_model_and_refuses_to_overwrite(cli, tmp_path: Path) -> None:
    target = tmp_path / "tiny"
    result = cli("demo-model", target)
    assert result.code == 0, result.err
    written = _safetensors_parameters(target / "model.safetensors")
    assert written == demo_model.DemoShape().model_facts().num_parameters
    assert f"({written:,} parameters" in result.out
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= {
        p.name for p in target.iterdir()
    }
    again = cli("demo-model", target)
    assert again.code == EXIT_ERROR
    assert "exists and is not empty" in again.err and "--force" in again.err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no half-written leftovers


def test_without_the_serve_extra_it_says_what_to_install(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # as if the package were not installed
    result = cli("demo-model", tmp_path / "m")
    assert result.code == EXIT_ERROR
    assert "pip install 'llmops[serve]'" in result.err
    assert not (tmp_path / "m").exists()
