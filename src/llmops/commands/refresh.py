"""``llmops refresh [ENV]``: re-read the repositories (fetching remotes), render again and compare now,
instead of waiting for the next poll."""

from __future__ import annotations

from collections.abc import Callable

from llmops.commands import console
from llmops.errors import EXIT_OK
from llmops.gitops.appstate import Driver


def run(driver: Callable[[], Driver], selector: str | None) -> int:
    target = driver()
    target.refresh(selector)
    console.stderr.print(f"refreshed {console.safe(selector or 'every environment')}")
    return EXIT_OK
