"""Which ServingRuntime an InferenceService runs with, chosen as KServe chooses it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops.errors import LlmopsError
from llmops.serving import kserve


def _runtime(
    name: str, *formats: dict[str, Any], kind: str = "ServingRuntime", **spec: Any
) -> dict[str, Any]:
    container = {
        "name": "kserve-container",
        "image": "quay.io/modh/vllm",
        "args": [f"--served-model-name={name}"],
    }
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, **({"namespace": "ns"} if kind == "ServingRuntime" else {})},
        "spec": {"supportedModelFormats": list(formats), "containers": [container], **spec},
    }


def _isvc(runtime: str | None = None, fmt: str = "vLLM", **model: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "modelFormat": {"name": fmt},
        "storageUri": "hf://Qwen/Qwen2.5-0.5B-Instruct",
        **model,
    }
    if runtime is not None:
        spec["runtime"] = runtime
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "demo", "namespace": "ns"},
        "spec": {"predictor": {"model": spec}},
    }


AUTO = {"name": "vLLM", "autoSelect": True}
LISTED = {"name": "vLLM"}


def _chosen(isvc: dict[str, Any], *runtimes: dict[str, Any]) -> str:
    """The runtime's name, or ``missing:NAME`` when none is there to run it (NAME as written, if any)."""
    name, runtime = kserve.select_runtime(isvc, list(runtimes))
    return name if runtime is not None else f"missing:{name}"


def test_a_named_runtime_wins_over_one_that_auto_selects_the_format() -> None:
    assert _chosen(_isvc("mine"), _runtime("auto", AUTO), _runtime("mine", LISTED)) == "mine"


def test_a_named_runtime_is_the_namespace_one_before_the_cluster_one() -> None:
    cluster = _runtime("vllm", AUTO, kind="ClusterServingRuntime")
    local = _runtime("vllm", LISTED)
    _, runtime = kserve.select_runtime(_isvc("vllm"), [cluster, local])
    assert runtime is local
    _, runtime = kserve.select_runtime(_isvc("vllm"), [cluster])
    assert runtime is cluster


def test_a_named_runtime_that_is_absent_is_reported_by_name() -> None:
    assert _chosen(_isvc("tgis"), _runtime("auto", AUTO)) == "missing:tgis"


def test_without_a_name_only_a_format_with_auto_select_counts() -> None:
    assert _chosen(_isvc(), _runtime("listed", LISTED)) == "missing:"
    assert _chosen(_isvc(), _runtime("listed", LISTED), _runtime("auto", AUTO)) == "auto"


def test_format_names_match_exactly_as_kserve_compares_them() -> None:
    assert _chosen(_isvc(fmt="vllm"), _runtime("auto", AUTO)) == "missing:"
    assert not kserve.supports_model_format(_runtime("r", LISTED), _isvc(fmt="vllm"))


def test_a_format_version_on_the_inference_service_must_be_listed() -> None:
    versioned = _runtime("v1", {**AUTO, "version": "1"})
    assert _chosen(_isvc(modelFormat={"name": "vLLM", "version": "1"}), versioned) == "v1"
    assert _chosen(_isvc(modelFormat={"name": "vLLM", "version": "2"}), versioned) == "missing:"
    assert _chosen(_isvc(), versioned) == "v1"  # no version asked: the name is enough


def test_highest_priority_wins_then_the_name() -> None:
    low = _runtime("a-low", {**AUTO, "priority": 1})
    high = _runtime("z-high", {**AUTO, "priority": 5})
    unranked = _runtime("0-unranked", AUTO)
    assert _chosen(_isvc(), unranked, low, high) == "z-high"
    assert _chosen(_isvc(), unranked, low) == "a-low"  # a priority beats none
    assert _chosen(_isvc(), _runtime("b", AUTO), _runtime("a", AUTO)) == "a"  # ties: by name


def test_namespace_runtimes_are_tried_before_cluster_runtimes() -> None:
    cluster = _runtime("cluster", {**AUTO, "priority": 9}, kind="ClusterServingRuntime")
    assert _chosen(_isvc(), cluster, _runtime("local", AUTO)) == "local"
    assert _chosen(_isvc(), cluster) == "cluster"


@pytest.mark.parametrize(
    ("spec", "model"),
    [
        ({"disabled": True}, {}),
        ({"multiModel": True}, {}),
        ({"protocolVersions": ["v2"]}, {}),  # the predictor speaks v1 unless it says otherwise
        ({"protocolVersions": ["v1"]}, {"protocolVersion": "v2"}),
        ({"workerSpec": {}}, {}),  # multi-node runtimes serve only predictors with a workerSpec
    ],
)
def test_runtimes_kserve_would_not_auto_select_are_skipped(
    spec: dict[str, Any], model: dict[str, Any]
) -> None:
    assert _chosen(_isvc(**model), _runtime("odd", AUTO, **spec)) == "missing:"
    assert _chosen(_isvc(**model), _runtime("odd", AUTO, **spec), _runtime("plain", AUTO)) == "plain"


def test_an_auto_selected_runtimes_arguments_come_before_the_inference_services() -> None:
    runtime = _runtime("auto", AUTO)
    runtime["spec"]["containers"][0]["args"] = ["--max-model-len=131072", "--dtype=half"]
    p = kserve.predictor(_isvc(args=["--max-model-len=4096"]), [runtime])
    assert p.runtime is runtime and p.runtime_name == "auto" and p.is_vllm
    assert p.args.get("max-model-len") == "4096" and p.args.get("dtype") == "half"
    assert p.model is not None and p.model.name == "Qwen/Qwen2.5-0.5B-Instruct"
    assert p.model_source == "storageUri hf://Qwen/Qwen2.5-0.5B-Instruct"


def test_a_model_nothing_names_is_explained_when_sizing_needs_it() -> None:
    isvc = _isvc(storageUri="pvc://models/acme")
    isvc["metadata"]["name"] = "acme-9000"
    p = kserve.predictor(isvc, [_runtime("auto", AUTO)])
    assert p.model is None
    with pytest.raises(kserve.DeclarationError, match="acme-9000: cannot tell which model it serves"):
        p.served_model()


# -- malformed input: read without crashing ------------------------------------------------------

_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 70_000),
    st.floats(allow_nan=True),
    st.text(max_size=6),
    st.sampled_from(
        ["vLLM", "vllm", "v1", "v2", "1", "--max-model-len=99999", "--port=abc", "-tp", "NVIDIA-L4"]
    ),
)
_ANY = st.recursive(
    _LEAF,
    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=4), c, max_size=3)),
    max_leaves=6,
)


def _some(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Either any value, or a mapping with any subset of ``fields`` (each well- or ill-typed)."""
    return st.one_of(
        _ANY, st.fixed_dictionaries({}, optional={k: st.one_of(v, _ANY) for k, v in fields.items()})
    )


_FORMAT = _some(
    name=st.sampled_from(["vLLM", "vllm"]),
    version=_LEAF,
    autoSelect=st.booleans(),
    priority=st.integers(-2, 5),
)
_CONTAINER = _some(
    name=st.just("kserve-container"),
    args=st.lists(_LEAF, max_size=4),
    command=st.lists(_LEAF, max_size=2),
    ports=st.lists(_some(containerPort=st.integers(0, 9000)), max_size=2),
)
_RUNTIME = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["ServingRuntime", "ClusterServingRuntime"]),
        "metadata": _some(name=st.sampled_from(["vllm-runtime", "r"]), namespace=_LEAF),
        "spec": _some(
            supportedModelFormats=st.lists(_FORMAT, max_size=3),
            containers=st.lists(_CONTAINER, max_size=2),
            protocolVersions=st.lists(_LEAF, max_size=2),
            disabled=st.booleans(),
            multiModel=st.booleans(),
            workerSpec=_ANY,
        ),
    }
)
_MODEL = _some(
    modelFormat=_some(name=st.sampled_from(["vLLM", "vllm"]), version=_LEAF),
    runtime=st.sampled_from(["vllm-runtime", "r"]),
    args=st.lists(_LEAF, max_size=4),
    storageUri=st.just("hf://Qwen/Qwen2.5-0.5B-Instruct"),
    protocolVersion=_LEAF,
    resources=_some(limits=_some(**{"nvidia.com/gpu": _LEAF}), requests=_ANY),
)
_ISVC = st.fixed_dictionaries(
    {
        "kind": st.just("InferenceService"),
        "metadata": _some(name=_LEAF, namespace=_LEAF, annotations=_ANY),
        "spec": _some(predictor=_some(model=_MODEL, nodeSelector=_ANY, affinity=_ANY, workerSpec=_ANY)),
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(st.one_of(_ISVC, _RUNTIME), max_size=5))
def test_malformed_kserve_manifests_are_read_or_refused_in_one_line(docs: list[dict[str, Any]]) -> None:
    for isvc in (d for d in docs if d["kind"] == "InferenceService"):
        p = kserve.predictor(isvc, docs)
        assert p.runtime is None or p.runtime in docs
        try:
            report = kserve.assess(p, gpu="L4")
        except LlmopsError as exc:  # what the CLI prints as `error:` + `hint:`
            assert exc.message
        else:
            assert report.fits == (report.error is None)
