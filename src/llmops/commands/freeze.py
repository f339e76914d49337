"""``llmops freeze ENV --reason`` / ``llmops unfreeze ENV``: stop (and allow again) syncs of an environment.

On a cluster a freeze is a deny sync window on the AppProject (Argo CD's own mechanism), so
the Argo CD UI, its CLI and automated syncs all respect it; the AppProject records who froze
the environment and why.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable

from rich.markup import escape

from llmops.commands import console
from llmops.commands.drivers import ClusterOptions, driver_for, resolve_target
from llmops.errors import EXIT_OK, UsageError
from llmops.gitops.repo import Repository


def _local_unavailable(target: str | None, repo: Repository) -> None:
    if resolve_target(target, repo.config.cluster.target) == "local":
        raise UsageError(
            "freeze of the embedded engine is not available yet",
            hint="use --target cluster for Argo CD on a cluster",
        )


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def run_freeze(
    repository: Callable[[], Repository], environment: str, reason: str, *, target: str | None,
    cluster: ClusterOptions,
) -> int:  # fmt: skip
    repo = repository()
    _local_unavailable(target, repo)
    repo.environment(environment)  # an unknown environment is a one-line error
    driver_for(target, lambda: repo, cluster).freeze(environment, initiator=_who(), reason=reason)
    console.stdout.print(
        f"{escape(environment)} is frozen: syncs are refused until `llmops unfreeze {escape(environment)}`"
    )
    return EXIT_OK


def run_unfreeze(
    repository: Callable[[], Repository], environment: str, reason: str | None, *, target: str | None,
    cluster: ClusterOptions,
) -> int:  # fmt: skip
    repo = repository()
    _local_unavailable(target, repo)
    repo.environment(environment)
    driver_for(target, lambda: repo, cluster).unfreeze(environment, initiator=_who(), reason=reason)
    console.stdout.print(f"{escape(environment)} is no longer frozen")
    return EXIT_OK
