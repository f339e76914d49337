"""``llmops completion SHELL``: print the completion script the CLI made for that shell."""

from __future__ import annotations

from llmops.commands import console


def run(script: str) -> int:
    console.plain(script)
    return 0
