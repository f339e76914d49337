"""``llmops up``: run the embedded engine on this repository, in the foreground with a live view of
each environment (sync, health, revision, endpoint), until Ctrl-C stops it and its vLLM processes.
``--detach`` runs it in the background instead (stop it with ``llmops down``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmops.commands import appviews, console
from llmops.errors import EXIT_OK
from llmops.gitops.appstate import AppStatus
from llmops.gitops.repo import Repository
from llmops.web import server


def _ready_text(info: dict[str, Any]) -> None:
    console.stderr.print(f"llmops engine for {console.safe(info['repository'])}")
    width = max([9, *(len(env) for env in info["endpoints"])])
    api = console.safe(info["api_url"])
    console.stderr.print(f"  {'dashboard':<{width}} {api}/ui/   (open it in a browser)")
    console.stderr.print(f"  {'API':<{width}} {api}   (docs: {api}/docs)")
    for env, url in info["endpoints"].items():
        console.stderr.print(
            f"  {console.safe(env):<{width}} {console.safe(url)}   (OpenAI API: {console.safe(url)}/v1)"
        )
    console.stderr.print(f"  {'state':<{width}} {console.safe(info['state_dir'])}")
    console.stderr.print("[dim]Ctrl-C stops the engine and its vLLM processes[/]")


class _LiveView:
    """The foreground view: a table redrawn in place on a terminal, changed lines otherwise."""

    def __init__(self) -> None:
        self.live: Any = None
        self.last: list[str] = []

    def __call__(self, statuses: list[AppStatus], info: dict[str, Any]) -> None:
        if sys.stdout.isatty():
            self._draw(statuses)
            return
        lines = [
            f"{s.environment} {s.name}: {s.sync_status} {s.health_status} "
            f"{appviews.short(s.revision.sha) if s.revision else '-'} {s.endpoint or ''}"
            + (f" [{s.operation.kind} #{s.operation.id} {s.operation.phase}]" if s.operation else "")
            for s in statuses
        ]
        for line in lines:
            if line not in self.last:
                console.plain(line)
        self.last = lines

    def _draw(self, statuses: list[AppStatus]) -> None:
        from rich.console import Group
        from rich.live import Live

        if self.live is None:
            self.live = Live(console=console.stdout, auto_refresh=False, transient=False)
            self.live.start()
        details = [line for s in statuses for line in appviews.status_details(s)]
        self.live.update(Group(appviews.status_table(statuses), *details), refresh=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


def _ready_to(fmt: str, output_file: Path | None) -> Callable[[dict[str, Any]], None]:
    """What to do once the engine serves: the addresses for people (stderr), or as a JSON/YAML
    document (stdout or ``output_file``) for a script that starts ``llmops up --detach``."""

    def ready(info: dict[str, Any]) -> None:
        if fmt == "text" and output_file is None:
            _ready_text(info)
            return
        shown = {k: info[k] for k in ("repository", "api_url", "endpoints", "state_dir") if k in info}
        console.emit(shown, fmt, output_file=output_file, human=lambda out: out.print(shown["api_url"]))

    return ready


def run(
    repo: Repository,
    *,
    detach: bool,
    quiet: bool,
    api_host: str | None,
    api_port: int | None,
    fmt: str = "text",
    output_file: Path | None = None,
) -> int:
    options = server.UpOptions(api_host=api_host, api_port=api_port)
    _ready = _ready_to(fmt, output_file)
    quiet = quiet or fmt != "text" or output_file is not None  # the data goes where the view would
    if detach:
        info = server.start_detached(repo, options)
        _ready(info)
        console.stderr.print(
            "[dim]running in the background: `llmops status` to look, `llmops down` to stop[/]"
        )
        return EXIT_OK
    view = None if quiet else _LiveView()
    try:
        server.run(repo, options, view=view, ready=_ready)
    finally:
        if view is not None:
            view.close()
    console.stderr.print("engine stopped")
    return EXIT_OK
