"""Consoles for command output: results to stdout, messages and errors to stderr."""

from __future__ import annotations

import os

from rich.console import Console


def _width() -> int | None:
    # Keep tables readable when piped (CI logs) instead of rich's 80-column default.
    return None if os.isatty(1) else 160


stdout = Console(soft_wrap=False, width=_width(), highlight=False)
stderr = Console(stderr=True, highlight=False)


def plain(text: str) -> None:
    """Write machine-readable text (YAML, JSON) untouched by rich markup."""
    stdout.file.write(text if text.endswith("\n") else text + "\n")
    stdout.file.flush()
