"""``llmops history ENV``: every operation of an environment's Application, oldest first."""

from __future__ import annotations

from collections.abc import Callable

from llmops.commands import appviews, console
from llmops.errors import EXIT_OK
from llmops.gitops.appstate import Driver


def run(driver: Callable[[], Driver], selector: str, *, fmt: str = "table") -> int:
    target = driver()
    apps = [s.name for s in target.status(selector)]
    entries = {app: target.history(app) for app in apps}
    if fmt in ("json", "yaml"):
        data = [e.to_dict() | {"app": app} for app, items in entries.items() for e in items]
        console.plain(appviews.dump(data, fmt))
        return EXIT_OK
    for app, items in entries.items():
        if len(apps) > 1:
            console.stdout.print(f"[bold]{app}[/]")
        if not items:
            console.stdout.print(f"{app}: no operation yet")
            continue
        console.stdout.print(appviews.history_table(items))
    return EXIT_OK
