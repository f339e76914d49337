"""``llmops events [ENV] [-f] [-o table|json]``: what happened in the local engine, oldest first (every
state change is an event: time, Application, resource, type, reason, message); ``-f`` keeps printing
new ones as the engine records them (its server-sent event stream) until Ctrl-C."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from llmops.commands import console
from llmops.engine.client import connect
from llmops.errors import EXIT_OK, UsageError
from llmops.gitops.repo import Repository

FORMATS = ("table", "json", "yaml")


def _apps(driver: Any, selector: str | None) -> set[str] | None:
    return {s.name for s in driver.status(selector)} if selector else None


def _line(event: dict[str, Any]) -> str:
    style = "yellow" if event.get("type") == "Warning" else ""
    what = escape(f"{event['reason']}")
    where = escape(" ".join(x for x in (event.get("app") or "engine", event.get("resource") or "") if x))
    text = f"{event['time']}  {where}  {what}: {escape(event['message'])}"
    return f"[{style}]{text}[/]" if style else text


def _show(event: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        console.plain(json.dumps(event))
    else:
        console.stdout.print(_line(event), soft_wrap=True, highlight=False)


def run(
    repo: Repository,
    selector: str | None,
    *,
    follow: bool,
    limit: int,
    fmt: str = "table",
    output_file: Path | None = None,
) -> int:
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} for events", hint=f"use one of: {', '.join(FORMATS)}")
    if follow and output_file is not None:
        raise UsageError(
            "--follow prints until Ctrl-C: it cannot go to --output-file", hint="drop one of them"
        )
    driver = connect(repo)
    apps = _apps(driver, selector)
    known = driver.events()
    recorded = [e for e in known if apps is None or e["app"] in apps][-limit:] if limit else []
    if not follow and (fmt != "table" or output_file is not None):

        def human(out: Console) -> None:
            for event in recorded:
                out.print(_line(event), soft_wrap=True, highlight=False)

        console.emit(recorded, fmt, output_file=output_file, human=human)
        return EXIT_OK
    for event in recorded:
        _show(event, fmt)
    if not follow:
        if not recorded and fmt == "table":
            console.stderr.print("no events yet")
        return EXIT_OK
    last = max((e["id"] for e in known), default=0)
    for event in driver.follow_events(selector, since=last):
        _show(event, fmt)
    return EXIT_OK
