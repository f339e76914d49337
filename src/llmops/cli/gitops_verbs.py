"""Verbs that read the repository: ``envs`` and ``render``."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops.cli.app import app, invocation
from llmops.cli.boundary import dispatch
from llmops.cli.options import RenderFormat, TableFormat, Targets


@app.command()
def envs(
    ctx: typer.Context,
    fmt: Annotated[TableFormat, typer.Option("--format", "-o", help="Output format.")] = TableFormat.table,
) -> None:
    """List environments in promotion order with their Applications and sync policies."""
    from llmops.commands import envs as cmd

    inv = invocation(ctx)
    dispatch(inv.debug, lambda: cmd.run(inv.repository(), fmt=fmt.value))


@app.command()
def render(
    ctx: typer.Context,
    targets: Targets = [],  # noqa: B006
    fmt: Annotated[RenderFormat, typer.Option("--output", "-o", help="Output format.")] = RenderFormat.yaml,
) -> None:
    """Render environments with real kustomize, exactly as Argo CD will."""
    from llmops.commands import render as cmd

    inv = invocation(ctx)
    dispatch(inv.debug, lambda: cmd.run(inv.repository(), list(targets), fmt=fmt.value))
