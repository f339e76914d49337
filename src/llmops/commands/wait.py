"""``llmops wait ENV [--health] [--sync] [--operation] [--timeout S]``: block until the environment is
Healthy and/or Synced (and no operation runs); exit 1 when the timeout passes first."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from llmops.commands import console
from llmops.errors import EXIT_FINDINGS, EXIT_OK
from llmops.gitops.appstate import AppStatus, Driver

POLL_S = 0.5


def _pending(s: AppStatus, health: bool, sync: bool, operation: bool) -> list[str]:
    out = []
    if health and s.health_status != "Healthy":
        out.append(f"health {s.health_status}")
    if sync and s.sync_status != "Synced":
        out.append(f"sync {s.sync_status}")
    if operation and s.operation is not None and s.operation.phase == "Running":
        out.append(f"operation #{s.operation.id} running")
    return out


def run(
    driver: Callable[[], Driver],
    selector: str,
    *,
    health: bool,
    sync: bool,
    operation: bool,
    timeout: float,
    fmt: str = "text",
    output_file: Path | None = None,
) -> int:
    if not (health or sync or operation):
        health = sync = operation = True
    target = driver()
    deadline = time.monotonic() + timeout
    while True:
        statuses = target.status(selector)
        pending = {s.name: _pending(s, health, sync, operation) for s in statuses}
        done = not any(pending.values())
        if done or time.monotonic() > deadline:
            break
        time.sleep(POLL_S)
    if done:
        line = f"{selector}: " + ", ".join(f"{s.name} {s.sync_status} {s.health_status}" for s in statuses)
    else:
        waiting = "; ".join(f"{name}: {', '.join(p)}" for name, p in pending.items() if p)
        line = f"[bold red]timed out[/] after {timeout:g} s waiting for {selector} ({waiting})"
    if fmt == "text" and output_file is None:
        console.note(line)  # a note: nothing on stdout, as before
    else:
        console.emit(
            [s.to_dict() for s in statuses], fmt, output_file=output_file, human=lambda out: out.print(line)
        )
    return EXIT_OK if done else EXIT_FINDINGS
