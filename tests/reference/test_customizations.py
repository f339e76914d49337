"""llmops' Argo CD customizations (argocd/customizations/), as bootstrap applies them, in a real Lua 5.1 VM.

The scripts are read through :func:`llmops.cluster.customize.load`, so what is tested is exactly
what ``llmops bootstrap`` puts into the ArgoCD instance. Argo CD runs health checks in gopher-lua
(Lua 5.1); lupa's lua51 runtime is the closest interpreter on PyPI.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from testing.repos import ROOT

from llmops.cluster import customize

lupa = pytest.importorskip("lupa.lua51", reason="lupa (Lua 5.1 runtime) is not installed")

FIXTURES = Path(__file__).parent / "health-fixtures"
CHECKS = {(c["group"], c["kind"]): c["check"] for c in customize.load(ROOT).health_checks}


def run_check(obj: dict[str, Any], now: float) -> tuple[str, str]:
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    script = CHECKS[(group, str(obj["kind"]))]
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    pin = f"if t == nil then return {int(now)} end return real(t)"
    lua.execute(f"local real = os.time\nos.time = function(t) {pin} end")
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script)
    return str(result["status"]), str(result["message"])


def _stamp(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def test_bootstrap_ships_the_inference_service_and_serving_runtime_checks() -> None:
    assert set(CHECKS) == {("serving.kserve.io", "InferenceService"), ("serving.kserve.io", "ServingRuntime")}
    assert (
        CHECKS[("serving.kserve.io", "InferenceService")]
        == (ROOT / "argocd/health/inferenceservice.lua").read_text()
    )


def test_upstream_argocd_fixtures(shared_dir: Path) -> None:
    """Argo CD's own 11 InferenceService fixtures, a minute after their last transition."""
    base = shared_dir / "peer-tests" / "argocd-isvc-health"
    cases = yaml.safe_load((base / "health_test.yaml").read_text())["tests"]
    assert len(cases) == 11
    for case in cases:
        obj = yaml.safe_load((base / case["inputPath"]).read_text())
        stamps = [c["lastTransitionTime"] for c in (obj.get("status") or {}).get("conditions", [])]
        now = max((_stamp(s) for s in stamps), default=datetime.now(UTC).timestamp()) + 60
        status, message = run_check(obj, now)
        assert status == case["healthStatus"]["status"], f"{case['inputPath']}: {status} ({message})"


def _fixture_cases() -> list[Any]:
    cases = []
    for path in sorted(FIXTURES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        pending = data["expect"].get("pending")
        marks = [pytest.mark.xfail(reason=pending, strict=False)] if pending else []
        cases.append(pytest.param(data, id=path.stem, marks=marks))
    return cases


@pytest.mark.parametrize("case", _fixture_cases())
def test_kserve_status_fixtures(case: dict[str, Any]) -> None:
    """Fixtures written from KServe's status API; checked two minutes after the last transition
    (before the InferenceService script's not-ready deadline), so a failure shows at once."""
    status, message = run_check(case["object"], _stamp("2026-11-20T10:02:00Z"))
    assert status == case["expect"]["status"], message
    assert case["expect"]["message"] in message
