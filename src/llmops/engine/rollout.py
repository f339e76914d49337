"""How a changed InferenceService replaces its vLLM processes, as KServe's raw deployments do.

The strategy is the InferenceService's ``spec.predictor.deploymentStrategy.type``. KServe copies it
onto the predictor's Deployment and, when none is given, defaults to ``RollingUpdate`` (kserve
pkg/controller/v1beta1/inferenceservice/reconcilers/deployment/deployment_reconciler.go
``setDefaultDeploymentSpec``; 25 % max surge and max unavailable, so one replica surges to two and
never goes to zero). On this machine:

* ``RollingUpdate``: the new vLLM starts beside the old one, on its own port; the environment's
  endpoint switches to it the moment its readiness probe passes (``/health`` and the model listed),
  then the old one is drained (its in-flight requests, streams included, finish; at most the
  pod's ``terminationGracePeriodSeconds``, 30 s by default) and stopped.
* ``Recreate``: the old vLLM is drained and stopped first, then the new one starts: the endpoint
  answers 503 in between, and the status says so.

The progress deadline is a Deployment's ``progressDeadlineSeconds``, which KServe fixes at 600 s
(same function). KServe has no InferenceService field for it; the engine reads Knative's
``serving.knative.dev/progress-deadline`` annotation (which KServe's Serverless mode hands to
Knative, e.g. ``120s``) so a laptop or a test can shorten it. A new vLLM not ready by then is the
local ``ProgressDeadlineExceeded``: under RollingUpdate it is stopped and the old one keeps serving;
the operation that started the rollout fails with vLLM's own last error line.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from .store import now_rfc3339
from .windows import WindowError, go_duration

DEFAULT_PROGRESS_DEADLINE_S = 600.0  # KServe's progressDeadlineSeconds for a raw Deployment
DEFAULT_GRACE_S = 30.0  # a pod's default terminationGracePeriodSeconds
DEADLINE_ANNOTATION = "serving.knative.dev/progress-deadline"
Strategy = Literal["RollingUpdate", "Recreate"]


@dataclass(frozen=True, kw_only=True)
class RolloutPlan:
    strategy: Strategy = "RollingUpdate"
    deadline_s: float = DEFAULT_PROGRESS_DEADLINE_S
    grace_s: float = DEFAULT_GRACE_S
    notes: tuple[str, ...] = ()


def plan_for(isvc: dict[str, Any]) -> RolloutPlan:
    """The rollout an InferenceService asks for (strategy, progress deadline, drain grace)."""
    predictor = (isvc.get("spec") or {}).get("predictor") or {}
    annotations = (isvc.get("metadata") or {}).get("annotations") or {}
    notes: list[str] = []
    raw = (predictor.get("deploymentStrategy") or {}).get("type") if isinstance(predictor, dict) else None
    strategy: Strategy = "Recreate" if raw == "Recreate" else "RollingUpdate"
    if raw not in (None, "", "Recreate", "RollingUpdate"):
        notes.append(f"deploymentStrategy {raw!r} is not a Deployment strategy: RollingUpdate used")
    deadline = DEFAULT_PROGRESS_DEADLINE_S
    text = annotations.get(DEADLINE_ANNOTATION) if isinstance(annotations, dict) else None
    if text:
        try:
            deadline = max(1.0, go_duration(str(text)).total_seconds())
        except WindowError:
            notes.append(
                f"{DEADLINE_ANNOTATION}={text!r} is not a duration: {DEFAULT_PROGRESS_DEADLINE_S:g} s used"
            )
    grace = predictor.get("terminationGracePeriodSeconds") if isinstance(predictor, dict) else None
    grace_s = float(grace) if isinstance(grace, int | float) and grace >= 0 else DEFAULT_GRACE_S
    return RolloutPlan(strategy=strategy, deadline_s=deadline, grace_s=grace_s, notes=tuple(notes))


@dataclass(kw_only=True)
class Rollout:
    """One replacement of one replica: from start to switched (or failed)."""

    app: str
    isvc: str
    replica: int
    strategy: Strategy
    digest: str
    deadline_s: float
    started_at: str = field(default_factory=now_rfc3339)
    started_mono: float = field(default_factory=time.monotonic)
    started_wall: float = field(default_factory=time.time)
    old_stopped_mono: float | None = None  # Recreate: when the old process was gone
    ready_mono: float | None = None
    switched_mono: float | None = None
    switched_wall: float | None = None
    phase: Literal["Progressing", "Succeeded", "Failed", "Superseded"] = "Progressing"
    message: str = ""
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def finish(self, phase: Literal["Succeeded", "Failed", "Superseded"], message: str) -> None:
        if self.done.is_set():
            return
        self.phase = phase
        self.message = message
        self.done.set()

    def failure(self) -> str | None:
        return self.message if self.phase == "Failed" else None

    def to_dict(self) -> dict[str, Any]:
        def ms(a: float | None, b: float | None) -> float | None:
            return round((b - a) * 1000, 3) if a is not None and b is not None else None

        gap_from = self.old_stopped_mono if self.strategy == "Recreate" else None
        return {
            "isvc": self.isvc,
            "replica": self.replica,
            "strategy": self.strategy,
            "phase": self.phase,
            "message": self.message,
            "started_at": self.started_at,
            "started_wall": self.started_wall,
            "switched_wall": self.switched_wall,
            "progress_deadline_s": self.deadline_s,
            "ready_to_switched_ms": ms(self.ready_mono, self.switched_mono),
            "start_to_ready_s": None
            if self.ready_mono is None
            else round(self.ready_mono - self.started_mono, 3),
            "unavailable_s": None
            if gap_from is None or self.switched_mono is None
            else round(self.switched_mono - gap_from, 3),
        }
