"""``llmops init``: start using llmops on a repository (or start a new one from the example layout)."""

from __future__ import annotations

from pathlib import Path

import click

from llmops.cli.app import app, invocation
from llmops.cli.boundary import dispatch
from llmops.cli.options import output_format

SECTION = "Repository"


@app.verb(SECTION)
@click.option("--dry-run", is_flag=True, help="Print what would be written; write nothing.")
@click.option("--force", is_flag=True, help="Replace files that differ (the diff is shown first).")
@click.option(
    "--example", is_flag=True,
    help="Write the reference layout for one model (base, overlays, Argo CD Applications, llmops.yaml).",
)  # fmt: skip
@output_format(["text", "json"], "text")
@click.pass_context
def init(ctx: click.Context, dry_run: bool, force: bool, example: bool, fmt: str) -> None:
    """Propose a commented llmops.yaml from the repository's Argo CD Applications and overlays.

    Never replaces a file that differs without --force (the diff is shown first).
    """
    from llmops.commands import init as cmd

    inv = invocation(ctx)
    start = inv.repo if inv.repo is not None else Path.cwd()
    dispatch(inv.debug, lambda: cmd.run(start, example=example, force=force, dry_run=dry_run, fmt=fmt))
