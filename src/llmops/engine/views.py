"""The engine's state as Argo CD's records (:mod:`llmops.gitops.appstate`): what ``status``, ``history``,
``diff --live`` and the API show. Read-only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmops.delivery.diff import redact_pair
from llmops.errors import EngineError
from llmops.gitops.appstate import (
    AppStatus,
    HistoryEntry,
    LiveObjects,
    OperationState,
    ResourceResult,
    ResourceStatus,
    Revision,
)
from llmops.gitops.repo import Application

from .compare import hook_phases
from .kserve_local import ProcessSpec, TranslationError
from .reconciler import AppSnapshot
from .store import DEPLOY_KINDS, LiveObject

if TYPE_CHECKING:
    from .engine import Engine


def operation_state(op: dict[str, Any]) -> OperationState:
    resources = tuple(
        ResourceResult(
            group=r["group"],
            kind=r["kind"],
            namespace=r["namespace"],
            name=r["name"],
            status=r["status"],
            message=r.get("message", ""),
            hook_phase=r.get("hook_phase"),
            log=r.get("log"),
        )
        for r in op["result"].get("resources", [])
    )
    return OperationState(
        id=op["id"],
        kind=op["kind"],
        phase=op["phase"],
        message=op["message"],
        revision=Revision(sha=op["revision"], subject=op["subject"], author=op["author"]),
        started_at=op["started_at"],
        finished_at=op["finished_at"],
        initiator=op["initiator"],
        automated=op["automated"],
        reason=op["reason"],
        resources=resources,
        retry_count=op["retry_count"],
    )


def history(engine: Engine, app: Application) -> list[HistoryEntry]:
    return [
        HistoryEntry(
            id=e["id"],
            revision=Revision(sha=e["revision"], subject=e["subject"], author=e["author"]),
            deployed_at=e["deployed_at"],
            started_at=e["started_at"],
            initiator=e["initiator"],
            automated=e["automated"],
            reason=e["reason"],
            result=e["result"],
            message=e["message"],
            kind=e["kind"],
            approved_revision=e.get("approved_revision"),
            verification=e.get("verification"),
            verification_message=e.get("verification_message") or "",
        )
        for e in engine.store.history(app.name)
    ]


def app_status(engine: Engine, app: Application, snap: AppSnapshot | None) -> AppStatus:
    state = engine.store.app_state(app.name)
    last = engine.store.last_operation(app.name)
    entries = engine.store.history(app.name)
    deploys = [e for e in entries if e["kind"] in DEPLOY_KINDS]
    deployed = next((e for e in reversed(deploys) if e["result"] == "Succeeded"), None)
    desired = state.get("revision")
    notes, extra = runtime_notes(engine, app)
    if snap is not None:
        notes += snap.conditions
    notes += engine.gates.notes(app)
    hold = engine.verifier.hold(app.name)
    if hold is not None:
        notes.append(hold.describe())
    latest = deploys[-1] if deploys else None
    if latest is not None and latest.get("verification") in ("Pending", "Failed"):
        notes.append(
            f"verification of {latest['revision'][:8]}: {latest['verification']}"
            + (f" ({latest['verification_message']})" if latest.get("verification_message") else "")
        )
    extra |= {
        "sync_windows": engine.gates.describe(app),
        "hold": hold.to_dict() if hold is not None else None,
        "verification": None
        if latest is None
        else {
            "revision": latest["revision"],
            "verdict": latest.get("verification"),
            "message": latest.get("verification_message") or "",
        },
    }
    return AppStatus(
        name=app.name,
        environment=app.environment,
        namespace=app.namespace,
        target="local",
        sync_status=state.get("sync_status", "Unknown"),
        health_status=state.get("health_status", "Unknown"),
        health_message=state.get("health_message", ""),
        revision=Revision(sha=deployed["revision"], subject=deployed["subject"], author=deployed["author"])
        if deployed
        else None,
        target_revision=app.target_revision,
        desired_revision=Revision(**desired) if isinstance(desired, dict) else None,
        auto_sync=app.sync.automated,
        self_heal=app.sync.self_heal,
        prune=app.sync.prune,
        operation=operation_state(last) if last else None,
        comparison_error=state.get("comparison_error"),
        endpoint=engine.runtime.endpoint(app.environment),
        resources=resources(engine, app, snap),
        notes=tuple(notes),
        extra=extra | {"decision": snap.decision if snap else ""},
    )


def resources(engine: Engine, app: Application, snap: AppSnapshot | None) -> tuple[ResourceStatus, ...]:
    out: list[ResourceStatus] = []
    health = snap.resource_health if snap is not None else {}
    for d in snap.comparison.resources if snap is not None and snap.comparison is not None else ():
        h = health.get(str(d.key))
        out.append(
            ResourceStatus(
                group=d.key.group,
                kind=d.key.kind,
                namespace=d.key.namespace,
                name=d.key.name,
                sync_status=d.status,
                health_status=h.status if h else None,
                health_message=h.message if h else "",
                requires_pruning=d.requires_pruning,
            )
        )
    for obj in engine.store.live(app.name):
        phases = hook_phases(obj.manifest)
        if not phases:
            continue
        h = engine.health(obj.key, obj.manifest)
        out.append(
            ResourceStatus(
                group=obj.key.group,
                kind=obj.key.kind,
                namespace=obj.key.namespace,
                name=obj.key.name,
                sync_status="Synced",
                health_status=h.status if h else None,
                health_message=h.message if h else "",
                hook=phases[0],
            )
        )
    return tuple(out)


def runtime_notes(engine: Engine, app: Application) -> tuple[list[str], dict[str, Any]]:
    """Notes people must see (demo weights, replicas capped, cannot run) and the processes' detail."""
    notes: list[str] = []
    adaptations: dict[str, list[str]] = {}
    for name, spec in engine.runtime.specs.get(app.name, {}).items():
        if isinstance(spec, TranslationError):
            notes.append(f"{name} cannot run here: {spec.message}")
            continue
        assert isinstance(spec, ProcessSpec)
        notes += [n for n in spec.notes() if n not in notes]
        adaptations[name] = list(spec.adaptations)
    for rollout in engine.runtime.supervisor.rollouts_of(app.name):
        if rollout.phase == "Failed":
            notes.append(f"rollout failed: {rollout.message}")
        elif rollout.phase == "Progressing" and rollout.strategy == "Recreate":
            notes.append(
                f"{rollout.isvc}: Recreate in progress: the old vLLM was stopped first, the endpoint "
                "answers 503 until the new one is ready"
            )
        elif rollout.phase == "Progressing":
            notes.append(
                f"{rollout.isvc}: RollingUpdate in progress: the old vLLM serves until the new one is ready"
            )
    processes = [
        {
            "isvc": r.spec.isvc,
            "replica": r.index,
            "pid": r.pid,
            "port": r.port,
            "state": r.state,
            "restarts": r.restarts,
            "last_error": r.last_error,
            "log": str(r.log),
            "served_model": r.spec.served_name,
            "model_dir": str(r.spec.model.path),
            "model_origin": r.spec.model.origin,
            "rolling_in": r.surge,
        }
        for r in engine.runtime.supervisor.of_app(app.name)
    ]
    rollouts = [r.to_dict() for r in engine.runtime.supervisor.rollouts_of(app.name)]
    return notes, {
        "adaptations": adaptations,
        "processes": processes,
        "rollouts": rollouts,
        "source": engine.source_of(app),
    }


def objects(live: list[LiveObject]) -> list[dict[str, Any]]:
    """Live objects for people to read: manifests with Secret values redacted."""
    out = []
    for obj in live:
        manifest, _ = redact_pair(obj.manifest, None)
        out.append({"revision": obj.revision, "managed": obj.managed, "manifest": manifest})
    return out


def live_objects(app: Application, snap: AppSnapshot | None) -> LiveObjects:
    """Desired (target revision) and live, normalized alike, Secret values redacted on both sides."""
    if snap is None or snap.comparison is None:
        why = snap.comparison_error if snap is not None and snap.comparison_error else "not compared yet"
        raise EngineError(f"{app.name}: no comparison to show ({why})", hint=f"llmops status {app.name}")
    desired, live = [], []
    for d in snap.comparison.resources:
        old, new = redact_pair(d.normalized_live, d.normalized_desired)
        if new is not None:
            desired.append(new)
        if old is not None:
            live.append(old)
    rev = snap.revision
    return LiveObjects(
        app=app.name,
        environment=app.environment,
        revision=Revision(sha=rev.sha, subject=rev.subject, author=rev.author) if rev else None,
        desired=tuple(desired),
        live=tuple(live),
    )
