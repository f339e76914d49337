"""The result of an in-process CLI run, as tests read it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def yaml(self) -> list[dict[str, Any]]:
        return [d for d in yaml.safe_load_all(self.out) if d]

    @property
    def error_lines(self) -> list[str]:
        """The ``error:`` lines on stderr."""
        return [ln for ln in self.err.splitlines() if ln.startswith(("error:", "internal error:"))]


def command(*args: str) -> list[str]:
    """``llmops ARGS`` as a real process of this interpreter, from this checkout's sources."""
    import sys

    return [sys.executable, "-m", "llmops", *args]


def process_env(**extra: str) -> dict[str, str]:
    """The current environment (the tests' isolated HOME and XDG folders), importing the same
    llmops package as the tests do."""
    import os
    from pathlib import Path

    import llmops

    src = str(Path(llmops.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": src + (os.pathsep + path if path else ""), **extra}


def parse_command_line(args: list[str]) -> None:
    """Parse ``llmops ARGS`` as the CLI would, down to the verb's own options, without running
    it; raises ``click.ClickException`` (a usage error) when the line would not parse."""
    import click

    from llmops.cli import app, hoist_global_options

    ctx = app.make_context("llmops", hoist_global_options(args))
    group: click.Group = app
    rest = [*ctx._protected_args, *ctx.args]
    while rest:
        name, cmd, rest = group.resolve_command(ctx, rest)
        assert cmd is not None and name is not None
        ctx = cmd.make_context(name, rest, parent=ctx)
        if not isinstance(cmd, click.Group):
            return
        group, rest = cmd, [*ctx._protected_args, *ctx.args]
