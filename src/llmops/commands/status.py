"""``llmops status [ENV] [-o table|json|yaml] [--watch]``: sync, health, revision and endpoint of each
Application, from the embedded engine or Argo CD. ``--watch`` on the embedded engine redraws on each
event of its event stream (at least every few seconds); on a cluster it polls every second."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from llmops.commands import appviews, console
from llmops.errors import EXIT_OK, UsageError
from llmops.gitops.appstate import Driver

WATCH_INTERVAL_S = 1.0
EVENT_WATCH_MAX_S = 5.0  # with an event stream: redraw at least this often


class _Ticker:
    """Wakes the watch loop: on each event of the engine's stream, else every ``WATCH_INTERVAL_S``."""

    def __init__(self, target: Any, selector: str | None) -> None:
        self._changed = threading.Event()
        self.interval = WATCH_INTERVAL_S
        follow = getattr(target, "follow_events", None)
        if follow is not None:
            self.interval = EVENT_WATCH_MAX_S
            threading.Thread(target=self._follow, args=(follow, selector), daemon=True).start()

    def _follow(self, follow: Callable[..., Any], selector: str | None) -> None:
        with contextlib.suppress(Exception):  # the stream ended: the loop falls back to its interval
            for _event in follow(selector):
                self._changed.set()
        self.interval = WATCH_INTERVAL_S

    def wait(self) -> None:
        self._changed.wait(self.interval)
        self._changed.clear()


def run(
    driver: Callable[[], Driver],
    selector: str | None,
    *,
    fmt: str = "table",
    watch: bool = False,
    output_file: Path | None = None,
) -> int:
    if watch and output_file is not None:
        raise UsageError(
            "--watch redraws until Ctrl-C: it cannot go to --output-file", hint="drop one of them"
        )
    target = driver()
    if not watch:
        _show(target, selector, fmt, output_file)
        return EXIT_OK
    ticker = _Ticker(target, selector)
    if fmt not in ("table", "wide"):
        previous = ""
        while True:  # a stream of documents, one per change
            statuses = target.status(selector)
            text = appviews.dump([s.to_dict() for s in statuses], fmt)
            if text != previous:
                console.plain(text if fmt == "json" else "---\n" + text)
                previous = text
            ticker.wait()
    from rich.console import Group
    from rich.live import Live

    with Live(console=console.stdout, auto_refresh=False) as live:
        while True:
            statuses = target.status(selector)
            lines = [line for s in statuses for line in appviews.status_details(s)]
            live.update(Group(appviews.status_table(statuses), *lines), refresh=True)
            ticker.wait()


def _show(target: Driver, selector: str | None, fmt: str, output_file: Path | None) -> None:
    statuses = target.status(selector)

    def human(out: Console) -> None:
        out.print(appviews.status_table(statuses))
        for s in statuses:
            for line in appviews.status_details(s):
                out.print(line, soft_wrap=True)

    console.emit([s.to_dict() for s in statuses], fmt, output_file=output_file, human=human)
