"""The status KServe would write on an InferenceService, written by the engine from its processes.

The engine's processes play the predictor's pods; this module turns their state into the
``status`` KServe's controller writes (conditions and ``modelStatus``), so the repository's own Argo CD
health check (``argocd/health/inferenceservice.lua``) judges a local deployment exactly as it judges
one on a cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .kserve_local import TranslationError

# -- the status KServe would write --------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ReplicaView:
    """What the supervisor knows of one replica, for the status."""

    state: str  # Pending | Starting | Ready | BackOff | Stopped
    exit_code: int | None = None
    last_error: str = ""
    failed_at: str = ""
    name: str = ""


def _condition(
    kind: str, ok: bool, previous: dict[str, dict[str, Any]], now: str, reason: str = "", message: str = ""
) -> dict[str, Any]:
    status = "True" if ok else "False"
    before = previous.get(kind)
    since = before.get("lastTransitionTime", now) if before and before.get("status") == status else now
    cond: dict[str, Any] = {"type": kind, "status": status, "lastTransitionTime": since}
    if not ok and reason:
        cond["reason"] = reason
    if not ok and message:
        cond["message"] = message
    return cond


def kserve_status(
    *,
    replicas: Sequence[ReplicaView],
    wanted: int,
    url: str,
    previous: dict[str, Any],
    now: str,
    invalid: TranslationError | None = None,
    stopped: bool = False,
    revision: str = "",
) -> dict[str, Any]:
    """The InferenceService status KServe would write for these replicas (raw deployment mode).

    Follows kserve pkg/apis/serving/v1beta1/inference_service_status.go PropagateModelStatus: ready ->
    Loaded/UpToDate; the predictor container terminated or in crash-loop back-off -> FailedToLoad /
    BlockedByFailedLoad with lastFailureInfo (reason ModelLoadFailed, the container's message and
    exit code); otherwise Pending/InProgress, keeping the last failure. A spec that cannot run is
    InvalidSpec.

    ``revision`` names the configuration the processes run (``lastFailureInfo.modelRevisionName``).
    One deliberate difference: KServe never clears ``lastFailureInfo``, and the repository's health
    check reads "not Ready with a failed load on record" as a crash loop, so a new configuration
    started after any earlier failure would be Degraded until Ready (and fail a sync that waits for
    health). The engine starts a new configuration as new pods start: without the old revision's
    failure. A failure of the configuration that runs now is kept, so a crash loop stays Degraded.
    """
    before = {str(c.get("type")): c for c in (previous.get("conditions") or []) if isinstance(c, dict)}
    model_status = dict(previous.get("modelStatus") or {})
    known = model_status.get("lastFailureInfo")
    if isinstance(known, dict) and known.get("modelRevisionName", "") != revision:
        del model_status["lastFailureInfo"]
    ready = sum(1 for r in replicas if r.state == "Ready")
    needed = wanted - wanted // 4 if wanted else 0  # a Deployment's default maxUnavailable is 25 %
    is_ready = not stopped and invalid is None and wanted > 0 and ready >= needed
    model_status["copies"] = {
        "failedCopies": sum(1 for r in replicas if r.state == "BackOff"),
        "totalCopies": ready,
    }
    failing = next((r for r in replicas if r.state == "BackOff"), None)
    if invalid is not None:
        model_status.update(
            transitionStatus="InvalidSpec",
            states={"activeModelState": "", "targetModelState": "FailedToLoad"},
        )
        known = model_status.get("lastFailureInfo") or {}
        since = known.get("time", now) if known.get("message") == invalid.message else now
        model_status["lastFailureInfo"] = {
            "reason": invalid.reason,
            "message": invalid.message,
            "modelRevisionName": revision,
            "time": since,
        }
    elif is_ready:
        model_status.update(
            transitionStatus="UpToDate", states={"activeModelState": "Loaded", "targetModelState": "Loaded"}
        )
    elif failing is not None:
        model_status.update(
            transitionStatus="BlockedByFailedLoad",
            states={"activeModelState": "", "targetModelState": "FailedToLoad"},
        )
        info: dict[str, Any] = {
            "location": failing.name,
            "reason": "ModelLoadFailed",
            "message": failing.last_error,
            "modelRevisionName": revision,
            "time": failing.failed_at or now,
        }
        if failing.exit_code is not None:
            info["exitCode"] = failing.exit_code
        model_status["lastFailureInfo"] = info
    else:
        model_status.update(
            transitionStatus="InProgress", states={"activeModelState": "", "targetModelState": "Pending"}
        )
    reason, message = "MinimumReplicasUnavailable", "Deployment does not have minimum availability."
    conditions = [
        _condition("IngressReady", True, before, now),
        _condition("PredictorReady", is_ready, before, now, reason, message),
        _condition("Ready", is_ready, before, now, reason, message),
    ]
    if stopped:
        conditions.append(_condition("Stopped", True, before, now))
    status: dict[str, Any] = {"conditions": conditions, "modelStatus": model_status, "observedGeneration": 1}
    if url:
        status["url"] = url
        status["address"] = {"url": url}
    return status
