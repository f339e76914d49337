"""``llmops rollback ENV [ID] [--reason TEXT]``: redeploy a history entry's revision.

As in Argo CD, refused for an Application that syncs automatically (its next sync would undo it).
Without ID: the deployment before the current one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from llmops.commands import appviews, console
from llmops.errors import EXIT_FINDINGS, EXIT_OK
from llmops.gitops.appstate import Driver, OperationState


def run(
    driver: Callable[[], Driver],
    selector: str,
    history_id: int | None,
    *,
    initiator: str,
    reason: str | None,
    wait: bool,
    fmt: str = "text",
) -> int:
    target = driver()
    app = target.status(selector)
    name = app[0].name if len(app) == 1 else selector
    op: OperationState = target.rollback(name, history_id, initiator=initiator, reason=reason)
    read = getattr(target, "operation", None)
    while wait and op.phase == "Running" and read is not None:
        time.sleep(1.0)
        op = read(op.id)
    if fmt in ("json", "yaml"):
        console.plain(appviews.dump(op.to_dict(), fmt))
    else:
        console.stdout.print(f"{console.safe(name)}: " + appviews.operation_line(op), soft_wrap=True)
        for line in appviews.operation_result_lines(op):
            console.stdout.print(line, soft_wrap=True)
    return EXIT_FINDINGS if op.phase in ("Failed", "Error") else EXIT_OK
