"""`llmops size` knows the models people deploy: the built-in catalog, the local HF cache, --model-config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops.serving import models

# Parameter counts the model cards publish (rounded to three digits); the built-in figures must
# reproduce them within 1.5 %, which checks every layer count, width and vocabulary copied.
PUBLISHED = {
    "Qwen/Qwen2.5-1.5B-Instruct": 1.54e9,
    "Qwen/Qwen2.5-3B-Instruct": 3.09e9,
    "Qwen/Qwen2.5-7B-Instruct": 7.61e9,
    "Qwen/Qwen2.5-14B-Instruct": 14.7e9,
    "Qwen/Qwen2.5-32B-Instruct": 32.5e9,
    "Qwen/Qwen2.5-72B-Instruct": 72.7e9,
    "Qwen/Qwen3-1.7B": 1.7e9,
    "Qwen/Qwen3-4B": 4.0e9,
    "Qwen/Qwen3-8B": 8.2e9,
    "Qwen/Qwen3-14B": 14.8e9,
    "Qwen/Qwen3-32B": 32.8e9,
    "meta-llama/Llama-3.1-8B-Instruct": 8.03e9,
    "meta-llama/Llama-3.1-70B-Instruct": 70.6e9,
    "mistralai/Mistral-7B-Instruct-v0.3": 7.25e9,
    "ibm-granite/granite-3.1-8b-instruct": 8.17e9,
}


@pytest.mark.parametrize(("name", "published"), PUBLISHED.items())
def test_built_in_figures_reproduce_the_published_parameter_counts(name: str, published: float) -> None:
    facts = models.lookup(name)
    assert abs(facts.num_parameters - published) / published < 0.015, facts.num_parameters


def test_every_built_in_model_cites_its_config() -> None:
    raw = json.loads((Path(models.__file__).parent / "data" / "models.json").read_text())
    names = [m["name"] for m in raw["models"]]
    assert len(names) == len(set(names)) >= 20
    for entry in raw["models"]:
        assert entry["source"] == f"https://huggingface.co/{entry['name']}/blob/main/config.json"
        assert entry["hidden_size"] == entry["num_attention_heads"] * entry["head_dim"] or entry[
            "architecture"
        ].startswith("Qwen3")  # Qwen3 projects queries wider than the hidden size


@pytest.mark.parametrize(
    ("written", "name"),
    [
        (
            "oci://quay.io/redhat-ai-services/modelcar-catalog:granite-3.1-8b-instruct",
            "ibm-granite/granite-3.1-8b-instruct",
        ),
        ("hf://meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"),
        ("qwen25-7b-instruct", "Qwen/Qwen2.5-7B-Instruct"),  # a KServe name: dots dropped
        ("dev-qwen3-8b", "Qwen/Qwen3-8B"),  # an environment prefix
        ("mistral-7b-instruct-v0.3", "mistralai/Mistral-7B-Instruct-v0.3"),
    ],
)  # fmt: skip
def test_deployments_name_models_the_way_they_do(written: str, name: str) -> None:
    assert models.lookup(written).name == name


def test_a_config_in_the_local_hugging_face_cache_is_used(cli, tmp_path: Path, monkeypatch) -> None:
    snapshot = tmp_path / "hf" / "hub" / "models--acme--tiny-chat" / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "num_hidden_layers": 4,
        "hidden_size": 512, "intermediate_size": 1024, "num_attention_heads": 8, "num_key_value_heads": 2,
        "vocab_size": 32000, "max_position_embeddings": 4096, "torch_dtype": "bfloat16",
    }  # fmt: skip
    (snapshot / "config.json").write_text(json.dumps(config))
    unknown = cli("size", "--model", "acme/tiny-chat", "--gpu", "L4")
    assert unknown.code == 2 and "huggingface-cli download" in unknown.err
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    result = cli("size", "--model", "acme/tiny-chat", "--gpu", "L4", "-o", "json")
    assert result.code == 0, result.err
    [report] = result.json()
    # 2 (K and V) x 4 layers x 2 KV heads x head_dim 64 x 2 bytes
    assert report["memory"]["kv_bytes_per_token"] == 2 * 4 * 2 * 64 * 2
    assert report["settings"]["max_model_len"] == 4096


def test_a_70b_model_needs_more_than_one_h100(cli) -> None:
    one = cli("size", "--model", "meta-llama/Llama-3.1-70B-Instruct", "--gpu", "H100")
    assert one.code == 1 and "does not fit" in one.out
    four = cli(
        "size", "--model", "meta-llama/Llama-3.1-70B-Instruct", "--gpu", "H100",
        "--", "--tensor-parallel-size", "4", "--max-model-len", "32k",
    )  # fmt: skip
    assert four.code == 0, four.out + four.err
