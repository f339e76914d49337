"""What a rendered InferenceService asks of a GPU: model, vLLM flags, GPU count and GPU type.

Shared by ``llmops size`` and the serving rules of ``llmops validate``. The GPU type comes
from, in order: an explicit override (``--gpu``), the ``nvidia.com/gpu.product`` node
selector (or a required node-affinity term on that label), then the RHOAI hardware-profile
or accelerator annotation when its name names a known GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.errors import LlmopsError
from llmops.gitops.manifests import Resource, get_path
from llmops.serving import gpus, vllm_args
from llmops.serving import models as modelinfo
from llmops.serving.gpus import Gpu
from llmops.serving.models import ModelError, ModelFacts
from llmops.serving.sizing import SizingReport, assess
from llmops.serving.vllm_args import VllmArgs

GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_ANNOTATIONS = ("opendatahub.io/hardware-profile-name", "opendatahub.io/accelerator-name")


class DeclarationError(LlmopsError):
    """The InferenceService does not say enough to be sized (no GPU type, unknown model)."""


@dataclass(frozen=True)
class SizingInputs:
    name: str
    namespace: str
    model: ModelFacts
    model_source: str  # where the model was found, e.g. "storageUri oci://..."
    gpu: Gpu
    gpu_source: str  # e.g. "nodeSelector nvidia.com/gpu.product=NVIDIA-L4"
    gpu_count: int
    args: VllmArgs


def gpu_count(isvc: Resource) -> int:
    """``nvidia.com/gpu`` from the predictor's limits (else requests); 0 when absent."""
    for side in ("limits", "requests"):
        value = get_path(isvc, f"spec.predictor.model.resources.{side}")
        if isinstance(value, dict) and "nvidia.com/gpu" in value:
            try:
                return int(str(value["nvidia.com/gpu"]))
            except ValueError:
                raise DeclarationError(
                    f"InferenceService {get_path(isvc, 'metadata.name')}: nvidia.com/gpu "
                    f"{value['nvidia.com/gpu']!r} is not a whole number"
                ) from None
    return 0


def _affinity_products(isvc: Resource) -> list[str]:
    terms = get_path(
        isvc,
        "spec.predictor.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
    )
    found: list[str] = []
    for term in terms if isinstance(terms, list) else []:
        for expr in (term.get("matchExpressions") or []) if isinstance(term, dict) else []:
            if (
                isinstance(expr, dict)
                and expr.get("key") == GPU_PRODUCT_LABEL
                and expr.get("operator") == "In"
            ):
                found += [str(v) for v in expr.get("values") or []]
    return found


def gpu_declaration(isvc: Resource) -> tuple[str, str] | None:
    """(GPU type text, where it was found) as the InferenceService declares it, or None."""
    selector = get_path(isvc, "spec.predictor.nodeSelector")
    if isinstance(selector, dict) and selector.get(GPU_PRODUCT_LABEL):
        value = str(selector[GPU_PRODUCT_LABEL])
        return value, f"nodeSelector {GPU_PRODUCT_LABEL}={value}"
    products = _affinity_products(isvc)
    if products:
        # Any of several products may be chosen: size for the smallest, the one that must fit.
        known = [(g, p) for p in products if (g := gpus.find(p)) is not None]
        if known:
            _, text = min(known, key=lambda gp: gp[0].usable_bytes)
            return text, f"node affinity {GPU_PRODUCT_LABEL} in {products} (smallest)"
        return products[0], f"node affinity {GPU_PRODUCT_LABEL}"
    annotations = get_path(isvc, "metadata.annotations")
    if isinstance(annotations, dict):
        for key in GPU_ANNOTATIONS:
            named = annotations.get(key)
            if named and gpus.find(str(named)) is not None:
                return str(named), f"annotation {key}={named}"
    return None


def model_facts(isvc: Resource, args: VllmArgs, model_config: Path | None = None) -> tuple[ModelFacts, str]:
    if model_config is not None:
        return modelinfo.load_config_file(model_config), f"--model-config {model_config}"
    candidates: list[tuple[str, str]] = []
    uri = get_path(isvc, "spec.predictor.model.storageUri")
    if uri:
        candidates.append((str(uri), f"storageUri {uri}"))
    model_flag = args.get("model")
    if model_flag and not model_flag.startswith("/"):
        candidates.append((model_flag, f"--model {model_flag}"))
    served = args.get("served-model-name")
    if served:
        candidates.append((served.split()[0], f"--served-model-name {served}"))
    name = str(get_path(isvc, "metadata.name") or "")
    candidates.append((name, f"InferenceService name {name}"))
    first: ModelError | None = None
    for ref, source in candidates:
        try:
            return modelinfo.lookup(ref), source
        except ModelError as exc:
            first = first or exc
    assert first is not None
    raise DeclarationError(
        f"InferenceService {name}: cannot tell which model it serves ({first.message})",
        hint=first.hint,
    )


def runtime_for(isvc: Resource, resources: Sequence[Resource]) -> Resource | None:
    wanted = get_path(isvc, "spec.predictor.model.runtime")
    for r in resources:
        if (
            r.get("kind") in ("ServingRuntime", "ClusterServingRuntime")
            and get_path(r, "metadata.name") == wanted
        ):
            return r
    return None


def inputs_for(
    isvc: Resource,
    resources: Sequence[Resource],
    *,
    gpu: str | None = None,
    model_config: Path | None = None,
    extra_flags: Sequence[str] = (),
) -> SizingInputs:
    """Everything :func:`llmops.sizing.assess` needs, read from a rendered InferenceService."""
    name = str(get_path(isvc, "metadata.name") or "")
    base = vllm_args.effective(isvc, runtime_for(isvc, resources))
    args = base
    if extra_flags:
        extra = vllm_args.from_cli(list(extra_flags))
        occurrences = base.occurrences + extra.occurrences
        args = VllmArgs(occurrences, base.positionals + extra.positionals, {**base.options, **extra.options})
    model, model_source = model_facts(isvc, args, model_config)
    if gpu is not None:
        gpu_type, gpu_source = gpus.get(gpu), f"--gpu {gpu}"
    else:
        declared = gpu_declaration(isvc)
        if declared is None:
            raise DeclarationError(
                f"InferenceService {name} does not say which GPU it runs on",
                hint=f"pass --gpu TYPE ({', '.join(gpus.known_gpus())}) or set spec.predictor.nodeSelector "
                f"{GPU_PRODUCT_LABEL} (or the {GPU_ANNOTATIONS[0]} annotation)",
            )
        text, gpu_source = declared
        gpu_type = gpus.get(text)
    return SizingInputs(
        name=name,
        namespace=str(get_path(isvc, "metadata.namespace") or ""),
        model=model,
        model_source=model_source,
        gpu=gpu_type,
        gpu_source=gpu_source,
        gpu_count=gpu_count(isvc),
        args=args,
    )


def assess_inference_service(isvc: Resource, resources: Sequence[Resource], **kw: Any) -> SizingReport:
    inp = inputs_for(isvc, resources, **kw)
    return assess(inp.model, inp.gpu, inp.args, inp.gpu_count, name=inp.name)
