"""PostSync hook Jobs as local processes: the reference smoke Job adapted for this machine and listed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from testing.repos import ROOT

from llmops.engine.compare import desired_state
from llmops.engine.hooks import delete_policies, plan_hook, run_hook
from llmops.gitops.render import render_apps
from llmops.gitops.repo import Repository


@pytest.fixture(scope="module")
def smoke_job() -> dict[str, Any]:
    repo = Repository(ROOT)
    staging = next(r for r in render_apps(ROOT, repo.applications()) if r.app.environment == "staging")
    (job,) = desired_state(staging.resources, staging.app.namespace).hooks
    return job


def _local(service: str, namespace: str) -> str | None:
    if (service, namespace) == ("staging-qwen25-05b-instruct-predictor", "llmops-staging"):
        return "http://127.0.0.1:8765"
    return None


def test_the_reference_smoke_job_runs_llmops_against_the_local_endpoint(smoke_job: dict[str, Any]) -> None:
    plan = plan_hook(smoke_job, local_endpoint=_local)
    assert plan.skip_reason == "" and plan.phases == ("PostSync",)
    assert plan.delete_policies == ("BeforeHookCreation", "HookSucceeded")
    assert plan.command == (
        sys.executable, "-m", "llmops", "smoke", "--url=http://127.0.0.1:8765",
        "--model=staging-qwen25-05b-instruct", "--deadline=300", "--retries=10", "--format=text",
    )  # fmt: skip
    assert plan.attempts == 2 and plan.deadline_s == 900.0  # backoffLimit 1, activeDeadlineSeconds 900
    assert dict(plan.env) == {"MODEL": "staging-qwen25-05b-instruct", "NAMESPACE": "llmops-staging"}
    assert plan.adaptations == (
        "command /bin/sh -ec ... (the image's wrapper) not run: llmops runs with the container's args "
        "once the new configuration is Healthy",
        "env SSL_CERT_FILE=/var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt dropped: "
        "the local endpoint is plain HTTP without a service CA",
        "env HOME=/tmp not set: the hook runs as this user",
        "https://staging-qwen25-05b-instruct-predictor.llmops-staging.svc.cluster.local:8443 -> "
        "http://127.0.0.1:8765 (the environment's local endpoint)",
        "--token-file /var/run/secrets/kubernetes.io/serviceaccount/token dropped: "
        "the local endpoint needs no token",
    )


def test_hooks_that_cannot_run_here_are_skipped_with_the_reason(smoke_job: dict[str, Any]) -> None:
    other = {
        **smoke_job,
        "spec": {
            "template": {"spec": {"containers": [{"name": "x", "image": "busybox:1.36", "args": ["true"]}]}}
        },
    }
    assert (
        plan_hook(other, local_endpoint=_local).skip_reason == "its container runs busybox:1.36, not llmops"
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "annotations": {"argocd.argoproj.io/hook": "PostSync"}},
    }
    assert (
        plan_hook(pod, local_endpoint=_local).skip_reason == "only Job hooks run locally; this hook is a Pod"
    )
    assert delete_policies(pod) == ("BeforeHookCreation",)  # Argo CD's default


@pytest.mark.asyncio
async def test_a_hook_job_reports_its_log_attempts_and_job_conditions(
    smoke_job: dict[str, Any], tmp_path: Path
) -> None:
    job = {**smoke_job}
    job["spec"] = {**smoke_job["spec"], "backoffLimit": 0, "template": {"spec": {"containers": [
        {"name": "c", "image": "quay.io/x/llmops:1",
         "args": ["smoke", "--url=http://127.0.0.1:9", "--retries=0", "--deadline=1"]}
    ]}}}  # fmt: skip
    statuses: list[dict[str, Any]] = []
    result = await run_hook(
        plan_hook(job, local_endpoint=_local), "PostSync", tmp_path / "hook.log", statuses.append
    )
    assert result.status == "Failed" and result.attempts == 1 and result.exit_code == 1
    assert "BackoffLimitExceeded" in result.message and "FAIL reachable" in result.message
    assert statuses[-1]["conditions"][0]["type"] == "Failed" and statuses[-1]["failed"] == 1
