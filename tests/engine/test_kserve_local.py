"""An InferenceService and its ServingRuntime as a local vLLM command line, from the reference
repository's real renders: what KServe would run, with what the CPU build cannot take adapted and listed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from testing.repos import ROOT

from llmops.engine.compare import desired_state
from llmops.engine.kserve_local import LocalContext, ModelResolver, TranslationError, translate
from llmops.gitops.config import EngineConfig
from llmops.gitops.render import render_apps
from llmops.gitops.repo import Repository


@pytest.fixture(scope="module")
def renders() -> dict[str, list[dict[str, Any]]]:
    repo = Repository(ROOT)
    return {
        r.app.environment: list(desired_state(r.resources, r.app.namespace).resources.values())
        for r in render_apps(ROOT, repo.applications())
    }


def _demo(tmp: Path) -> Path:
    """A model folder with the demo model's config (max_position_embeddings 2048)."""
    tmp.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["Qwen2ForCausalLM"], "num_hidden_layers": 2, "hidden_size": 128,
        "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 512,
        "max_position_embeddings": 2048, "intermediate_size": 256,
    }  # fmt: skip
    (tmp / "config.json").write_text(json.dumps(config))
    return tmp


def _translate(
    resources: list[dict[str, Any]], demo: Path, config: EngineConfig | None = None, cores: int = 2
) -> Any:
    cfg = config or EngineConfig()
    isvc = next(r for r in resources if r["kind"] == "InferenceService")
    ctx = LocalContext(
        app="app", environment="env", config=cfg, models=ModelResolver(ROOT, cfg, demo), cores=cores
    )
    return translate(isvc, resources, ctx)


def _flags(argv: tuple[str, ...]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    words = list(argv[3:])
    while words:
        flag = words.pop(0)
        out[flag] = words.pop(0) if words and not words[0].startswith("-") else None
    return out


def test_dev_runs_the_runtime_command_with_its_own_name_port_and_local_model(
    renders: dict[str, Any], tmp_path: Path
) -> None:
    spec = _translate(renders["dev"], _demo(tmp_path / "demo"))
    assert spec.argv[1:3] == ("-m", "vllm.entrypoints.openai.api_server")
    flags = _flags(spec.argv)
    assert flags["--served-model-name"] == "dev-qwen25-05b-instruct"  # {{.Name}}: the InferenceService name
    assert flags["--model"] == str(tmp_path / "demo")
    assert "--port" not in flags and "--gpu-memory-utilization" not in flags
    assert (
        flags["--max-model-len"] == "2048"
        and flags["--max-num-seqs"] == "64"
        and flags["--dtype"] == "bfloat16"
    )
    assert flags["--kv-cache-memory-bytes"] == str(1024**3)
    assert dict(spec.env)["VLLM_CPU_OMP_THREADS_BIND"] == "0-1"
    assert spec.command(8123)[-4:] == ["--host", "127.0.0.1", "--port", "8123"]
    assert spec.notes() == ["demo weights"]
    assert spec.adaptations == (
        f"--model /mnt/models -> {tmp_path / 'demo'} (demo weights: random, for the serving path only)",
        "--port 8080 -> a free local port behind the environment's endpoint",
        "--gpu-memory-utilization=0.90 removed: a GPU memory fraction; "
        "the CPU KV cache comes from the memory limit",
        "--max-model-len 8192 -> 2048 (the most the local model supports)",
        "--enforce-eager -O0 added: about half the CPU build's start-up time (engine.fast_start)",
        "cpu 2 -> 2 vLLM CPU threads",
        "memory 6Gi -> KV cache 1 GiB (engine.kv_cache_gib caps it at 1)",
        "HF_HOME /tmp/hf_home -> the process's own folder in the state directory",
    )


def test_production_caps_replicas_and_cores_on_this_machine(renders: dict[str, Any], tmp_path: Path) -> None:
    spec = _translate(renders["production"], _demo(tmp_path / "demo"))
    assert (spec.replicas_desired, spec.replicas_local) == (2, 1)
    assert "2 desired, 1 local" in spec.notes()
    assert "cpu 4 -> 2 vLLM CPU threads, capped at this machine's 2 cores" in spec.adaptations
    more = _translate(renders["production"], tmp_path / "demo", EngineConfig(max_replicas=3))
    assert more.replicas_local == 2 and "2 desired, 1 local" not in more.notes()


def _with_args(resources: list[dict[str, Any]], *args: str) -> list[dict[str, Any]]:
    out = json.loads(json.dumps(resources))
    isvc = next(r for r in out if r["kind"] == "InferenceService")
    isvc["spec"]["predictor"]["model"]["args"] += list(args)
    return out


def test_the_last_flag_wins_and_gpu_only_arguments_are_adapted_and_listed(
    renders: dict[str, Any], tmp_path: Path
) -> None:
    resources = _with_args(
        renders["dev"],
        "--max-num-seqs=8",
        "--tensor-parallel-size",
        "2",
        "--kv-cache-dtype=fp8",
        "--served-model-name=other",
    )
    spec = _translate(resources, _demo(tmp_path / "demo"))
    flags = _flags(spec.argv)
    assert flags["--max-num-seqs"] == "8" and list(spec.argv).count("--max-num-seqs") == 1
    assert "--tensor-parallel-size" not in flags and "--kv-cache-dtype" not in flags
    assert flags["--served-model-name"] == "dev-qwen25-05b-instruct"
    assert (
        "--tensor-parallel-size=2 removed: one CPU process per replica here (tensor parallelism 2 -> 1)"
        in spec.adaptations
    )
    assert "--kv-cache-dtype=fp8 removed: fp8 KV cache needs a GPU kernel" in spec.adaptations
    assert (
        "--served-model-name other -> dev-qwen25-05b-instruct (the InferenceService name)" in spec.adaptations
    )
    assert spec.digest != _translate(renders["dev"], tmp_path / "demo").digest


def test_a_mapped_model_directory_must_exist(renders: dict[str, Any], tmp_path: Path) -> None:
    uri = "oci://quay.io/redhat-ai-services/modelcar-catalog:qwen2.5-0.5b-instruct"
    mapped = _translate(
        renders["dev"], tmp_path / "demo", EngineConfig(models={uri: str(_demo(tmp_path / "qwen"))})
    )
    assert mapped.model.origin == "llmops.yaml" and not mapped.model.demo and mapped.notes() == []
    with pytest.raises(TranslationError, match=r"model directory .*nowhere \(engine.models\['oci://"):
        _translate(renders["dev"], tmp_path / "demo", EngineConfig(models={uri: str(tmp_path / "nowhere")}))


def test_what_cannot_run_here_says_why(renders: dict[str, Any], tmp_path: Path) -> None:
    no_runtime = [r for r in renders["dev"] if r["kind"] != "ServingRuntime"]
    with pytest.raises(TranslationError, match="ServingRuntime dev-vllm-runtime is not live") as missing:
        _translate(no_runtime, tmp_path / "demo")
    assert missing.value.reason == "RuntimeNotRecognized"
    other = json.loads(json.dumps(renders["dev"]))
    runtime = next(r for r in other if r["kind"] == "ServingRuntime")
    runtime["spec"]["containers"][0]["command"] = ["/usr/bin/tritonserver"]
    with pytest.raises(TranslationError, match="the runtime's command /usr/bin/tritonserver cannot run here"):
        _translate(other, tmp_path / "demo")
