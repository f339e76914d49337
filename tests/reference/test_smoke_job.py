"""The Argo CD PostSync smoke Job, its identity, and the llmops image it runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from testing.repos import ROOT

ENVS = {
    "dev": ("dev", "llmops-dev"),
    "staging": ("staging", "llmops-staging"),
    "production": ("prod", "llmops-prod"),
}


def _one(resources: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    (found,) = [r for r in resources if r["kind"] == kind and r["metadata"]["name"].endswith(suffix)]
    return found


def _expand(arg: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of container args."""
    return re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg)


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
    # the Job's ServiceAccount may `get` exactly this InferenceService, nothing else
    sa = pod["serviceAccountName"]
    binding = _one(items, "RoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}]
    role = _one(items, "Role")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert role["rules"] == [
        {
            "apiGroups": ["serving.kserve.io"],
            "resources": ["inferenceservices"],
            "resourceNames": [isvc_name],
            "verbs": ["get"],
        }
    ]
    assert sa in {r["metadata"]["name"] for r in items if r["kind"] == "ServiceAccount"}
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


def test_the_app_project_lets_argo_cd_create_the_smoke_jobs_rbac(cli, gitops_repo: Path) -> None:
    project = yaml.safe_load((gitops_repo / "argocd" / "project.yaml").read_text())
    allowed = {(w["group"], w["kind"]) for w in project["spec"]["namespaceResourceWhitelist"]}
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
