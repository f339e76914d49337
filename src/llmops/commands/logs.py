"""``llmops logs ENV [-f] [--tail N]``: the vLLM logs of an environment (each replica's, prefixed when
there are several); ``-f`` follows them until Ctrl-C."""

from __future__ import annotations

import sys

from llmops.engine.client import connect
from llmops.errors import EXIT_OK
from llmops.gitops.repo import Repository


def run(repo: Repository, selector: str, *, follow: bool, tail: int) -> int:
    driver = connect(repo)
    if not follow:
        sys.stdout.write(driver.logs(selector, tail))
        return EXIT_OK
    for chunk in driver.follow_logs(selector, tail):
        sys.stdout.write(chunk)
        sys.stdout.flush()
    return EXIT_OK
