"""The level-triggered loop of one Application: compare, judge health, decide, again.

Each pass reads the whole state (the revision the Application follows, its render, the live
objects) and acts on the difference; events (a new commit, a patch, a process that became ready
or died, an operation that ended) only wake it early. Without events a pass runs every
``RESYNC_S`` anyway (Argo CD re-compares every 3 minutes). A pass records the Application's sync
and health status in the store and, for automated Applications, starts a sync or schedules the
self-heal (:func:`llmops.engine.sync.auto_sync_decision`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from llmops.errors import LlmopsError
from llmops.gitops.repo import Application

from .aio import wait_event
from .compare import Comparison, ComparisonError, compare, desired_state, hook_phases
from .health import Health, application_health
from .source import Revision, SourceError
from .sync import AutoInputs, LastOperation, auto_sync_decision

if TYPE_CHECKING:
    from .engine import Engine

RESYNC_S = 180.0
log = logging.getLogger("llmops.engine")


def _epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


@dataclass
class AppSnapshot:
    """What the last pass found, kept in memory for status, diffs and the decision."""

    revision: Revision | None = None
    comparison: Comparison | None = None
    comparison_error: str | None = None
    health: Health = field(default_factory=lambda: Health("Unknown", "not compared yet"))
    resource_health: dict[str, Health | None] = field(default_factory=dict)
    conditions: list[str] = field(default_factory=list)
    decision: str = ""


class AppReconciler:
    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self.snapshot = AppSnapshot()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = False
        self.passes = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"reconcile {self.name}")
        self.wake()

    async def stop(self) -> None:
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=10)

    def stopped(self) -> bool:
        return self._stopped

    def wake(self) -> None:
        self._wake.set()

    def wake_in(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(max(0.0, seconds), self.wake)

    async def _loop(self) -> None:
        while not self.stopped():
            await wait_event(self._wake, RESYNC_S)
            if self.stopped():
                return
            self._wake.clear()
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not stop the loop; it is logged with its traceback
                log.exception("reconciling %s failed", self.name)

    # -- one pass -------------------------------------------------------------------------------

    async def reconcile(self) -> None:
        self.passes += 1
        app = self.engine.application(self.name)
        if app is None:
            return
        snap = AppSnapshot(conditions=[])
        try:
            snap.revision = await self.engine.resolve(app)
            rendered = await asyncio.to_thread(
                self.engine.sources.render, app.path, app.repo_url, snap.revision.sha
            )
            desired = desired_state(rendered, app.namespace)
            snap.comparison = compare(desired, self.engine.store.live(app.name), self.engine.normalizer(app))
        except (SourceError, ComparisonError) as exc:
            snap.comparison_error = str(exc)
            snap.comparison = None
        except LlmopsError as exc:  # anything else that keeps the comparison from running
            snap.comparison_error = exc.message
            snap.comparison = None
        self._judge_health(app, snap)
        self._record(app, snap)
        self.snapshot = snap
        await self._decide(app, snap)

    def _judge_health(self, app: Application, snap: AppSnapshot) -> None:
        store = self.engine.store
        live = {o.key: o for o in store.live(app.name)}
        keys = (
            [d.key for d in snap.comparison.resources]
            if snap.comparison
            else [k for k, o in live.items() if not hook_phases(o.manifest)]
        )
        rows = []
        for key in keys:
            obj = live.get(key)
            health = self.engine.health(key, obj.manifest if obj is not None else None)
            snap.resource_health[str(key)] = health
            rows.append((key, obj is not None, health))
        snap.health = application_health(rows)

    def _record(self, app: Application, snap: AppSnapshot) -> None:
        """Store the pass's verdict; a change of sync or health status is an event."""
        store = self.engine.store
        before = store.app_state(app.name)
        sync = (
            "Unknown"
            if snap.comparison_error
            else snap.comparison.sync_status
            if snap.comparison
            else "Unknown"
        )
        state: dict[str, Any] = {
            "sync_status": sync,
            "health_status": snap.health.status,
            "health_message": snap.health.message,
            "comparison_error": snap.comparison_error,
            "revision": snap.revision.__dict__ if snap.revision else None,
        }
        if all(before.get(k) == v for k, v in state.items()):
            return
        store.set_app_state(app.name, state)
        if before.get("comparison_error") != snap.comparison_error and snap.comparison_error:
            store.emit(app.name, "ComparisonError", snap.comparison_error, type_="Warning")
        if (before.get("sync_status") or "Unknown") != sync:
            store.emit(app.name, "SyncStatusChanged", f"{before.get('sync_status') or 'Unknown'} -> {sync}")
        if (before.get("health_status") or "Unknown") != snap.health.status:
            kind = "Warning" if snap.health.status in ("Degraded", "Unknown") else "Normal"
            detail = f": {snap.health.message}" if snap.health.message else ""
            store.emit(
                app.name,
                "HealthStatusChanged",
                f"{before.get('health_status') or 'Unknown'} -> {snap.health.status}{detail}",
                type_=kind,
            )

    async def _decide(self, app: Application, snap: AppSnapshot) -> None:
        if snap.revision is None:
            return
        last = self.engine.store.last_operation(app.name)
        comparison = snap.comparison
        out_of_sync = comparison.out_of_sync() if comparison else []
        automated = app.manifest.get("spec", {}).get("syncPolicy", {}).get("automated") or {}
        inputs = AutoInputs(
            automated=app.sync.automated,
            self_heal=app.sync.self_heal,
            prune=app.sync.prune,
            allow_empty=bool(automated.get("allowEmpty")) if isinstance(automated, dict) else False,
            sync_status=comparison.sync_status if comparison else "Unknown",
            comparison_error=snap.comparison_error is not None,
            operation_running=self.engine.operation_running(app.name),
            desired_revision=snap.revision.sha,
            source=self.engine.source_of(app),
            last=None
            if last is None
            else LastOperation(
                revision=last["revision"],
                source=last["source"],
                phase=last["phase"],
                message=last["message"],
                finished_at=_epoch(last["finished_at"]),
            ),
            out_of_sync_prune_only=bool(out_of_sync) and all(d.requires_pruning for d in out_of_sync),
            all_require_pruning=bool(comparison and comparison.resources)
            and all(d.requires_pruning for d in comparison.resources),  # type: ignore[union-attr]
            now=time.time(),
            self_heal_timeout_s=self.engine.config.self_heal_timeout_s,
        )
        decision = auto_sync_decision(inputs)
        snap.decision = decision.message
        if decision.condition:
            snap.conditions.append(f"SyncError: {decision.condition}")
        if decision.action == "wait":
            self.wake_in(decision.retry_in + 0.05)
        elif decision.action == "sync":
            await self.engine.start_automated_sync(app, snap.revision, decision)
