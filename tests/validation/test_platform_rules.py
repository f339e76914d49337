"""The rules that teach what a real OpenShift cluster with Argo CD and KServe would refuse or never
settle (issue 15): each one's edges, beyond the failing fixture every rule has in test_validate_rules."""

from __future__ import annotations

from pathlib import Path

from testing.repos import edit

from llmops.gitops.repo import Repository
from llmops.validation.rules import REGISTRY
from llmops.validation.runner import run
from llmops.validation.types import Finding, Severity

BASE = "deploy_model/base"
OVERLAYS = "deploy_model/overlays"
DEV_APP = "argocd/applications/llmops-dev.yaml"


def findings(repo: Path, rule: str, envs: list[str] | None = None) -> list[Finding]:
    return [f for f in run(Repository(repo), REGISTRY, environments=envs).findings if f.rule == rule]


# -- gitops.serviceaccount-pull-secrets ---------------------------------------------------------------


def _sa_pull_secret(repo: Path) -> None:
    with (repo / BASE / "serviceaccount.yaml").open("a", encoding="utf-8") as fh:
        fh.write("imagePullSecrets:\n  - name: model-registry-pull\n")


def _ignore_generated_pull_secret(repo: Path) -> None:
    edit(
        repo / DEV_APP,
        "  ignoreDifferences:\n",
        "  ignoreDifferences:\n    - kind: ServiceAccount\n      jqPathExpressions:\n"
        "        - '.imagePullSecrets[] | select(.name | contains(\"-dockercfg-\"))'\n",
    )


def test_ignoring_exactly_the_generated_pull_secret_settles(gitops_repo: Path) -> None:
    _sa_pull_secret(gitops_repo)
    _ignore_generated_pull_secret(gitops_repo)
    assert not findings(gitops_repo, "gitops.serviceaccount-pull-secrets", ["dev"])


def test_an_ignore_without_respect_ignore_differences_still_fights_the_platform(gitops_repo: Path) -> None:
    _sa_pull_secret(gitops_repo)
    _ignore_generated_pull_secret(gitops_repo)
    edit(gitops_repo / DEV_APP, "      - RespectIgnoreDifferences=true\n", "      - PruneLast=true\n")
    (f,) = findings(gitops_repo, "gitops.serviceaccount-pull-secrets", ["dev"])
    assert "RespectIgnoreDifferences=true" in f.message and "appends it again" in f.message


def test_pull_secrets_on_a_plain_kubernetes_serviceaccount_outside_openshift_are_fine(
    gitops_repo: Path,
) -> None:
    _sa_pull_secret(gitops_repo)
    for app in ("dev", "staging", "production"):
        edit(gitops_repo / f"argocd/applications/llmops-{app}.yaml", "openshift-gitops", "argocd")
    edit(gitops_repo / "argocd/kustomization.yaml", "openshift-gitops", "argocd")
    for file in (gitops_repo / "deploy_model").rglob("*.yaml"):
        file.write_text(file.read_text().replace("openshift.io/display-name", "example.com/display-name"))
    assert not findings(gitops_repo, "gitops.serviceaccount-pull-secrets", ["dev"])


# -- gitops.stop-with-hooks ---------------------------------------------------------------------------


def test_a_model_stopped_in_git_with_a_postsync_hook_is_an_error(gitops_repo: Path) -> None:
    edit(
        gitops_repo / BASE / "inferenceservice.yaml",
        'serving.kserve.io/stop: "false"',
        'serving.kserve.io/stop: "true"',
    )
    found = findings(gitops_repo, "gitops.stop-with-hooks", ["staging"])
    assert [(f.severity, f.file) for f in found] == [(Severity.error, f"{BASE}/inferenceservice.yaml")]
    assert "PostSync hook Job/staging-qwen25-05b-instruct-smoke" in found[0].message
    assert "every sync of llmops-staging hangs" in found[0].message


def test_an_undeclared_stop_annotation_is_a_warning(gitops_repo: Path) -> None:
    edit(gitops_repo / BASE / "inferenceservice.yaml", '    serving.kserve.io/stop: "false"\n', "")
    (f,) = findings(gitops_repo, "gitops.stop-with-hooks", ["production"])
    assert f.severity == Severity.warning and "not drift Argo CD undoes" in f.message


def test_stopping_through_the_component_drops_the_hook_and_passes(gitops_repo: Path, cli) -> None:
    edit(
        gitops_repo / OVERLAYS / "staging/kustomization.yaml",
        "resources:\n  - ../../base\n",
        "resources:\n  - ../../base\n\ncomponents:\n  - ../../components/stopped\n",
    )
    items = cli("render", "staging", "--repo", gitops_repo, "-o", "json").json()["items"]
    (isvc,) = [r for r in items if r["kind"] == "InferenceService"]
    assert isvc["metadata"]["annotations"]["serving.kserve.io/stop"] == "true"
    assert not [r for r in items if r["kind"] == "Job"]
    report = run(Repository(gitops_repo), REGISTRY, environments=["staging"])
    assert report.exit_code == 0
    assert not [f for f in report.findings if f.rule == "gitops.stop-with-hooks"]


# -- project.rbac-kinds and project.create-namespace ---------------------------------------------------


def test_a_project_without_a_namespaced_whitelist_allows_rbac(gitops_repo: Path) -> None:
    project = gitops_repo / "argocd/project.yaml"
    text = project.read_text()
    start = text.index("  namespaceResourceWhitelist:")
    end = text.index("  roles:")
    project.write_text(text[:start] + text[end:])
    found = findings(gitops_repo, "project.rbac-kinds", [])
    assert [f.message.split(" has no")[0] for f in found] == ["AppProject llmops"] * 2
    assert all("has no namespaceResourceWhitelist" in f.message for f in found)


def test_cluster_wide_rbac_kinds_allowed_by_a_glob_are_reported(gitops_repo: Path) -> None:
    edit(
        gitops_repo / "argocd/project.yaml",
        "  clusterResourceWhitelist: []\n",
        "  clusterResourceWhitelist:\n    - group: rbac.authorization.k8s.io\n      kind: 'Cluster*'\n",
    )
    kinds = {
        f.message.split(" allows ")[1].split(":")[0] for f in findings(gitops_repo, "project.rbac-kinds", [])
    }
    assert kinds == {"ClusterRole", "ClusterRoleBinding"}


def test_a_blacklisted_kind_is_not_allowed_even_when_whitelisted(gitops_repo: Path) -> None:
    edit(
        gitops_repo / "argocd/project.yaml",
        "    - group: batch\n      kind: Job\n",
        "    - group: batch\n      kind: Job\n"
        "    - group: rbac.authorization.k8s.io\n      kind: RoleBinding\n"
        "  namespaceResourceBlacklist:\n    - group: rbac.authorization.k8s.io\n      kind: '*'\n",
    )
    assert not findings(gitops_repo, "project.rbac-kinds", [])


def test_create_namespace_with_namespaces_whitelisted_on_purpose_passes(gitops_repo: Path) -> None:
    edit(gitops_repo / DEV_APP, "    syncOptions:\n", "    syncOptions:\n      - CreateNamespace=true\n")
    (f,) = findings(gitops_repo, "project.create-namespace", [])
    assert "resource :Namespace is not permitted in project llmops" in f.message
    edit(
        gitops_repo / "argocd/project.yaml",
        "  clusterResourceWhitelist: []\n",
        "  clusterResourceWhitelist:\n    - group: ''\n      kind: Namespace\n      name: llmops-*\n",
    )
    assert not findings(gitops_repo, "project.create-namespace", [])


# -- serving.rollout-surge and serving.gpu-autoscaling --------------------------------------------------


def test_an_explicit_surge_is_a_warning_and_zero_surge_passes(gitops_repo: Path) -> None:
    prod = gitops_repo / OVERLAYS / "production/environment.yaml"
    edit(prod, "maxSurge: 0", "maxSurge: 1")
    (f,) = findings(gitops_repo, "serving.rollout-surge", ["production"])
    assert (
        f.severity == Severity.warning and "maxSurge 1" in f.message and "1 more nvidia.com/gpu" in f.message
    )
    edit(prod, "maxSurge: 1", "maxSurge: '50%'")  # of 2 replicas: one more pod
    (f,) = findings(gitops_repo, "serving.rollout-surge", ["production"])
    assert "1 extra pod(s)" in f.message


def test_knative_deployments_are_not_judged_by_raw_deployment_rules(gitops_repo: Path) -> None:
    edit(
        gitops_repo / OVERLAYS / "dev/environment.yaml", "    deploymentStrategy:\n      type: Recreate\n", ""
    )
    edit(gitops_repo / OVERLAYS / "dev/environment.yaml", "maxReplicas: 1", "maxReplicas: 3")
    assert findings(gitops_repo, "serving.rollout-surge", ["dev"])
    assert findings(gitops_repo, "serving.gpu-autoscaling", ["dev"])
    edit(
        gitops_repo / BASE / "inferenceservice.yaml",
        "deploymentMode: RawDeployment",
        "deploymentMode: Serverless",
    )
    assert not findings(gitops_repo, "serving.rollout-surge", ["dev"])
    assert not findings(gitops_repo, "serving.gpu-autoscaling", ["dev"])


def _autoscaler_class(repo: Path, klass: str) -> None:
    edit(
        repo / BASE / "inferenceservice.yaml",
        "    serving.kserve.io/deploymentMode: RawDeployment\n",
        "    serving.kserve.io/deploymentMode: RawDeployment\n"
        f"    serving.kserve.io/autoscalerClass: {klass}\n",
    )


def _autoscaled_production(repo: Path, metrics: str) -> None:
    prod = repo / OVERLAYS / "production/environment.yaml"
    edit(prod, "maxReplicas: 2", "maxReplicas: 4")
    edit(prod, "    deploymentStrategy:\n", metrics + "    deploymentStrategy:\n")


def test_scaling_on_vllm_metrics_with_keda_passes_and_an_explicit_cpu_metric_warns(gitops_repo: Path) -> None:
    _autoscaler_class(gitops_repo, "keda")
    _autoscaled_production(
        gitops_repo,
        "    autoScaling:\n      metrics:\n        - type: External\n"
        "          external:\n            metric:\n"
        "              backend: prometheus\n              query: sum(vllm:num_requests_waiting)\n"
        '            target:\n              type: Value\n              value: "4"\n',
    )
    assert not findings(gitops_repo, "serving.gpu-autoscaling", ["production"])
    edit(
        gitops_repo / OVERLAYS / "production/environment.yaml",
        "- type: External",
        "- type: Resource\n          resource:\n            name: cpu",
    )
    (f,) = findings(gitops_repo, "serving.gpu-autoscaling", ["production"])
    assert f.severity == Severity.warning and "from 2 to 4 replicas on its cpu signal" in f.message


def test_no_autoscaler_means_no_finding_whatever_the_range(gitops_repo: Path) -> None:
    _autoscaled_production(gitops_repo, "")
    assert findings(gitops_repo, "serving.gpu-autoscaling", ["production"])  # KServe's CPU HPA
    _autoscaler_class(gitops_repo, "none")
    assert not findings(gitops_repo, "serving.gpu-autoscaling", ["production"])


# -- gitops.release-in-base ---------------------------------------------------------------------------


def test_the_serving_image_and_environment_from_the_base_are_reported(gitops_repo: Path) -> None:
    release = gitops_repo / OVERLAYS / "production/release.yaml"
    text = release.read_text()
    image_line = next(line for line in text.splitlines(keepends=True) if "image: quay.io/modh/vllm" in line)
    release.write_text(text.replace(image_line, ""))
    edit(
        gitops_repo / BASE / "servingruntime.yaml",
        "      ports:\n",
        "      env:\n        - name: VLLM_LOGGING_LEVEL\n          value: DEBUG\n      ports:\n",
    )
    found = findings(gitops_repo, "gitops.release-in-base")
    assert {f.environment for f in found} == {"production"}
    messages = " ".join(f.message for f in found)
    assert "the serving image" in messages and "the environment variable VLLM_LOGGING_LEVEL" in messages
    assert "which dev and staging also read" in messages
    assert all(f.file == f"{BASE}/servingruntime.yaml" for f in found)


def test_a_production_pinned_to_a_tag_may_share_its_base(gitops_repo: Path) -> None:
    edit(
        gitops_repo / BASE / "servingruntime.yaml",
        "        - --served-model-name={{.Name}}\n",
        "        - --served-model-name={{.Name}}\n        - --enable-prefix-caching\n",
    )
    assert findings(gitops_repo, "gitops.release-in-base")
    edit(
        gitops_repo / "argocd/applications/llmops-production.yaml",
        "targetRevision: main",
        "targetRevision: v1.4.0",
    )
    assert not findings(gitops_repo, "gitops.release-in-base")
