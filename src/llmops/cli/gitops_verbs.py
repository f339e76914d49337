"""Verbs that read the repository: ``envs`` and ``render``."""

from __future__ import annotations

from pathlib import Path

import click

from llmops.cli.app import app, invocation
from llmops.cli.boundary import dispatch
from llmops.cli.options import output_file, output_format, targets

SECTION = "Repository"


@app.verb(
    SECTION,
    examples=[
        "llmops envs                     # promotion order, Applications, sync policies",
        "llmops envs -o wide             # also the project, Application file and repoURL",
        "llmops envs -o json | jq '.[].applications[].namespace'",
    ],
)
@output_format(["table", "wide", "json", "yaml"], "table")
@output_file
@click.pass_context
def envs(ctx: click.Context, fmt: str, output_file: Path | None) -> None:
    """List environments in promotion order with their Applications and sync policies."""
    from llmops.commands import envs as cmd

    inv = invocation(ctx)
    dispatch(inv.debug, lambda: cmd.run(inv.repository(), fmt=fmt, output_file=output_file))


@app.verb(
    SECTION,
    examples=[
        "llmops render dev                          # what Argo CD applies to dev",
        "llmops render production -o json          # a JSON List",
        "llmops render llmops-staging --output-file staging.yaml",
    ],
)
@targets
@output_format(["yaml", "json"], "yaml")
@output_file
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
