"""serving: the effective vLLM command line of each InferenceService against its runtime and model.

:func:`targets` pairs each InferenceService with its ServingRuntime, its effective
vLLM arguments and the model's facts; every rule here is built on it. The GPU memory
fit uses :mod:`llmops.sizing`, the arithmetic behind ``llmops size``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from llmops.errors import LlmopsError
from llmops.gitops.manifests import as_list, get_path
from llmops.serving import kserve as sizing_inputs
from llmops.serving import models as modelinfo
from llmops.serving import vllm_args
from llmops.serving.models import ModelFacts
from llmops.serving.vllm_args import Occurrence, VllmArgs
from llmops.validation.types import Context, FunctionRule, Issue, Item, Severity

GPU = "nvidia.com/gpu"
VLLM_DEFAULT_PORT = 8000


@dataclass(frozen=True)
class Target:
    """One InferenceService as it will run: runtime, vLLM arguments, model facts."""

    isvc: Item
    runtime: Item | None
    runtime_name: str
    args: VllmArgs
    model: ModelFacts | None
    is_vllm: bool


def _runtime_for(ctx: Context, isvc: Item) -> tuple[str, Item | None]:
    name = get_path(isvc.resource, "spec.predictor.model.runtime")
    runtimes = ctx.of_kind("ServingRuntime", "ClusterServingRuntime")
    if isinstance(name, str) and name:
        return name, next((r for r in runtimes if r.name == name), None)
    fmt = str(get_path(isvc.resource, "spec.predictor.model.modelFormat.name") or "")
    for r in runtimes:  # KServe's auto-selection by model format
        for f in as_list(get_path(r.resource, "spec.supportedModelFormats")):
            if isinstance(f, dict) and f.get("autoSelect") and str(f.get("name", "")).lower() == fmt.lower():
                return r.name, r
    return "", None


def _is_vllm(isvc: Item, runtime: Item | None) -> bool:
    fmt = str(get_path(isvc.resource, "spec.predictor.model.modelFormat.name") or "")
    text = fmt.lower()
    if runtime is not None:
        container = vllm_args.runtime_container(runtime.resource) or {}
        text += " " + " ".join(x for x in as_list(container.get("command")) if isinstance(x, str))
        text += " " + str(container.get("image", ""))
    text += " " + str(get_path(isvc.resource, "spec.predictor.model.image") or "")
    return "vllm" in text.lower()


def _model(isvc: Item, args: VllmArgs) -> ModelFacts | None:
    refs: list[Any] = [
        get_path(isvc.resource, "spec.predictor.model.storageUri"),
        args.get("served-model-name"),
        args.get("model"),
        isvc.name,
    ]
    for ref in refs:
        if isinstance(ref, str) and ref and not ref.startswith("/"):
            try:
                return modelinfo.lookup(ref.split()[0])
            except modelinfo.ModelError:
                continue
    return None


def targets(ctx: Context) -> list[Target]:
    if "serving.targets" not in ctx.memo:
        found = []
        for isvc in ctx.of_kind("InferenceService"):
            name, runtime = _runtime_for(ctx, isvc)
            args = vllm_args.effective(isvc.resource, runtime.resource if runtime else None)
            found.append(Target(isvc, runtime, name, args, _model(isvc, args), _is_vllm(isvc, runtime)))
        ctx.memo["serving.targets"] = found
    result: list[Target] = ctx.memo["serving.targets"]
    return result


def _arg_issue(
    ctx: Context, t: Target, occ: Occurrence | None, message: str, hint: str | None = None
) -> Issue:
    """An issue located at the argument as written (runtime or InferenceService)."""
    if occ is not None and occ.source == "runtime" and t.runtime is not None:
        containers = as_list(get_path(t.runtime.resource, "spec.containers"))
        chosen = vllm_args.runtime_container(t.runtime.resource)
        idx = next((i for i, c in enumerate(containers) if c is chosen), 0)
        issue = ctx.issue(t.runtime, message, ("spec", "containers", idx, "args", occ.index), hint=hint)
        return Issue(
            message=issue.message,
            resource=issue.resource,
            location=issue.location,
            hint=hint,
            severity=None,
            manifest=t.isvc.resource,
        )
    path: tuple[str | int, ...] = ("spec", "predictor", "model", "args")
    return ctx.issue(t.isvc, message, (*path, occ.index) if occ is not None else path, hint=hint)


def _gpus(t: Target) -> int | None:
    res = get_path(t.isvc.resource, "spec.predictor.model.resources") or {}
    for part in ("limits", "requests"):
        value = (res.get(part) or {}).get(GPU) if isinstance(res, dict) else None
        if value is not None:
            try:
                return int(str(value))
            except ValueError:
                return None
    return None


def check_runtime(ctx: Context) -> Iterator[Issue]:
    for t in targets(ctx):
        if t.runtime is None:
            named = t.runtime_name or "(none named, and none auto-selects its model format)"
            yield ctx.issue(
                t.isvc,
                f"{t.isvc.name} needs ServingRuntime {named}, which this environment does not define",
                ("spec", "predictor", "model", "runtime"),
            )


def check_model_format(ctx: Context) -> Iterator[Issue]:
    for t in targets(ctx):
        if t.runtime is None:
            continue
        fmt = str(get_path(t.isvc.resource, "spec.predictor.model.modelFormat.name") or "")
        formats = [
            str(f.get("name", ""))
            for f in as_list(get_path(t.runtime.resource, "spec.supportedModelFormats"))
            if isinstance(f, dict)
        ]
        if fmt and fmt.lower() not in {f.lower() for f in formats}:
            yield ctx.issue(
                t.isvc,
                f"runtime {t.runtime.name} supports {', '.join(formats) or 'no model format'}, not {fmt}",
                ("spec", "predictor", "model", "modelFormat", "name"),
            )


def check_unknown_flags(ctx: Context) -> Iterator[Issue]:
    version = vllm_args.catalog().vllm_version
    for t in targets(ctx):
        if not t.is_vllm:
            continue
        for occ in t.args.unknown():
            yield _arg_issue(ctx, t, occ, f"{occ.raw} is not a vLLM {version} option: vLLM exits at start-up")


def _int(ctx: Context, t: Target, flag: str) -> tuple[int | None, Issue | None]:
    try:
        return t.args.int_value(flag), None
    except ValueError:
        return None, _arg_issue(ctx, t, t.args.last(flag), f"--{flag}={t.args.get(flag)} is not an integer")


def check_max_model_len(ctx: Context) -> Iterator[Issue]:
    for t in targets(ctx):
        if not t.is_vllm or t.model is None:
            continue
        value, bad = _int(ctx, t, "max-model-len")
        if bad is not None:
            yield bad
        elif value is not None and value > t.model.max_position_embeddings:
            yield _arg_issue(
                ctx, t, t.args.last("max-model-len"),
                f"--max-model-len={value} exceeds {t.model.name}'s max_position_embeddings "
                f"({t.model.max_position_embeddings}): vLLM refuses to start",
                hint=f"set --max-model-len to at most {t.model.max_position_embeddings}",
            )  # fmt: skip


def check_tensor_parallel(ctx: Context) -> Iterator[Issue]:
    for t in targets(ctx):
        if not t.is_vllm:
            continue
        tp, bad = _int(ctx, t, "tensor-parallel-size")
        pp, bad_pp = _int(ctx, t, "pipeline-parallel-size")
        for issue in (bad, bad_pp):
            if issue is not None:
                yield issue
        if bad is not None or bad_pp is not None:
            continue
        tp_n, pp_n = tp or 1, pp or 1
        occ = t.args.last("tensor-parallel-size")
        if t.model is not None and t.model.num_attention_heads % tp_n:
            yield _arg_issue(
                ctx, t, occ,
                f"tensor parallel size {tp_n} does not divide {t.model.name}'s {t.model.num_attention_heads} "
                "attention heads",
                hint="use a tensor parallel size that divides the number of attention heads",
            )  # fmt: skip
        gpus = _gpus(t)
        if gpus is not None and gpus > 0 and gpus != tp_n * pp_n:
            yield _arg_issue(
                ctx, t, occ,
                f"{tp_n * pp_n} GPU(s) used by vLLM (tensor x pipeline parallel) but {gpus} requested "
                f"as {GPU}",
                hint=f"make --tensor-parallel-size (x --pipeline-parallel-size) equal the {GPU} count",
            )  # fmt: skip


def check_gpu_memory_utilization(ctx: Context) -> Iterator[Issue]:
    for t in targets(ctx):
        if not t.is_vllm or not t.args.has("gpu-memory-utilization"):
            continue
        occ = t.args.last("gpu-memory-utilization")
        try:
            value = t.args.float_value("gpu-memory-utilization")
        except ValueError:
            value = None
        if value is None or not 0 < value <= 1:
            yield _arg_issue(
                ctx,
                t,
                occ,
                f"--gpu-memory-utilization={t.args.get('gpu-memory-utilization')} is not in (0, 1]",
            )


def check_port(ctx: Context) -> Iterator[Issue]:
    for t in targets(ctx):
        if not t.is_vllm or t.runtime is None:
            continue
        container = vllm_args.runtime_container(t.runtime.resource) or {}
        ports = [p.get("containerPort") for p in as_list(container.get("ports")) if isinstance(p, dict)]
        if not ports:
            continue
        port, bad = _int(ctx, t, "port")
        if bad is not None:
            yield bad
            continue
        listen = port if port is not None else VLLM_DEFAULT_PORT
        if listen not in ports:
            yield _arg_issue(
                ctx, t, t.args.last("port"),
                f"vLLM listens on {listen}{'' if port is not None else ' (its default)'} but the container "
                f"port is {', '.join(str(p) for p in ports)}: KServe routes to a closed port",
                hint=f"pass --port={ports[0]} or change containerPort",
            )  # fmt: skip


def _reported_elsewhere(t: Target) -> bool:
    """Problems other serving rules already report; sizing would only repeat them."""
    try:
        max_len = t.args.int_value("max-model-len")
        tp = t.args.int_value("tensor-parallel-size") or 1
        utilization = t.args.float_value("gpu-memory-utilization")
    except ValueError:
        return True
    assert t.model is not None
    return (
        (max_len is not None and max_len > t.model.max_position_embeddings)
        or tp < 1
        or t.model.num_attention_heads % tp != 0
        or (utilization is not None and not 0 < utilization <= 1)
    )


def check_gpu_memory_fit(ctx: Context) -> Iterator[Issue]:
    resources = [item.resource for item in ctx.items]
    for t in targets(ctx):
        if not t.is_vllm or t.model is None or _reported_elsewhere(t):
            continue
        try:
            report = sizing_inputs.assess_inference_service(t.isvc.resource, resources)
        except sizing_inputs.DeclarationError as exc:
            yield ctx.issue(
                t.isvc, f"GPU memory not checked: {exc.message}", hint=exc.hint, severity=Severity.info
            )
            continue
        except LlmopsError as exc:
            yield ctx.issue(
                t.isvc, f"GPU memory not checked: {exc.message}", hint=exc.hint, severity=Severity.warning
            )
            continue
        where = f"{report.gpu_count} x {report.gpu}"
        if not report.fits:
            yield ctx.issue(
                t.isvc,
                f"vLLM would not start on {where}: {report.error}",
                ("spec", "predictor", "model", "args"),
                hint="; ".join(report.recommendations) or "run `llmops size` for the arithmetic",
            )
        elif report.thin:
            yield ctx.issue(
                t.isvc,
                f"fits {where} with a thin margin: {report.margin_fraction:.0%} of the memory budget spare, "
                f"{report.full_length_sequences} sequence(s) of --max-model-len at once",
                ("spec", "predictor", "model", "args"),
                hint="; ".join(report.recommendations)
                or "lower --max-model-len or raise --gpu-memory-utilization",
                severity=Severity.warning,
            )


RULES = [
    FunctionRule(
        id="serving.runtime-exists",
        severity=Severity.error,
        rationale="An InferenceService whose ServingRuntime is missing never becomes ready.",
        hint="add the ServingRuntime to the overlay or fix spec.predictor.model.runtime",
        scope="resources",
        fn=check_runtime,
    ),
    FunctionRule(
        id="serving.model-format",
        severity=Severity.error,
        rationale="KServe refuses a runtime that does not list the InferenceService's model format.",
        hint="use a runtime whose supportedModelFormats lists the model format",
        scope="resources",
        fn=check_model_format,
    ),
    FunctionRule(
        id="serving.unknown-flag",
        severity=Severity.error,
        rationale="vLLM exits on an argument it does not know: the pod crash-loops.",
        hint="remove the argument or spell it as `vllm serve --help` does",
        scope="resources",
        fn=check_unknown_flags,
    ),
    FunctionRule(
        id="serving.max-model-len",
        severity=Severity.error,
        rationale="A context longer than the model's max_position_embeddings makes vLLM refuse to start.",
        hint="lower --max-model-len to the model's max_position_embeddings or less",
        scope="resources",
        fn=check_max_model_len,
    ),
    FunctionRule(
        id="serving.tensor-parallel",
        severity=Severity.error,
        rationale=(
            "Tensor parallelism must split the attention heads evenly and use exactly the "
            "GPUs requested."
        ),
        hint="set --tensor-parallel-size to the nvidia.com/gpu count, a divisor of the attention heads",
        scope="resources",
        fn=check_tensor_parallel,
    ),
    FunctionRule(
        id="serving.gpu-memory-utilization",
        severity=Severity.error,
        rationale="--gpu-memory-utilization is a fraction of GPU memory; outside (0, 1] vLLM fails.",
        hint="use a value such as 0.90",
        scope="resources",
        fn=check_gpu_memory_utilization,
    ),
    FunctionRule(
        id="serving.port",
        severity=Severity.error,
        rationale="KServe sends traffic to the container port; vLLM must listen there.",
        hint="make --port equal the runtime's containerPort",
        scope="resources",
        fn=check_port,
    ),
    FunctionRule(
        id="serving.gpu-memory-fit",
        severity=Severity.error,
        rationale="vLLM refuses to start when weights, activations and one full-length sequence of KV cache "
        "do not fit the GPU budget.",
        hint=(
            "lower --max-model-len, raise --gpu-memory-utilization, or use more or bigger "
            "GPUs (llmops size)"
        ),
        scope="resources",
        fn=check_gpu_memory_fit,
    ),
]
