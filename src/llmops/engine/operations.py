"""One sync operation, task by task: hooks, waves of resources applied to the store, health waits,
prunes (the semantics are in :mod:`llmops.engine.sync`).

Kept apart from the reconciler so a later rollout strategy (start the new vLLM beside the old one)
changes how resources are actuated without touching when operations happen.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from llmops.gitops.manifests import Resource
from llmops.gitops.repo import Application

from .compare import (
    SYNC_OPTIONS_ANNOTATION,
    TRACKING_ANNOTATION,
    Comparison,
    ComparisonError,
    Desired,
    Normalizer,
    compare,
    desired_state,
    has_option,
    hook_phases,
    respecting_ignored,
    sync_wave,
    tracking_id,
)
from .health import Health
from .hooks import HookResult, plan_hook, run_hook
from .source import SourceError, Sources
from .store import ResourceKey, Store
from .sync import OpRequest, Outcome, kind_rank, option_on

FAILED_TASKS = "one or more synchronization tasks completed unsuccessfully"


class Host(Protocol):
    """What an operation needs from the engine."""

    store: Store
    sources: Sources

    def application(self, name: str) -> Application | None: ...

    def normalizer(self, app: Application) -> Normalizer: ...

    def health(self, key: ResourceKey, obj: Resource | None) -> Health | None: ...

    async def actuate(self, app: str, *, retry_failed: bool = False) -> None: ...

    async def wait_rollouts(self, app: str) -> str | None: ...

    def local_endpoint(self, app: str) -> Callable[[str, str], str | None]: ...

    async def changed(self, app: str, timeout: float) -> None: ...

    def hook_log(self, op_id: int, app: str, name: str) -> Path: ...


@dataclass(frozen=True, kw_only=True)
class _Task:
    key: ResourceKey
    obj: Resource
    wave: int

    @property
    def order(self) -> tuple[int, int, str, str]:
        return (self.wave, kind_rank(self.key.kind), self.key.kind, self.key.name)


def _result(
    key: ResourceKey, status: str, message: str = "", *, hook_phase: str | None = None, log: str | None = None
) -> dict[str, Any]:
    return {
        "group": key.group,
        "kind": key.kind,
        "namespace": key.namespace,
        "name": key.name,
        "status": status,
        "message": message,
        "hook_phase": hook_phase,
        "log": log,
    }


def _tracked(app: str, obj: Resource) -> Resource:
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    annotations = meta.setdefault("annotations", {})
    annotations[TRACKING_ANNOTATION] = tracking_id(app, ResourceKey.of(out))
    return out


class SyncRun:
    """One attempt of one operation."""

    def __init__(self, host: Host, op_id: int, request: OpRequest) -> None:
        self.host = host
        self.op_id = op_id
        self.req = request
        self.results: list[dict[str, Any]] = []
        self.check: str | None = None  # the verification check that failed (a PostSync hook, a rollout)

    # -- the attempt ----------------------------------------------------------------------------

    async def run(self) -> Outcome:
        app = self.host.application(self.req.app)
        if app is None:
            return Outcome(phase="Error", message=f"Application {self.req.app} no longer exists")
        try:
            rendered = await asyncio.to_thread(
                self.host.sources.render,
                self.req.source["path"],
                self.req.source["repo_url"],
                self.req.revision,
            )
            desired = desired_state(rendered, app.namespace)
            comparison = compare(desired, self.host.store.live(app.name), self.host.normalizer(app))
        except (SourceError, ComparisonError) as exc:
            return Outcome(phase="Failed", message=f"ComparisonError: {exc}")
        failure = await self._phases(app, desired, comparison)
        if failure is not None:
            await self._hooks(app, desired, "SyncFail")
            return Outcome(
                phase="Failed",
                message=f"{FAILED_TASKS}: {failure}",
                resources=tuple(self.results),
                check=self.check,
            )
        return Outcome(
            phase="Succeeded", message="successfully synced (all tasks run)", resources=tuple(self.results)
        )

    async def _phases(self, app: Application, desired: Desired, comparison: Comparison) -> str | None:
        """Run PreSync hooks, the waves, PostSync hooks and late prunes; the first failure, or None."""
        failure = await self._hooks(app, desired, "PreSync")
        if failure:
            return failure
        tasks = sorted(
            (_Task(key=k, obj=o, wave=sync_wave(o)) for k, o in desired.resources.items()),
            key=lambda t: t.order,
        )
        waves = sorted({t.wave for t in tasks}) or [0]
        multi_step = bool(desired.hooks) or len(waves) > 1
        late = [
            d
            for d in comparison.resources
            if d.requires_pruning and self._prune_last(d.live.manifest if d.live else {})
        ]
        early = [d for d in comparison.resources if d.requires_pruning and d not in late]
        for i, wave in enumerate(waves):
            self._apply([t for t in tasks if t.wave == wave], comparison, early if i == 0 else [])
            await self.host.actuate(app.name, retry_failed=True)
            failure = await self.host.wait_rollouts(app.name)
            if failure:
                self.check = failure
                return failure
            if multi_step:
                failure = await self._wait_healthy(app, [t.key for t in tasks if t.wave == wave])
                if failure:
                    return failure
        failure = await self._hooks(app, desired, "PostSync")
        if failure:
            self.check = failure
            return failure
        if late:
            self._apply([], comparison, late)
            await self.host.actuate(app.name)
        return None

    def _prune_last(self, live: Resource) -> bool:
        return option_on(self.req.options, "PruneLast") or has_option(
            live, SYNC_OPTIONS_ANNOTATION, "PruneLast=true"
        )

    # -- applying -------------------------------------------------------------------------------

    def _apply(self, tasks: list[_Task], comparison: Comparison, prunes: list[Any]) -> None:
        """One wave in one transaction: what is applied and pruned is recorded together."""
        store = self.host.store
        diffs = {d.key: d for d in comparison.resources}
        respect = option_on(self.req.options, "RespectIgnoreDifferences")
        only_out_of_sync = option_on(self.req.options, "ApplyOutOfSyncOnly")
        with store.transaction():
            for task in tasks:
                diff = diffs.get(task.key)
                live = diff.live if diff is not None else None
                if only_out_of_sync and diff is not None and diff.status == "Synced":
                    continue
                obj = _tracked(self.req.app, task.obj)
                if respect and live is not None:
                    obj = respecting_ignored(obj, live.manifest, comparison.ignored.get(task.key, []))
                if live is not None and "status" in live.manifest:
                    obj["status"] = live.manifest["status"]  # status is the runtime's, as a subresource
                changed = diff is None or diff.status != "Synced"
                store.put_live(self.req.app, obj, revision=self.req.revision, managed={})
                verb = "unchanged" if not changed else "configured" if live is not None else "created"
                self.results.append(
                    _result(task.key, "Synced", f"{task.key.kind.lower()}/{task.key.name} {verb}")
                )
                if changed:
                    store.emit(
                        self.req.app,
                        "ResourceUpdated",
                        f"{task.key} {verb} at {self.req.revision[:8]}",
                        resource=str(task.key),
                    )
            for diff in prunes:
                self._prune(diff)

    def _prune(self, diff: Any) -> None:
        store = self.host.store
        keep = diff.live is not None and has_option(
            diff.live.manifest, SYNC_OPTIONS_ANNOTATION, "Prune=false"
        )
        if not self.req.prune or keep:
            why = "Prune=false" if keep else "ignored (requires pruning)"
            self.results.append(_result(diff.key, "PruneSkipped", why))
            return
        store.delete_live(self.req.app, diff.key)
        self.results.append(_result(diff.key, "Pruned", "pruned"))
        store.emit(
            self.req.app, "ResourceDeleted", f"{diff.key} pruned (gone from Git)", resource=str(diff.key)
        )

    # -- health ---------------------------------------------------------------------------------

    async def _wait_healthy(self, app: Application, keys: list[ResourceKey]) -> str | None:
        """Wait until the wave's resources are Healthy (or have no health); Degraded fails it."""
        while True:
            waiting = False
            for key in keys:
                live = self.host.store.get_live(app.name, key)
                health = self.host.health(key, live.manifest if live is not None else None)
                if health is None or health.status == "Healthy":
                    continue
                if health.status in ("Degraded", "Unknown"):
                    return f"{key} is {health.status}: {health.message}"
                waiting = True
            if not waiting:
                return None
            await self.host.changed(app.name, 2.0)

    # -- hooks ----------------------------------------------------------------------------------

    async def _hooks(self, app: Application, desired: Desired, phase: str) -> str | None:
        hooks = sorted(
            (h for h in desired.hooks if phase in hook_phases(h)),
            key=lambda h: (sync_wave(h), kind_rank(str(h.get("kind"))), ResourceKey.of(h).name),
        )
        for job in hooks:
            result = await self._hook(app, job, phase)
            self.results.append(
                _result(
                    ResourceKey.of(job),
                    result.status,
                    result.message,
                    hook_phase=phase,
                    log=result.log or None,
                )
                | {"adaptations": list(result.adaptations)}
            )
            if result.status == "Failed" and phase != "SyncFail":
                return f"{phase} {result.kind}/{result.name} failed: {result.message}"
        return None

    async def _hook(self, app: Application, job: Resource, phase: str) -> HookResult:
        store = self.host.store
        plan = plan_hook(job, local_endpoint=self.host.local_endpoint(app.name))
        key = plan.key
        if "BeforeHookCreation" in plan.delete_policies:
            store.delete_live(app.name, key)
        tracked = _tracked(app.name, job)
        if not plan.skip_reason:
            store.put_live(app.name, tracked, revision=self.req.revision, managed={})
            store.emit(app.name, "HookStarted", f"{phase} hook {key} started", resource=str(key))

        def on_status(status: dict[str, Any]) -> None:
            current = store.get_live(app.name, key)
            if current is not None:
                store.put_live(app.name, {**current.manifest, "status": status}, revision=self.req.revision)

        result = await run_hook(plan, phase, self.host.hook_log(self.op_id, app.name, plan.name), on_status)
        if (result.status == "Succeeded" and "HookSucceeded" in plan.delete_policies) or (
            result.status == "Failed" and "HookFailed" in plan.delete_policies
        ):
            store.delete_live(app.name, key)
        kind = "Warning" if result.status == "Failed" else "Normal"
        store.emit(
            app.name,
            f"Hook{result.status}",
            f"{phase} hook {key}: {result.message.splitlines()[0]}",
            resource=str(key),
            type_=kind,
        )
        return result
