"""Argo CD's vocabulary for the state of an Application, and the :class:`Driver` that reports it.

The names follow Argo CD's Application status (``status.sync``, ``status.health``,
``status.operationState``, ``status.history``, ``status.resources``) so that what a user
knows of Argo CD carries over. Two drivers implement :class:`Driver` with the same output
shapes: the embedded engine on one machine (:mod:`llmops.engine`) and Argo CD on a cluster
(:mod:`llmops.cluster`). The verbs ``status``, ``sync``, ``wait``, ``history``,
``rollback``, ``diff --live``, ``freeze`` print these records, as tables or as the JSON of
:meth:`to_dict` (documented in docs/reference-json.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

SyncStatus = Literal["Synced", "OutOfSync", "Unknown"]
HealthStatus = Literal["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"]
OperationPhase = Literal["Running", "Succeeded", "Failed", "Error", "Terminating"]
Target = Literal["local", "cluster"]

SYNC_STATUSES: tuple[SyncStatus, ...] = ("Synced", "OutOfSync", "Unknown")
HEALTH_STATUSES: tuple[HealthStatus, ...] = (
    "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown",
)  # fmt: skip


# gitops-engine pkg/health/health.go healthOrder (most healthy first), reversed.
_WORST_FIRST: tuple[HealthStatus, ...] = (
    "Unknown", "Degraded", "Missing", "Progressing", "Suspended", "Healthy",
)  # fmt: skip


def worst_health(statuses: Sequence[HealthStatus]) -> HealthStatus:
    """An Application's health from its resources' (Argo CD: the least healthy wins, in the order
    Healthy < Suspended < Progressing < Missing < Degraded < Unknown)."""
    for status in _WORST_FIRST:
        if status in statuses:
            return status
    return "Healthy"


class _Record:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload, no-any-return]


@dataclass(frozen=True, kw_only=True)
class ResourceStatus(_Record):
    """One resource of an Application (Argo CD's ``status.resources[]``)."""

    group: str
    kind: str
    namespace: str
    name: str
    sync_status: SyncStatus
    health_status: HealthStatus | None = None  # None: a kind without health (ConfigMap, Secret)
    health_message: str = ""
    requires_pruning: bool = False  # live, gone from Git, and the Application does not prune
    hook: str | None = None  # PostSync, PreSync, SyncFail: hooks are not compared


@dataclass(frozen=True, kw_only=True)
class Revision(_Record):
    """A Git revision as people read it."""

    sha: str
    subject: str = ""
    author: str = ""


@dataclass(frozen=True, kw_only=True)
class ResourceResult(_Record):
    """What an operation did to one resource or hook (Argo CD's ``operationState.syncResult.resources[]``)."""

    group: str
    kind: str
    namespace: str
    name: str
    # Synced | SyncFailed | Pruned | PruneSkipped; for hooks: Succeeded | Failed | Skipped | Running
    status: str
    message: str = ""
    hook_phase: str | None = None  # PreSync | PostSync | SyncFail for a hook, else None
    log: str | None = None  # a hook's log file (embedded engine) when there is one


@dataclass(frozen=True, kw_only=True)
class OperationState(_Record):
    """The last (or running) sync operation (Argo CD's ``status.operationState``)."""

    id: int
    kind: Literal["sync", "rollback"]
    phase: OperationPhase
    message: str
    revision: Revision
    started_at: str  # RFC 3339, UTC
    finished_at: str | None = None
    initiator: str = ""  # a user name, "automated", or "auto-rollback"
    automated: bool = False
    reason: str | None = None
    resources: tuple[ResourceResult, ...] = ()  # per resource and hook, as far as the operation got
    retry_count: int = 0


@dataclass(frozen=True, kw_only=True)
class HistoryEntry(_Record):
    """One deployed revision (Argo CD's ``status.history[]``), with who asked and why."""

    id: int
    revision: Revision
    deployed_at: str  # when the sync finished, RFC 3339 UTC
    started_at: str
    initiator: str
    automated: bool
    reason: str | None = None
    result: OperationPhase = "Succeeded"
    message: str = ""
    # sync and rollback deployed something; freeze and unfreeze are approval records (embedded engine)
    kind: Literal["sync", "rollback", "freeze", "unfreeze"] = "sync"
    approved_revision: str | None = None  # a person's sync of a manual environment: the revision approved
    verification: str | None = None  # Pending | Passed | Failed (embedded engine), None: not verified
    verification_message: str = ""  # the failed check, or what passed


@dataclass(frozen=True, kw_only=True)
class AppStatus(_Record):
    """Everything ``llmops status`` shows for one Application."""

    name: str
    environment: str
    namespace: str
    target: Target
    sync_status: SyncStatus
    health_status: HealthStatus
    health_message: str = ""
    revision: Revision | None = None  # what is deployed
    target_revision: str = ""  # what the Application follows (branch, tag, commit)
    desired_revision: Revision | None = None  # what the target revision resolves to now
    auto_sync: bool = False
    self_heal: bool = False
    prune: bool = False
    operation: OperationState | None = None
    comparison_error: str | None = None  # the render failed: kustomize's message
    endpoint: str | None = None  # the model's URL (stable local endpoint, or the InferenceService URL)
    resources: tuple[ResourceStatus, ...] = ()
    notes: tuple[str, ...] = ()  # e.g. "demo weights", "2 desired, 1 local", "frozen: reason"
    extra: dict[str, Any] = field(default_factory=dict)  # driver-specific detail, documented per driver


@dataclass(frozen=True, kw_only=True)
class SyncRequest:
    """A person's (or a pipeline's) request to sync or roll back, for the audit record."""

    app: str
    initiator: str
    reason: str | None = None
    revision: str | None = None  # a history id's revision for rollback; None = the target revision
    prune: bool | None = None  # None: as the Application says


@dataclass(frozen=True, kw_only=True)
class LiveObjects(_Record):
    """Desired (rendered from Git at the deployed revision) and live objects of one Application,
    both normalized the same way (status, server-managed metadata and the Application's
    ``ignoreDifferences`` removed), ready for :func:`llmops.delivery.diff.compare`."""

    app: str
    environment: str
    revision: Revision | None
    desired: tuple[dict[str, Any], ...]
    live: tuple[dict[str, Any], ...]


class Driver(Protocol):
    """What the environment verbs need, on a laptop (embedded engine) or a cluster (Argo CD).

    Every method takes an environment or Application name where it says ``selector``
    (``None``: all). Errors are :class:`~llmops.errors.LlmopsError` subclasses; a refused
    operation (rollback of an automated Application, a sync a window or freeze blocks) is
    a ``UsageError`` whose hint says what to do.
    """

    target: Target

    def status(self, selector: str | None = None) -> list[AppStatus]: ...

    def sync(self, request: SyncRequest) -> OperationState: ...

    def rollback(
        self, app: str, history_id: int | None, *, initiator: str, reason: str | None
    ) -> OperationState: ...

    def history(self, app: str) -> list[HistoryEntry]: ...

    def live_objects(self, app: str) -> LiveObjects: ...

    def refresh(self, selector: str | None = None) -> None: ...

    def freeze(self, environment: str, *, initiator: str, reason: str) -> None: ...

    def unfreeze(self, environment: str, *, initiator: str, reason: str | None = None) -> None: ...


# -- reading the records back from their JSON (clients of an HTTP API) --------------------------


def _revision(raw: Any) -> Revision | None:
    return Revision(**raw) if isinstance(raw, dict) else None


def operation_from_dict(raw: dict[str, Any]) -> OperationState:
    fields = dict(raw)
    fields["revision"] = _revision(fields.get("revision")) or Revision(sha="")
    fields["resources"] = tuple(ResourceResult(**r) for r in fields.get("resources") or ())
    return OperationState(**fields)


def history_from_dict(raw: dict[str, Any]) -> HistoryEntry:
    fields = dict(raw)
    fields["revision"] = _revision(fields.get("revision")) or Revision(sha="")
    return HistoryEntry(**fields)


def app_status_from_dict(raw: dict[str, Any]) -> AppStatus:
    fields = dict(raw)
    for name in ("revision", "desired_revision"):
        fields[name] = _revision(fields.get(name))
    op = fields.get("operation")
    fields["operation"] = operation_from_dict(op) if isinstance(op, dict) else None
    fields["resources"] = tuple(ResourceStatus(**r) for r in fields.get("resources") or ())
    fields["notes"] = tuple(fields.get("notes") or ())
    return AppStatus(**fields)


def live_objects_from_dict(raw: dict[str, Any]) -> LiveObjects:
    fields = dict(raw)
    fields["revision"] = _revision(fields.get("revision"))
    fields["desired"] = tuple(fields.get("desired") or ())
    fields["live"] = tuple(fields.get("live") or ())
    return LiveObjects(**fields)
