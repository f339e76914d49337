"""Health as Argo CD judges it: the repository's own Lua check (real Lua 5.1) on the KServe-shaped
status the engine writes from its processes, the built-in Job check, and the Application's verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from testing.repos import ROOT

from llmops.engine.health import Health, HealthChecks, LuaCheck, application_health, job_health
from llmops.engine.kserve_local import TranslationError
from llmops.engine.kserve_status import ReplicaView, kserve_status
from llmops.engine.store import ResourceKey, now_rfc3339
from llmops.gitops.config import EngineConfig

pytest.importorskip("lupa.lua51", reason="lupa (Lua 5.1) is needed for Argo CD health checks")

# The Lua check compares transition times with the clock (its progress deadline): use the real now.
NOW = now_rfc3339()
ISVC_KEY = ResourceKey("serving.kserve.io", "InferenceService", "llmops-dev", "dev-qwen25-05b-instruct")


@pytest.fixture(scope="module")
def checks() -> HealthChecks:
    found = HealthChecks(ROOT, EngineConfig().health_checks)
    assert found.problems == []
    return found


def _isvc(status: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": ISVC_KEY.name, "annotations": annotations or {}}, "status": status,
    }  # fmt: skip


def _status(
    *replicas: ReplicaView, wanted: int = 1, previous: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    return kserve_status(
        replicas=replicas, wanted=wanted, url="http://127.0.0.1:9000", previous=previous or {}, now=NOW, **kw
    )


def test_a_starting_process_is_progressing_and_a_ready_one_healthy(checks: HealthChecks) -> None:
    starting = checks.resource(ISVC_KEY, _isvc(_status(ReplicaView(state="Starting"))))
    assert starting == Health("Progressing", starting.message if starting else "")
    assert starting is not None and "PredictorReady=False (MinimumReplicasUnavailable)" in starting.message
    ready_status = _status(ReplicaView(state="Ready"))
    assert checks.resource(ISVC_KEY, _isvc(ready_status)) == Health("Healthy", "InferenceService is healthy.")
    assert ready_status["modelStatus"]["transitionStatus"] == "UpToDate"
    assert ready_status["url"] == "http://127.0.0.1:9000"


def test_a_crashed_process_in_back_off_is_degraded_with_vllms_own_error(checks: HealthChecks) -> None:
    error = (
        "vLLM exited with code 1: ValueError: User-specified max_model_len (8192) is greater than "
        "the derived max_model_len (2048)"
    )
    crashed = ReplicaView(
        state="BackOff", exit_code=1, last_error=error, failed_at=NOW, name="dev-qwen25-05b-instruct-0"
    )
    status = _status(crashed, revision="r1")
    assert status["modelStatus"]["lastFailureInfo"] == {
        "location": "dev-qwen25-05b-instruct-0", "reason": "ModelLoadFailed", "message": error, "time": NOW,
        "exitCode": 1, "modelRevisionName": "r1",
    }  # fmt: skip
    health = checks.resource(ISVC_KEY, _isvc(status))
    assert health == Health("Degraded", f"Model failed to load (BlockedByFailedLoad: {error})")
    # Restarted, starting again: KServe reports InProgress and keeps the failure; the repository's
    # check reads that as a crash loop: still Degraded, with vLLM's error.
    again = _status(ReplicaView(state="Starting"), previous=status, revision="r1")
    assert again["modelStatus"]["transitionStatus"] == "InProgress"
    assert again["modelStatus"]["lastFailureInfo"]["message"] == error
    assert checks.resource(ISVC_KEY, _isvc(again)) == Health(
        "Degraded", f"Model failed to load (ModelLoadFailed: {error})"
    )
    # Ready again: Healthy (the failure stays on record, as on KServe).
    ready = _status(ReplicaView(state="Ready"), previous=again, revision="r1")
    assert checks.resource(ISVC_KEY, _isvc(ready)) == Health("Healthy", "InferenceService is healthy.")
    # A new configuration starts as new pods do, without the old one's failure: Progressing, so a
    # sync that waits for health does not fail on a crash of the revision it replaces.
    fixed = _status(ReplicaView(state="Starting"), previous=ready, revision="r2")
    assert "lastFailureInfo" not in fixed["modelStatus"]
    assert checks.resource(ISVC_KEY, _isvc(fixed)).status == "Progressing"  # type: ignore[union-attr]


def test_a_spec_that_cannot_run_here_is_degraded_and_a_stopped_one_suspended(checks: HealthChecks) -> None:
    invalid = _status(
        wanted=0, invalid=TranslationError("dev: no ServingRuntime supports it", reason="NoSupportingRuntime")
    )
    assert checks.resource(ISVC_KEY, _isvc(invalid)) == Health(
        "Degraded", "Model failed to load (InvalidSpec: dev: no ServingRuntime supports it)"
    )
    stopped = _status(wanted=0, stopped=True)
    assert checks.resource(ISVC_KEY, _isvc(stopped, {"serving.kserve.io/stop": "true"})).status == "Suspended"  # type: ignore[union-attr]


def test_condition_times_move_only_when_the_condition_flips() -> None:
    first = kserve_status(
        replicas=[ReplicaView(state="Starting")], wanted=1, url="", previous={}, now="2026-11-27T10:00:00Z"
    )
    later = kserve_status(
        replicas=[ReplicaView(state="Starting")], wanted=1, url="", previous=first, now="2026-11-27T10:05:00Z"
    )
    ready = kserve_status(
        replicas=[ReplicaView(state="Ready")], wanted=1, url="", previous=later, now="2026-11-27T10:06:00Z"
    )
    times = lambda s: {c["type"]: c["lastTransitionTime"] for c in s["conditions"]}  # noqa: E731
    assert times(later)["Ready"] == "2026-11-27T10:00:00Z"
    assert (
        times(ready)["Ready"] == "2026-11-27T10:06:00Z"
        and times(ready)["IngressReady"] == "2026-11-27T10:00:00Z"
    )


def test_job_health_follows_argo_cd() -> None:
    def job(*conditions: dict[str, str]) -> dict[str, Any]:
        return {"kind": "Job", "status": {"conditions": list(conditions)}}

    assert job_health(job()).status == "Progressing"
    assert job_health(job({"type": "Complete", "status": "True"})).status == "Healthy"
    assert job_health(job({"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"})) == Health(
        "Degraded", "BackoffLimitExceeded"
    )


def test_the_application_takes_its_least_healthy_resource_in_argo_cds_order() -> None:
    a, b, c = (ResourceKey("", "X", "ns", n) for n in "abc")
    assert application_health([(a, True, Health("Healthy")), (b, True, None)]) == Health("Healthy", "")
    assert application_health(
        [(a, True, Health("Progressing", "loading")), (b, True, Health("Suspended"))]
    ) == Health("Progressing", "X/a: loading")
    assert (
        application_health([(a, True, Health("Degraded", "boom")), (b, True, Health("Unknown", "?"))]).status
        == "Unknown"
    )
    # Missing resources show in OutOfSync, not in health; with nothing live at all the app is Missing.
    assert (
        application_health([(a, True, Health("Healthy")), (b, False, Health("Missing"))]).status == "Healthy"
    )
    assert (
        application_health([(a, False, Health("Missing")), (c, False, Health("Missing"))]).status == "Missing"
    )


def test_lua_checks_run_sandboxed_and_bounded(tmp_path: Path) -> None:
    escape = LuaCheck(
        'return {status = tostring(io) .. tostring(os.execute) .. tostring(python), message = ""}', "x.lua"
    )
    assert escape({}) == Health("Unknown", "x.lua returned an unknown status 'nilnilnil'")
    loop = LuaCheck("while true do end", "loop.lua")
    result = loop({})
    assert result.status == "Unknown" and result.message == "loop.lua: the health check ran longer than 1 s"
    (tmp_path / "argocd").mkdir()
    (tmp_path / "argocd" / "bad.lua").write_text("return {")
    from llmops.gitops.config import HealthCheckFile

    found = HealthChecks(
        tmp_path,
        [
            HealthCheckFile(group="g", kind="K", file="argocd/bad.lua"),
            HealthCheckFile(group="g", kind="L", file="../outside.lua"),
        ],
    )
    assert [p.split(":")[0] for p in found.problems] == [
        "argocd/bad.lua is not valid Lua",
        "health check ../outside.lua for L does not exist",
    ]
