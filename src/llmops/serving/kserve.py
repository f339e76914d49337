"""What a rendered InferenceService asks: its runtime, vLLM command line, model, GPU count and type.

The one reading of an InferenceService shared by ``llmops size`` and the serving rules of
``llmops validate``, so both see the same vLLM command line. The runtime is chosen as KServe
chooses it (:func:`select_runtime`). The GPU type comes from, in order: an explicit override
(``--gpu``), the ``nvidia.com/gpu.product`` node selector (or a required node-affinity term on
that label), then the RHOAI hardware-profile or accelerator annotation when its name names a
known GPU.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.errors import LlmopsError
from llmops.gitops.manifests import Resource, get_path
from llmops.serving import gpus, vllm_args
from llmops.serving import models as modelinfo
from llmops.serving.gpus import Gpu
from llmops.serving.models import ModelError, ModelFacts
from llmops.serving.sizing import SizingReport
from llmops.serving.sizing import assess as assess_args
from llmops.serving.vllm_args import VllmArgs

GPU = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_ANNOTATIONS = ("opendatahub.io/hardware-profile-name", "opendatahub.io/accelerator-name")
RUNTIME_KINDS = ("ServingRuntime", "ClusterServingRuntime")


class DeclarationError(LlmopsError):
    """The InferenceService does not say enough to be sized (no GPU type, unknown model)."""


# -- the runtime, as KServe selects it ----------------------------------------------------------
#
# KServe's predictor reconciler (pkg/controller/v1beta1/inferenceservice/components/predictor.go,
# reconcileModel) and pkg/apis/serving/v1beta1/predictor_model.go (GetSupportingRuntimes,
# RuntimeSupportsModel, sortSupportedRuntimeByPriority), read at kserve/kserve master:
# * spec.predictor.model.runtime names the runtime: the namespace's ServingRuntime of that name,
#   else the ClusterServingRuntime (utils.GetServingRuntime); it must support the model format,
#   where every entry of supportedModelFormats counts.
# * Otherwise KServe auto-selects among runtimes that are not disabled, not multi-model, serve the
#   predictor's protocol (default v1; a runtime listing no protocolVersions serves any), are
#   multi-node exactly when the predictor has a workerSpec, and list the model format with
#   autoSelect: true. Names match exactly (case-sensitive); a format version given on the
#   InferenceService must be listed too. Namespace runtimes come before cluster runtimes; within
#   each, a runtime with a priority for the format comes first (highest first), then the lowest
#   protocol version, the newest, then the name. Git holds no creation time: ties go by name.

_PROTOCOL_ORDER = {"v1": 1, "v2": 2, "grpc-v1": 3, "grpc-v2": 4}
_UNKNOWN_PROTOCOL = 5


def model_format(isvc: Resource) -> tuple[str, str | None]:
    """(name, version) of ``spec.predictor.model.modelFormat``; the version is None when unset."""
    name = str(get_path(isvc, "spec.predictor.model.modelFormat.name") or "")
    version = get_path(isvc, "spec.predictor.model.modelFormat.version")
    return name, None if version is None else str(version)


def _formats(runtime: Resource) -> list[dict[str, Any]]:
    found = get_path(runtime, "spec.supportedModelFormats")
    return [f for f in found if isinstance(f, dict)] if isinstance(found, list) else []


def format_names(runtime: Resource) -> list[str]:
    """The model formats a runtime lists, as written."""
    return [str(f.get("name", "")) for f in _formats(runtime)]


def supports_model_format(runtime: Resource, isvc: Resource, *, auto_select_only: bool = False) -> bool:
    """KServe's RuntimeSupportsModel: the runtime lists the format (and its version, if given)."""
    name, version = model_format(isvc)
    offered: set[tuple[str, str | None]] = set()
    for f in _formats(runtime):
        if auto_select_only and f.get("autoSelect") is not True:
            continue
        offered.add((str(f.get("name", "")), None))
        if f.get("version") is not None:
            offered.add((str(f.get("name", "")), str(f["version"])))
    return (name, version) in offered


def _namespace_matches(runtime: Resource, isvc: Resource) -> bool:
    if runtime.get("kind") == "ClusterServingRuntime":
        return True
    mine, theirs = get_path(runtime, "metadata.namespace"), get_path(isvc, "metadata.namespace")
    return not mine or not theirs or mine == theirs


def _runtimes(isvc: Resource, resources: Sequence[Resource], kind: str) -> Iterator[Resource]:
    for r in resources:
        if r.get("kind") == kind and _namespace_matches(r, isvc):
            yield r


def _protocols(runtime: Resource) -> list[str]:
    offered = get_path(runtime, "spec.protocolVersions")
    return [str(p) for p in offered] if isinstance(offered, list) else []


def _serves_protocol(runtime: Resource, isvc: Resource) -> bool:
    offered = _protocols(runtime)
    return not offered or str(get_path(isvc, "spec.predictor.model.protocolVersion") or "v1") in offered


def _auto_selectable(runtime: Resource, isvc: Resource) -> bool:
    return (
        get_path(runtime, "spec.disabled") is not True
        and get_path(runtime, "spec.multiModel") is not True
        and _serves_protocol(runtime, isvc)
        and (get_path(runtime, "spec.workerSpec") is not None)
        == (get_path(isvc, "spec.predictor.workerSpec") is not None)
        and supports_model_format(runtime, isvc, auto_select_only=True)
    )


def _selection_key(runtime: Resource, fmt: str) -> tuple[bool, int, int, str]:
    """Sorts runtimes that auto-select a format in the order KServe tries them."""
    priority = next((f.get("priority") for f in _formats(runtime) if f.get("name") == fmt), None)
    lowest = min(
        (_PROTOCOL_ORDER.get(p, _UNKNOWN_PROTOCOL) for p in _protocols(runtime)), default=_UNKNOWN_PROTOCOL
    )
    name = str(get_path(runtime, "metadata.name") or "")
    if isinstance(priority, int):
        return (False, -priority, lowest, name)
    return (True, 0, lowest, name)


def select_runtime(isvc: Resource, resources: Sequence[Resource]) -> tuple[str, Resource | None]:
    """(runtime name, runtime) KServe would run this InferenceService with.

    The name is the one the InferenceService gives even when no such runtime is among
    ``resources`` (then the runtime is None); ("", None) when it names none and none auto-selects.
    """
    wanted = get_path(isvc, "spec.predictor.model.runtime")
    if isinstance(wanted, str) and wanted:
        for kind in RUNTIME_KINDS:
            for r in _runtimes(isvc, resources, kind):
                if get_path(r, "metadata.name") == wanted:
                    return wanted, r
        return wanted, None
    fmt, _ = model_format(isvc)
    for kind in RUNTIME_KINDS:
        candidates = [r for r in _runtimes(isvc, resources, kind) if _auto_selectable(r, isvc)]
        if candidates:
            chosen = min(candidates, key=lambda r: _selection_key(r, fmt))
            return str(get_path(chosen, "metadata.name") or ""), chosen
    return "", None


# -- what the predictor asks for ----------------------------------------------------------------


def is_vllm(isvc: Resource, runtime: Resource | None) -> bool:
    """Whether vLLM serves it: the model format, the runtime's command or image, or the model image say so."""
    text = str(get_path(isvc, "spec.predictor.model.modelFormat.name") or "")
    if runtime is not None:
        container = vllm_args.runtime_container(runtime) or {}
        command = container.get("command")
        if isinstance(command, list):
            text += " " + " ".join(x for x in command if isinstance(x, str))
        text += " " + str(container.get("image", ""))
    text += " " + str(get_path(isvc, "spec.predictor.model.image") or "")
    return "vllm" in text.lower()


def gpu_count(isvc: Resource) -> int:
    """``nvidia.com/gpu`` from the predictor's limits (else requests); 0 when absent."""
    for side in ("limits", "requests"):
        value = get_path(isvc, f"spec.predictor.model.resources.{side}")
        if isinstance(value, dict) and value.get(GPU) is not None:
            try:
                return int(str(value[GPU]))
            except ValueError:
                raise DeclarationError(
                    f"InferenceService {get_path(isvc, 'metadata.name')}: {GPU} "
                    f"{value[GPU]!r} is not a whole number"
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


def _model_references(isvc: Resource, args: VllmArgs) -> list[tuple[str, str]]:
    """(reference, where it was found), in the order they name the model most reliably."""
    refs: list[tuple[str, str]] = []
    uri = get_path(isvc, "spec.predictor.model.storageUri")
    if uri:
        refs.append((str(uri), f"storageUri {uri}"))
    model_flag = args.get("model")
    if model_flag and not model_flag.startswith("/"):
        refs.append((model_flag, f"--model {model_flag}"))
    served = args.get("served-model-name")
    if served:
        refs.append((served.split()[0], f"--served-model-name {served}"))
    name = str(get_path(isvc, "metadata.name") or "")
    refs.append((name, f"InferenceService name {name}"))
    return refs


def model_facts(isvc: Resource, args: VllmArgs) -> tuple[ModelFacts, str]:
    """(facts of the model it serves, where the model was named); DeclarationError when unknown."""
    first: ModelError | None = None
    for ref, source in _model_references(isvc, args):
        try:
            return modelinfo.lookup(ref), source
        except ModelError as exc:
            first = first or exc
    assert first is not None  # the InferenceService name is always a reference
    raise DeclarationError(
        f"InferenceService {get_path(isvc, 'metadata.name') or ''}: cannot tell which model it serves "
        f"({first.message})",
        hint=first.hint,
    )


@dataclass(frozen=True, kw_only=True)
class Predictor:
    """One InferenceService as KServe will run it: its runtime, vLLM arguments and model."""

    isvc: Resource
    runtime: Resource | None  # None when the named runtime is missing or none auto-selects
    runtime_name: str  # as named, or as auto-selected; "" when neither
    args: VllmArgs  # the runtime's arguments, then the InferenceService's (then extra flags)
    is_vllm: bool
    model: ModelFacts | None  # None when no reference names a model known offline
    model_source: str  # where the model was named, e.g. "storageUri oci://..."; "" when unknown
    model_unknown: DeclarationError | None  # why the model is unknown, raised by served_model()

    @property
    def name(self) -> str:
        return str(get_path(self.isvc, "metadata.name") or "")

    @property
    def namespace(self) -> str:
        return str(get_path(self.isvc, "metadata.namespace") or "")

    def served_model(self, model_config: Path | None = None) -> tuple[ModelFacts, str]:
        """(model facts, where they came from): ``model_config`` when given, else the model it serves."""
        if model_config is not None:
            return modelinfo.load_config_file(model_config), f"--model-config {model_config}"
        if self.model is None:
            assert self.model_unknown is not None
            raise self.model_unknown
        return self.model, self.model_source


def predictor(isvc: Resource, resources: Sequence[Resource], *, extra_flags: Sequence[str] = ()) -> Predictor:
    """Read one rendered InferenceService; ``resources`` are the others rendered with it."""
    runtime_name, runtime = select_runtime(isvc, resources)
    args = vllm_args.effective(isvc, runtime)
    if extra_flags:
        args = args.followed_by(vllm_args.from_cli(list(extra_flags)))
    try:
        model, source = model_facts(isvc, args)
        unknown = None
    except DeclarationError as exc:
        model, source, unknown = None, "", exc
    return Predictor(
        isvc=isvc,
        runtime=runtime,
        runtime_name=runtime_name,
        args=args,
        is_vllm=is_vllm(isvc, runtime),
        model=model,
        model_source=source,
        model_unknown=unknown,
    )


# -- sizing a predictor -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SizingInputs:
    """What :func:`llmops.serving.sizing.assess` needs, with where each part was found."""

    name: str
    namespace: str
    model: ModelFacts
    model_source: str  # where the model was found, e.g. "storageUri oci://..."
    gpu: Gpu
    gpu_source: str  # e.g. "nodeSelector nvidia.com/gpu.product=NVIDIA-L4"
    gpu_count: int
    args: VllmArgs


def _gpu_type(p: Predictor, override: str | None) -> tuple[Gpu, str]:
    if override is not None:
        return gpus.get(override), f"--gpu {override}"
    declared = gpu_declaration(p.isvc)
    if declared is None:
        raise DeclarationError(
            f"InferenceService {p.name} does not say which GPU it runs on",
            hint=f"pass --gpu TYPE ({', '.join(gpus.known_gpus())}) or set spec.predictor.nodeSelector "
            f"{GPU_PRODUCT_LABEL} (or the {GPU_ANNOTATIONS[0]} annotation)",
        )
    text, source = declared
    return gpus.get(text), source


def sizing_inputs(p: Predictor, *, gpu: str | None = None, model_config: Path | None = None) -> SizingInputs:
    """The model, GPU type and count, and vLLM arguments to size; ``gpu``/``model_config`` override."""
    model, model_source = p.served_model(model_config)
    gpu_type, gpu_source = _gpu_type(p, gpu)
    return SizingInputs(
        name=p.name,
        namespace=p.namespace,
        model=model,
        model_source=model_source,
        gpu=gpu_type,
        gpu_source=gpu_source,
        gpu_count=gpu_count(p.isvc),
        args=p.args,
    )


def assess_inputs(inputs: SizingInputs) -> SizingReport:
    """Would vLLM start with these inputs? (:func:`llmops.serving.sizing.assess`)."""
    return assess_args(inputs.model, inputs.gpu, inputs.args, inputs.gpu_count, name=inputs.name)


def assess(p: Predictor, *, gpu: str | None = None, model_config: Path | None = None) -> SizingReport:
    """Would vLLM start for this predictor, and with how much KV cache? Raises DeclarationError
    when the InferenceService does not say enough (GPU type, model)."""
    return assess_inputs(sizing_inputs(p, gpu=gpu, model_config=model_config))
