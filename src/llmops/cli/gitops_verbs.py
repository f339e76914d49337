"""Verbs that read the repository: ``envs`` and ``render``."""

from __future__ import annotations

from pathlib import Path

import click

from llmops.cli.app import app, invocation
from llmops.cli.boundary import dispatch
from llmops.cli.options import output_format, targets

SECTION = "Repository"


@app.verb(SECTION)
@output_format(["table", "json"], "table")
@click.pass_context
def envs(ctx: click.Context, fmt: str) -> None:
    """List environments in promotion order with their Applications and sync policies."""
    from llmops.commands import envs as cmd

    inv = invocation(ctx)
    dispatch(inv.debug, lambda: cmd.run(inv.repository(), fmt=fmt))


@app.verb(SECTION)
@targets
@output_format(["yaml", "json"], "yaml", "--output")
@click.option(
    "--output-file", type=click.Path(path_type=Path), metavar="PATH",
    help="Write the manifests to this file instead of stdout (e.g. for a scanner).",
)  # fmt: skip
@click.option("--show-secrets", is_flag=True, help="Print Secret values (redacted by default).")
@click.pass_context
def render(
    ctx: click.Context, targets: tuple[str, ...], fmt: str, output_file: Path | None, show_secrets: bool
) -> None:
    """Render environments with real kustomize, exactly as Argo CD will (Secret values redacted)."""
    from llmops.commands import render as cmd

    inv = invocation(ctx)
    dispatch(
        inv.debug,
        lambda: cmd.run(
            inv.repository(), list(targets), fmt=fmt, output_file=output_file, show_secrets=show_secrets
        ),
    )
