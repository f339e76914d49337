"""Which :class:`~llmops.gitops.appstate.Driver` the environment verbs talk to.

``--target local`` (the default) is the embedded engine started by ``llmops up`` on this
machine; ``--target cluster`` is Argo CD on the cluster of the current kubeconfig context.
The default comes from ``LLMOPS_TARGET``, else ``local``. Shared by the environment verbs
(status, sync, wait, history, rollback, diff --live, freeze); not a verb itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
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

    context: str | None = None
    namespace: str = "openshift-gitops"


def resolve_target(target: str | None) -> Target:
    chosen = target or os.environ.get(TARGET_ENV) or "local"
    if chosen not in TARGETS:
        raise UsageError(
            f"unknown target {chosen!r}", hint=f"use --target local or --target cluster (or set {TARGET_ENV})"
        )
    return "local" if chosen == "local" else "cluster"


def driver_for(
    target: str | None, repository: Callable[[], Repository], cluster: ClusterOptions | None = None
) -> Driver:
    """The driver for ``target``: the running embedded engine, or Argo CD on a cluster."""
    if resolve_target(target) == "local":
        return _engine_driver(repository())
    return _cluster_driver(repository(), cluster or ClusterOptions())


def _engine_driver(repo: Repository) -> Driver:
    from llmops.engine.client import connect

    return connect(repo)


def _cluster_driver(repo: Repository, options: ClusterOptions) -> Driver:
    raise UsageError(
        "the cluster driver is not available in this build",
        hint="use --target local with `llmops up`",
    )
