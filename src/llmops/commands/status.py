"""``llmops status [ENV] [-o table|json|yaml] [--watch]``: sync, health, revision and endpoint of each
Application, from the embedded engine or Argo CD."""

from __future__ import annotations

import time
from collections.abc import Callable

from llmops.commands import appviews, console
from llmops.errors import EXIT_OK
from llmops.gitops.appstate import Driver

WATCH_INTERVAL_S = 1.0


def run(
    driver: Callable[[], Driver], selector: str | None, *, fmt: str = "table", watch: bool = False
) -> int:
    target = driver()
    if not watch:
        _show(target, selector, fmt)
        return EXIT_OK
    if fmt != "table":
        previous = ""
        while True:  # a stream of documents, one per change
            statuses = target.status(selector)
            text = appviews.dump([s.to_dict() for s in statuses], fmt)
            if text != previous:
                console.plain(text if fmt == "json" else "---\n" + text)
                previous = text
            time.sleep(WATCH_INTERVAL_S)
    from rich.console import Group
    from rich.live import Live

    with Live(console=console.stdout, auto_refresh=False) as live:
        while True:
            statuses = target.status(selector)
            lines = [line for s in statuses for line in appviews.status_details(s)]
            live.update(Group(appviews.status_table(statuses), *lines), refresh=True)
            time.sleep(WATCH_INTERVAL_S)


def _show(target: Driver, selector: str | None, fmt: str) -> None:
    statuses = target.status(selector)
    if fmt in ("json", "yaml"):
        console.plain(appviews.dump([s.to_dict() for s in statuses], fmt))
        return
    console.stdout.print(appviews.status_table(statuses))
    for s in statuses:
        for line in appviews.status_details(s):
            console.stdout.print(line, soft_wrap=True)
