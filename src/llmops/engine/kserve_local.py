"""KServe on one machine: an InferenceService and its ServingRuntime as a local vLLM command line, and
the KServe-shaped status the engine writes back from the processes.

What KServe does on a cluster, and what the engine does here:

* The runtime is the one KServe selects (:func:`llmops.serving.kserve.select_runtime`); its
  ``kserve-container`` command and args, then the InferenceService's ``spec.predictor.model.args``,
  with ``{{.Name}}`` replaced by the InferenceService name. vLLM lets the last occurrence of a flag
  win; the engine resolves that once and writes each flag once.
* ``--port`` becomes a free local port behind the environment's stable endpoint, ``--host``
  127.0.0.1; ``/mnt/models`` (where KServe's storage initializer puts the model) becomes the local
  model directory: ``engine.models`` in llmops.yaml, else the local Hugging Face cache, else the
  demo model (random weights, said wherever the environment is shown). The served model name is the
  InferenceService's name, as KServe's runtimes set it.
* The CPU build of vLLM cannot take everything a GPU deployment says. Each such argument is adapted
  and listed (:data:`ADAPTERS`), never dropped silently: tensor/pipeline/data parallelism > 1 -> 1,
  ``--gpu-memory-utilization`` and GPU-only quantization or KV cache types removed, ``--max-model-len``
  capped at what the model supports, ``--enforce-eager -O0`` added for a faster start. The CPU
  limit becomes vLLM's CPU threads (``VLLM_CPU_OMP_THREADS_BIND``), the memory limit its KV cache
  (``--kv-cache-memory-bytes``, a quarter of the limit, capped by ``engine.kv_cache_gib``).
* ``deploymentStrategy``: a configuration is replaced as ``Recreate`` does (stop, then start); a
  RollingUpdate (KServe's default) is listed as adapted.
* Replicas: ``minReplicas`` (KServe's replica count for raw deployments), capped by
  ``engine.max_replicas`` and shown as "2 desired, 1 local". ``serving.kserve.io/stop: "true"``
  stops them, as on KServe.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops.gitops.config import EngineConfig
from llmops.gitops.manifests import Resource, get_path
from llmops.serving import kserve
from llmops.serving import models as modelinfo
from llmops.serving.vllm_args import catalog, parse, runtime_container

MODEL_MOUNT = "/mnt/models"
STOP_ANNOTATION = "serving.kserve.io/stop"
GIB = 1024**3
KV_SHARE_OF_MEMORY = 0.25
VLLM_MODULE = "vllm.entrypoints.openai.api_server"
# Quantization methods and KV cache types that need a GPU kernel.
GPU_ONLY_QUANTIZATION = frozenset(
    {"fp8", "marlin", "awq_marlin", "gptq_marlin", "gptq_marlin_24", "bitsandbytes", "modelopt", "fbgemm_fp8"}
)


class TranslationError(Exception):
    """The InferenceService cannot run here; ``reason`` is KServe's failure reason word."""

    def __init__(self, message: str, reason: str = "InvalidPredictorSpec") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class ModelChoice:
    path: Path
    origin: str  # "llmops.yaml", "Hugging Face cache" or "demo"
    reference: str  # what the InferenceService named

    @property
    def demo(self) -> bool:
        return self.origin == "demo"


@dataclass(frozen=True, kw_only=True)
class ProcessSpec:
    """How to run one InferenceService's vLLM locally (per replica, a port is added)."""

    app: str
    environment: str
    isvc: str
    namespace: str
    served_name: str
    argv: tuple[str, ...]  # the command without --host/--port
    env: tuple[tuple[str, str], ...]
    model: ModelChoice
    replicas_desired: int
    replicas_local: int
    cpu_threads: int
    kv_cache_bytes: int
    adaptations: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        """Identity of what runs: a process started from another digest is replaced."""
        text = json.dumps([self.argv, self.env, str(self.model.path)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def command(self, port: int) -> list[str]:
        return [*self.argv, "--host", "127.0.0.1", "--port", str(port)]

    def notes(self) -> list[str]:
        out = []
        if self.model.demo:
            out.append("demo weights")
        if self.replicas_desired != self.replicas_local:
            out.append(f"{self.replicas_desired} desired, {self.replicas_local} local")
        return out


# -- quantities ---------------------------------------------------------------------------------

_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def cpu_quantity(value: Any) -> float | None:
    text = str(value or "").strip()
    try:
        return float(text[:-1]) / 1000 if text.endswith("m") else float(text) if text else None
    except ValueError:
        return None


def memory_quantity(value: Any) -> int | None:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i?|k)?", str(value or "").strip())
    if match is None:
        return None
    number, unit = match.groups()
    return int(float(number) * (_UNITS[unit] if unit else 1))


def _resource(isvc: Resource, name: str) -> Any:
    for side in ("limits", "requests"):
        found = get_path(isvc, f"spec.predictor.model.resources.{side}")
        if isinstance(found, dict) and found.get(name) is not None:
            return found[name]
    return None


# -- the model directory ------------------------------------------------------------------------


class ModelResolver:
    """Which local directory serves a model reference (storage URI or model id)."""

    def __init__(self, root: Path, config: EngineConfig, demo_dir: Path) -> None:
        self.root = root
        self.config = config
        self.demo_dir = demo_dir

    def references(self, isvc: Resource, model_flag: str | None) -> list[str]:
        refs = [str(get_path(isvc, "spec.predictor.model.storageUri") or "")]
        if model_flag and not model_flag.startswith("/"):
            refs.append(model_flag)
        refs.append(str(get_path(isvc, "metadata.name") or ""))
        return [r for r in refs if r]

    def resolve(self, isvc: Resource, model_flag: str | None) -> ModelChoice:
        refs = self.references(isvc, model_flag)
        for ref in refs:
            mapped = self.config.models.get(ref)
            if mapped is not None:
                path = Path(mapped).expanduser()
                path = path if path.is_absolute() else self.root / path
                if not (path / "config.json").is_file():
                    raise TranslationError(
                        f"model directory {path} (engine.models[{ref!r}] in llmops.yaml) does not exist "
                        "or has no config.json"
                    )
                return ModelChoice(path=path, origin="llmops.yaml", reference=ref)
        for ref in refs:
            try:
                repo_id = modelinfo.lookup(ref).name
            except modelinfo.ModelError:
                continue
            cached = modelinfo.hf_cache_snapshot(repo_id)
            if cached is not None:
                return ModelChoice(path=cached, origin="Hugging Face cache", reference=ref)
        return ModelChoice(path=self.demo_dir, origin="demo", reference=refs[0] if refs else "")


# -- adapting the arguments ---------------------------------------------------------------------


@dataclass
class _Draft:
    """The command being built: options in order (last occurrence's value), and what was adapted."""

    isvc: Resource
    options: dict[str, str | None]
    env: dict[str, str]
    model: ModelChoice
    config: EngineConfig
    cores: int
    notes: list[str] = field(default_factory=list)
    cpu_threads: int = 1
    kv_cache_bytes: int = GIB

    def drop(self, flag: str, why: str) -> None:
        if flag in self.options:
            value = self.options.pop(flag)
            shown = f"--{flag}" + (f"={value}" if value is not None else "")
            self.notes.append(f"{shown} removed: {why}")


def _adapt_model(d: _Draft) -> None:
    given = d.options.get("model")
    local = str(d.model.path)
    if given is None or given.startswith(MODEL_MOUNT):
        d.options["model"] = local + (given[len(MODEL_MOUNT) :] if given else "")
        origin = "demo weights: random, for the serving path only" if d.model.demo else d.model.origin
        d.notes.append(f"--model {given or '(none)'} -> {local} ({origin})")


def _adapt_served_name(d: _Draft) -> None:
    name = str(get_path(d.isvc, "metadata.name") or "")
    if (d.options.get("served-model-name") or "").split(" ")[0] != name:
        if d.options.get("served-model-name"):
            d.notes.append(
                f"--served-model-name {d.options['served-model-name']} -> {name} (the InferenceService name)"
            )
        d.options["served-model-name"] = name


def _adapt_network(d: _Draft) -> None:
    port = d.options.pop("port", None)
    host = d.options.pop("host", None)
    if port is not None:
        d.notes.append(f"--port {port} -> a free local port behind the environment's endpoint")
    if host not in (None, "127.0.0.1"):
        d.notes.append(f"--host {host} -> 127.0.0.1")


def _adapt_parallelism(d: _Draft) -> None:
    for flag in ("tensor-parallel-size", "pipeline-parallel-size", "data-parallel-size"):
        value = d.options.get(flag)
        if value is not None and value.strip() not in ("1", ""):
            d.drop(
                flag,
                f"one CPU process per replica here ({flag.split('-')[0]} parallelism {value} -> 1)",
            )


def _adapt_gpu_only(d: _Draft) -> None:
    d.drop("gpu-memory-utilization", "a GPU memory fraction; the CPU KV cache comes from the memory limit")
    quant = (d.options.get("quantization") or "").lower()
    if quant in GPU_ONLY_QUANTIZATION:
        d.drop("quantization", f"{quant} needs a GPU kernel")
    kv_dtype = (d.options.get("kv-cache-dtype") or "").lower()
    if kv_dtype.startswith(("fp8", "nvfp4", "turboquant", "ultraquant", "int4", "int8")):
        d.drop("kv-cache-dtype", f"{kv_dtype} KV cache needs a GPU kernel")


def _adapt_max_model_len(d: _Draft) -> None:
    value = d.options.get("max-model-len")
    try:
        facts = modelinfo.load_config_file(d.model.path)
    except modelinfo.ModelError:
        return
    limit = facts.max_position_embeddings
    if value is None or not value.strip().isdigit():
        return
    if int(value) > limit:
        d.options["max-model-len"] = str(limit)
        d.notes.append(f"--max-model-len {value} -> {limit} (the most the local model supports)")


def _adapt_fast_start(d: _Draft) -> None:
    if not d.config.fast_start:
        return
    added = []
    if "enforce-eager" not in d.options:
        d.options["enforce-eager"] = None
        added.append("--enforce-eager")
    if "compilation-config" not in d.options:
        d.options["compilation-config"] = "0"
        added.append("-O0")
    if added:
        d.notes.append(
            f"{' '.join(added)} added: about half the CPU build's start-up time (engine.fast_start)"
        )


def _adapt_cpu(d: _Draft) -> None:
    cpu = cpu_quantity(_resource(d.isvc, "cpu"))
    wanted = max(1, math.ceil(cpu)) if cpu is not None else d.cores
    d.cpu_threads = min(wanted, d.cores)
    d.env["VLLM_CPU_OMP_THREADS_BIND"] = f"0-{d.cpu_threads - 1}" if d.cpu_threads > 1 else "0"
    capped = f", capped at this machine's {d.cores} cores" if wanted > d.cores else ""
    shown = _resource(d.isvc, "cpu") or "(unset)"
    d.notes.append(f"cpu {shown} -> {d.cpu_threads} vLLM CPU threads{capped}")


def _adapt_memory(d: _Draft) -> None:
    memory = memory_quantity(_resource(d.isvc, "memory"))
    cap = d.config.kv_cache_gib * GIB
    given = d.options.get("kv-cache-memory-bytes")
    if given is not None:
        asked = memory_quantity(given.replace("GiB", "Gi").replace("MiB", "Mi")) or cap
        d.kv_cache_bytes = min(asked, cap)
        source = f"--kv-cache-memory-bytes {given}"
    else:
        share = int(memory * KV_SHARE_OF_MEMORY) if memory else cap
        d.kv_cache_bytes = max(GIB // 4, min(share, cap))
        source = f"memory {_resource(d.isvc, 'memory') or '(unset)'}"
    d.options["kv-cache-memory-bytes"] = str(d.kv_cache_bytes)
    d.notes.append(
        f"{source} -> KV cache {d.kv_cache_bytes / GIB:g} GiB "
        f"(engine.kv_cache_gib caps it at {d.config.kv_cache_gib})"
    )


def _adapt_strategy(d: _Draft) -> None:
    """KServe gives a raw deployment's Deployment ``spec.predictor.deploymentStrategy``; its default
    is RollingUpdate (kserve pkg/controller/v1beta1/inferenceservice/reconcilers/deployment). The
    engine replaces a configuration as Recreate does: the old process stops, then the new one
    starts (the endpoint answers 503 meanwhile)."""
    strategy = get_path(d.isvc, "spec.predictor.deploymentStrategy.type")
    if strategy != "Recreate":
        shown = strategy or "RollingUpdate (KServe's default)"
        d.notes.append(
            f"deploymentStrategy {shown} -> Recreate: the old process stops before the new one starts"
        )


def _adapt_env(d: _Draft) -> None:
    if "HF_HOME" in d.env and d.env["HF_HOME"].startswith("/tmp"):
        d.notes.append(f"HF_HOME {d.env['HF_HOME']} -> the process's own folder in the state directory")
        d.env.pop("HF_HOME")
    d.env.setdefault("HF_HUB_OFFLINE", "1")


# The adaptations, in order. Tests may replace entries.
ADAPTERS: dict[str, Callable[[_Draft], None]] = {
    "model": _adapt_model,
    "served-name": _adapt_served_name,
    "network": _adapt_network,
    "parallelism": _adapt_parallelism,
    "gpu-only": _adapt_gpu_only,
    "max-model-len": _adapt_max_model_len,
    "fast-start": _adapt_fast_start,
    "cpu": _adapt_cpu,
    "memory": _adapt_memory,
    "strategy": _adapt_strategy,
    "env": _adapt_env,
}


# -- translation --------------------------------------------------------------------------------


def _container_env(container: dict[str, Any] | None, notes: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in (container or {}).get("env") or []:
        if not isinstance(item, dict) or not item.get("name"):
            continue
        if "value" in item:
            env[str(item["name"])] = str(item["value"])
        else:
            notes.append(f"env {item['name']} comes from the cluster (valueFrom) and is not set locally")
    return env


def _command_prefix(command: Sequence[str], name: str) -> list[str]:
    """The runtime's command as this machine runs it (vLLM from the engine's own Python)."""
    words = [str(w) for w in command]
    if len(words) >= 3 and Path(words[0]).name.startswith("python") and words[1] == "-m":
        if words[2] != VLLM_MODULE:
            raise TranslationError(f"{name}: the runtime runs python -m {words[2]}, not vLLM's OpenAI server")
        return [sys.executable, "-m", VLLM_MODULE]
    if words[:2] == ["vllm", "serve"]:
        return [sys.executable, "-m", VLLM_MODULE]
    raise TranslationError(
        f"{name}: the runtime's command {' '.join(words) or '(image entrypoint)'} cannot run here; "
        f"the engine runs `python -m {VLLM_MODULE}` and `vllm serve` runtimes",
        reason="RuntimeNotRecognized",
    )


def _tokens(options: dict[str, str | None]) -> list[str]:
    cat = catalog()
    out: list[str] = []
    for flag, value in options.items():
        if flag == "compilation-config" and value is not None and value.isdigit():
            out.append(f"-O{value}")
            continue
        spec = cat.lookup(flag)
        out.append(f"--{flag}")
        if value is None:
            continue
        if spec is not None and spec.kind == "list":
            out.extend(value.split())
        else:
            out.append(value)
    return out


def _replicas(isvc: Resource, config: EngineConfig) -> tuple[int, int]:
    if str((get_path(isvc, "metadata.annotations") or {}).get(STOP_ANNOTATION, "")).lower() == "true":
        return 0, 0
    raw = get_path(isvc, "spec.predictor.minReplicas")
    desired = int(raw) if isinstance(raw, int) and raw >= 0 else 1
    return desired, min(desired, config.max_replicas)


@dataclass(frozen=True, kw_only=True)
class LocalContext:
    app: str
    environment: str
    config: EngineConfig
    models: ModelResolver
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)


def translate(isvc: Resource, resources: Sequence[Resource], ctx: LocalContext) -> ProcessSpec:
    """The local vLLM process spec of one InferenceService; TranslationError when it cannot run here."""
    name = str(get_path(isvc, "metadata.name") or "")
    runtime_name, runtime = kserve.select_runtime(isvc, resources)
    if runtime is None:
        why = (
            f"ServingRuntime {runtime_name} is not live" if runtime_name else "no ServingRuntime supports it"
        )
        raise TranslationError(
            f"{name}: {why}", reason="RuntimeNotRecognized" if runtime_name else "NoSupportingRuntime"
        )
    container = runtime_container(runtime) or {}
    prefix = _command_prefix(container.get("command") or [], name)
    model = get_path(isvc, "spec.predictor.model") or {}
    raw = [str(a).replace("{{.Name}}", name) for a in (container.get("args") or [])]
    raw += [str(a).replace("{{.Name}}", name) for a in (model.get("args") or [])]
    occurrences, positionals = parse(raw)
    options: dict[str, str | None] = {}
    for occ in occurrences:  # vLLM reads the last occurrence; the flag keeps its first position
        options[occ.flag] = occ.value
    notes: list[str] = []
    env = _container_env(container, notes) | _container_env(model if isinstance(model, dict) else None, notes)
    choice = ctx.models.resolve(isvc, options.get("model"))
    draft = _Draft(
        isvc=isvc, options=options, env=env, model=choice, config=ctx.config, cores=ctx.cores, notes=notes
    )
    for adapt in ADAPTERS.values():
        adapt(draft)
    if positionals:
        notes.append(f"positional arguments {' '.join(positionals)} are passed as written")
    desired, local = _replicas(isvc, ctx.config)
    return ProcessSpec(
        app=ctx.app,
        environment=ctx.environment,
        isvc=name,
        namespace=str(get_path(isvc, "metadata.namespace") or ""),
        served_name=name,
        argv=tuple([*prefix, *positionals, *_tokens(draft.options)]),
        env=tuple(sorted(draft.env.items())),
        model=choice,
        replicas_desired=desired,
        replicas_local=local,
        cpu_threads=draft.cpu_threads,
        kv_cache_bytes=draft.kv_cache_bytes,
        adaptations=tuple(draft.notes),
    )
