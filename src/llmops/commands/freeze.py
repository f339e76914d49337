"""``llmops freeze ENV --reason`` / ``llmops unfreeze ENV``: stop (and allow again) syncs of an environment.

On a cluster a freeze is a deny sync window on the AppProject (Argo CD's own mechanism), so
the Argo CD UI, its CLI and automated syncs all respect it; the AppProject records who froze
the environment and why. On the embedded engine (``--target local``) the engine refuses every sync
of the environment (automated, manual, rollback, auto-rollback) and records the freeze and the
unfreeze, with who and why, in each of its Applications' history.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path

from llmops.commands import console
from llmops.commands.drivers import ClusterOptions, driver_for
from llmops.errors import EXIT_OK
from llmops.gitops.repo import Repository


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def run_freeze(
    repository: Callable[[], Repository], environment: str, reason: str, *, target: str | None,
    cluster: ClusterOptions, fmt: str = "text", output_file: Path | None = None,
) -> int:  # fmt: skip
    repo = repository()
    repo.environment(environment)  # an unknown environment is a one-line error
    driver_for(target, lambda: repo, cluster).freeze(environment, initiator=_who(), reason=reason)
    data = {"environment": environment, "frozen": True, "reason": reason}
    line = f"{environment} is frozen: syncs are refused until `llmops unfreeze {environment}`"
    console.emit(data, fmt, output_file=output_file, human=lambda out: out.print(line, markup=False))
    return EXIT_OK


def run_unfreeze(
    repository: Callable[[], Repository], environment: str, reason: str | None, *, target: str | None,
    cluster: ClusterOptions, fmt: str = "text", output_file: Path | None = None,
) -> int:  # fmt: skip
    repo = repository()
    repo.environment(environment)
    driver_for(target, lambda: repo, cluster).unfreeze(environment, initiator=_who(), reason=reason)
    data = {"environment": environment, "frozen": False, "reason": reason}
    line = f"{environment} is no longer frozen"
    console.emit(data, fmt, output_file=output_file, human=lambda out: out.print(line, markup=False))
    return EXIT_OK
