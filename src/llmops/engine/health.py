"""Health of live objects and of an Application, as Argo CD computes them.

* Per kind, an explicit registry (:data:`BUILTIN`): ``batch/Job`` as gitops-engine's
  pkg/health/health_job.go (Complete -> Healthy, Failed -> Degraded, Suspended -> Suspended, else
  Progressing); a ``ServingRuntime`` is Healthy once it exists (it has no status to judge).
* Lua checks from the repository (``engine.health_checks`` in llmops.yaml; by default
  ``argocd/health/inferenceservice.lua`` for InferenceServices) run in a real Lua 5.1 VM (lupa) with
  ``obj`` bound to the live object, in a sandbox like Argo CD's (util/lua/lua.go: base, table,
  string, math and a safe ``os`` with time/date/clock only; no io, no file loading, no Python),
  stopped after 1 s as Argo CD stops them. The engine writes a KServe-shaped status on the live
  InferenceService (kserve_local.py), so the same script judges health here and on a cluster.
* Kinds without a check have no health (``None``), as in Argo CD.
* The Application's health follows controller/health.go ``setApplicationHealth``: hooks and missing
  resources do not count, the least healthy resource wins in the order Healthy < Suspended <
  Progressing < Missing < Degraded < Unknown, and an Application with resources but none live is Missing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from llmops.gitops.appstate import HEALTH_STATUSES, HealthStatus
from llmops.gitops.config import HealthCheckFile
from llmops.gitops.manifests import Resource

from .store import ResourceKey

LUA_TIMEOUT_S = 1.0

# gitops-engine pkg/health/health.go healthOrder: most healthy first.
HEALTH_ORDER: tuple[HealthStatus, ...] = (
    "Healthy",
    "Suspended",
    "Progressing",
    "Missing",
    "Degraded",
    "Unknown",
)


@dataclass(frozen=True)
class Health:
    status: HealthStatus
    message: str = ""


Check = Callable[[Resource], Health | None]


def _conditions(obj: Resource) -> list[dict[str, Any]]:
    status = obj.get("status")
    found = status.get("conditions") if isinstance(status, dict) else None
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def job_health(obj: Resource) -> Health:
    failed = complete = suspended = False
    message = fail_message = ""
    for c in _conditions(obj):
        kind, text = c.get("type"), str(c.get("message") or "")
        if kind == "Failed":
            failed = complete = True
            fail_message = text
        elif kind == "Complete":
            complete = True
            message = text
        elif kind == "Suspended":
            complete = True
            message = text
            suspended = c.get("status") == "True"
    if not complete:
        return Health("Progressing", message)
    if failed:
        return Health("Degraded", fail_message)
    if suspended:
        return Health("Suspended", fail_message)
    return Health("Healthy", message)


def exists_is_healthy(_obj: Resource) -> Health:
    return Health("Healthy", "")


# (group, kind) -> check. Tests may replace entries.
BUILTIN: dict[tuple[str, str], Check] = {
    ("batch", "Job"): job_health,
    ("serving.kserve.io", "ServingRuntime"): exists_is_healthy,
}


_SANDBOX = """
local sethook, clock, pcall, error = debug.sethook, os.clock, pcall, error
local safe_os = { time = os.time, date = os.date, clock = os.clock }
io, debug, dofile, loadfile, load, loadstring, require, module, package, python = nil
collectgarbage, newproxy, setfenv, getfenv, rawequal = nil
os = safe_os
function __llmops_run(fn, limit)
  local deadline = clock() + limit
  local function guard()
    if clock() > deadline then error("the health check ran longer than " .. limit .. " s", 0) end
  end
  sethook(guard, "", 1000)
  local ok, result = pcall(fn)
  sethook()
  return ok, result
end
"""


class LuaCheck:
    """One Lua health script, compiled once, run in a sandboxed Lua 5.1 VM."""

    def __init__(self, script: str, source: str) -> None:
        from lupa import lua51  # the serve extra; imported when the engine starts

        self.source = source
        self._lock = threading.Lock()
        self._lua = lua51.LuaRuntime(
            unpack_returned_tuples=True, register_eval=False, register_builtins=False
        )
        self._lua.execute(_SANDBOX)
        self._run = self._lua.globals()["__llmops_run"]
        try:
            self._fn = self._lua.eval("function() " + script + "\nend")
        except lua51.LuaSyntaxError as exc:
            raise ValueError(f"{source} is not valid Lua: {exc}") from exc

    def __call__(self, obj: Resource) -> Health:
        with self._lock:
            self._lua.globals()["obj"] = self._lua.table_from(obj, recursive=True)
            ok, result = self._run(self._fn, LUA_TIMEOUT_S)
        if not ok:
            return Health("Unknown", f"{self.source}: {result}")
        try:
            raw = result["status"]
            message = result["message"]
        except (TypeError, KeyError):
            return Health("Unknown", f"{self.source} returned no status table")
        if raw not in HEALTH_STATUSES:
            return Health("Unknown", f"{self.source} returned an unknown status {raw!r}")
        return Health(cast(HealthStatus, raw), "" if message is None else str(message))


class HealthChecks:
    """The checks the engine runs: the repository's Lua scripts first, then the built-in ones."""

    def __init__(self, root: Path, files: Sequence[HealthCheckFile]) -> None:
        self.checks: dict[tuple[str, str], Check] = dict(BUILTIN)
        self.problems: list[str] = []
        for entry in files:
            path = (root / entry.file).resolve()
            if not path.is_relative_to(root.resolve()) or not path.is_file():
                self.problems.append(f"health check {entry.file} for {entry.kind} does not exist")
                continue
            try:
                self.checks[(entry.group, entry.kind)] = LuaCheck(
                    path.read_text(encoding="utf-8"), entry.file
                )
            except (OSError, ValueError) as exc:
                self.problems.append(str(exc))

    def resource(self, key: ResourceKey, obj: Resource | None) -> Health | None:
        if obj is None:
            return Health("Missing", "")
        check = self.checks.get((key.group, key.kind))
        return check(obj) if check is not None else None


def worse(a: HealthStatus, b: HealthStatus) -> bool:
    return HEALTH_ORDER.index(b) > HEALTH_ORDER.index(a)


def application_health(resources: Sequence[tuple[ResourceKey, bool, Health | None]]) -> Health:
    """(key, live?, health) of each non-hook resource -> the Application's health and its causes."""
    status: HealthStatus = "Healthy"
    causes: list[str] = []
    any_resource = any_live = False
    for key, live, health in resources:
        any_resource = True
        any_live = any_live or live
        if health is None or (not live and health.status == "Missing"):
            continue
        if worse(status, health.status):
            status, causes = health.status, [_cause(key, health)]
        elif status == health.status and status != "Healthy":
            causes.append(_cause(key, health))
    if any_resource and not any_live and worse(status, "Missing"):
        return Health("Missing", "no resource is live yet")
    return Health(
        status, "; ".join(causes[:3]) + (f" (and {len(causes) - 3} more)" if len(causes) > 3 else "")
    )


def _cause(key: ResourceKey, health: Health) -> str:
    return f"{key}: {health.message}" if health.message else str(key)
