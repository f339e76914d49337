"""Will this vLLM configuration fit the GPU? vLLM's own memory arithmetic, before deployment.

vLLM (0.32) sizes its KV cache at start-up, per GPU worker:

    budget      = ceil(device total x --gpu-memory-utilization)
    kv memory   = budget - weights - peak activation - non-torch memory - CUDA graph memory
    blocks      = kv memory // (block_size x KV bytes per token)        (block_size 16 on CUDA)
    KV tokens   = blocks x block_size

and refuses to start when one request of ``--max-model-len`` tokens does not fit. Weights and
KV bytes per token follow from the model's architecture exactly. Activation, non-torch and
CUDA-graph memory are *measured* by vLLM on the GPU; here they are estimated conservatively
(see :func:`overheads` and docs/guide-size.md). With ``--kv-cache-memory-bytes`` (or on
the CPU backend) the KV memory is given and the token count is exact.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from llmops.errors import LlmopsError
from llmops.serving.gpus import GIB, MIB, Gpu
from llmops.serving.models import ModelFacts
from llmops.serving.vllm_args import VllmArgs

VLLM_VERSION = "0.32"
DEFAULT_UTILIZATION = 0.92  # vLLM 0.32 CacheConfig.gpu_memory_utilization
DEFAULT_BLOCK_SIZE = 16  # CUDA attention backends
THIN_MARGIN = 0.05  # spare KV memory below 5 % of the budget: the estimate's error could eat it
MAX_TP = 8  # one node

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
_DTYPE_ALIASES = {
    "half": "float16",
    "float16": "float16",
    "bfloat16": "bfloat16",
    "float": "float32",
    "float32": "float32",
}
_KV_DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1, "fp8_inc": 1}
_CONCEPT_DOCS = "See https://docs.vllm.ai/en/latest/configuration/conserving_memory/ for more details."


class SizingError(LlmopsError):
    """The vLLM flags make no sense (negative lengths, utilization above 1, ...)."""


def format_gib(n: int) -> str:
    """vLLM's own GiB formatting (``round(b / GiB, 2)``), so messages match its log."""
    return f"{round(n / GIB, 2)}"


@dataclass(frozen=True)
class Settings:
    """The vLLM settings that matter for memory, with vLLM's defaults filled in."""

    max_model_len: int
    max_model_len_source: str  # "flag", "model default" or "auto-fit"
    dtype: str
    kv_cache_dtype: str
    tensor_parallel: int
    pipeline_parallel: int
    gpu_memory_utilization: float
    max_num_seqs: int
    max_num_batched_tokens: int
    block_size: int
    enforce_eager: bool
    kv_cache_memory_bytes: int | None
    quantization: str | None


@dataclass(frozen=True)
class Memory:
    """Bytes per GPU worker."""

    device_total: int
    budget: int
    weights: int
    activation: int
    non_torch: int
    cuda_graphs: int
    kv_available: int
    kv_bytes_per_token: int
    kv_needed_one_sequence: int


@dataclass(frozen=True)
class SizingReport:
    model: str
    gpu: str
    gpu_count: int
    settings: Settings
    memory: Memory
    kv_cache_blocks: int
    kv_cache_tokens: int  # whole blocks x block_size
    vllm_logged_tokens: int  # the figure vLLM prints as "KV cache size: N tokens"
    max_concurrency: float  # sequences of max_model_len tokens at once (vLLM's "Maximum concurrency")
    full_length_sequences: int
    error: str | None  # vLLM's message when it would refuse to start
    margin_fraction: float  # spare KV memory after one full sequence, as a fraction of the budget
    warnings: tuple[str, ...] = ()
    recommendations: tuple[str, ...] = ()
    valid_tp_sizes: tuple[int, ...] = ()
    exact: bool = False  # True when the KV memory was given explicitly (no estimated overheads)
    name: str = ""  # InferenceService or other label

    @property
    def fits(self) -> bool:
        return self.error is None

    @property
    def thin(self) -> bool:
        return self.fits and self.margin_fraction < THIN_MARGIN

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["fits"] = self.fits
        data["thin_margin"] = self.thin
        return data


# -- settings ------------------------------------------------------------------------


def _int(args: VllmArgs, flag: str) -> int | None:
    try:
        return args.int_value(flag)
    except ValueError:
        raise SizingError(
            f"--{flag}={args.get(flag)} is not an integer",
            hint="vLLM accepts integers like 8192, 8k (8,000) or 8K (8,192)",
        ) from None


def _positive(args: VllmArgs, flag: str, default: int) -> int:
    value = _int(args, flag)
    if value is None:
        return default
    if value < 1:
        raise SizingError(f"--{flag}={args.get(flag)} must be a positive integer")
    return value


def resolve_dtype(model: ModelFacts, gpu: Gpu, requested: str | None) -> tuple[str, str | None]:
    """(dtype vLLM would run, warning). ``auto`` follows the checkpoint, like vLLM's resolution."""
    req = (requested or "auto").lower()
    if req != "auto":
        if req not in _DTYPE_ALIASES:
            raise SizingError(
                f"--dtype={requested} is not a dtype vLLM knows",
                hint="expected one of: auto, half, float16, bfloat16, float, float32",
            )
        return _DTYPE_ALIASES[req], None
    config = _DTYPE_ALIASES.get(model.dtype.lower().removeprefix("torch."), "bfloat16")
    preferred = "bfloat16" if gpu.supports_bf16 else "float16"
    if config == "float32":
        return preferred, None  # vLLM downcasts float32 checkpoints under auto
    if config == "bfloat16" and not gpu.supports_bf16:
        return "float16", (
            f"Your device {gpu.name!r} (with compute capability {gpu.capability}) doesn't support "
            "torch.bfloat16. Falling back to torch.float16 for compatibility."
        )
    return config, None


def settings_for(model: ModelFacts, gpu: Gpu, args: VllmArgs) -> tuple[Settings, list[str]]:
    warnings: list[str] = []
    dtype, warn = resolve_dtype(model, gpu, args.get("dtype"))
    if warn:
        warnings.append(warn)
    kv_dtype = (args.get("kv-cache-dtype") or "auto").lower()
    if kv_dtype == "auto":
        kv_dtype = dtype
    elif kv_dtype not in _KV_DTYPE_BYTES:
        raise SizingError(
            f"--kv-cache-dtype={kv_dtype} is not supported by llmops size",
            hint="supported: auto, " + ", ".join(_KV_DTYPE_BYTES),
        )
    util_text = args.get("gpu-memory-utilization")
    try:
        util = DEFAULT_UTILIZATION if util_text is None else float(util_text)
    except ValueError:
        raise SizingError(f"--gpu-memory-utilization={util_text} is not a number") from None
    if not 0 < util <= 1:
        raise SizingError(
            f"--gpu-memory-utilization={util_text} is out of range",
            hint="expected a fraction of GPU memory greater than 0 and at most 1, e.g. 0.9",
        )
    mml = _int(args, "max-model-len")
    if mml is not None and mml < 1 and mml != -1:
        raise SizingError(
            f"--max-model-len={args.get('max-model-len')} must be a positive number of tokens",
            hint="or -1 / auto to let vLLM fit it to memory",
        )
    big = gpu.usable_bytes >= 70 * GIB and "A100" not in gpu.id  # vLLM's defaults by device
    kv_bytes_text = args.get("kv-cache-memory-bytes")
    kv_bytes = _int(args, "kv-cache-memory-bytes") if kv_bytes_text not in (None, "None") else None
    if kv_bytes is not None and kv_bytes < 1:
        raise SizingError(f"--kv-cache-memory-bytes={kv_bytes_text} must be a positive number of bytes")
    settings = Settings(
        max_model_len=model.max_position_embeddings if mml is None or mml == -1 else mml,
        max_model_len_source="flag"
        if mml not in (None, -1)
        else ("auto-fit" if mml == -1 else "model default"),
        dtype=dtype,
        kv_cache_dtype=kv_dtype,
        tensor_parallel=_positive(args, "tensor-parallel-size", 1),
        pipeline_parallel=_positive(args, "pipeline-parallel-size", 1),
        gpu_memory_utilization=util,
        max_num_seqs=_positive(args, "max-num-seqs", 1024 if big else 256),
        max_num_batched_tokens=_positive(args, "max-num-batched-tokens", 8192 if big else 2048),
        block_size=_positive(args, "block-size", DEFAULT_BLOCK_SIZE),
        enforce_eager=args.has("enforce-eager") and (args.get("enforce-eager") or "true").lower() != "false",
        kv_cache_memory_bytes=kv_bytes,
        quantization=args.get("quantization"),
    )
    return settings, warnings


# -- arithmetic -----------------------------------------------------------------------


def valid_tp_sizes(model: ModelFacts, limit: int = MAX_TP) -> list[int]:
    """TP sizes vLLM can shard this model over: heads divisible, KV heads split or replicated."""
    return [
        tp
        for tp in range(1, limit + 1)
        if model.num_attention_heads % tp == 0
        and (model.num_kv_heads % tp == 0 or tp % model.num_kv_heads == 0)
    ]


def weight_bytes(model: ModelFacts, dtype_bytes: int, tp: int = 1, pp: int = 1) -> int:
    """Weights on one GPU: parameters x bytes, sharded over TP (vocabulary padded to 64 per
    shard, as vLLM pads it) and split over pipeline stages. Norms are small and counted once."""
    vocab = model.vocab_size
    padded = math.ceil(vocab / (64 * tp)) * 64 * tp
    params = model.num_parameters + (padded - vocab) * model.hidden_size * (
        1 if model.tie_word_embeddings else 2
    )
    return math.ceil(params / (tp * pp)) * dtype_bytes


def kv_bytes_per_token(model: ModelFacts, kv_dtype_bytes: int, tp: int = 1, pp: int = 1) -> int:
    """2 (K and V) x layers on this GPU x max(1, KV heads / TP) x head_dim x bytes."""
    if pp == 1:
        return model.kv_bytes_per_token(kv_dtype_bytes, tp)
    layers = math.ceil(model.num_layers / pp)
    return 2 * layers * max(1, model.num_kv_heads // tp) * model.head_dim * kv_dtype_bytes


def overheads(model: ModelFacts, s: Settings, act_bytes: int) -> tuple[int, int, int]:
    """Conservative (activation, non-torch, CUDA graph) bytes per GPU.

    * activation: vLLM profiles one forward pass over ``--max-num-batched-tokens`` tokens and a
      sampler pass over ``--max-num-seqs`` rows. Per token we count the residual stream, the
      normalised input, q/k/v, the attention output (4 x hidden + qkv) and the MLP's gate/up and
      activated outputs (3 x intermediate / TP), doubled for allocator slack and temporaries;
      the sampler holds logits, probabilities and log-probabilities in float32 (3 x vocab x 4 B).
    * non-torch: cuBLAS/cuDNN workspaces and the CUDA context growth during start-up, 512 MiB;
      1 GiB with tensor parallelism (NCCL buffers).
    * CUDA graphs: 512 MiB unless ``--enforce-eager`` (vLLM logs 0.1-0.4 GiB for dense models
      up to about 8B parameters with the default capture sizes).
    """
    tp = s.tensor_parallel
    qkv = (
        model.num_attention_heads // max(1, min(tp, model.num_attention_heads))
        + 2 * max(1, model.num_kv_heads // tp)
    ) * model.head_dim
    per_token = (4 * model.hidden_size + qkv + 3 * math.ceil(model.intermediate_size / tp)) * act_bytes
    forward = 2 * s.max_num_batched_tokens * per_token
    sampler = min(s.max_num_seqs, s.max_num_batched_tokens) * model.vocab_size * 4 * 3
    non_torch = (1024 if tp * s.pipeline_parallel > 1 else 512) * MIB
    graphs = 0 if s.enforce_eager else 512 * MIB
    return forward + sampler, non_torch, graphs


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


# -- vLLM's messages ------------------------------------------------------------------


def no_memory_message() -> str:
    return (
        "No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when "
        "initializing the engine (this flag also controls CPU memory reservation on the CPU backend, "
        f"despite its name). {_CONCEPT_DOCS}"
    )


def kv_too_small_message(max_model_len: int, needed: int, available: int, estimated_max_len: int) -> str:
    estimated = (
        f"Based on the available memory, the estimated maximum model length is {estimated_max_len}. "
        if estimated_max_len > 0
        else ""
    )
    return (
        f"To serve at least one request with the model's max seq len ({max_model_len}), "
        f"({format_gib(needed)} GiB KV cache is needed, which is larger than the available KV cache "
        f"memory ({format_gib(available)} GiB). {estimated}Try increasing `gpu_memory_utilization` "
        "(which also controls CPU memory on the CPU backend) or decreasing `max_model_len` when "
        f"initializing the engine. {_CONCEPT_DOCS}"
    )


def too_long_message(max_model_len: int, derived: int) -> str:
    return (
        f"User-specified max_model_len ({max_model_len}) is greater than the derived max_model_len "
        f"(max_position_embeddings={derived} or model_max_length=None in model's config.json). "
        "To allow overriding this maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1."
    )


def heads_message(heads: int, tp: int) -> str:
    return f"Total number of attention heads ({heads}) must be divisible by tensor parallel size ({tp})."


def bf16_message(gpu: Gpu) -> str:
    return (
        "Bfloat16 is only supported on GPUs with compute capability of at least 8.0. "
        f"Your {gpu.name} GPU has compute capability {gpu.capability}. You can use float16 instead "
        "by explicitly setting the `dtype` flag in CLI, for example: --dtype=half."
    )


def world_size_message(world: int, gpus: int) -> str:
    return f"World size ({world}) is larger than the number of available GPUs ({gpus}) in this node."


# -- the assessment -------------------------------------------------------------------


def assess(
    model: ModelFacts, gpu: Gpu, args: VllmArgs, gpu_count: int = 1, *, name: str = ""
) -> SizingReport:
    """Would vLLM start with these flags on ``gpu_count`` GPUs of this type, and with how much KV cache?

    Raises :class:`SizingError` for flags that make no sense; a configuration that is valid
    but does not fit comes back as a report with ``error`` set (vLLM's own wording).
    """
    s, warnings = settings_for(model, gpu, args)
    return _assess(model, gpu, s, gpu_count, warnings, name, recommend=True)


def _assess(
    model: ModelFacts,
    gpu: Gpu,
    s: Settings,
    gpu_count: int,
    warnings: list[str],
    name: str,
    *,
    recommend: bool,
) -> SizingReport:
    tp, pp = s.tensor_parallel, s.pipeline_parallel
    act_bytes = DTYPE_BYTES[s.dtype]
    kv_dtype_bytes = _KV_DTYPE_BYTES[s.kv_cache_dtype]
    per_token = kv_bytes_per_token(model, kv_dtype_bytes, tp, pp)
    weights = weight_bytes(model, act_bytes, tp, pp)
    activation, non_torch, graphs = overheads(model, s, act_bytes)
    budget = math.ceil(gpu.usable_bytes * s.gpu_memory_utilization)
    exact = s.kv_cache_memory_bytes is not None
    if exact:
        assert s.kv_cache_memory_bytes is not None
        kv_available = s.kv_cache_memory_bytes
    else:
        kv_available = budget - weights - activation - non_torch - graphs
    bytes_per_block = per_token * s.block_size
    blocks = max(0, kv_available) // bytes_per_block
    mml = s.max_model_len
    source = s.max_model_len_source
    if source == "auto-fit" and blocks * s.block_size < mml:
        mml = max(s.block_size, blocks * s.block_size)
    blocks_per_seq = _cdiv(mml, s.block_size)
    needed = blocks_per_seq * bytes_per_block
    concurrency = blocks / blocks_per_seq
    memory = Memory(
        gpu.usable_bytes, budget, weights, activation, non_torch, graphs, kv_available, per_token, needed
    )

    valid = valid_tp_sizes(model, max(MAX_TP, tp))
    recs: list[str] = []
    error: str | None = None
    # Checked in the order vLLM checks them at start-up.
    if gpu_count < 1:
        error = "the InferenceService requests no nvidia.com/gpu; vLLM's CUDA build needs at least one GPU"
        recs.append(f"request {tp * pp} nvidia.com/gpu in resources.requests and resources.limits")
    elif model.num_attention_heads % tp:
        error = heads_message(model.num_attention_heads, tp)
    elif model.num_kv_heads % tp and tp % model.num_kv_heads:
        error = (
            f"Number of KV heads ({model.num_kv_heads}) and tensor parallel size ({tp}) must divide one "
            "another: vLLM splits KV heads across GPUs or replicates them (llmops rule; vLLM fails while "
            "loading the weights)"
        )
    if error and gpu_count >= 1:
        recs.append("valid --tensor-parallel-size values for this model: " + ", ".join(map(str, valid)))
    if error is None and tp * pp > gpu_count:
        error = world_size_message(tp * pp, gpu_count)
        recs.append(
            f"request {tp * pp} nvidia.com/gpu, or set --tensor-parallel-size={gpu_count}"
            if gpu_count in valid
            else f"request {tp * pp} nvidia.com/gpu"
        )
    if error is None and tp * pp < gpu_count:
        warnings.append(
            f"{gpu_count} GPUs requested but vLLM uses tensor x pipeline parallel = {tp * pp}; "
            f"{gpu_count - tp * pp} stay idle (set --tensor-parallel-size={gpu_count} if valid: "
            + ", ".join(map(str, valid))
            + ")"
        )
    if error is None and s.dtype == "bfloat16" and not gpu.supports_bf16:
        error = bf16_message(gpu)
        recs.append("set --dtype=half (float16)")
    if error is None and mml > model.max_position_embeddings:
        error = too_long_message(mml, model.max_position_embeddings)
        fit_len = min(model.max_position_embeddings, blocks * s.block_size)
        if fit_len > 0:
            recs.append(f"set --max-model-len={fit_len} or lower")
    if error is None and kv_available <= 0:
        error = no_memory_message()
    elif error is None and needed > kv_available:
        error = kv_too_small_message(mml, needed, kv_available, blocks * s.block_size)
    if (
        error is None
        and exact
        and weights + activation + non_torch + graphs + kv_available > gpu.usable_bytes
    ):
        error = (
            f"--kv-cache-memory-bytes ({format_gib(kv_available)} GiB) plus weights and overheads exceed the "
            f"{format_gib(gpu.usable_bytes)} GiB of the {gpu.name}: vLLM would run out of CUDA memory"
        )
    if recommend and error is not None and error.startswith(("To serve", "No available")):
        recs.extend(_memory_recommendations(model, gpu, s, gpu_count, blocks, needed, memory))
    margin = (kv_available - needed) / budget if budget else 0.0
    if error is None:
        if margin < THIN_MARGIN and not exact:
            warnings.append(
                f"thin margin: after one {mml:,}-token sequence only {margin:.1%} of the memory budget "
                "is left for the KV cache; the overhead estimate could be off by that much"
            )
        if int(concurrency) < s.max_num_seqs:
            warnings.append(
                f"only {int(concurrency)} sequences of {mml:,} tokens fit at once "
                f"(--max-num-seqs={s.max_num_seqs}); longer batches wait or are preempted"
            )
    if s.quantization:
        warnings.append(
            f"--quantization={s.quantization}: weights are estimated unquantized (an upper bound)"
        )
    final = Settings(**{**asdict(s), "max_model_len": mml})
    return SizingReport(
        model=model.name,
        gpu=gpu.id,
        gpu_count=gpu_count,
        settings=final,
        memory=memory,
        kv_cache_blocks=blocks,
        kv_cache_tokens=blocks * s.block_size,
        vllm_logged_tokens=int(concurrency * mml),
        max_concurrency=concurrency,
        full_length_sequences=blocks // blocks_per_seq,
        error=error,
        margin_fraction=margin,
        warnings=tuple(warnings),
        recommendations=tuple(recs),
        valid_tp_sizes=tuple(valid),
        exact=exact,
        name=name,
    )


def _memory_recommendations(
    model: ModelFacts, gpu: Gpu, s: Settings, gpu_count: int, blocks: int, needed: int, memory: Memory
) -> list[str]:
    recs: list[str] = []
    fit_len = min(blocks * s.block_size, model.max_position_embeddings)
    if fit_len > 0:
        recs.append(
            f"set --max-model-len={fit_len} (the longest that fits, in whole {s.block_size}-token blocks)"
        )
    if s.kv_cache_memory_bytes is None:
        non_kv = memory.weights + memory.activation + memory.non_torch + memory.cuda_graphs
        util = math.ceil((non_kv + needed) / gpu.usable_bytes * 100) / 100
        if util <= 0.95:
            recs.append(f"set --gpu-memory-utilization={util:.2f} or higher")
        else:
            recs.append(f"--gpu-memory-utilization would have to be {util:.2f}: more than this GPU can give")
    else:
        recs.append(f"set --kv-cache-memory-bytes to at least {needed}")
    for tp in valid_tp_sizes(model):
        if tp <= s.tensor_parallel:
            continue
        bigger = Settings(**{**asdict(s), "tensor_parallel": tp})
        trial = _assess(model, gpu, bigger, tp * s.pipeline_parallel, [], "", recommend=False)
        if trial.fits:
            recs.append(f"use --tensor-parallel-size={tp} with {tp * s.pipeline_parallel} GPUs")
            break
    return recs
