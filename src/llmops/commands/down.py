"""``llmops down [--keep-processes]``: stop the engine running for this repository (one started with
``llmops up --detach``, or in another terminal)."""

from __future__ import annotations

import time
from pathlib import Path

from llmops.commands import console
from llmops.engine.client import EngineNotRunning, connect
from llmops.errors import EXIT_OK
from llmops.gitops.repo import Repository

STOP_DEADLINE_S = 60.0


def run(repo: Repository, *, keep_processes: bool, fmt: str = "text", output_file: Path | None = None) -> int:
    driver = connect(repo)
    driver.shutdown(keep_processes)
    deadline = time.monotonic() + STOP_DEADLINE_S
    stopped = False
    while time.monotonic() < deadline and not stopped:
        try:
            connect(repo)
            time.sleep(0.3)
        except EngineNotRunning:
            stopped = True
    text = "engine stopped" if stopped else "the engine is still stopping; see `llmops status`"
    if stopped and keep_processes:
        text += " (vLLM processes left running)"
    data = {"repository": str(repo.root), "stopped": stopped, "processes_kept": keep_processes}
    if fmt == "text" and output_file is None:
        console.note(text)  # a message for the person: stdout stays empty
    else:
        console.emit(data, fmt, output_file=output_file, human=lambda out: out.print(text))
    return EXIT_OK
