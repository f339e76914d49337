"""``llmops logs ENV [-f] [--tail N]``: the vLLM logs of an environment (each replica's, prefixed when
there are several); ``-f`` follows them until Ctrl-C."""

from __future__ import annotations

import sys
from pathlib import Path

from llmops.commands import console
from llmops.engine.client import connect
from llmops.errors import EXIT_OK, UsageError
from llmops.gitops.repo import Repository


def run(repo: Repository, selector: str, *, follow: bool, tail: int, output_file: Path | None = None) -> int:
    if follow and output_file is not None:
        raise UsageError(
            "--follow prints until Ctrl-C: it cannot go to --output-file", hint="drop one of them"
        )
    driver = connect(repo)
    if not follow:
        console.write(driver.logs(selector, tail), output_file, label="logs")
        return EXIT_OK
    for chunk in driver.follow_logs(selector, tail):
        sys.stdout.write(chunk)
        sys.stdout.flush()
    return EXIT_OK
