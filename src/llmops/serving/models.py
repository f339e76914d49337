"""Model facts: architecture numbers from a model's ``config.json``, offline.

Sources, in order: an explicit ``config.json`` (file or model directory), the local
Hugging Face cache (``$HF_HOME/hub`` or ``~/.cache/huggingface/hub``), then the
built-in facts of popular models (``serving/data/models.json``: Qwen2.5, Qwen3, Llama 3.x,
Mistral 7B, Granite 3.x, each with the URL of the config.json it was copied from). Never a
network call.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from llmops.errors import LlmopsError
from llmops.support.suggest import closest


class ModelError(LlmopsError):
    """A model's facts cannot be found or read."""


@dataclass(frozen=True, kw_only=True)
class ModelFacts:
    name: str
    architecture: str
    num_layers: int
    hidden_size: int
    intermediate_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool
    dtype: str  # the checkpoint's torch dtype, e.g. "bfloat16"
    qkv_bias: bool = False
    qk_norm: bool = False  # RMS norms on queries and keys per head (Qwen3)

    @property
    def num_parameters(self) -> int:
        """Dense decoder parameter count (embeddings, attention, gated MLP, RMS norms, head)."""
        h, heads, kv, d = self.hidden_size, self.num_attention_heads, self.num_kv_heads, self.head_dim
        q_out, kv_out = heads * d, kv * d
        attn = h * q_out + 2 * h * kv_out + q_out * h
        if self.qkv_bias:
            attn += q_out + 2 * kv_out
        if self.qk_norm:
            attn += 2 * d
        mlp = 3 * h * self.intermediate_size
        per_layer = attn + mlp + 2 * h
        embed = self.vocab_size * h
        head = 0 if self.tie_word_embeddings else self.vocab_size * h
        return embed + self.num_layers * per_layer + h + head

    def kv_bytes_per_token(self, dtype_bytes: int, tensor_parallel: int = 1) -> int:
        """Per GPU: 2 (K and V) x layers x KV heads on this GPU x head_dim x bytes."""
        kv_per_gpu = max(1, self.num_kv_heads // tensor_parallel)
        return 2 * self.num_layers * kv_per_gpu * self.head_dim * dtype_bytes


def _load_builtin() -> dict[str, ModelFacts]:
    """``serving/data/models.json``: published config.json figures, each with its source URL."""
    raw = json.loads(
        resources.files("llmops.serving").joinpath("data/models.json").read_text(encoding="utf-8")
    )
    facts = {}
    for entry in raw["models"]:
        fields = {k: v for k, v in entry.items() if k != "source"}
        facts[entry["name"].lower()] = ModelFacts(**fields)
    return facts


BUILTIN: dict[str, ModelFacts] = _load_builtin()


def _short(name: str) -> str:
    """How deployments abbreviate a model: the repository name, lower case (``qwen2.5-7b-instruct``)."""
    return name.rsplit("/", 1)[-1].lower()


# Short names (modelcar tags, served names), also without dots as KServe names drop them.
_ALIASES: dict[str, str] = {
    alias: key
    for key, facts in BUILTIN.items()
    for alias in (_short(facts.name), _short(facts.name).replace(".", ""))
}


def known_models() -> list[str]:
    return sorted(m.name for m in BUILTIN.values())


# Architectures with per-head query/key RMS norms (transformers' Qwen3 modeling).
_QK_NORM_TYPES = ("qwen3",)


def from_config(config: dict[str, Any], name: str) -> ModelFacts:
    """Facts from a Hugging Face ``config.json`` mapping."""
    text = config.get("text_config")
    cfg = text if isinstance(text, dict) else config

    def need(*keys: str) -> int:
        for key in keys:
            value = cfg.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        raise ModelError(
            f"config.json of {name} has no valid {keys[0]}",
            hint="expected a decoder config with num_hidden_layers, hidden_size, num_attention_heads",
        )

    layers = need("num_hidden_layers", "n_layer", "num_layers")
    hidden = need("hidden_size", "n_embd", "d_model")
    heads = need("num_attention_heads", "n_head")
    kv = cfg.get("num_key_value_heads") or heads
    if not isinstance(kv, int) or kv <= 0:
        raise ModelError(f"config.json of {name}: num_key_value_heads must be a positive integer")
    head_dim = cfg.get("head_dim") or hidden // heads
    archs = config.get("architectures") or ["unknown"]
    arch = str(archs[0]) if isinstance(archs, list) and archs else "unknown"
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16")
    return ModelFacts(
        name=name,
        architecture=arch,
        num_layers=layers,
        hidden_size=hidden,
        intermediate_size=int(cfg.get("intermediate_size") or 4 * hidden),
        num_attention_heads=heads,
        num_kv_heads=kv,
        head_dim=int(head_dim),
        vocab_size=need("vocab_size"),
        max_position_embeddings=need("max_position_embeddings", "n_positions", "max_sequence_length"),
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", config.get("tie_word_embeddings", False))),
        dtype=dtype,
        qkv_bias=bool(cfg.get("attention_bias", arch.startswith("Qwen2"))),
        qk_norm=str(cfg.get("model_type", config.get("model_type", ""))) in _QK_NORM_TYPES,
    )


def load_config_file(path: Path, name: str | None = None) -> ModelFacts:
    file = path / "config.json" if path.is_dir() else path
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"{file} does not exist", hint="pass a model directory or its config.json") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{file} is not a readable JSON model config: {exc}") from exc
    if not isinstance(raw, dict):
        raise ModelError(f"{file} is not a JSON object")
    return from_config(raw, name or (path.name if path.is_dir() else path.parent.name))


def _hf_cache_config(repo_id: str) -> Path | None:
    hub = Path(
        os.environ.get("HF_HUB_CACHE")
        or Path(os.environ.get("HF_HOME", Path.home() / ".cache/huggingface")) / "hub"
    )
    folder = hub / ("models--" + repo_id.replace("/", "--")) / "snapshots"
    if not folder.is_dir():
        return None
    configs = sorted(folder.glob("*/config.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    return configs[0] if configs else None


def hf_cache_snapshot(repo_id: str) -> Path | None:
    """The newest snapshot folder of ``repo_id`` in the local Hugging Face cache that holds weights."""
    config = _hf_cache_config(repo_id)
    if config is None:
        return None
    folder = config.parent
    has_weights = any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))
    return folder if has_weights else None


def normalise_name(ref: str) -> str:
    """A model reference as written in a deployment -> a lookup key.

    Accepts ``Qwen/Qwen2.5-0.5B-Instruct``, ``hf://Qwen/...``, an ``oci://...:qwen2.5-0.5b-instruct``
    modelcar, or a served/InferenceService name (prefixes like ``dev-`` are ignored).
    """
    key = ref.strip()
    for scheme in ("hf://", "oci://", "pvc://", "s3://"):
        key = key.removeprefix(scheme)
    if "@" in key:
        key = key.split("@", 1)[0]
    if ref.startswith("oci://") and ":" in key.rsplit("/", 1)[-1]:
        key = key.rsplit(":", 1)[1]  # modelcar catalogs put the model in the tag
    return key.lower()


def lookup(ref: str) -> ModelFacts:
    """Facts for a model named like a deployment names it; offline only."""
    key = normalise_name(ref)
    if key in BUILTIN:
        return BUILTIN[key]
    if "/" in key.strip("/") and key.count("/") == 1:
        cached = _hf_cache_config(ref.removeprefix("hf://"))
        if cached is not None:
            return load_config_file(cached, ref.removeprefix("hf://"))
    short = key.rsplit("/", 1)[-1]
    for candidate in (short, *(short.split("-", 1)[1:] if "-" in short else [])):
        if candidate in _ALIASES:
            return BUILTIN[_ALIASES[candidate]]
    match = closest(key, BUILTIN)  # keys: lower-case names
    guess = f"did you mean {BUILTIN[match].name!r}? " if match else ""
    raise ModelError(
        f"unknown model {ref!r}: llmops has no config.json for it offline",
        hint=f"{guess}give its config.json with --model-config PATH (the file or the model folder), or fetch "
        "it into the Hugging Face cache: huggingface-cli download ORG/NAME config.json "
        f"({len(BUILTIN)} models are built in: docs/guide-size.md)",
    )
