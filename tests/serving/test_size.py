"""``llmops size`` and the sizing model: figures, vLLM's refusals, recommendations, bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from testing.repos import edit, git

from llmops.serving import gpus, kserve, models, sizing, vllm_args
from llmops.serving.gpus import GIB
from llmops.serving.sizing import SizingError

QWEN_05 = "Qwen/Qwen2.5-0.5B-Instruct"


def _assess(model: str, gpu: str, *flags: str, count: int = 1) -> sizing.SizingReport:
    return sizing.assess(models.lookup(model), gpus.get(gpu), vllm_args.from_cli(list(flags)), count)


# -- the reference model's figures --------------------------------------------------------


def test_qwen25_05b_figures_match_the_published_architecture() -> None:
    m = models.lookup(QWEN_05)
    assert m.num_parameters == 494_032_768
    assert sizing.kv_bytes_per_token(m, 2) == 12_288
    assert round(sizing.weight_bytes(m, 2) / GIB, 2) == 0.92
    assert sizing.valid_tp_sizes(m) == [1, 2]


def test_larger_qwen_models_have_their_kv_sizes_and_tp_choices() -> None:
    small, big = models.lookup("Qwen/Qwen2.5-1.5B-Instruct"), models.lookup("Qwen/Qwen2.5-7B-Instruct")
    assert sizing.kv_bytes_per_token(small, 2) == 28_672
    assert sizing.kv_bytes_per_token(big, 2) == 57_344
    assert sizing.kv_bytes_per_token(big, 2, tp=2) == 28_672  # 4 KV heads split over 2 GPUs
    assert sizing.valid_tp_sizes(big) == [1, 2, 4]  # 28 heads / 4 KV heads; 7 would not split KV heads
    assert sizing.valid_tp_sizes(small) == [
        1,
        2,
        4,
        6,
    ]  # 12 heads; 3 neither splits nor replicates 2 KV heads


def test_kv_tokens_are_whole_blocks_of_what_the_budget_leaves() -> None:
    r = _assess(QWEN_05, "L4", "--max-model-len=8192", "--gpu-memory-utilization=0.9")
    m = r.memory
    assert m.budget == -(-gpus.get("L4").usable_bytes * 9 // 10)
    assert m.kv_available == m.budget - m.weights - m.activation - m.non_torch - m.cuda_graphs
    assert r.kv_cache_tokens == m.kv_available // (12_288 * 16) * 16
    assert r.full_length_sequences == r.kv_cache_tokens // 8192
    assert r.fits and r.error is None and 0 < r.margin_fraction < 1


def test_enforce_eager_and_fewer_batched_tokens_leave_more_kv_cache() -> None:
    base = _assess(QWEN_05, "L4", "--max-num-batched-tokens=8192")
    eager = _assess(QWEN_05, "L4", "--max-num-batched-tokens=8192", "--enforce-eager")
    small_batch = _assess(QWEN_05, "L4", "--max-num-batched-tokens=512")
    assert eager.memory.cuda_graphs == 0 < base.memory.cuda_graphs
    assert eager.kv_cache_tokens > base.kv_cache_tokens
    assert small_batch.memory.activation < base.memory.activation
    assert small_batch.kv_cache_tokens > base.kv_cache_tokens


def test_fp8_kv_cache_halves_bytes_per_token() -> None:
    assert _assess(QWEN_05, "L4", "--kv-cache-dtype=fp8").memory.kv_bytes_per_token == 6_144


# -- vLLM's refusals, in its own words -------------------------------------------------------


def test_max_model_len_beyond_the_model_is_rejected_with_vllms_reason(cli) -> None:
    result = cli("size", "--model", QWEN_05, "--gpu", "L4", "--", "--max-model-len", "131072")
    assert result.code == 1
    assert "User-specified max_model_len (131072) is greater than the derived max_model_len" in result.out
    assert "max_position_embeddings=32768" in result.out
    assert "VLLM_ALLOW_LONG_MAX_MODEL_LEN=1" in result.out
    assert "--max-model-len=32768" in result.out


def test_heads_not_divisible_by_tp_is_rejected_and_valid_sizes_listed() -> None:
    r = _assess(QWEN_05, "L4", "--tensor-parallel-size=4", count=4)
    assert r.error == "Total number of attention heads (14) must be divisible by tensor parallel size (4)."
    assert any("1, 2" in rec for rec in r.recommendations)


def test_tp_that_neither_splits_nor_replicates_kv_heads_is_rejected() -> None:
    # 7B: 28 heads (divisible by 7) but 4 KV heads, and 7 and 4 do not divide one another.
    r = _assess("Qwen/Qwen2.5-7B-Instruct", "A100-80GB", "-tp", "7", count=7)
    assert r.error is not None and "KV heads (4)" in r.error


def test_tp_larger_than_the_gpus_requested_is_rejected_smaller_wastes_gpus() -> None:
    r = _assess(QWEN_05, "L4", "--tensor-parallel-size=2", count=1)
    assert r.error is not None and r.error.startswith(
        "World size (2) is larger than the number of available GPUs (1)"
    )
    idle = _assess(QWEN_05, "L4", count=2)
    assert idle.fits and any("stay idle" in w for w in idle.warnings)
    both = _assess(QWEN_05, "L4", "--tensor-parallel-size=2", count=2)
    assert both.fits and both.memory.kv_bytes_per_token == 6_144


def test_bf16_on_a_t4_is_rejected_but_auto_falls_back_to_float16() -> None:
    r = _assess(QWEN_05, "T4", "--dtype=bfloat16")
    assert r.error is not None
    assert r.error.startswith("Bfloat16 is only supported on GPUs with compute capability of at least 8.0.")
    assert "Tesla T4 GPU has compute capability 7.5" in r.error
    assert any("--dtype=half" in rec for rec in r.recommendations)
    auto = _assess(QWEN_05, "T4")
    assert auto.fits and auto.settings.dtype == "float16"
    assert any("Falling back to torch.float16" in w for w in auto.warnings)


def test_kv_cache_too_small_gives_vllms_message_and_recommendations_that_work() -> None:
    flags = ("--max-model-len=32768", "--gpu-memory-utilization=0.75")
    r = _assess("Qwen/Qwen2.5-7B-Instruct", "L4", *flags)
    assert r.error is not None
    assert r.error.startswith("To serve at least one request with the model's max seq len (32768), (")
    assert f"the estimated maximum model length is {r.kv_cache_tokens}." in r.error
    (length,) = [rec for rec in r.recommendations if rec.startswith("set --max-model-len=")]
    fitting = length.split("=")[1].split()[0]
    assert _assess(
        "Qwen/Qwen2.5-7B-Instruct", "L4", "--gpu-memory-utilization=0.75", f"--max-model-len={fitting}"
    ).fits
    too_long = str(int(fitting) + 16)
    assert not _assess(
        "Qwen/Qwen2.5-7B-Instruct", "L4", "--gpu-memory-utilization=0.75", f"--max-model-len={too_long}"
    ).fits
    (util,) = [rec for rec in r.recommendations if rec.startswith("set --gpu-memory-utilization=")]
    value = util.split("=")[1].split()[0]
    assert _assess(
        "Qwen/Qwen2.5-7B-Instruct", "L4", "--max-model-len=32768", f"--gpu-memory-utilization={value}"
    ).fits


def test_weights_larger_than_the_budget_mean_no_cache_blocks_and_a_tp_recommendation() -> None:
    r = _assess("Qwen/Qwen2.5-7B-Instruct", "T4", "--dtype=half")
    assert r.error is not None and r.error.startswith("No available memory for the cache blocks.")
    assert "use --tensor-parallel-size=2 with 2 GPUs" in r.recommendations
    assert _assess("Qwen/Qwen2.5-7B-Instruct", "T4", "--dtype=half", "-tp", "2", count=2).fits


def test_thin_margin_is_flagged() -> None:
    first = _assess(QWEN_05, "T4", "--max-model-len=4096")
    non_kv = first.memory.budget - first.memory.kv_available
    # the smallest utilization (to 0.001) that still holds one 4,096-token sequence
    util = -(-(non_kv + first.memory.kv_needed_one_sequence) * 1000 // gpus.get("T4").usable_bytes) / 1000
    r = _assess(QWEN_05, "T4", f"--gpu-memory-utilization={util}", "--max-model-len=4096")
    assert r.fits and r.thin and 0 <= r.margin_fraction < sizing.THIN_MARGIN
    assert not _assess(
        QWEN_05, "T4", f"--gpu-memory-utilization={util - 0.002:.3f}", "--max-model-len=4096"
    ).fits
    assert any("thin margin" in w for w in r.warnings)


def test_auto_max_model_len_fits_itself_to_memory() -> None:
    r = _assess("Qwen/Qwen2.5-7B-Instruct", "L4", "--max-model-len=auto", "--gpu-memory-utilization=0.75")
    assert r.fits and r.settings.max_model_len_source == "auto-fit"
    assert r.settings.max_model_len == r.kv_cache_tokens < 32768


# -- GPUs -------------------------------------------------------------------------------------


def test_catalog_memory_is_datasheet_gb_in_binary_bytes_and_usable_is_less() -> None:
    assert gpus.get("T4").memory_bytes == 16 * 1024**3
    assert gpus.get("H200").memory_bytes == 141 * 1024**3
    for gpu in gpus.CATALOG.values():
        assert gpu.usable_bytes < gpu.memory_bytes
    assert [g.id for g in gpus.CATALOG.values() if not g.supports_bf16] == ["T4", "V100-16GB", "V100-32GB"]


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("NVIDIA-A100-SXM4-80GB", "A100-80GB"),
        ("NVIDIA-A100-PCIE-40GB", "A100-40GB"),
        ("Tesla-T4", "T4"),
        ("NVIDIA-H100-80GB-HBM3", "H100-80GB"),
        ("NVIDIA-L40S", "L40S"),
        ("NVIDIA-L4", "L4"),
        ("nvidia-a10g", "A10G"),
        ("h200", "H200"),
    ],
)
def test_node_labels_and_short_names_find_catalog_gpus(label: str, expected: str) -> None:
    assert gpus.get(label).id == expected


def test_gpus_with_other_memory_sizes_are_not_guessed() -> None:
    assert gpus.find("NVIDIA-H100-NVL") is None
    assert gpus.find("NVIDIA-L40") is None


# -- llmops size ENV --------------------------------------------------------------------------


def test_size_dev_explains_kv_tokens_and_full_length_sequences(cli, gitops_repo: Path) -> None:
    result = cli("size", "dev", "--repo", gitops_repo)
    assert result.code == 0, result.err
    assert "NVIDIA L4" in result.out and "nodeSelector nvidia.com/gpu.product=NVIDIA-L4" in result.out
    (report,) = cli("size", "dev", "--repo", gitops_repo, "--format", "json").json()
    assert report["fits"] is True
    assert report["name"] == "dev-qwen25-05b-instruct"
    assert report["model"] == QWEN_05
    assert report["settings"]["max_model_len"] == 8192  # from release.yaml
    assert report["settings"]["gpu_memory_utilization"] == 0.9
    assert report["settings"]["max_num_seqs"] == 64
    assert report["memory"]["kv_bytes_per_token"] == 12_288
    assert f"fits: {report['kv_cache_tokens']:,} tokens of KV cache" in result.out
    assert f"{report['full_length_sequences']:,} sequences of 8,192 tokens at once" in result.out
    assert report["context"]["environment"] == "dev"


def test_size_every_environment_one_report_per_inference_service(cli, gitops_repo: Path) -> None:
    reports = cli("size", "--repo", gitops_repo, "-o", "json").json()
    assert [r["context"]["environment"] for r in reports] == ["dev", "staging", "production"]


def test_flags_after_double_dash_override_the_deployment(cli, gitops_repo: Path) -> None:
    result = cli("size", "dev", "--repo", gitops_repo, "--", "--max-model-len", "131072")
    assert result.code == 1
    assert "User-specified max_model_len (131072)" in result.out


def _edit_isvc(repo: Path, rel: str, edit: Callable[[dict[str, Any]], object]) -> None:
    path = repo / rel
    doc = yaml.safe_load(path.read_text())
    edit(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    git(repo, "commit", "-qam", "edit")


def test_gpu_count_and_type_come_from_the_inference_service(cli, gitops_repo: Path) -> None:
    def two_a10g(doc: dict[str, Any]) -> None:
        for side in ("requests", "limits"):
            doc["spec"]["predictor"]["model"]["resources"][side]["nvidia.com/gpu"] = "2"
        doc["spec"]["predictor"]["nodeSelector"] = {"nvidia.com/gpu.product": "NVIDIA-A10G"}

    _edit_isvc(gitops_repo, "deploy_model/overlays/dev/environment.yaml", two_a10g)
    (report,) = cli("size", "dev", "--repo", gitops_repo, "-o", "json").json()
    assert report["gpu"] == "A10G" and report["gpu_count"] == 2
    assert any("stay idle" in w for w in report["warnings"])
    (tp2,) = cli("size", "dev", "--repo", gitops_repo, "-o", "json", "--", "--tensor-parallel-size=2").json()
    assert tp2["fits"] and tp2["memory"]["kv_bytes_per_token"] == 6_144
    (override,) = cli("size", "dev", "--repo", gitops_repo, "-o", "json", "--gpu", "H100").json()
    assert override["gpu"] == "H100-80GB" and override["context"]["gpu_source"] == "--gpu H100"


def test_hardware_profile_annotation_declares_the_gpu(cli, gitops_repo: Path) -> None:
    def profile(doc: dict[str, Any]) -> None:
        del doc["spec"]["predictor"]["nodeSelector"]
        doc["metadata"]["annotations"]["opendatahub.io/hardware-profile-name"] = "nvidia-l40s"

    _edit_isvc(gitops_repo, "deploy_model/base/inferenceservice.yaml", profile)
    (report,) = cli("size", "dev", "--repo", gitops_repo, "-o", "json").json()
    assert report["gpu"] == "L40S"
    assert report["context"]["gpu_source"].startswith("annotation opendatahub.io/hardware-profile-name")


def test_no_gpu_declaration_asks_for_one(cli, gitops_repo: Path) -> None:
    _edit_isvc(
        gitops_repo,
        "deploy_model/base/inferenceservice.yaml",
        lambda d: d["spec"]["predictor"].pop("nodeSelector"),
    )
    result = cli("size", "dev", "--repo", gitops_repo)
    assert result.code == 2
    assert "does not say which GPU it runs on" in result.err and "--gpu" in result.err
    assert cli("size", "dev", "--repo", gitops_repo, "--gpu", "A10G").code == 0


# -- bad input --------------------------------------------------------------------------------


def test_unknown_model_says_how_to_give_its_config(cli) -> None:
    result = cli("size", "--model", "acme/giant-9000", "--gpu", "L4")
    assert result.code == 2
    assert "unknown model 'acme/giant-9000'" in result.err
    assert "--model-config PATH" in result.err and "huggingface-cli download" in result.err
    assert "Traceback" not in result.err
    close = cli("size", "--model", "Qwen/Qwen3-8B-Instruct", "--gpu", "L4")  # no such repository
    assert close.code == 2 and "did you mean 'Qwen/Qwen3-8B'?" in close.err


def test_unknown_gpu_lists_the_catalog(cli) -> None:
    result = cli("size", "--model", QWEN_05, "--gpu", "B300")
    assert result.code == 2
    assert "unknown GPU type 'B300'" in result.err and "A100-80GB" in result.err


def test_malformed_config_json_is_reported(cli, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    result = cli("size", "--model-config", tmp_path, "--gpu", "L4")
    assert result.code == 2 and "not a readable JSON model config" in result.err
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 64}))
    result = cli("size", "--model-config", tmp_path, "--gpu", "L4")
    assert result.code == 2 and "no valid num_hidden_layers" in result.err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-model-len=-5"], "must be a positive number of tokens"),
        (["--max-model-len=lots"], "is not an integer"),
        (["--gpu-memory-utilization=1.5"], "out of range"),
        (["--gpu-memory-utilization=0"], "out of range"),
        (["--tensor-parallel-size=0"], "must be a positive integer"),
        (["--dtype=int3"], "is not a dtype vLLM knows"),
        (["--max-model-lenn=4096"], "is not a vLLM 0.32.0 option: vLLM exits at start-up"),
    ],
)
def test_nonsensical_flags_are_refused_with_one_line(cli, flags: list[str], message: str) -> None:
    # vLLM would refuse to start: the finding size looks for (exit 1, as validate gives the same flags)
    result = cli("size", "--model", QWEN_05, "--gpu", "L4", "--", *flags)
    assert result.code == 1, result.out
    assert message in result.err and "Traceback" not in result.err
    assert len(result.error_lines) == 1 and "hint: " in result.err


def test_library_raises_sizing_error_for_nonsense() -> None:
    with pytest.raises(SizingError):
        _assess(QWEN_05, "L4", "--gpu-memory-utilization=2")


# -- the library seam the validate rules use -------------------------------------------------


def _isvc(**predictor: object) -> dict[str, Any]:
    model = {"storageUri": "hf://Qwen/Qwen2.5-0.5B-Instruct", "args": ["--max-model-len=4096"]}
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "demo", "namespace": "ns"},
        "spec": {"predictor": {"model": model, **predictor}},
    }


def test_node_affinity_over_several_products_sizes_for_the_smallest() -> None:
    term = {
        "matchExpressions": [
            {
                "key": "nvidia.com/gpu.product",
                "operator": "In",
                "values": ["NVIDIA-A100-SXM4-80GB", "NVIDIA-L4"],
            }
        ]
    }
    isvc = _isvc(
        affinity={
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}
        }
    )
    declared = kserve.gpu_declaration(isvc)
    assert declared is not None and declared[0] == "NVIDIA-L4"
    report = kserve.assess(kserve.predictor(isvc, []))
    assert report.gpu == "L4" and report.settings.max_model_len == 4096


def test_an_inference_service_without_gpus_cannot_fit() -> None:
    report = kserve.assess(kserve.predictor(_isvc(nodeSelector={"nvidia.com/gpu.product": "NVIDIA-L4"}), []))
    assert report.gpu_count == 0 and not report.fits
    assert report.error is not None and "requests no nvidia.com/gpu" in report.error


def test_vllm_flags_work_without_the_double_dash(cli, gitops_repo: Path) -> None:
    (report,) = cli("size", "dev", "--repo", gitops_repo, "--max-model-len", "16384", "-o", "json").json()
    assert report["settings"]["max_model_len"] == 16384


def test_a_runtime_chosen_by_auto_select_counts_for_size_as_for_validate(cli, gitops_repo: Path) -> None:
    # The InferenceService names no runtime: KServe picks the ServingRuntime that auto-selects the
    # vLLM model format, and that runtime's arguments are part of the vLLM command line.
    edit(gitops_repo / "deploy_model/base/inferenceservice.yaml", "      runtime: vllm-runtime\n", "")
    edit(
        gitops_repo / "deploy_model/base/servingruntime.yaml",
        "        - --served-model-name={{.Name}}\n",
        "        - --served-model-name={{.Name}}\n        - --max-model-len=131072\n",
    )
    edit(gitops_repo / "deploy_model/overlays/dev/release.yaml", "        - --max-model-len=8192\n", "")
    git(gitops_repo, "commit", "-qam", "the runtime is auto-selected and sets --max-model-len")

    result = cli("size", "dev", "--repo", gitops_repo)
    assert result.code == 1, result.out + result.err
    assert "does not fit" in result.out
    assert "User-specified max_model_len (131072) is greater than the derived max_model_len" in result.out
    (report,) = cli("size", "dev", "--repo", gitops_repo, "-o", "json").json()
    assert report["settings"]["max_model_len"] == 131072 and report["fits"] is False

    checked = cli("validate", "--repo", gitops_repo, "--env", "dev", "-o", "json")
    assert checked.code == 1
    errors = [f for f in checked.json()["findings"] if f["severity"] == "error"]
    assert [f["rule"] for f in errors] == ["serving.max-model-len"]
    assert "--max-model-len=131072 exceeds" in errors[0]["message"]
