from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
from testing import fleet
from testing.repos import ROOT, git

EXPECTED = {
    # env: (prefix, namespace, minReplicas, maxReplicas, cpu, memory, display name)
    "dev": ("dev", "llmops-dev", 1, 1, "2", "6Gi", "Qwen2.5 0.5B Instruct (dev)"),
    "staging": ("staging", "llmops-staging", 1, 1, "3", "8Gi", "Qwen2.5 0.5B Instruct (staging)"),
    "production": ("prod", "llmops-prod", 2, 2, "4", "12Gi", "Qwen2.5 0.5B Instruct (production)"),
}


def _by_kind(resources: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["kind"] == kind]


def test_render_dev_prints_the_prefixed_inference_service(cli, gitops_repo: Path) -> None:
    result = cli("render", "dev", "--repo", gitops_repo)
    assert result.code == 0, result.err
    isvc = _by_kind(result.yaml(), "InferenceService")
    assert len(isvc) == 1
    assert isvc[0]["metadata"]["name"] == "dev-qwen25-05b-instruct"
    assert isvc[0]["metadata"]["namespace"] == "llmops-dev"


@pytest.mark.parametrize("env", list(EXPECTED))
def test_each_environment_renders_its_own_names_namespace_and_sizing(
    cli, gitops_repo: Path, env: str
) -> None:
    prefix, ns, min_r, max_r, cpu, mem, display = EXPECTED[env]
    resources = cli("render", env, "--repo", gitops_repo, "-o", "json").json()["items"]
    assert {r["metadata"]["namespace"] for r in resources} == {ns}
    assert all(r["metadata"]["name"].startswith(prefix + "-") for r in resources)
    (isvc,) = _by_kind(resources, "InferenceService")
    (runtime,) = _by_kind(resources, "ServingRuntime")
    pred = isvc["spec"]["predictor"]
    assert (pred["minReplicas"], pred["maxReplicas"]) == (min_r, max_r)
    res = pred["model"]["resources"]
    for side in ("requests", "limits"):
        assert res[side]["cpu"] == cpu
        assert res[side]["memory"] == mem
        assert res[side]["nvidia.com/gpu"] == "1"
    assert isvc["metadata"]["annotations"]["openshift.io/display-name"] == display
    # the InferenceService names the renamed runtime and service account
    assert pred["model"]["runtime"] == runtime["metadata"]["name"] == f"{prefix}-vllm-runtime"
    assert pred["serviceAccountName"] == f"{prefix}-qwen25-05b-instruct-sa"
    assert isvc["metadata"]["labels"]["llmops.io/environment"] == env


def _neutralise(resources: list[dict[str, Any]], env: str) -> list[dict[str, Any]]:
    """Undo exactly the documented per-environment differences."""
    prefix, *_ = EXPECTED[env]
    out = []
    for r in copy.deepcopy(resources):
        if r["kind"] == "PodDisruptionBudget":
            continue
        meta = r["metadata"]
        meta["name"] = meta["name"].removeprefix(prefix + "-")
        meta.pop("namespace")
        meta["labels"].pop("llmops.io/environment")
        if r["kind"] == "InferenceService":
            meta["annotations"].pop("openshift.io/display-name")
            pred = r["spec"]["predictor"]
            for key in ("minReplicas", "maxReplicas", "affinity", "deploymentStrategy"):
                pred.pop(key, None)
            pred["model"].pop("resources")
            pred["model"]["runtime"] = pred["model"]["runtime"].removeprefix(prefix + "-")
            pred["serviceAccountName"] = pred["serviceAccountName"].removeprefix(prefix + "-")
        # The smoke test's reference to the prefixed InferenceService name.
        if r["kind"] == "Job":
            pod = r["spec"]["template"]["spec"]
            for env_var in pod["containers"][0]["env"]:
                if env_var["name"] == "MODEL":
                    env_var["value"] = env_var["value"].removeprefix(prefix + "-")
        out.append(r)
    return sorted(out, key=lambda r: (r["kind"], r["metadata"]["name"]))


def test_staging_and_production_differ_from_dev_only_as_documented(cli, gitops_repo: Path) -> None:
    rendered = {
        env: cli("render", env, "--repo", gitops_repo, "-o", "json").json()["items"] for env in EXPECTED
    }
    dev = _neutralise(rendered["dev"], "dev")
    assert _neutralise(rendered["staging"], "staging") == dev
    assert _neutralise(rendered["production"], "production") == dev


def test_production_adds_a_disruption_budget_and_spreads_replicas(cli, gitops_repo: Path) -> None:
    prod = cli("render", "production", "--repo", gitops_repo, "-o", "json").json()["items"]
    (pdb,) = _by_kind(prod, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    (isvc,) = _by_kind(prod, "InferenceService")
    # KServe's predictor pods carry the InferenceService's labels plus component: predictor
    # (kserve components/predictor.go buildObjectMeta); both selectors must match them, and
    # must use labels the overlay owns rather than a hard-coded prefixed name.
    pod_labels = {**isvc["metadata"]["labels"], "component": "predictor"}
    anti = isvc["spec"]["predictor"]["affinity"]["podAntiAffinity"]
    term = anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    for selector in (pdb["spec"]["selector"]["matchLabels"], term["labelSelector"]["matchLabels"]):
        assert selector.items() <= pod_labels.items()
        assert selector["llmops.io/environment"] == "production"
        assert "prod-" not in str(selector)
    for env in ("dev", "staging"):
        items = cli("render", env, "--repo", gitops_repo, "-o", "json").json()["items"]
        assert not _by_kind(items, "PodDisruptionBudget")


def test_gpu_request_equals_limit_with_matching_toleration(cli, gitops_repo: Path) -> None:
    for env in EXPECTED:
        (isvc,) = _by_kind(
            cli("render", env, "--repo", gitops_repo, "-o", "json").json()["items"], "InferenceService"
        )
        pred = isvc["spec"]["predictor"]
        res = pred["model"]["resources"]
        assert res["requests"]["nvidia.com/gpu"] == res["limits"]["nvidia.com/gpu"]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pred["tolerations"]


def test_no_credentials_are_committed(gitops_repo: Path, cli) -> None:
    for env in EXPECTED:
        items = cli("render", env, "--repo", gitops_repo, "-o", "json").json()["items"]
        assert not _by_kind(items, "Secret")


def test_render_one_application_by_name(cli, gitops_repo: Path) -> None:
    result = cli("render", "llmops-staging", "--repo", gitops_repo, "-o", "json")
    assert result.code == 0
    names = {r["metadata"]["name"] for r in result.json()["items"]}
    assert "staging-qwen25-05b-instruct" in names


def test_multi_model_repository_renders_every_application_of_an_environment(cli, tmp_path: Path) -> None:
    repo = tmp_path / "fleet"
    names = fleet.generate(ROOT, repo, models=3)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "fleet")
    items = cli("render", "staging", "--repo", repo, "-o", "json").json()["items"]
    isvcs = sorted(r["metadata"]["name"] for r in _by_kind(items, "InferenceService"))
    assert isvcs == [f"staging-{n}" for n in names]
    one = cli("render", "model-02-production", "--repo", repo, "-o", "json").json()["items"]
    assert [r["metadata"]["name"] for r in _by_kind(one, "InferenceService")] == ["prod-model-02"]
    envs = cli("envs", "--repo", repo, "-o", "json").json()
    assert [len(e["applications"]) for e in envs] == [3, 3, 3]


def test_render_several_targets_at_once_keeps_promotion_order(cli, gitops_repo: Path) -> None:
    result = cli("render", "production", "dev", "--repo", gitops_repo)
    assert result.code == 0
    assert result.out.index("# Application llmops-dev") < result.out.index("# Application llmops-production")


def test_the_kustomize_binary_can_be_overridden(cli, gitops_repo: Path, tmp_path: Path, monkeypatch) -> None:
    kubectl = shutil.which("kubectl") or str(Path(__import__("sys").executable).parent / "kubectl")
    wrapper = tmp_path / "kustomize"
    marker = tmp_path / "called"
    # a standalone-kustomize lookalike: `kustomize build DIR`
    wrapper.write_text(
        f'#!/bin/sh\n[ "$1" = build ] || exit 9\ntouch {marker}\nexec {kubectl} kustomize "$2"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("LLMOPS_KUSTOMIZE", str(wrapper))
    result = cli("render", "dev", "--repo", gitops_repo)
    assert result.code == 0, result.err
    assert marker.exists()
    assert "dev-qwen25-05b-instruct" in result.out


ROLLOUTS = {
    "dev": {"type": "Recreate"},
    "staging": {"type": "Recreate"},
    "production": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
}


@pytest.mark.parametrize("env", list(EXPECTED))
def test_each_environment_renders_what_a_real_openshift_cluster_settles(
    cli, gitops_repo: Path, env: str
) -> None:
    """The render shows issue 15's fixes: pull secret, rollout, autoscaling, stop, RBAC, release."""
    items = cli("render", env, "--repo", gitops_repo, "-o", "json").json()["items"]
    (isvc,) = _by_kind(items, "InferenceService")
    pred, annotations = isvc["spec"]["predictor"], isvc["metadata"]["annotations"]
    # the pull secret sits on the pod; no ServiceAccount lists one (OpenShift appends its own)
    assert pred["imagePullSecrets"] == [{"name": "model-registry-pull"}]
    assert all("imagePullSecrets" not in sa for sa in _by_kind(items, "ServiceAccount"))
    # one GPU per replica and no spare: a rollout that never adds a pod, a fixed size, no HPA
    assert pred["deploymentStrategy"] == ROLLOUTS[env]
    assert pred["minReplicas"] == pred["maxReplicas"]
    assert "serving.kserve.io/autoscalerClass" not in annotations  # KServe < 0.15.1 rejects "none"
    # Git owns the stop switch, so a stop by hand is drift rather than a hung sync
    assert annotations["serving.kserve.io/stop"] == "false"
    # no RBAC object comes from Git: a merged pull request cannot grant rights
    assert not [r for r in items if r["apiVersion"].startswith("rbac.authorization.k8s.io/")]
    # what runs is the promoted release; the shared runtime holds only KServe's contract flags
    (runtime,) = _by_kind(items, "ServingRuntime")
    (container,) = runtime["spec"]["containers"]
    assert container["args"] == ["--port=8080", "--model=/mnt/models", "--served-model-name={{.Name}}"]
    assert "env" not in container
    model = pred["model"]
    assert {"image", "storageUri", "args", "env"} <= set(model)
    assert {e["name"] for e in model["env"]} == {"HOME", "HF_HOME", "HF_HUB_OFFLINE"}
    # the PostSync smoke Job runs as the set-up's ServiceAccount and waits for the rollout
    (job,) = _by_kind(items, "Job")
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "llmops-smoke"
    script = pod["containers"][0]["command"][2]
    wait = 'kubectl rollout status "deployment/$MODEL-predictor"'
    assert script.index("smoke test skipped") < script.index(wait) < script.index('exec llmops "$@"')
