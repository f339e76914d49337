"""``llmops history ENV``: every operation of an environment's Application, oldest first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from llmops.commands import appviews, console
from llmops.errors import EXIT_OK
from llmops.gitops.appstate import Driver


def run(
    driver: Callable[[], Driver], selector: str, *, fmt: str = "table", output_file: Path | None = None
) -> int:
    target = driver()
    apps = [s.name for s in target.status(selector)]
    entries = {app: target.history(app) for app in apps}
    data = [e.to_dict() | {"app": app} for app, items in entries.items() for e in items]

    def human(out: Console) -> None:
        for app, items in entries.items():
            if len(apps) > 1:
                out.print(f"[bold]{console.safe(app)}[/]")
            if not items:
                out.print(f"{console.safe(app)}: no operation yet")
                continue
            out.print(appviews.history_table(items))

    console.emit(data, fmt, output_file=output_file, human=human)
    return EXIT_OK
