"""``llmops down [--keep-processes]``: stop the engine running for this repository (one started with
``llmops up --detach``, or in another terminal)."""

from __future__ import annotations

import time

from llmops.commands import console
from llmops.engine.client import EngineNotRunning, connect
from llmops.errors import EXIT_OK
from llmops.gitops.repo import Repository

STOP_DEADLINE_S = 60.0


def run(repo: Repository, *, keep_processes: bool) -> int:
    driver = connect(repo)
    driver.shutdown(keep_processes)
    deadline = time.monotonic() + STOP_DEADLINE_S
    while time.monotonic() < deadline:
        try:
            connect(repo)
        except EngineNotRunning:
            console.stderr.print(
                "engine stopped" + (" (vLLM processes left running)" if keep_processes else "")
            )
            return EXIT_OK
        time.sleep(0.3)
    console.stderr.print("the engine is still stopping; see `llmops status`")
    return EXIT_OK
