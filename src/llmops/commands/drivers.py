"""Which :class:`~llmops.gitops.appstate.Driver` the environment verbs talk to.

``--target local`` (the default) is the embedded engine started by ``llmops up`` on this
machine; ``--target cluster`` is Argo CD on the cluster of the current kubeconfig context.
The default comes from ``LLMOPS_TARGET``, else ``cluster.target`` in llmops.yaml, else ``local``.
Shared by the environment verbs (status, sync, wait, history, rollback, diff --live, freeze);
not a verb itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from llmops.errors import UsageError

if TYPE_CHECKING:
    from llmops.gitops.appstate import Driver, Target
    from llmops.gitops.repo import Repository

TARGET_ENV = "LLMOPS_TARGET"
TARGETS = ("local", "cluster")


@dataclass(frozen=True, kw_only=True)
class ClusterOptions:
    """Where Argo CD runs: kubeconfig context and the Argo CD namespace."""

    context: str | None = None  # None: llmops.yaml's cluster.context, else the current context
    namespace: str | None = None  # None: llmops.yaml's cluster.namespace (openshift-gitops)
    kubeconfig: Path | None = None  # default: $KUBECONFIG, else ~/.kube/config
    timeout: float = 15.0  # seconds per Kubernetes API request


def resolve_target(target: str | None, configured: str | None = None) -> Target:
    """``--target``, else ``LLMOPS_TARGET``, else llmops.yaml's ``cluster.target``, else local."""
    chosen = target or os.environ.get(TARGET_ENV) or configured or "local"
    if chosen not in TARGETS:
        raise UsageError(
            f"unknown target {chosen!r}", hint=f"use --target local or --target cluster (or set {TARGET_ENV})"
        )
    return "local" if chosen == "local" else "cluster"


def driver_for(
    target: str | None, repository: Callable[[], Repository], cluster: ClusterOptions | None = None
) -> Driver:
    """The driver for ``target``: the running embedded engine, or Argo CD on a cluster."""
    repo = repository()
    if resolve_target(target, repo.config.cluster.target) == "local":
        return _engine_driver(repo)
    return _cluster_driver(repo, cluster or ClusterOptions())


def _engine_driver(repo: Repository) -> Driver:
    from llmops.engine.client import connect

    return connect(repo)


def _cluster_driver(repo: Repository, options: ClusterOptions) -> Driver:
    from llmops.cluster.driver import ClusterDriver, ClusterSettings

    saved = repo.config.cluster
    settings = ClusterSettings(
        kubeconfig=options.kubeconfig, context=options.context or saved.context,
        namespace=options.namespace or saved.namespace, timeout=options.timeout,
    )  # fmt: skip
    return ClusterDriver(repo, settings)


def cluster_token(options: ClusterOptions) -> str:
    """The bearer token of the kubeconfig context (``--token-from-kubeconfig`` of smoke and bench)."""
    from llmops.cluster.client import connect

    with connect(kubeconfig=options.kubeconfig, context=options.context, timeout=options.timeout) as api:
        return api.bearer_token()
