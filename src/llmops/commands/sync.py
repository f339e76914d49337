"""``llmops sync ENV [--yes] [--reason TEXT]``: a person's sync of an environment to its target revision.

A manual environment asks for confirmation first (the approval gate); without a terminal, ``--yes``
is required. The command waits for the operation to end (hooks included) unless ``--async``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from llmops.commands import appviews, console
from llmops.errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_INTERRUPTED, EXIT_OK, UsageError
from llmops.gitops.appstate import AppStatus, Driver, OperationState, SyncRequest

POLL_S = 1.0


def _confirm(statuses: list[AppStatus], assume_yes: bool) -> bool:
    manual = [s for s in statuses if not s.auto_sync]
    if not manual or assume_yes:
        return True
    names = ", ".join(s.name for s in manual)
    if not sys.stdin.isatty():
        raise UsageError(
            f"{names} is synced by a person, and there is no terminal to confirm on",
            hint="pass --yes to confirm (and --reason to say why)",
        )
    for s in manual:
        target = s.desired_revision
        what = f"{appviews.short(target.sha)} {target.subject}" if target else s.target_revision
        console.stderr.print(
            f"sync {console.safe(s.name)} ({s.sync_status}, {s.health_status}) to {console.safe(what)}"
        )
    from rich.prompt import Confirm

    return Confirm.ask(f"sync {names} now?", console=console.stderr, default=False)


def _wait(target: Driver, op: OperationState, app: str, timeout: float | None) -> OperationState:
    deadline = time.monotonic() + timeout if timeout else None
    read = getattr(target, "operation", None)
    while op.phase in ("Running", "Terminating"):
        if deadline is not None and time.monotonic() > deadline:
            break
        time.sleep(POLL_S)
        if read is not None:
            op = read(op.id)
        else:
            latest = target.status(app)[0].operation
            op = latest if latest is not None else op
    return op


def run(
    driver: Callable[[], Driver],
    selector: str,
    *,
    initiator: str,
    reason: str | None,
    revision: str | None,
    prune: bool | None,
    assume_yes: bool,
    wait: bool,
    timeout: float | None,
    fmt: str = "text",
) -> int:
    target = driver()
    statuses = target.status(selector)
    if not _confirm(statuses, assume_yes):
        console.stderr.print("not synced")
        return EXIT_INTERRUPTED
    results: list[OperationState] = []
    for s in statuses:
        op = target.sync(
            SyncRequest(app=s.name, initiator=initiator, reason=reason, revision=revision, prune=prune)
        )
        if fmt == "text":
            console.stderr.print(
                f"{console.safe(s.name)}: {op.kind} #{op.id} to {appviews.short(op.revision.sha)} started"
            )
        results.append(_wait(target, op, s.name, timeout) if wait else op)
    if fmt in ("json", "yaml"):
        console.plain(appviews.dump([op.to_dict() for op in results], fmt))
    else:
        for s, op in zip(statuses, results, strict=True):
            console.stdout.print(f"{console.safe(s.name)}: " + appviews.operation_line(op), soft_wrap=True)
            for line in appviews.operation_result_lines(op):
                console.stdout.print(line, soft_wrap=True)
    if any(op.phase in ("Failed", "Error") for op in results):
        return EXIT_FINDINGS
    if any(op.phase == "Running" for op in results) and wait:
        return EXIT_ERROR  # the timeout passed
    return EXIT_OK
