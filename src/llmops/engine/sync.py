"""Argo CD's sync semantics: when to sync by itself, and what one sync operation does.

When (:func:`auto_sync_decision`, after controller/appcontroller.go ``autoSync`` and
docs/user-guide/auto_sync.md):

* Only an Application with ``syncPolicy.automated`` (not ``enabled: false``) that is OutOfSync, has no
  comparison error and no running operation syncs by itself.
* One attempt per revision: when the last operation already went to the desired revision (and the
  same source), a failed attempt is not repeated (a SyncError condition says so), and a succeeded one
  is repeated only with ``selfHeal``, and not before ``--self-heal-timeout-seconds`` (5 s,
  ``engine.self_heal_timeout_s``) have passed since that operation finished.
* Not when the only differences are resources to prune and ``prune`` is off; never when every
  resource would be pruned (unless ``allowEmpty``).

What (:class:`SyncRunner`, after gitops-engine pkg/sync/sync_context.go):

* Tasks in phase order (PreSync hooks, Sync, PostSync hooks), waves (``argocd.argoproj.io/sync-wave``)
  and Helm's kind order; each wave applied in one store transaction. When the sync has several
  steps (hooks or waves), each wave must become Healthy before the next (Degraded fails the
  operation); a single-step sync succeeds once applied, even if a resource degrades later.
* Prune: resources gone from Git are deleted with ``prune``, else left and reported "requires
  pruning" (annotation ``Prune=false`` always keeps one); ``PruneLast=true`` deletes after the rest.
  ``ApplyOutOfSyncOnly=true`` applies only what differs; ``RespectIgnoreDifferences=true`` keeps the
  live value of ignored fields. ``CreateNamespace=true`` is recorded (namespaces are labels here).
* A failed hook fails the operation ("one or more synchronization tasks completed unsuccessfully");
  SyncFail hooks then run. ``retry`` (limit, backoff duration/factor/maxDuration; Argo CD's defaults
  5 s, 2, 3 m; limit -1 = unlimited) repeats a failed operation; automated operations without a
  retry policy get Argo CD's default of 5 retries. Rollbacks are not retried.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from llmops.errors import EngineError

DEFAULT_RETRY_LIMIT_AUTOMATED = 5
DEFAULT_BACKOFF_S = 5.0
DEFAULT_FACTOR = 2.0
DEFAULT_MAX_BACKOFF_S = 180.0

# Helm's kind order, as gitops-engine pkg/sync/sync_tasks.go kindOrder; other kinds come after.
KIND_ORDER = (
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
)
PHASE_ORDER = {"PreSync": -1, "Sync": 0, "PostSync": 1, "SyncFail": 2}
KNOWN_SYNC_OPTIONS = {
    "CreateNamespace": "recorded; namespaces are labels on this machine",
    "PruneLast": "honoured",
    "ApplyOutOfSyncOnly": "honoured",
    "RespectIgnoreDifferences": "honoured",
    "Validate": "no API server here: manifests are validated by `llmops validate`",
    "ServerSideApply": "applying replaces the live object here (no field merging)",
    "Replace": "applying replaces the live object here",
    "PrunePropagationPolicy": "deletion is immediate here",
    "FailOnSharedResource": "each Application owns its objects here",
}


class OperationRefused(EngineError):
    """The engine will not start this operation now (another runs, rollback of an automated app...)."""


def kind_rank(kind: str) -> int:
    return KIND_ORDER.index(kind) - len(KIND_ORDER) if kind in KIND_ORDER else 0


# -- retry -----------------------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(text: Any, default: float) -> float:
    """Argo CD's backoff durations: a number of seconds, or Go durations such as 10s, 3m, 1h30m."""
    if text is None or text == "":
        return default
    raw = str(text).strip()
    if re.fullmatch(r"\d+", raw):
        return float(raw)
    parts = _DURATION.findall(raw)
    if not parts or "".join(n + u for n, u in parts) != raw:
        return default
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


@dataclass(frozen=True)
class RetryPolicy:
    limit: int  # retries after the first attempt; -1 = unlimited
    duration_s: float = DEFAULT_BACKOFF_S
    factor: float = DEFAULT_FACTOR
    max_duration_s: float = DEFAULT_MAX_BACKOFF_S

    @classmethod
    def of(cls, spec: Any, *, automated: bool) -> RetryPolicy:
        """``syncPolicy.retry`` of an Application (Argo CD's RetryStrategy)."""
        if not isinstance(spec, dict):
            return cls(DEFAULT_RETRY_LIMIT_AUTOMATED if automated else 0)
        backoff = spec.get("backoff") if isinstance(spec.get("backoff"), dict) else {}
        assert isinstance(backoff, dict)
        limit = spec.get("limit")
        factor = backoff.get("factor")
        return cls(
            limit=int(limit) if isinstance(limit, int) else 0,
            duration_s=parse_duration(backoff.get("duration"), DEFAULT_BACKOFF_S),
            factor=float(factor) if isinstance(factor, int | float) else DEFAULT_FACTOR,
            max_duration_s=parse_duration(backoff.get("maxDuration"), DEFAULT_MAX_BACKOFF_S),
        )

    def allows(self, retries_done: int) -> bool:
        return self.limit < 0 or retries_done < self.limit

    def delay(self, retries_done: int) -> float:
        """Argo CD's RetryStrategy.NextRetryAt: duration x factor^retries, at most maxDuration."""
        wait = self.duration_s * self.factor**retries_done
        return min(self.max_duration_s, wait) if self.max_duration_s > 0 else wait


# -- sync options -----------------------------------------------------------------------------------


def sync_options(raw: Any) -> dict[str, str]:
    """``syncOptions`` as a mapping (``PruneLast=true`` -> {"PruneLast": "true"})."""
    out: dict[str, str] = {}
    for item in raw if isinstance(raw, list | tuple) else []:
        key, _, value = str(item).partition("=")
        out[key.strip()] = value.strip()
    return out


def option_on(options: dict[str, str], name: str) -> bool:
    return options.get(name, "").lower() == "true"


def option_notes(options: dict[str, str]) -> list[str]:
    return [
        f"syncOption {k}={v}: {KNOWN_SYNC_OPTIONS.get(k, 'not known to the embedded engine; ignored')}"
        for k, v in options.items()
        if KNOWN_SYNC_OPTIONS.get(k) != "honoured"
    ]


# -- when to sync by itself -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LastOperation:
    revision: str
    source: dict[str, Any]
    phase: str
    message: str
    finished_at: float | None  # epoch seconds; None while it runs


@dataclass(frozen=True, kw_only=True)
class AutoInputs:
    automated: bool
    self_heal: bool
    prune: bool
    allow_empty: bool
    sync_status: str
    comparison_error: bool
    operation_running: bool
    desired_revision: str
    source: dict[str, Any]
    last: LastOperation | None
    out_of_sync_prune_only: bool  # every OutOfSync resource only needs pruning
    all_require_pruning: bool  # every resource of the Application would be pruned
    now: float
    self_heal_timeout_s: float


@dataclass(frozen=True)
class Decision:
    action: Literal["none", "sync", "wait"]
    message: str = ""
    self_heal: bool = False
    retry_in: float = 0.0
    condition: str | None = None  # a SyncError condition to show


def auto_sync_decision(i: AutoInputs) -> Decision:
    """Whether an automated Application syncs now, later (self-heal wait), or not at all."""
    if not i.automated:
        return Decision("none", "manual sync policy")
    if i.operation_running or i.comparison_error or i.sync_status != "OutOfSync":
        return Decision("none")
    if i.out_of_sync_prune_only and not i.prune:
        return Decision("none", "need to prune extra resources only but automated prune is disabled")
    last = i.last
    attempted = last is not None and last.revision == i.desired_revision and last.source == i.source
    if attempted and last is not None:
        if last.phase != "Succeeded":
            message = f"Failed last sync attempt to {i.desired_revision[:8]}: {last.message}"
            return Decision("none", message, condition=message)
        if not i.self_heal:
            return Decision("none", f"most recent sync already to {i.desired_revision[:8]}")
        since = i.now - last.finished_at if last.finished_at is not None else 0.0
        remaining = i.self_heal_timeout_s - since
        if remaining > 0:
            return Decision("wait", f"self-heal in {remaining:.1f} s", self_heal=True, retry_in=remaining)
    if i.prune and not i.allow_empty and i.all_require_pruning:
        message = f"Skipping sync attempt to {i.desired_revision[:8]}: auto-sync will wipe out all resources"
        return Decision("none", message, condition=message)
    return Decision(
        "sync", "self-heal: reverting live drift" if attempted else "a new revision", self_heal=attempted
    )


# -- one operation ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class OpRequest:
    """An operation as it is started (and as it is resumed after an engine restart)."""

    app: str
    kind: Literal["sync", "rollback"]
    revision: str
    source: dict[str, Any]  # {"path", "repo_url", "target_revision"} at the time of the operation
    initiator: str
    automated: bool
    reason: str | None
    prune: bool
    options: dict[str, str] = field(default_factory=dict)
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(0))
    self_heal: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "revision": self.revision,
            "source": self.source,
            "initiator": self.initiator,
            "automated": self.automated,
            "reason": self.reason,
            "prune": self.prune,
            "options": self.options,
            "retry": [self.retry.limit, self.retry.duration_s, self.retry.factor, self.retry.max_duration_s],
            "self_heal": self.self_heal,
        }

    @classmethod
    def from_dict(cls, app: str, raw: dict[str, Any]) -> OpRequest:
        limit, duration, factor, max_duration = raw.get("retry") or [
            0,
            DEFAULT_BACKOFF_S,
            DEFAULT_FACTOR,
            DEFAULT_MAX_BACKOFF_S,
        ]
        return cls(
            app=app,
            kind=raw["kind"],
            revision=raw["revision"],
            source=raw["source"],
            initiator=raw["initiator"],
            automated=raw["automated"],
            reason=raw.get("reason"),
            prune=raw["prune"],
            options=raw.get("options") or {},
            retry=RetryPolicy(int(limit), float(duration), float(factor), float(max_duration)),
            self_heal=bool(raw.get("self_heal")),
        )


@dataclass(frozen=True, kw_only=True)
class Outcome:
    phase: Literal["Succeeded", "Failed", "Error"]
    message: str
    resources: tuple[dict[str, Any], ...] = ()
    check: str | None = None  # a failed verification check (PostSync hook, rollout deadline)
    retryable: bool = True  # False: no retry (a failed verification with auto-rollback rolls back)


Attempt = Callable[[OpRequest, int], Awaitable[Outcome]]


async def run_with_retries(
    request: OpRequest,
    attempt: Attempt,
    on_retry: Callable[[int, float, Outcome], None],
) -> tuple[Outcome, int]:
    """Run attempts until one succeeds or the retry policy is spent; (last outcome, retries done)."""
    retries = 0
    while True:
        outcome = await attempt(request, retries)
        if outcome.phase == "Succeeded" or not outcome.retryable or not request.retry.allows(retries):
            return outcome, retries
        delay = request.retry.delay(retries)
        on_retry(retries + 1, delay, outcome)
        await asyncio.sleep(delay)
        retries += 1


def with_message(outcome: Outcome, message: str) -> Outcome:
    return replace(outcome, message=message)
