"""`llmops bootstrap` on a fake OpenShift: prerequisites, server-side apply, idempotence, customizations."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kmock
import pytest
from testing import argocd, kube
from testing.argocd import APPLICATIONS, APPPROJECTS, ARGOCDS, NS
from testing.cli import CliResult
from testing.repos import commit, edit

from llmops.cluster import customize
from llmops.gitops import manifests

Cli = Callable[..., CliResult]


def _persisted(api: kube.FakeCluster) -> list[kmock.Request]:
    """Writes that change the cluster (server-side dry runs excluded)."""
    return [r for r in api.writes() if r.params.get("dryRun") != "All"]


def _expected_objects(repo: Path) -> list[tuple[str, str]]:
    from llmops.gitops.render import render_paths

    rendered = render_paths(repo, ["setup", "argocd"])
    return [(o["kind"], o["metadata"]["name"]) for o in rendered["setup"] + rendered["argocd"]]


def test_dry_run_prints_every_object_and_writes_nothing(
    cluster: kube.Running, our_repo: Path, cli: Cli
) -> None:
    result = cli("bootstrap", "--dry-run", "--repo", our_repo)
    assert result.code == 0, result.err
    assert "(dry run: nothing is written)" in result.out
    for kind, name in _expected_objects(our_repo):
        assert f"+ create    {kind}/{name}" in result.out
    assert "~ update    ArgoCD/openshift-gitops" in result.out
    assert "+  name: llmops-dev" in result.out and "+      - llmops-developers" not in result.out
    assert "+    kind: ServingRuntime" in result.out  # the customizations' diff shows the new health check
    assert _persisted(cluster.api) == []
    assert cluster.api.get(APPPROJECTS, NS, "llmops") is None


def test_bootstrap_applies_with_a_field_manager_and_a_second_run_changes_nothing(
    cluster: kube.Running, our_repo: Path, cli: Cli
) -> None:
    first = cli("bootstrap", "--repo", our_repo)
    assert first.code == 0, first.err
    applies = [
        r for r in _persisted(cluster.api) if r.headers["Content-Type"] == "application/apply-patch+yaml"
    ]
    assert {(r.params["fieldManager"], r.params.get("force")) for r in applies} == {("llmops", None)}
    applied = [(r.data["kind"], r.data["metadata"]["name"]) for r in applies]
    assert sorted(applied) == sorted(_expected_objects(our_repo))
    app = next(
        r.data
        for r in applies
        if r.data["kind"] == "Application" and r.data["metadata"]["name"] == "llmops-dev"
    )
    assert app == _rendered_app(our_repo, "llmops-dev")  # exactly the manifest from Git
    assert app["metadata"]["namespace"] == NS
    assert cluster.api.get(APPLICATIONS, NS, "llmops-production") is not None

    before = len(_persisted(cluster.api))
    second = cli("bootstrap", "--repo", our_repo)
    assert second.code == 0
    everything = len(applied) + 1  # and the ArgoCD instance, whose customizations bootstrap patches
    assert f"nothing to change: all {everything} objects are up to date" in second.out
    assert len(_persisted(cluster.api)) == before  # only server-side dry runs the second time


def _rendered_app(repo: Path, name: str) -> dict[str, Any]:
    from llmops.gitops.render import render_paths

    (found,) = [o for o in render_paths(repo, ["argocd"])["argocd"] if o["metadata"]["name"] == name]
    return found


def test_customizations_are_appended_to_the_argocd_instance(
    cluster: kube.Running, our_repo: Path, cli: Cli
) -> None:
    assert cli("bootstrap", "--repo", our_repo).code == 0
    (patch,) = [r for r in _persisted(cluster.api) if r.url.path.endswith("/argocds/openshift-gitops")]
    assert patch.headers["Content-Type"] == "application/json-patch+json"
    assert patch.data[0]["op"] == "test" and patch.data[0]["path"] == "/metadata/resourceVersion"
    added = [op for op in patch.data if op["path"] == "/spec/resourceHealthChecks/-"]
    assert [(op["value"]["group"], op["value"]["kind"]) for op in added] == [
        ("serving.kserve.io", "InferenceService"), ("serving.kserve.io", "ServingRuntime"),
    ]  # fmt: skip
    instance = cluster.api.get(ARGOCDS, NS, "openshift-gitops")
    assert instance is not None
    spec = instance["spec"]
    kinds = [c["kind"] for c in spec["resourceHealthChecks"]]
    assert kinds == ["Rollout", "InferenceService", "ServingRuntime"]  # the instance's own check stays
    lua = (our_repo / "argocd/health/inferenceservice.lua").read_text(encoding="utf-8")
    assert spec["resourceHealthChecks"][1]["check"] == lua
    policy = spec["rbac"]["policy"]
    assert policy.startswith("g, system:cluster-admins, role:admin\ng, cluster-admins, role:admin\n")
    assert "p, role:llmops-developer, applications, sync, llmops/llmops-staging, allow" in policy
    block = policy.split(customize.BEGIN)[1].split(customize.END)[0].strip().splitlines()
    developer = [line.split(", ") for line in block if line.startswith("p, role:llmops-developer")]
    changes = [fields[3:5] for fields in developer if fields[3] in ("sync", "rollback")]
    assert sorted({target for _, target in changes}) == ["llmops/llmops-dev", "llmops/llmops-staging"]
    assert "p, role:llmops-admin, applications, *, llmops/*, allow" in block
    assert spec["controller"] == {"resources": {"limits": {"cpu": "2", "memory": "2Gi"}}, "appSync": "3m"}


def test_changed_customizations_replace_only_what_llmops_wrote(
    cluster: kube.Running, our_repo: Path, cli: Cli
) -> None:
    assert cli("bootstrap", "--repo", our_repo).code == 0
    edit(our_repo / "argocd/customizations/argocd-customizations.yaml", "appSync: 3m", "appSync: 90s")
    edit(our_repo / "argocd/customizations/servingruntime.lua", "KServe keeps no status", "no status")
    commit(our_repo, "Poll faster")
    assert cli("bootstrap", "--repo", our_repo).code == 0
    instance = cluster.api.get(ARGOCDS, NS, "openshift-gitops")
    assert instance is not None
    checks = instance["spec"]["resourceHealthChecks"]
    assert [c["kind"] for c in checks] == [
        "Rollout",
        "InferenceService",
        "ServingRuntime",
    ]  # replaced in place
    assert "ServingRuntime exists (no status for runtimes)" in checks[2]["check"]
    assert instance["spec"]["rbac"]["policy"].count(customize.BEGIN) == 1
    assert instance["spec"]["controller"]["appSync"] == "90s"


def test_a_health_check_someone_else_wrote_is_left_alone_unless_forced(
    cluster: kube.Running, our_repo: Path, cli: Cli
) -> None:
    instance = cluster.api.get(ARGOCDS, NS, "openshift-gitops")
    assert instance is not None
    theirs = {"group": "serving.kserve.io", "kind": "InferenceService", "check": "return {status='Healthy'}"}
    instance["spec"]["resourceHealthChecks"].append(theirs)
    cluster.api.objects[ARGOCDS, NS, "openshift-gitops"] = instance
    result = cli("bootstrap", "--repo", our_repo)
    assert result.code == 0
    assert "has a health check for serving.kserve.io/InferenceService that llmops did not write" in result.out
    kept = cluster.api.get(ARGOCDS, NS, "openshift-gitops")
    assert kept is not None and theirs in kept["spec"]["resourceHealthChecks"]
    assert cli("bootstrap", "--repo", our_repo, "--force-conflicts").code == 0
    forced = cluster.api.get(ARGOCDS, NS, "openshift-gitops")
    assert forced is not None and theirs not in forced["spec"]["resourceHealthChecks"]


def test_missing_prerequisites_are_listed_and_nothing_is_applied(
    tmp_path: Path, our_repo: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    with kube.running() as running:  # OpenShift AI is there; OpenShift GitOps and the GPU operator are not
        argocd.openshift(
            running.api, gpu=False, crds=tuple(c for c in argocd.OPERATOR_CRDS if "argoproj" not in c)
        )
        monkeypatch.setenv("KUBECONFIG", str(kube.write_kubeconfig(tmp_path / "kubeconfig", running.url)))
        result = cli("bootstrap", "--repo", our_repo)
        writes = _persisted(running.api)
    assert result.code == 1
    out = " ".join(result.out.split())
    assert ("MISSING openshift-gitops missing CRDs: applications.argoproj.io, appprojects.argoproj.io, "
            "argocds.argoproj.io") in out  # fmt: skip
    assert "hint: install the Red Hat OpenShift GitOps operator" in out
    assert "warning gpu no node is labelled nvidia.com/gpu.present=true" in out
    assert "ok kserve" in out and "ok openshift-ai" in out
    assert "nothing applied: 1 prerequisite(s) missing" in out
    assert writes == []


def test_missing_rights_are_named_exactly(cluster: kube.Running, our_repo: Path, cli: Cli) -> None:
    cluster.api.access.tokens = {"sha256~fake-token": "developer"}
    cluster.api.access.denied = {
        ("developer", "create", "namespaces", "*"),
        ("developer", "patch", "argocds", "*"),
    }
    result = cli("bootstrap", "--repo", our_repo, "-o", "json")
    assert result.code == 1
    rights = next(c for c in result.json()["checks"] if c["name"] == "rights")
    assert (
        rights["detail"]
        == "cannot create namespaces (cluster scope); patch argocds.argoproj.io in openshift-gitops"
    )
    assert _persisted(cluster.api) == []


def test_a_gpu_product_no_node_has_is_a_warning(cluster: kube.Running, our_repo: Path, cli: Cli) -> None:
    edit(
        our_repo / "deploy_model/base/inferenceservice.yaml",
        "gpu.product: NVIDIA-L4",
        "gpu.product: NVIDIA-A100-SXM4-80GB",
    )
    commit(our_repo, "Serve on A100s")
    result = cli("bootstrap", "--dry-run", "--repo", our_repo, "-o", "json")
    gpu = [c for c in result.json()["checks"] if c["name"] == "gpu" and not c["ok"]]
    assert [c["detail"] for c in gpu] == [
        "dev, production, staging select nvidia.com/gpu.product=NVIDIA-A100-SXM4-80GB, which no node has "
        "(GPU nodes have: NVIDIA-L4)"
    ]


def test_the_placeholder_repository_url_blocks_bootstrap(
    cluster: kube.Running, gitops_repo: Path, cli: Cli
) -> None:
    result = cli("bootstrap", "--repo", gitops_repo)
    assert result.code == 1
    assert "https://github.com/your-org/llmops.git, the reference's placeholder" in " ".join(
        result.out.split()
    )
    assert _persisted(cluster.api) == []


def test_repository_credentials_from_standard_input_become_a_secret_never_shown(
    cluster: kube.Running, our_repo: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    token = "ghp_0123456789abcdefSECRET"
    monkeypatch.setattr("sys.stdin", io.StringIO(f"username: robot\npassword: {token}\n"))
    result = cli("bootstrap", "--dry-run", "--repo-credentials-file", "-", "--repo", our_repo)
    assert result.code == 0, result.err
    assert "+ create    Secret/llmops-repository" in result.out
    assert token not in result.out + result.err and "<redacted>" in result.out
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"username": "robot", "password": token})))
    assert cli("bootstrap", "--repo-credentials-file", "-", "--repo", our_repo).code == 0
    secret = cluster.api.get("v1/secrets", NS, "llmops-repository")
    assert secret is not None
    assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
    assert secret["stringData"] == {"type": "git", "url": "https://github.com/acme/llmops-gitops.git",
                                    "username": "robot", "password": token}  # fmt: skip


def test_an_existing_repository_secret_must_be_labelled(
    cluster: kube.Running, our_repo: Path, cli: Cli
) -> None:
    cluster.api.add("v1/secrets", {"apiVersion": "v1", "kind": "Secret",
                                   "metadata": {"name": "git-credentials", "namespace": NS}})  # fmt: skip
    result = cli("bootstrap", "--dry-run", "--repo-secret", "git-credentials", "--repo", our_repo)
    assert result.code == 1
    text = " ".join(result.out.split())
    assert (
        "Secret git-credentials in openshift-gitops: not labelled argocd.argoproj.io/secret-type=repository"
        in text
    )
    assert (
        "oc label secret git-credentials -n openshift-gitops argocd.argoproj.io/secret-type=repository"
        in text
    )


def test_credentials_without_a_password_are_refused(tmp_path: Path, our_repo: Path, cli: Cli,
                                                     cluster: kube.Running) -> None:  # fmt: skip
    creds = tmp_path / "creds.yaml"
    creds.write_text("username: robot\n", encoding="utf-8")
    result = cli("bootstrap", "--repo-credentials-file", creds, "--repo", our_repo)
    assert result.code == 2 and f"{creds} holds no usable credentials" in result.err


def test_bootstrap_json_lists_checks_and_changes(cluster: kube.Running, our_repo: Path, cli: Cli) -> None:
    data = cli("bootstrap", "--dry-run", "-o", "json", "--repo", our_repo).json()
    assert data["dry_run"] is True and data["applied"] is False
    names = {c["name"] for c in data["checks"]}
    assert names == {"login", "openshift-gitops", "kserve", "openshift-ai", "gpu", "rights"}
    assert len(data["changes"]) == len(_expected_objects(our_repo)) + 1  # + the ArgoCD instance
    ns = next(c for c in data["changes"] if c["kind"] == "Namespace" and c["name"] == "llmops-prod")
    assert manifests.parse_documents("\n".join(
        line[1:] for line in ns["diff"].splitlines()[2:] if line.startswith("+")
    ))[0]["metadata"]["labels"]["opendatahub.io/dashboard"] == "true"  # fmt: skip
