"""``llmops refresh [ENV]``: re-read the repositories (fetching remotes), render again and compare now,
instead of waiting for the next poll."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from llmops.commands import console
from llmops.errors import EXIT_OK
from llmops.gitops.appstate import Driver


def run(
    driver: Callable[[], Driver], selector: str | None, *, fmt: str = "text", output_file: Path | None = None
) -> int:
    """Refresh, then print the statuses as they are now (the comparison just made)."""
    target = driver()
    target.refresh(selector)
    console.note(f"refreshed {console.safe(selector or 'every environment')}")
    statuses = target.status(selector)
    console.emit(
        [s.to_dict() for s in statuses],
        fmt,
        output_file=output_file,
        human=lambda out: out.print(
            "\n".join(f"{console.safe(s.name)}: {s.sync_status} {s.health_status}" for s in statuses)
        ),
    )
    return EXIT_OK
