"""Argo CD's Application and KServe's InferenceService, read into the shared status records.

Field names follow the CRDs (argo-cd ``manifests/crds/application-crd.yaml``, kserve
``config/crd/full/serving.kserve.io_inferenceservices.yaml``): ``status.sync``,
``status.health``, ``status.operationState``, ``status.history``, ``status.resources``,
``status.conditions``; the InferenceService's ``Ready`` condition, ``status.url``,
``status.modelStatus``. Sync and rollback requests are ``operation`` bodies as Argo CD's API
server writes them (``server/application/application.go``: ``Sync``, ``Rollback``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from llmops.gitops.appstate import (
    HEALTH_STATUSES,
    SYNC_STATUSES,
    HealthStatus,
    HistoryEntry,
    OperationPhase,
    OperationState,
    ResourceStatus,
    Revision,
    SyncStatus,
)

REASON_INFO = "Reason"  # operation.info entry that carries --reason
KIND_INFO = "llmops"  # operation.info entry saying which llmops verb asked (sync, rollback)
PHASES = ("Running", "Succeeded", "Failed", "Error", "Terminating")

Subject = Callable[[str], str | None]  # commit SHA -> subject, from the local clone


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def sync_status(app: dict[str, Any]) -> SyncStatus:
    value = _dict(_dict(app.get("status")).get("sync")).get("status")
    return cast(SyncStatus, value) if value in SYNC_STATUSES else "Unknown"


def health(app: dict[str, Any]) -> tuple[HealthStatus, str]:
    block = _dict(_dict(app.get("status")).get("health"))
    value = block.get("status")
    status = cast(HealthStatus, value) if value in HEALTH_STATUSES else "Unknown"
    return status, str(block.get("message") or "")


def source(app: dict[str, Any]) -> dict[str, Any]:
    """The Application's source with a path (``spec.source``, else the first of ``spec.sources``)."""
    spec = _dict(app.get("spec"))
    single = _dict(spec.get("source"))
    if single:
        return single
    return next((s for s in _list(spec.get("sources")) if _dict(s).get("path")), {})


def automated(app: dict[str, Any]) -> dict[str, Any] | None:
    """``spec.syncPolicy.automated`` when automated sync is on (``enabled: false`` turns it off)."""
    block = _dict(app.get("spec")).get("syncPolicy")
    auto = _dict(block).get("automated")
    if not isinstance(auto, dict) or auto.get("enabled", True) is False:
        return None
    return auto


def destination(app: dict[str, Any]) -> dict[str, Any]:
    return _dict(_dict(app.get("spec")).get("destination"))


def revision(sha: str, subject: Subject) -> Revision:
    return Revision(sha=sha, subject=(subject(sha) or "") if sha else "")


def _info(op: dict[str, Any], name: str) -> str | None:
    for entry in _list(op.get("info")):
        if _dict(entry).get("name") == name:
            return str(_dict(entry).get("value", ""))
    return None


def _initiator(op: dict[str, Any]) -> tuple[str, bool]:
    by = _dict(op.get("initiatedBy"))
    auto = bool(by.get("automated"))
    return (str(by.get("username") or ("automated" if auto else "")), auto)


def operation_state(app: dict[str, Any], subject: Subject) -> OperationState | None:
    """``status.operationState`` (the last or running operation), or the requested ``operation``."""
    state = _dict(_dict(app.get("status")).get("operationState"))
    requested = _dict(app.get("operation"))
    if not state and not requested:
        return None
    op = _dict(state.get("operation")) or requested
    sync = _dict(op.get("sync"))
    result = _dict(state.get("syncResult"))
    sha = str(result.get("revision") or sync.get("revision") or "")
    phase = state.get("phase") if state else "Running"
    who, auto = _initiator(op)
    ids = [int(_dict(e).get("id") or 0) for e in _list(_dict(app.get("status")).get("history"))]
    last = max(ids, default=0)
    return OperationState(
        id=last if phase == "Succeeded" else last + 1,  # a successful sync is the last history entry
        kind="rollback" if _info(op, KIND_INFO) == "rollback" else "sync",
        phase=cast(OperationPhase, phase if phase in PHASES else "Running"),
        message=str(
            state.get("message") or ("requested, waiting for the Argo CD controller" if not state else "")
        ),
        revision=revision(sha, subject),
        started_at=str(state.get("startedAt") or ""),
        finished_at=str(state["finishedAt"]) if state.get("finishedAt") else None,
        initiator=who,
        automated=auto,
        reason=_info(op, REASON_INFO),
    )


def history(app: dict[str, Any], subject: Subject) -> list[HistoryEntry]:
    """``status.history``, oldest first (Argo CD keeps the last ten by default)."""
    out: list[HistoryEntry] = []
    for raw in _list(_dict(app.get("status")).get("history")):
        entry = _dict(raw)
        who, auto = _initiator(entry)
        out.append(
            HistoryEntry(
                id=int(entry.get("id") or 0),
                revision=revision(str(entry.get("revision") or ""), subject),
                deployed_at=str(entry.get("deployedAt") or ""),
                started_at=str(entry.get("deployStartedAt") or entry.get("deployedAt") or ""),
                initiator=who,
                automated=auto,
            )
        )
    return sorted(out, key=lambda e: e.id)


def deployed_revision(app: dict[str, Any]) -> str:
    """What is deployed: the last history entry, else the last sync result."""
    entries = _list(_dict(app.get("status")).get("history"))
    if entries:
        last = max((_dict(e) for e in entries), key=lambda e: int(e.get("id") or 0))
        return str(last.get("revision") or "")
    result = _dict(_dict(_dict(app.get("status")).get("operationState")).get("syncResult"))
    return str(result.get("revision") or "")


def resources(app: dict[str, Any]) -> tuple[ResourceStatus, ...]:
    out: list[ResourceStatus] = []
    for raw in _list(_dict(app.get("status")).get("resources")):
        res = _dict(raw)
        block = _dict(res.get("health"))
        value = block.get("status")
        status_value = res.get("status")
        out.append(
            ResourceStatus(
                group=str(res.get("group") or ""),
                kind=str(res.get("kind") or ""),
                namespace=str(res.get("namespace") or ""),
                name=str(res.get("name") or ""),
                sync_status=cast(SyncStatus, status_value) if status_value in SYNC_STATUSES else "Unknown",
                health_status=cast(HealthStatus, value) if value in HEALTH_STATUSES else None,
                health_message=str(block.get("message") or ""),
                requires_pruning=bool(res.get("requiresPruning")),
                hook="hook" if res.get("hook") else None,  # Argo CD records only that it is one
            )
        )
    return tuple(out)


def comparison_error(app: dict[str, Any]) -> str | None:
    for raw in _list(_dict(app.get("status")).get("conditions")):
        cond = _dict(raw)
        if str(cond.get("type", "")).endswith("Error"):
            return f"{cond.get('type')}: {cond.get('message', '')}"
    return None


# -- InferenceServices ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Serving:
    """An InferenceService as ``status`` shows it: ready, replicas, where it answers."""

    name: str
    namespace: str
    ready: bool
    message: str
    ready_replicas: int | None  # KServe's status.modelStatus.copies.totalCopies (ready pods)
    min_replicas: int
    url: str | None  # the Route (https) when exposed, else status.url
    internal_url: str | None  # status.address.url (inside the cluster)
    auth: bool  # security.opendatahub.io/enable-auth: a bearer token is needed
    stopped: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "namespace": self.namespace, "ready": self.ready, "message": self.message,
            "ready_replicas": self.ready_replicas, "min_replicas": self.min_replicas, "url": self.url,
            "internal_url": self.internal_url, "auth": self.auth, "stopped": self.stopped,
        }  # fmt: skip

    def replicas(self) -> str:
        ready = "?" if self.ready_replicas is None else str(self.ready_replicas)
        return f"{ready}/{self.min_replicas}"


def route_url(route: dict[str, Any] | None) -> str | None:
    """``https://HOST`` of a Route (odh-model-controller's Routes always terminate TLS)."""
    if not route:
        return None
    spec = _dict(route.get("spec"))
    host = spec.get("host")
    if not host:
        ingress = [_dict(i) for i in _list(_dict(route.get("status")).get("ingress"))]
        host = next((i.get("host") for i in ingress if i.get("host")), None)
    if not host:
        return None
    scheme = "https" if spec.get("tls") else "http"
    return f"{scheme}://{host}"


def serving(isvc: dict[str, Any], route: dict[str, Any] | None) -> Serving:
    meta = _dict(isvc.get("metadata"))
    status = _dict(isvc.get("status"))
    annotations = _dict(meta.get("annotations"))
    ready_cond = next(
        (_dict(c) for c in _list(status.get("conditions")) if _dict(c).get("type") == "Ready"), {}
    )
    model = _dict(status.get("modelStatus"))
    copies = _dict(model.get("copies"))
    failure = _dict(model.get("lastFailureInfo"))
    message = str(ready_cond.get("message") or ready_cond.get("reason") or "")
    if failure.get("message") and model.get("transitionStatus") in ("BlockedByFailedLoad", "InvalidSpec"):
        message = f"{failure.get('reason', 'failed')}: {failure['message']}"
    predictor = _dict(_dict(isvc.get("spec")).get("predictor"))
    total = copies.get("totalCopies")
    return Serving(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        ready=ready_cond.get("status") == "True",
        message=message,
        ready_replicas=int(total) if isinstance(total, int) else None,
        min_replicas=int(predictor.get("minReplicas", 1) or 0),
        url=route_url(route) or (str(status["url"]) if status.get("url") else None),
        internal_url=str(_dict(status.get("address")).get("url") or "") or None,
        auth=str(annotations.get("security.opendatahub.io/enable-auth", "")).lower() == "true",
        stopped=str(annotations.get("serving.kserve.io/stop", "")).lower() == "true",
    )


# -- operations -----------------------------------------------------------------------------------


def sync_operation(
    app: dict[str, Any], *, username: str, reason: str | None, revision: str | None, prune: bool | None
) -> dict[str, Any]:
    """The ``operation`` Argo CD's API server writes for a sync (hook strategy, the spec's options)."""
    spec = _dict(app.get("spec"))
    policy = _dict(spec.get("syncPolicy"))
    auto = automated(app)
    src = source(app)
    sync: dict[str, Any] = {
        "revision": revision or str(src.get("targetRevision") or "HEAD"),
        "prune": bool(auto.get("prune")) if prune is None and auto else bool(prune),
        "syncStrategy": {"hook": {}},
    }
    if spec.get("source"):
        sync["source"] = spec["source"]
    if policy.get("syncOptions"):
        sync["syncOptions"] = list(policy["syncOptions"])
    return _operation(sync, username=username, reason=reason, verb="sync", retry=policy.get("retry"))


def rollback_operation(
    app: dict[str, Any], entry: dict[str, Any], *, username: str, reason: str | None, prune: bool
) -> dict[str, Any]:
    """The ``operation`` of Argo CD's rollback: the history entry's revision and source, apply strategy."""
    policy = _dict(_dict(app.get("spec")).get("syncPolicy"))
    sync: dict[str, Any] = {
        "revision": entry.get("revision", ""),
        "prune": prune,
        "syncStrategy": {"apply": {}},
        "source": entry.get("source"),
    }
    if entry.get("revisions"):
        sync["revisions"] = entry["revisions"]
    if entry.get("sources"):
        sync["sources"] = entry["sources"]
    if policy.get("syncOptions"):
        sync["syncOptions"] = list(policy["syncOptions"])
    return _operation(sync, username=username, reason=reason, verb="rollback", retry=None)


def _operation(
    sync: dict[str, Any], *, username: str, reason: str | None, verb: str, retry: Any
) -> dict[str, Any]:
    info = [{"name": KIND_INFO, "value": verb}]
    if reason:
        info.append({"name": REASON_INFO, "value": reason})
    op: dict[str, Any] = {"initiatedBy": {"username": username}, "info": info, "sync": sync}
    if isinstance(retry, dict) and retry:
        op["retry"] = retry
    return op


def operation_patch(app: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    """The merge patch that requests ``operation`` (as ``argo.SetAppOperation``: clears the last
    operation state; the resourceVersion makes a concurrent change a conflict, not a lost update)."""
    rv = _dict(app.get("metadata")).get("resourceVersion")
    return {"metadata": {"resourceVersion": rv}, "operation": operation, "status": {"operationState": None}}
