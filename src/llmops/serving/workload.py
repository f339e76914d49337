"""The Deployment and autoscaler KServe makes for a raw-deployment InferenceService.

Read from kserve/kserve master (August 2026):

* Deployment mode: the ``serving.kserve.io/deploymentMode`` annotation; ``RawDeployment`` is the
  older name of ``Standard`` and ``Serverless`` of ``Knative`` (pkg/constants/constants.go,
  ``ParseDeploymentMode``, renamed in kserve/kserve#4608). Without the annotation the cluster's
  default applies (inferenceservice-config), unknown from Git.
* Rollout: ``spec.predictor.deploymentStrategy`` when set, else RollingUpdate with 25 % max surge
  and 25 % max unavailable (``setDefaultDeploymentSpec`` in
  pkg/controller/v1beta1/inferenceservice/reconcilers/deployment/deployment_reconciler.go; a
  cluster-wide ``deploymentRolloutStrategy`` in the ``deploy`` config may replace the default).
* Autoscaling: the ``serving.kserve.io/autoscalerClass`` annotation, ``hpa`` by default. An HPA is
  created whatever the replica range (reconcilers/hpa/hpa_reconciler.go ``shouldCreateHPA``); it
  scales on ``spec.predictor.autoScaling.metrics``, else on ``scaleMetric`` (default cpu) at
  ``scaleTarget`` (default 80 %). ``none`` and ``external`` create no HPA; ``keda`` a ScaledObject.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmops.gitops.manifests import Resource, as_list, get_path

MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
AUTOSCALER_ANNOTATION = "serving.kserve.io/autoscalerClass"
RAW_MODES = ("RawDeployment", "Standard")
KUBERNETES_DEFAULT_SURGE = "25%"  # a RollingUpdate without maxSurge (and KServe's own default)


def deployment_mode(isvc: Resource) -> str:
    """The deploymentMode annotation as written; "" when absent (the cluster default applies)."""
    annotations = get_path(isvc, "metadata.annotations")
    value = annotations.get(MODE_ANNOTATION) if isinstance(annotations, dict) else None
    return str(value) if value else ""


def may_be_raw(isvc: Resource) -> bool:
    """A raw (Standard) deployment, or no mode written (the cluster default may be raw)."""
    mode = deployment_mode(isvc)
    return not mode or mode in RAW_MODES


def replicas(isvc: Resource) -> tuple[int, int]:
    """(min, max) replicas as KServe's HPA takes them: min at least 1, max at least min."""
    low = _int(get_path(isvc, "spec.predictor.minReplicas"), 1)
    low = max(low, 1)
    high = max(_int(get_path(isvc, "spec.predictor.maxReplicas"), 0), low)
    return low, high


def _int(value: object, default: int) -> int:
    try:
        return int(str(value)) if value is not None else default
    except ValueError:
        return default


def _scaled(value: object, total: int) -> int | None:
    """An int-or-percent rollout field, rounded up as Kubernetes does for maxSurge."""
    text = str(value).strip()
    try:
        if text.endswith("%"):
            return math.ceil(float(text[:-1]) * total / 100)
        return int(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Rollout:
    """How a new release replaces the running pods."""

    strategy: str  # "RollingUpdate" or "Recreate"
    surge_pods: int  # pods started above the replica count during a rollout
    explicit: bool  # deploymentStrategy is written on the InferenceService
    max_surge: str  # as written, or KServe's default


def rollout(isvc: Resource) -> Rollout:
    """The rollout KServe gives the predictor's Deployment (the surge counted at minReplicas)."""
    strategy = get_path(isvc, "spec.predictor.deploymentStrategy")
    count = replicas(isvc)[0]
    if not isinstance(strategy, dict):
        surge = _scaled(KUBERNETES_DEFAULT_SURGE, count) or 0
        return Rollout("RollingUpdate", surge, False, KUBERNETES_DEFAULT_SURGE)
    kind = str(strategy.get("type") or "RollingUpdate")
    if kind == "Recreate":
        return Rollout(kind, 0, True, "")
    rolling = strategy.get("rollingUpdate")
    written = rolling.get("maxSurge") if isinstance(rolling, dict) else None
    max_surge = KUBERNETES_DEFAULT_SURGE if written is None else str(written)
    return Rollout(kind, _scaled(max_surge, count) or 0, True, max_surge)


@dataclass(frozen=True)
class Scaling:
    """What KServe's autoscaler for the predictor reacts to."""

    autoscaler: str  # hpa, keda, none, external, ...
    signals: tuple[str, ...]  # resource metrics (cpu, memory) and metric types (External, PodMetric)
    explicit: bool  # metrics written on the InferenceService, rather than KServe's default


def _metric_signal(metric: object) -> str:
    if not isinstance(metric, dict):
        return "?"
    kind = str(metric.get("type") or "")
    if kind == "Resource":
        return str(get_path(metric, "resource.name") or "cpu")
    return kind or "?"


def scaling(isvc: Resource) -> Scaling:
    """The autoscaler class and the signals it scales on (KServe's defaults filled in)."""
    annotations = get_path(isvc, "metadata.annotations")
    klass = annotations.get(AUTOSCALER_ANNOTATION) if isinstance(annotations, dict) else None
    autoscaler = str(klass) if klass else "hpa"
    metrics = as_list(get_path(isvc, "spec.predictor.autoScaling.metrics"))
    if metrics:
        return Scaling(autoscaler, tuple(_metric_signal(m) for m in metrics), True)
    written = get_path(isvc, "spec.predictor.scaleMetric")
    return Scaling(autoscaler, (str(written) if written else "cpu",), written is not None)
