"""The engine's Prometheus metrics (``GET /metrics``, text format, through ``prometheus-client``).

Where Argo CD has a counterpart the name and labels are Argo CD's (argo-cd controller/metrics/metrics.go):

* ``argocd_app_info`` (gauge, 1 per Application): namespace, name, project, autosync_enabled, repo,
  dest_server, dest_namespace, sync_status, health_status, operation.
* ``argocd_app_sync_total`` (counter): namespace, name, project, dest_server, phase, dry_run; counted
  when an operation completes (Succeeded, Failed, Error), as ``IncSync`` does.
* ``argocd_app_reconcile`` (histogram, buckets 0.25 .. 16 s): namespace, dest_server; one observation
  per reconciler pass.

The engine's own, ``llmops_``: rollouts, verifications, auto-rollbacks and refused syncs per
Application; requests and latency of each environment's stable endpoint; frozen environments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from llmops.gitops.repo import Application

from .store import Event, Store

RECONCILE_BUCKETS = (0.25, 0.5, 1, 2, 4, 8, 16)  # Argo CD's
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
APP_INFO_LABELS = (
    "namespace", "name", "project", "autosync_enabled", "repo", "dest_server", "dest_namespace",
    "sync_status", "health_status", "operation",
)  # fmt: skip
CONTENT_TYPE = CONTENT_TYPE_LATEST


def _dest(app: Application) -> tuple[str, str]:
    spec = app.manifest.get("spec") or {}
    dest = spec.get("destination") if isinstance(spec.get("destination"), dict) else {}
    assert isinstance(dest, dict)
    return str(dest.get("server") or dest.get("name") or ""), str(dest.get("namespace") or "")


def _app_namespace(app: Application) -> str:
    return str((app.manifest.get("metadata") or {}).get("namespace") or "")


class _AppCollector:
    """``argocd_app_info`` and ``llmops_environment_frozen``, read from the store at scrape time."""

    def __init__(
        self, store: Store, apps: Callable[[], list[Application]], running: Callable[[str], bool]
    ) -> None:
        self.store = store
        self.apps = apps
        self.running = running

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("argocd_app_info", "Information about application.", labels=APP_INFO_LABELS)
        frozen = GaugeMetricFamily(
            "llmops_environment_frozen",
            "1 while an environment is frozen (llmops freeze).",
            labels=["environment"],
        )
        envs: set[str] = set()
        for app in self.apps():
            state = self.store.app_state(app.name)
            server, namespace = _dest(app)
            last = self.store.last_operation(app.name)
            operation = "sync" if self.running(app.name) and last else ""
            info.add_metric(
                [
                    _app_namespace(app),
                    app.name,
                    app.project,
                    str(app.sync.automated).lower(),
                    app.repo_url,
                    server,
                    namespace,
                    str(state.get("sync_status", "Unknown")),
                    str(state.get("health_status", "Unknown")),
                    operation,
                ],
                1,
            )
            envs.add(app.environment)
        for env in sorted(envs):
            frozen.add_metric([env], 1 if self.store.freeze(env) else 0)
        yield info
        yield frozen


class Metrics:
    def __init__(
        self, store: Store, apps: Callable[[], list[Application]], running: Callable[[str], bool]
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._apps = apps
        self.sync_total = Counter(
            "argocd_app_sync",
            "Number of application syncs.",
            ["namespace", "name", "project", "dest_server", "phase", "dry_run"],
            registry=self.registry,
        )
        self.reconcile = Histogram(
            "argocd_app_reconcile",
            "Application reconciliation performance in seconds.",
            ["namespace", "dest_server"],
            buckets=RECONCILE_BUCKETS,
            registry=self.registry,
        )
        self.rollouts = Counter(
            "llmops_rollouts",
            "vLLM rollouts of InferenceServices by result (Succeeded, Failed).",
            ["name", "isvc", "result"],
            registry=self.registry,
        )
        self.verifications = Counter(
            "llmops_verifications",
            "Post-sync verifications by result (Passed, Failed).",
            ["name", "result"],
            registry=self.registry,
        )
        self.auto_rollbacks = Counter(
            "llmops_auto_rollbacks",
            "Automatic rollbacks after a failed verification.",
            ["name"],
            registry=self.registry,
        )
        self.blocked = Counter(
            "llmops_syncs_blocked",
            "Syncs refused by a freeze or a sync window (automated ones once per revision).",
            ["name", "gate"],
            registry=self.registry,
        )
        self.requests = Counter(
            "llmops_endpoint_requests",
            "Requests to an environment's stable endpoint, by HTTP status.",
            ["environment", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "llmops_endpoint_request_duration_seconds",
            "Time from a request's arrival at the stable endpoint to the end of its response.",
            ["environment"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_AppCollector(store, apps, running))

    def _labels(self, name: str) -> tuple[str, str, str, str]:
        app = next((a for a in self._apps() if a.name == name), None)
        if app is None:
            return "", name, "", ""
        return _app_namespace(app), name, app.project, _dest(app)[0]

    def sync_completed(self, app: str, phase: str) -> None:
        namespace, name, project, server = self._labels(app)
        self.sync_total.labels(namespace, name, project, server, phase, "false").inc()

    def reconciled(self, app: str, seconds: float) -> None:
        namespace, _, _, server = self._labels(app)
        self.reconcile.labels(namespace, server).observe(seconds)

    def request(self, environment: str, status: int, seconds: float) -> None:
        self.requests.labels(environment, str(status)).inc()
        self.latency.labels(environment).observe(seconds)

    def on_event(self, event: Event) -> None:
        """Counters that follow recorded events (rollouts, verifications, auto-rollbacks)."""
        isvc = event.resource.partition("/")[2]
        counted: dict[str, Callable[[], Any]] = {
            "RolloutSwitched": lambda: self.rollouts.labels(event.app, isvc, "Succeeded").inc(),
            "RolloutFailed": lambda: self.rollouts.labels(event.app, isvc, "Failed").inc(),
            "VerificationPassed": lambda: self.verifications.labels(event.app, "Passed").inc(),
            "VerificationFailed": lambda: self.verifications.labels(event.app, "Failed").inc(),
            "AutoRollbackStarted": lambda: self.auto_rollbacks.labels(event.app).inc(),
            "SyncBlockedByFreeze": lambda: self.blocked.labels(event.app, "freeze").inc(),
            "SyncBlockedByWindow": lambda: self.blocked.labels(event.app, "window").inc(),
        }
        action = counted.get(event.reason)
        if action is not None:
            action()

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))
