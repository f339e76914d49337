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
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from llmops.errors import EXIT_FINDINGS, LlmopsError, UsageError
from llmops.serving import vllm_args
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
    """vLLM would refuse these flags (an unknown flag, a negative length, utilization above 1, ...).

    Like a configuration that does not fit, that is the finding ``size`` looks for: exit 1,
    the exit code ``validate`` gives the same flags.
    """

    exit_code = EXIT_FINDINGS


def format_gib(n: int) -> str:
    """vLLM's own GiB formatting (``round(b / GiB, 2)``), so messages match its log."""
    return f"{round(n / GIB, 2)}"


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
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
        raise SizingError(
            f"--{flag}={args.get(flag)} must be a positive integer", hint=f"vLLM's default is {default}"
        )
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
        raise UsageError(
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
    refuse_unknown(args)
    s, warnings = settings_for(model, gpu, args)
    return _assess(model, gpu, s, gpu_count, tuple(warnings), name, recommend=True)


def refuse_unknown(args: VllmArgs) -> None:
    """:class:`SizingError` for the first flag vLLM does not know (the verdict validate gives too)."""
    for occ in args.unknown():
        message, hint = vllm_args.unknown_flag(occ)
        where = {"runtime": " (ServingRuntime args)", "inferenceservice": " (InferenceService args)"}
        raise SizingError(message + where.get(occ.source, ""), hint=hint)


@dataclass(frozen=True, kw_only=True)
class _Case:
    """One configuration on one GPU worker, with the memory arithmetic done: what the checks read."""

    model: ModelFacts
    gpu: Gpu
    settings: Settings  # max_model_len already fitted to memory under auto-fit (-1)
    gpu_count: int
    memory: Memory
    blocks: int  # KV cache blocks that fit
    valid_tp: tuple[int, ...]

    @property
    def world(self) -> int:
        return self.settings.tensor_parallel * self.settings.pipeline_parallel

    @property
    def exact(self) -> bool:
        return self.settings.kv_cache_memory_bytes is not None

    @property
    def blocks_per_sequence(self) -> int:
        return _cdiv(self.settings.max_model_len, self.settings.block_size)


def _case(model: ModelFacts, gpu: Gpu, s: Settings, gpu_count: int) -> _Case:
    tp, pp = s.tensor_parallel, s.pipeline_parallel
    act_bytes = DTYPE_BYTES[s.dtype]
    per_token = kv_bytes_per_token(model, _KV_DTYPE_BYTES[s.kv_cache_dtype], tp, pp)
    weights = weight_bytes(model, act_bytes, tp, pp)
    activation, non_torch, graphs = overheads(model, s, act_bytes)
    budget = math.ceil(gpu.usable_bytes * s.gpu_memory_utilization)
    if s.kv_cache_memory_bytes is not None:
        kv_available = s.kv_cache_memory_bytes
    else:
        kv_available = budget - weights - activation - non_torch - graphs
    blocks = max(0, kv_available) // (per_token * s.block_size)
    mml = s.max_model_len
    if s.max_model_len_source == "auto-fit" and blocks * s.block_size < mml:
        mml = max(s.block_size, blocks * s.block_size)
    memory = Memory(
        device_total=gpu.usable_bytes,
        budget=budget,
        weights=weights,
        activation=activation,
        non_torch=non_torch,
        cuda_graphs=graphs,
        kv_available=kv_available,
        kv_bytes_per_token=per_token,
        kv_needed_one_sequence=_cdiv(mml, s.block_size) * per_token * s.block_size,
    )
    return _Case(
        model=model,
        gpu=gpu,
        settings=replace(s, max_model_len=mml),
        gpu_count=gpu_count,
        memory=memory,
        blocks=blocks,
        valid_tp=tuple(valid_tp_sizes(model, max(MAX_TP, tp))),
    )


@dataclass(frozen=True)
class _Refusal:
    """Why vLLM would refuse to start, in its words, and what would make it start."""

    error: str
    recommendations: tuple[str, ...] = ()
    short_of_memory: bool = False  # the KV cache does not fit: memory recommendations apply


def _valid_tp_hint(c: _Case) -> tuple[str, ...]:
    return ("valid --tensor-parallel-size values for this model: " + ", ".join(map(str, c.valid_tp)),)


# Placement: can vLLM shard the model over the GPUs it gets? Checked in the order vLLM checks them.


def _no_gpu(c: _Case) -> _Refusal | None:
    if c.gpu_count >= 1:
        return None
    return _Refusal(
        "the InferenceService requests no nvidia.com/gpu; vLLM's CUDA build needs at least one GPU",
        (f"request {c.world} nvidia.com/gpu in resources.requests and resources.limits",),
    )


def _heads_split(c: _Case) -> _Refusal | None:
    tp = c.settings.tensor_parallel
    if c.model.num_attention_heads % tp == 0:
        return None
    return _Refusal(heads_message(c.model.num_attention_heads, tp), _valid_tp_hint(c))


def _kv_heads_split(c: _Case) -> _Refusal | None:
    tp, kv = c.settings.tensor_parallel, c.model.num_kv_heads
    if kv % tp == 0 or tp % kv == 0:
        return None
    return _Refusal(
        f"Number of KV heads ({kv}) and tensor parallel size ({tp}) must divide one "
        "another: vLLM splits KV heads across GPUs or replicates them (llmops rule; vLLM fails while "
        "loading the weights)",
        _valid_tp_hint(c),
    )


def _world_size(c: _Case) -> _Refusal | None:
    if c.world <= c.gpu_count:
        return None
    fix = f"request {c.world} nvidia.com/gpu"
    if c.gpu_count in c.valid_tp:
        fix += f", or set --tensor-parallel-size={c.gpu_count}"
    return _Refusal(world_size_message(c.world, c.gpu_count), (fix,))


# Start-up: does the model load, and does one full-length sequence of KV cache fit?


def _bf16(c: _Case) -> _Refusal | None:
    if c.settings.dtype != "bfloat16" or c.gpu.supports_bf16:
        return None
    return _Refusal(bf16_message(c.gpu), ("set --dtype=half (float16)",))


def _too_long(c: _Case) -> _Refusal | None:
    mml, derived = c.settings.max_model_len, c.model.max_position_embeddings
    if mml <= derived:
        return None
    fit_len = min(derived, c.blocks * c.settings.block_size)
    return _Refusal(
        too_long_message(mml, derived), (f"set --max-model-len={fit_len} or lower",) if fit_len > 0 else ()
    )


def _no_memory(c: _Case) -> _Refusal | None:
    if c.memory.kv_available > 0:
        return None
    return _Refusal(no_memory_message(), short_of_memory=True)


def _kv_too_small(c: _Case) -> _Refusal | None:
    m = c.memory
    if m.kv_needed_one_sequence <= m.kv_available:
        return None
    message = kv_too_small_message(
        c.settings.max_model_len, m.kv_needed_one_sequence, m.kv_available, c.blocks * c.settings.block_size
    )
    return _Refusal(message, short_of_memory=True)


def _given_kv_overcommits(c: _Case) -> _Refusal | None:
    m = c.memory
    if (
        not c.exact
        or m.weights + m.activation + m.non_torch + m.cuda_graphs + m.kv_available <= m.device_total
    ):
        return None
    return _Refusal(
        f"--kv-cache-memory-bytes ({format_gib(m.kv_available)} GiB) plus weights and overheads exceed the "
        f"{format_gib(m.device_total)} GiB of the {c.gpu.name}: vLLM would run out of CUDA memory"
    )


Check = Callable[[_Case], _Refusal | None]
PLACEMENT_CHECKS: tuple[Check, ...] = (_no_gpu, _heads_split, _kv_heads_split, _world_size)
START_CHECKS: tuple[Check, ...] = (_bf16, _too_long, _no_memory, _kv_too_small, _given_kv_overcommits)


def _first_refusal(checks: tuple[Check, ...], c: _Case) -> _Refusal | None:
    return next((r for check in checks if (r := check(c)) is not None), None)


# Warnings: it starts, but not as the configuration suggests.


def _idle_gpus(c: _Case) -> str | None:
    if c.world >= c.gpu_count:
        return None
    return (
        f"{c.gpu_count} GPUs requested but vLLM uses tensor x pipeline parallel = {c.world}; "
        f"{c.gpu_count - c.world} stay idle (set --tensor-parallel-size={c.gpu_count} if valid: "
        + ", ".join(map(str, c.valid_tp))
        + ")"
    )


def _thin_margin(c: _Case) -> str | None:
    margin = _margin(c)
    if margin >= THIN_MARGIN or c.exact:
        return None
    return (
        f"thin margin: after one {c.settings.max_model_len:,}-token sequence only {margin:.1%} of the memory "
        "budget is left for the KV cache; the overhead estimate could be off by that much"
    )


def _few_full_sequences(c: _Case) -> str | None:
    at_once = int(c.blocks / c.blocks_per_sequence)
    if at_once >= c.settings.max_num_seqs:
        return None
    return (
        f"only {at_once} sequences of {c.settings.max_model_len:,} tokens fit at once "
        f"(--max-num-seqs={c.settings.max_num_seqs}); longer batches wait or are preempted"
    )


FIT_WARNINGS: tuple[Callable[[_Case], str | None], ...] = (_thin_margin, _few_full_sequences)


def _margin(c: _Case) -> float:
    """Spare KV memory after one full-length sequence, as a fraction of the budget."""
    m = c.memory
    return (m.kv_available - m.kv_needed_one_sequence) / m.budget if m.budget else 0.0


def _warnings(c: _Case, placed: bool, fits: bool) -> list[str]:
    found = [_idle_gpus(c) if placed else None]
    if fits:
        found += [warn(c) for warn in FIT_WARNINGS]
    if c.settings.quantization:
        found.append(
            f"--quantization={c.settings.quantization}: weights are estimated unquantized (an upper bound)"
        )
    return [w for w in found if w is not None]


def _assess(
    model: ModelFacts,
    gpu: Gpu,
    s: Settings,
    gpu_count: int,
    warnings: tuple[str, ...],
    name: str,
    *,
    recommend: bool,
) -> SizingReport:
    c = _case(model, gpu, s, gpu_count)
    misplaced = _first_refusal(PLACEMENT_CHECKS, c)
    refusal = misplaced or _first_refusal(START_CHECKS, c)
    recs = list(refusal.recommendations) if refusal is not None else []
    if recommend and refusal is not None and refusal.short_of_memory:
        recs += _memory_recommendations(c, s)
    concurrency = c.blocks / c.blocks_per_sequence
    return SizingReport(
        model=model.name,
        gpu=gpu.id,
        gpu_count=gpu_count,
        settings=c.settings,
        memory=c.memory,
        kv_cache_blocks=c.blocks,
        kv_cache_tokens=c.blocks * s.block_size,
        vllm_logged_tokens=int(concurrency * c.settings.max_model_len),
        max_concurrency=concurrency,
        full_length_sequences=c.blocks // c.blocks_per_sequence,
        error=refusal.error if refusal is not None else None,
        margin_fraction=_margin(c),
        warnings=(*warnings, *_warnings(c, misplaced is None, refusal is None)),
        recommendations=tuple(recs),
        valid_tp_sizes=c.valid_tp,
        exact=c.exact,
        name=name,
    )


def _memory_recommendations(c: _Case, s: Settings) -> list[str]:
    """What would make one full-length sequence fit; ``s`` as given (before any auto-fit)."""
    m = c.memory
    recs: list[str] = []
    fit_len = min(c.blocks * s.block_size, c.model.max_position_embeddings)
    if fit_len > 0:
        recs.append(
            f"set --max-model-len={fit_len} (the longest that fits, in whole {s.block_size}-token blocks)"
        )
    if s.kv_cache_memory_bytes is None:
        non_kv = m.weights + m.activation + m.non_torch + m.cuda_graphs
        util = math.ceil((non_kv + m.kv_needed_one_sequence) / c.gpu.usable_bytes * 100) / 100
        if util <= 0.95:
            recs.append(f"set --gpu-memory-utilization={util:.2f} or higher")
        else:
            recs.append(f"--gpu-memory-utilization would have to be {util:.2f}: more than this GPU can give")
    else:
        recs.append(f"set --kv-cache-memory-bytes to at least {m.kv_needed_one_sequence}")
    for tp in valid_tp_sizes(c.model):
        if tp <= s.tensor_parallel:
            continue
        bigger = replace(s, tensor_parallel=tp)
        trial = _assess(c.model, c.gpu, bigger, tp * s.pipeline_parallel, (), "", recommend=False)
        if trial.fits:
            recs.append(f"use --tensor-parallel-size={tp} with {tp * s.pipeline_parallel} GPUs")
            break
    return recs
