"""The Argo CD InferenceService health check (argocd/health/), run in a real Lua 5.1 VM.

Argo CD runs health checks in gopher-lua (Lua 5.1); lupa's lua51 runtime is the closest
interpreter on PyPI. ``os.time()`` is pinned to a chosen "now" so deadlines are testable.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from testing.repos import ROOT

lupa = pytest.importorskip("lupa.lua51", reason="lupa (Lua 5.1 runtime) is not installed")

HEALTH = ROOT / "argocd" / "health"
SCRIPT = (HEALTH / "inferenceservice.lua").read_text()


def _stamp(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _latest_transition(obj: dict[str, Any]) -> float:
    stamps = [c["lastTransitionTime"] for c in (obj.get("status") or {}).get("conditions", [])]
    return max((_stamp(s) for s in stamps), default=datetime.now(UTC).timestamp())


def check(obj: dict[str, Any], now: float) -> tuple[str, str]:
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    pin = f"if t == nil then return {int(now)} end return real(t)"
    lua.execute(f"local real = os.time\nos.time = function(t) {pin} end")
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(SCRIPT)
    return str(result["status"]), str(result["message"])


def _fixtures(shared: Path) -> list[tuple[str, str, dict[str, Any]]]:
    base = shared / "peer-tests" / "argocd-isvc-health"
    cases = yaml.safe_load((base / "health_test.yaml").read_text())["tests"]
    return [
        (c["inputPath"], c["healthStatus"]["status"], yaml.safe_load((base / c["inputPath"]).read_text()))
        for c in cases
    ]


def test_upstream_argocd_fixtures_get_the_same_status(shared_dir: Path) -> None:
    """Argo CD's own fixtures, evaluated a minute after their last transition."""
    for name, expected, obj in _fixtures(shared_dir):
        status, message = check(obj, _latest_transition(obj) + 60)
        assert status == expected, f"{name}: {status} ({message})"


def _crashlooping_raw_deployment() -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": "prod-qwen25-05b-instruct",
            "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"},
        },
        "status": {
            "conditions": [
                {"type": "IngressReady", "status": "True", "lastTransitionTime": "2026-11-20T10:00:00Z"},
                {
                    "type": "PredictorReady",
                    "status": "False",
                    "reason": "MinimumReplicasUnavailable",
                    "message": "Deployment does not have minimum availability.",
                    "lastTransitionTime": "2026-11-20T10:00:00Z",
                },
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "MinimumReplicasUnavailable",
                    "message": "Deployment does not have minimum availability.",
                    "lastTransitionTime": "2026-11-20T10:00:00Z",
                },
            ],
            "modelStatus": {"transitionStatus": "InProgress"},
        },
    }


def test_crash_looping_raw_deployment_becomes_degraded_after_the_deadline() -> None:
    obj = _crashlooping_raw_deployment()
    start = _stamp("2026-11-20T10:00:00Z")
    assert check(obj, start + 120)[0] == "Progressing"  # still loading: give it time
    status, message = check(obj, start + 30 * 60)
    assert status == "Degraded"
    assert "Not ready for 30 min" in message and "MinimumReplicasUnavailable" in message


def test_the_deadline_is_configurable_per_inference_service() -> None:
    obj = _crashlooping_raw_deployment()
    obj["metadata"]["annotations"]["llmops.io/progress-deadline-seconds"] = "3600"
    start = _stamp("2026-11-20T10:00:00Z")
    assert check(obj, start + 30 * 60)[0] == "Progressing"
    assert check(obj, start + 61 * 60)[0] == "Degraded"


def test_failed_model_load_is_degraded_with_the_reason() -> None:
    obj = copy.deepcopy(_crashlooping_raw_deployment())
    obj["status"]["modelStatus"] = {
        "transitionStatus": "BlockedByFailedLoad",
        "lastFailureInfo": {"reason": "ModelLoadFailed", "message": "CUDA out of memory"},
    }
    status, message = check(obj, _stamp("2026-11-20T10:01:00Z"))
    assert status == "Degraded" and "CUDA out of memory" in message


def test_no_status_yet_is_progressing() -> None:
    assert check({"metadata": {"name": "x"}}, 0)[0] == "Progressing"


def test_the_argocd_patch_embeds_the_script_verbatim() -> None:
    patch = yaml.safe_load((HEALTH / "argocd-health-patch.yaml").read_text())
    (entry,) = patch["spec"]["resourceHealthChecks"]
    assert (entry["group"], entry["kind"]) == ("serving.kserve.io", "InferenceService")
    assert entry["check"] == SCRIPT
