"""Consoles for command output: results to stdout, messages and errors to stderr.

The rich consoles are made on first use, so a command that prints only JSON or YAML
never imports rich.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def _width() -> int | None:
    # Keep tables readable when piped (CI logs) instead of rich's 80-column default.
    return None if os.isatty(1) else 160


@cache
def _console(err: bool) -> Console:
    from rich.console import Console

    if err:
        return Console(stderr=True, highlight=False)
    return Console(soft_wrap=False, width=_width(), highlight=False)


def __getattr__(name: str) -> Console:
    """``console.stdout`` and ``console.stderr``, made when first asked for."""
    if name in ("stdout", "stderr"):
        return _console(name == "stderr")
    raise AttributeError(name)


def plain(text: str) -> None:
    """Write machine-readable text (YAML, JSON) untouched by rich markup."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def safe(value: object) -> str:
    """``value`` as text to put inside rich markup: control characters made visible (terminal
    escapes from a manifest or an endpoint must not repaint the screen) and markup escaped
    (a name such as ``[/x]`` is text, not a tag)."""
    from rich.markup import escape

    from llmops.support.text import printable

    return escape(printable(str(value)))
