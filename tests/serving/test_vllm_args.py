from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops.serving import models as modelinfo
from llmops.serving import vllm_args


def test_runtime_and_model_args_combine_and_last_one_wins() -> None:
    runtime = {
        "spec": {
            "containers": [
                {
                    "name": "kserve-container",
                    "args": [
                        "--port=8080",
                        "--model=/mnt/models",
                        "--served-model-name={{.Name}}",
                        "--max-model-len",
                        "4096",
                    ],
                }
            ]
        }
    }
    isvc = {
        "metadata": {"name": "dev-qwen"},
        "spec": {"predictor": {"model": {"args": ["--max_model_len=8K"]}}},
    }
    args = vllm_args.effective(isvc, runtime)
    assert args.get("served-model-name") == "dev-qwen"
    assert args.int_value("max-model-len") == 8192
    assert args.last("max-model-len").source == "inferenceservice"
    assert args.int_value("port") == 8080


def test_both_flag_forms_booleans_lists_and_short_aliases() -> None:
    args = vllm_args.from_cli(
        [
            "--gpu-memory-utilization",
            "0.8",
            "-tp",
            "2",
            "--enforce-eager",
            "--served-model-name",
            "a",
            "b",
            "--dtype=half",
        ]
    )
    assert args.float_value("gpu-memory-utilization") == 0.8
    assert args.int_value("tensor-parallel-size") == 2
    assert args.has("enforce-eager") and args.get("enforce-eager") is None
    assert args.get("served-model-name") == "a b"
    assert args.get("dtype") == "half"
    assert args.unknown() == []


def test_unknown_flags_are_reported_with_their_token() -> None:
    args = vllm_args.from_cli(["--max-model-len=10", "--made-up-flag", "3"])
    assert [o.raw for o in args.unknown()] == ["--made-up-flag"]


@pytest.mark.parametrize(
    ("text", "value"), [("8k", 8000), ("8K", 8192), ("25.6k", 25600), ("512", 512), ("auto", -1)]
)
def test_human_readable_lengths_follow_vllm(text: str, value: int) -> None:
    assert vllm_args.from_cli([f"--max-model-len={text}"]).int_value("max-model-len") == value


def test_malformed_numbers_raise_value_error() -> None:
    with pytest.raises(ValueError):
        vllm_args.from_cli(["--max-model-len=lots"]).int_value("max-model-len")


def test_qwen25_05b_facts() -> None:
    facts = modelinfo.lookup("oci://quay.io/redhat-ai-services/modelcar-catalog:qwen2.5-0.5b-instruct")
    assert facts.num_parameters == 494_032_768
    assert facts.kv_bytes_per_token(2) == 12_288
    assert round(facts.num_parameters * 2 / 2**30, 2) == 0.92
    assert facts.max_position_embeddings == 32768


def test_model_facts_from_a_config_file(tmp_path: Path) -> None:
    cfg = {
        "architectures": ["Qwen2ForCausalLM"],
        "num_hidden_layers": 2,
        "hidden_size": 128,
        "intermediate_size": 256,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "vocab_size": 1000,
        "max_position_embeddings": 512,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
    }
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    facts = modelinfo.load_config_file(tmp_path)
    assert facts.head_dim == 64
    assert facts.kv_bytes_per_token(2) == 2 * 2 * 1 * 64 * 2


def test_unknown_model_says_how_to_give_its_config() -> None:
    with pytest.raises(modelinfo.ModelError) as err:
        modelinfo.lookup("acme/mystery-13b")
    assert "--model-config PATH" in (err.value.hint or "")


def test_malformed_config_json(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(modelinfo.ModelError):
        modelinfo.load_config_file(tmp_path)
