"""serving: the effective vLLM command line of each InferenceService against its runtime and model.

Every rule here reads the InferenceServices through :mod:`llmops.serving.kserve` (runtime
selection as KServe does it, effective vLLM arguments, model facts), the same reading
``llmops size`` sizes; the GPU memory fit is :func:`llmops.serving.kserve.assess`.
"""

from __future__ import annotations

from collections.abc import Iterator

from llmops.errors import LlmopsError
from llmops.gitops.manifests import Resource, get_path
from llmops.serving import kserve, vllm_args, workload
from llmops.serving.kserve import GPU, Predictor
from llmops.serving.vllm_args import Occurrence
from llmops.validation.types import Context, FunctionRule, Issue, Item, Severity

VLLM_DEFAULT_PORT = 8000


def predictors(ctx: Context) -> list[Predictor]:
    """Each InferenceService of the scope as KServe will run it (read once per scope)."""
    if "serving.predictors" not in ctx.memo:
        resources = [item.resource for item in ctx.items]
        ctx.memo["serving.predictors"] = [
            kserve.predictor(item.resource, resources) for item in ctx.of_kind("InferenceService")
        ]
    found: list[Predictor] = ctx.memo["serving.predictors"]
    return found


def _item(ctx: Context, resource: Resource) -> Item:
    """The item a predictor's InferenceService or runtime was read from (for issue locations)."""
    if "serving.items" not in ctx.memo:
        ctx.memo["serving.items"] = {id(item.resource): item for item in ctx.items}
    items: dict[int, Item] = ctx.memo["serving.items"]
    return items[id(resource)]


def _arg_issue(
    ctx: Context, p: Predictor, occ: Occurrence | None, message: str, hint: str | None = None
) -> Issue:
    """An issue located at the argument as written (runtime or InferenceService)."""
    if occ is not None and occ.source == "runtime" and p.runtime is not None:
        containers = get_path(p.runtime, "spec.containers") or []
        chosen = vllm_args.runtime_container(p.runtime)
        idx = next((i for i, c in enumerate(containers) if c is chosen), 0)
        path = ("spec", "containers", idx, "args", occ.index)
        issue = ctx.issue(_item(ctx, p.runtime), message, path, hint=hint)
        return Issue(
            message=issue.message,
            resource=issue.resource,
            location=issue.location,
            hint=hint,
            manifest=p.isvc,
        )
    args: tuple[str | int, ...] = ("spec", "predictor", "model", "args")
    return ctx.issue(_item(ctx, p.isvc), message, (*args, occ.index) if occ is not None else args, hint=hint)


def _gpus(p: Predictor) -> int | None:
    try:
        return kserve.gpu_count(p.isvc)
    except kserve.DeclarationError:
        return None  # not a whole number: the schema rules report it


def check_runtime(ctx: Context) -> Iterator[Issue]:
    for p in predictors(ctx):
        if p.runtime is None:
            named = p.runtime_name or "(none named, and none auto-selects its model format)"
            yield ctx.issue(
                _item(ctx, p.isvc),
                f"{p.name} needs ServingRuntime {named}, which this environment does not define",
                ("spec", "predictor", "model", "runtime"),
            )


def check_model_format(ctx: Context) -> Iterator[Issue]:
    for p in predictors(ctx):
        fmt, version = kserve.model_format(p.isvc)
        if p.runtime is None or not fmt or kserve.supports_model_format(p.runtime, p.isvc):
            continue
        formats = kserve.format_names(p.runtime)
        yield ctx.issue(
            _item(ctx, p.isvc),
            f"runtime {p.runtime_name} supports {', '.join(formats) or 'no model format'}, "
            f"not {fmt}{'' if version is None else ' version ' + version}",
            ("spec", "predictor", "model", "modelFormat", "name"),
        )


def check_unknown_flags(ctx: Context) -> Iterator[Issue]:
    version = vllm_args.catalog().vllm_version
    for p in predictors(ctx):
        if not p.is_vllm:
            continue
        for occ in p.args.unknown():
            yield _arg_issue(ctx, p, occ, f"{occ.raw} is not a vLLM {version} option: vLLM exits at start-up")


def _int(ctx: Context, p: Predictor, flag: str) -> tuple[int | None, Issue | None]:
    try:
        return p.args.int_value(flag), None
    except ValueError:
        return None, _arg_issue(ctx, p, p.args.last(flag), f"--{flag}={p.args.get(flag)} is not an integer")


def check_max_model_len(ctx: Context) -> Iterator[Issue]:
    for p in predictors(ctx):
        if not p.is_vllm or p.model is None:
            continue
        value, bad = _int(ctx, p, "max-model-len")
        if bad is not None:
            yield bad
        elif value is not None and value > p.model.max_position_embeddings:
            yield _arg_issue(
                ctx, p, p.args.last("max-model-len"),
                f"--max-model-len={value} exceeds {p.model.name}'s max_position_embeddings "
                f"({p.model.max_position_embeddings}): vLLM refuses to start",
                hint=f"set --max-model-len to at most {p.model.max_position_embeddings}",
            )  # fmt: skip


def check_tensor_parallel(ctx: Context) -> Iterator[Issue]:
    for p in predictors(ctx):
        if not p.is_vllm:
            continue
        tp, bad = _int(ctx, p, "tensor-parallel-size")
        pp, bad_pp = _int(ctx, p, "pipeline-parallel-size")
        for issue in (bad, bad_pp):
            if issue is not None:
                yield issue
        if bad is not None or bad_pp is not None:
            continue
        tp_n, pp_n = tp or 1, pp or 1
        occ = p.args.last("tensor-parallel-size")
        if p.model is not None and p.model.num_attention_heads % tp_n:
            yield _arg_issue(
                ctx, p, occ,
                f"tensor parallel size {tp_n} does not divide {p.model.name}'s {p.model.num_attention_heads} "
                "attention heads",
                hint="use a tensor parallel size that divides the number of attention heads",
            )  # fmt: skip
        gpus = _gpus(p)
        if gpus is not None and gpus > 0 and gpus != tp_n * pp_n:
            yield _arg_issue(
                ctx, p, occ,
                f"{tp_n * pp_n} GPU(s) used by vLLM (tensor x pipeline parallel) but {gpus} requested "
                f"as {GPU}",
                hint=f"make --tensor-parallel-size (x --pipeline-parallel-size) equal the {GPU} count",
            )  # fmt: skip


def check_gpu_memory_utilization(ctx: Context) -> Iterator[Issue]:
    for p in predictors(ctx):
        if not p.is_vllm or not p.args.has("gpu-memory-utilization"):
            continue
        occ = p.args.last("gpu-memory-utilization")
        try:
            value = p.args.float_value("gpu-memory-utilization")
        except ValueError:
            value = None
        if value is None or not 0 < value <= 1:
            yield _arg_issue(
                ctx,
                p,
                occ,
                f"--gpu-memory-utilization={p.args.get('gpu-memory-utilization')} is not in (0, 1]",
            )


def check_port(ctx: Context) -> Iterator[Issue]:
    for p in predictors(ctx):
        if not p.is_vllm or p.runtime is None:
            continue
        container = vllm_args.runtime_container(p.runtime) or {}
        declared = container.get("ports")
        ports = (
            [c.get("containerPort") for c in declared if isinstance(c, dict)]
            if isinstance(declared, list)
            else []
        )
        if not ports:
            continue
        port, bad = _int(ctx, p, "port")
        if bad is not None:
            yield bad
            continue
        listen = port if port is not None else VLLM_DEFAULT_PORT
        if listen not in ports:
            yield _arg_issue(
                ctx, p, p.args.last("port"),
                f"vLLM listens on {listen}{'' if port is not None else ' (its default)'} but the container "
                f"port is {', '.join(str(n) for n in ports)}: KServe routes to a closed port",
                hint=f"pass --port={ports[0]} or change containerPort",
            )  # fmt: skip


def _reported_elsewhere(p: Predictor) -> bool:
    """Problems other serving rules already report; sizing would only repeat them."""
    try:
        max_len = p.args.int_value("max-model-len")
        tp = p.args.int_value("tensor-parallel-size") or 1
        utilization = p.args.float_value("gpu-memory-utilization")
    except ValueError:
        return True
    assert p.model is not None
    return (
        (max_len is not None and max_len > p.model.max_position_embeddings)
        or tp < 1
        or p.model.num_attention_heads % tp != 0
        or (utilization is not None and not 0 < utilization <= 1)
    )


def _fit_issue(ctx: Context, p: Predictor) -> Issue | None:
    isvc = _item(ctx, p.isvc)
    try:
        report = kserve.assess(p)
    except kserve.DeclarationError as exc:
        return ctx.issue(
            isvc, f"GPU memory not checked: {exc.message}", hint=exc.hint, severity=Severity.info
        )
    except LlmopsError as exc:
        return ctx.issue(
            isvc, f"GPU memory not checked: {exc.message}", hint=exc.hint, severity=Severity.warning
        )
    where = f"{report.gpu_count} x {report.gpu}"
    if not report.fits:
        return ctx.issue(
            isvc,
            f"vLLM would not start on {where}: {report.error}",
            ("spec", "predictor", "model", "args"),
            hint="; ".join(report.recommendations) or "run `llmops size` for the arithmetic",
        )
    if report.thin:
        return ctx.issue(
            isvc,
            f"fits {where} with a thin margin: {report.margin_fraction:.0%} of the memory budget spare, "
            f"{report.full_length_sequences} sequence(s) of --max-model-len at once",
            ("spec", "predictor", "model", "args"),
            hint="; ".join(report.recommendations)
            or "lower --max-model-len or raise --gpu-memory-utilization",
            severity=Severity.warning,
        )
    return None


def check_gpu_memory_fit(ctx: Context) -> Iterator[Issue]:
    for p in predictors(ctx):
        if p.is_vllm and p.model is not None and not _reported_elsewhere(p):
            issue = _fit_issue(ctx, p)
            if issue is not None:
                yield issue


def _gpu_items(ctx: Context) -> Iterator[tuple[Item, int]]:
    """Raw-deployment InferenceServices (or of the cluster's default mode) that ask for GPUs."""
    for item in ctx.of_kind("InferenceService"):
        try:
            count = kserve.gpu_count(item.resource)
        except kserve.DeclarationError:
            continue  # not a whole number: the schema rules report it
        if count > 0 and workload.may_be_raw(item.resource):
            yield item, count


def check_rollout_surge(ctx: Context) -> Iterator[Issue]:
    for item, gpus in _gpu_items(ctx):
        plan = workload.rollout(item.resource)
        if plan.surge_pods <= 0:
            continue
        extra = f"{plan.surge_pods} extra pod(s), {plan.surge_pods * gpus} more {GPU}"
        if plan.explicit:
            yield ctx.issue(
                item,
                f"{item.name} rolls out with maxSurge {plan.max_surge}: each release change starts {extra} "
                "while the old pods keep theirs; make sure the nodes have them spare",
                ("spec", "predictor", "deploymentStrategy"),
                severity=Severity.warning,
            )
        else:
            yield ctx.issue(
                item,
                f"{item.name} asks {gpus} {GPU} per replica and keeps KServe's default rollout "
                f"(RollingUpdate, maxSurge {plan.max_surge}): each release change needs {extra} while the "
                "old pods keep theirs, and waits Pending on a cluster sized for its replicas",
                ("spec", "predictor"),
            )


def check_gpu_autoscaling(ctx: Context) -> Iterator[Issue]:
    for item, gpus in _gpu_items(ctx):
        low, high = workload.replicas(item.resource)
        scale = workload.scaling(item.resource)
        if high <= low or scale.autoscaler not in ("hpa", "keda"):
            continue
        resource_signals = [s for s in scale.signals if s in ("cpu", "memory")]
        if not resource_signals:
            continue  # scaled on vLLM's own metrics (External / PodMetric)
        how = "its" if scale.explicit else "KServe's default"
        signal = " and ".join(resource_signals)
        path = (
            ("spec", "predictor", "autoScaling") if scale.explicit else ("spec", "predictor", "maxReplicas")
        )
        yield ctx.issue(
            item,
            f"{item.name} asks {gpus} {GPU} per replica and is autoscaled ({scale.autoscaler}) from {low} to "
            f"{high} replicas on {how} {signal} signal: a GPU-bound vLLM's CPU and memory do not follow its "
            f"load, and every extra replica needs {gpus} more {GPU}",
            path,
            severity=Severity.warning if scale.explicit else None,
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
        rationale="Tensor parallelism must split the attention heads evenly and use exactly the GPUs "
        "requested.",
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
        id="serving.rollout-surge",
        severity=Severity.error,
        rationale="A surging rollout needs spare GPUs for the new pods while the old ones still hold theirs.",
        hint="set spec.predictor.deploymentStrategy: {type: Recreate} for one replica, or RollingUpdate "
        "with maxSurge: 0 and maxUnavailable: 1 for several",
        scope="resources",
        fn=check_rollout_surge,
    ),
    FunctionRule(
        id="serving.gpu-autoscaling",
        severity=Severity.error,
        rationale="CPU and memory are the wrong autoscaling signals for a GPU-bound vLLM, and each replica "
        "needs its own GPU.",
        hint="set minReplicas == maxReplicas (on KServe 0.15.1+ also serving.kserve.io/autoscalerClass: "
        "none), or scale with KEDA on vLLM's metrics (autoScaling.metrics of type External, e.g. "
        "vllm:num_requests_waiting)",
        scope="resources",
        fn=check_gpu_autoscaling,
    ),
    FunctionRule(
        id="serving.gpu-memory-fit",
        severity=Severity.error,
        rationale="vLLM refuses to start when weights, activations and one full-length sequence of KV cache "
        "do not fit the GPU budget.",
        hint="lower --max-model-len, raise --gpu-memory-utilization, or use more or bigger GPUs "
        "(llmops size)",
        scope="resources",
        fn=check_gpu_memory_fit,
    ),
]
