"""Is a new revision good? Verification after a sync, and the automatic rollback when it is not.

After a sync operation the PostSync hooks and a verification window decide: the operation must
succeed (its PostSync hooks included, its rollouts within their progress deadline), then the
Application's health must become Healthy and stay Healthy for ``verification.window_s`` of its
environment in llmops.yaml. The verdict is written on the operation's history entry (Passed or
Failed, with the failed check).

When verification fails and the environment has ``auto_rollback`` (on by default for automated
environments, off for manual ones), the engine rolls back to the newest revision that passed
verification: a rollback operation with initiator ``auto-rollback`` and the failed check as its
reason, respecting freezes and sync windows as an automated sync. The Application is then held: its
automated sync and self-heal leave the failed revision alone ("held at <good> - <bad> failed
verification") until a new revision arrives or a person syncs. An auto-rollback is verified too, but
never rolled back in turn.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .source import Revision
from .store import DEPLOY_KINDS, now_rfc3339
from .sync import OpRequest, Outcome, sync_options

if TYPE_CHECKING:
    from .engine import Engine

AUTO_ROLLBACK = "auto-rollback"
HEALTHY_WITHIN_S = 120.0  # after a sync, health must become Healthy this soon (then stay so)


@dataclass(frozen=True, kw_only=True)
class Hold:
    """An Application held at a good revision after a bad one failed verification."""

    good: str | None
    bad: str
    check: str
    at: str

    def describe(self) -> str:
        good = self.good[:8] if self.good else "nothing (no revision passed verification yet)"
        return f"held at {good} - {self.bad[:8]} failed verification: {self.check}"

    def to_dict(self) -> dict[str, Any]:
        return {"good": self.good, "bad": self.bad, "check": self.check, "at": self.at}


class Verifier:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # -- settings and holds ------------------------------------------------------------------

    def settings(self, app_name: str) -> tuple[float, bool]:
        """(window_s, auto_rollback) of the Application's environment."""
        app = self.engine.application(app_name)
        env = next(
            (e for e in self.engine.repo.config.environments if app and e.name == app.environment), None
        )
        if env is None:
            return 0.0, False
        return env.verification.window_s, env.auto_rollback

    def hold(self, app: str) -> Hold | None:
        raw = self.engine.store.setting(f"held:{app}")
        return Hold(**json.loads(raw)) if raw else None

    def release(self, app: str, why: str) -> None:
        if self.hold(app) is not None:
            self.engine.store.set_setting(f"held:{app}", "")
            self.engine.store.emit(app, "HoldReleased", f"no longer held: {why}")

    def _set_hold(self, hold: Hold, app: str) -> None:
        self.engine.store.set_setting(f"held:{app}", json.dumps(hold.to_dict()))

    # -- after an operation ------------------------------------------------------------------

    def cancel(self, app: str) -> None:
        task = self._tasks.pop(app, None)
        if task is not None:
            task.cancel()

    def operation_finished(self, op_id: int, request: OpRequest, outcome: Outcome) -> None:
        """Start verifying a finished operation (called once it is in history)."""
        self.cancel(request.app)
        store = self.engine.store
        if outcome.phase != "Succeeded":
            if outcome.check:
                self._failed(op_id, request, outcome.check)
            return
        window_s, _ = self.settings(request.app)
        store.set_verification(request.app, op_id, "Pending", f"Healthy for {window_s:g} s decides")
        task = asyncio.get_running_loop().create_task(self._watch(op_id, request, window_s))
        self._tasks[request.app] = task

    async def _watch(self, op_id: int, request: OpRequest, window_s: float) -> None:
        check = await self._health_check(request.app, window_s)
        self._tasks.pop(request.app, None)
        if check is None:
            message = f"Healthy for {window_s:g} s after the sync"
            self.engine.store.set_verification(request.app, op_id, "Passed", message)
            self.engine.store.emit(
                request.app, "VerificationPassed", f"{request.revision[:8]} passed verification: {message}"
            )
        else:
            self._failed(op_id, request, check)

    async def _health_check(self, app: str, window_s: float) -> str | None:
        """None once health was Healthy for ``window_s``; else what went wrong."""
        store = self.engine.store
        deadline = time.monotonic() + HEALTHY_WITHIN_S
        while store.app_state(app).get("health_status") != "Healthy":
            if time.monotonic() > deadline:
                state = store.app_state(app)
                return (
                    f"health did not become Healthy within {HEALTHY_WITHIN_S:g} s "
                    f"({state.get('health_status')}: {state.get('health_message') or ''})"
                )
            await self.engine.changed(app, 1.0)
        since = time.monotonic()
        while (elapsed := time.monotonic() - since) < window_s:
            await self.engine.changed(app, min(1.0, window_s - elapsed))
            state = store.app_state(app)
            if state.get("health_status") != "Healthy":
                why = state.get("health_message") or "no message"
                return (
                    f"health went {state.get('health_status')} ({why}) "
                    f"{elapsed:.0f} s into the {window_s:g} s verification window"
                )
        return None

    def _failed(self, op_id: int, request: OpRequest, check: str) -> None:
        store = self.engine.store
        store.set_verification(request.app, op_id, "Failed", check)
        store.emit(
            request.app,
            "VerificationFailed",
            f"{request.revision[:8]} failed verification: {check}",
            type_="Warning",
        )
        _, auto = self.settings(request.app)
        if not auto or request.initiator == AUTO_ROLLBACK or request.kind == "rollback":
            return
        good = self._last_good(request.app, request.revision)
        hold = Hold(
            good=good["revision"] if good else None, bad=request.revision, check=check, at=now_rfc3339()
        )
        self._set_hold(hold, request.app)
        if good is None:
            store.emit(request.app, "AutoRollbackImpossible", hold.describe(), type_="Warning")
            return
        asyncio.get_running_loop().create_task(self._roll_back(request, good, check))

    def _last_good(self, app: str, bad: str) -> dict[str, Any] | None:
        entries = [
            e
            for e in self.engine.store.history(app)
            if e["kind"] in DEPLOY_KINDS and e["result"] == "Succeeded" and e.get("verification") == "Passed"
        ]
        good = [e for e in entries if e["revision"] != bad]
        return good[-1] if good else None

    async def _roll_back(self, failed: OpRequest, good: dict[str, Any], check: str) -> None:
        engine = self.engine
        while engine.operation_running(failed.app):  # the failed operation is still finishing
            await asyncio.sleep(0.05)
        app = engine.application(failed.app)
        if app is None:
            return
        verdict = engine.gates.check(app, manual=False)
        if not verdict.allowed:
            engine.store.emit(
                app.name,
                "AutoRollbackBlocked",
                f"auto-rollback to {good['revision'][:8]} refused: {verdict.reason} ({verdict.hint})",
                type_="Warning",
            )
            return
        policy = app.manifest.get("spec", {}).get("syncPolicy") or {}
        request = OpRequest(
            app=app.name,
            kind="rollback",
            revision=good["revision"],
            source={**engine.source_of(app), **good["source"]},
            initiator=AUTO_ROLLBACK,
            automated=True,
            reason=f"{failed.revision[:8]} failed verification: {check}",
            prune=False,
            options=sync_options(policy.get("syncOptions")),
        )
        engine.store.emit(
            app.name,
            "AutoRollbackStarted",
            f"rolling back to {good['revision'][:8]} (history {good['id']}): {request.reason}",
            type_="Warning",
        )
        engine.begin(request, Revision(sha=good["revision"], subject=good["subject"], author=good["author"]))

    def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
