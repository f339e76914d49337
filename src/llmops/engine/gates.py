"""Whether a sync may start now: the environment's freeze, then the AppProject's sync windows.

A freeze (``llmops freeze ENV --reason``) refuses every sync of the environment: automated, manual,
rollback and auto-rollback, until ``llmops unfreeze``. Sync windows are Argo CD's
(:mod:`llmops.engine.windows`): the controller checks them with ``isManual=false`` before an
automated sync (controller/appcontroller.go), the API server with ``isManual=true`` before a sync
or rollback a person asks for (server/application/application.go ``Sync``). The engine does the same,
and treats an auto-rollback as automated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from llmops.gitops.repo import Application

from .store import Store
from .sync import OperationRefused
from .windows import Clock, Windows, stamp, windows_for


class SyncBlocked(OperationRefused):
    """A freeze or a sync window refuses the sync now (the hint says until when)."""


@dataclass(frozen=True, kw_only=True)
class GateVerdict:
    allowed: bool
    reason: str = ""
    hint: str = ""
    next_open: datetime | None = None
    frozen: bool = False


class Gates:
    def __init__(self, store: Store, clock: Clock, projects: Callable[[], dict[str, dict[str, Any]]]) -> None:
        self.store = store
        self.clock = clock
        self.projects = projects

    def windows(self, app: Application) -> Windows:
        return windows_for(app.manifest, self.projects().get(app.project))

    def freeze_of(self, environment: str) -> dict[str, Any] | None:
        return self.store.freeze(environment)

    def check(self, app: Application, *, manual: bool) -> GateVerdict:
        frozen = self.store.freeze(app.environment)
        if frozen is not None:
            return GateVerdict(
                allowed=False,
                frozen=True,
                reason=f"{app.environment} is frozen (by {frozen['initiator']} at {frozen['at']}: "
                f"{frozen['reason']})",
                hint=f"llmops unfreeze {app.environment} --reason TEXT lifts the freeze",
            )
        verdict = self.windows(app).verdict(manual, self.clock.now())
        if verdict.allowed:
            return GateVerdict(allowed=True)
        when = stamp(verdict.next_open)
        project = f"AppProject {app.project}'s syncWindows"
        hint = (
            f"it may sync from {when} ({project})"
            if when
            else f"no window opens within a year: change {project}"
        )
        return GateVerdict(allowed=False, reason=verdict.reason, hint=hint, next_open=verdict.next_open)

    def require(self, app: Application, *, manual: bool, what: str = "sync") -> None:
        verdict = self.check(app, manual=manual)
        if not verdict.allowed:
            raise SyncBlocked(f"cannot {what} {app.name}: {verdict.reason}", hint=verdict.hint)

    def describe(self, app: Application) -> dict[str, Any]:
        """For ``status``: the assigned and active windows, whether each kind of sync may run, and when."""
        now = self.clock.now()
        windows = self.windows(app)
        out: dict[str, Any] = {
            "now": stamp(now),
            "assigned": [w.to_dict() for w in windows.windows],
            "frozen": self.store.freeze(app.environment),
        }
        for kind, manual in (("automated", False), ("manual", True)):
            verdict = windows.verdict(manual, now)
            out[kind] = {
                "allowed": verdict.allowed,
                "reason": verdict.reason,
                "next_open": stamp(verdict.next_open),
            }
            out["active"] = [w.to_dict() for w in verdict.active]
        return out

    def notes(self, app: Application) -> list[str]:
        info = self.describe(app)
        notes: list[str] = []
        frozen = info["frozen"]
        if frozen:
            notes.append(f"frozen by {frozen['initiator']} at {frozen['at']}: {frozen['reason']}")
        for window in info["active"]:
            notes.append(
                f"sync window active: {window['kind']} '{window['schedule']}' for {window['duration']} "
                f"({window['timeZone']})"
            )
        for kind in ("automated", "manual"):
            verdict = info[kind]
            if not verdict["allowed"]:
                when = f"; opens {verdict['next_open']}" if verdict["next_open"] else ""
                notes.append(f"{kind} syncs {verdict['reason']}{when}")
        return notes
