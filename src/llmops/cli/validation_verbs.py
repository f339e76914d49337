"""Verbs of the pre-merge gate: ``validate`` and the ``schemas`` catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops.cli.app import app, invocation
from llmops.cli.boundary import dispatch
from llmops.cli.options import CatalogOpt, ValidateFormat


@app.command()
def validate(
    ctx: typer.Context,
    env: Annotated[
        list[str], typer.Option("--env", "-e", help="Environment to validate (repeatable; default: all).")
    ] = [],  # noqa: B006
    fmt: Annotated[
        ValidateFormat, typer.Option("--format", "-o", help="Report format.")
    ] = ValidateFormat.table,
    changed_only: Annotated[
        bool, typer.Option("--changed-only", help="Only the environments a change since --base affects.")
    ] = False,
    base: Annotated[
        str, typer.Option("--base", help="Git ref to compare with for --changed-only.")
    ] = "origin/main",
    output_file: Annotated[
        Path | None, typer.Option("--output", help="Write the (non-table) report to this file.")
    ] = None,
) -> None:
    """The pre-merge gate: build, YAML lint, strict schemas, security, GitOps and vLLM serving rules.

    Exit 0 when there is no error, 1 when there are errors, 2 when validation could not run.
    """
    from llmops.commands import validate as cmd

    inv = invocation(ctx)
    dispatch(
        inv.debug,
        lambda: cmd.run(
            inv.repository(),
            list(env),
            fmt=fmt.value,
            changed_only=changed_only,
            base=base,
            output_file=output_file,
            debug=inv.debug,
        ),
    )


schemas_app = typer.Typer(help="The CRD schema catalog used by `llmops validate`.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")


@schemas_app.command("import")
def schemas_import(
    ctx: typer.Context,
    sources: Annotated[list[Path], typer.Argument(help="CRD YAML files or folders of them.")],
    catalog: CatalogOpt = None,
) -> None:
    """Import CRD schemas from YAML files into the repository's catalog."""
    from llmops.commands import schemas as cmd

    inv = invocation(ctx)
    dispatch(inv.debug, lambda: cmd.run_import(inv.repository(), list(sources), catalog=catalog))


@schemas_app.command("pull")
def schemas_pull(
    ctx: typer.Context,
    kubeconfig: Annotated[Path | None, typer.Option("--kubeconfig", help="Default: $KUBECONFIG.")] = None,
    context: Annotated[str | None, typer.Option("--context", help="kubeconfig context.")] = None,
    group: Annotated[
        list[str], typer.Option("--group", "-g", help="Only CRDs of this API group (repeatable).")
    ] = [],  # noqa: B006
    catalog: CatalogOpt = None,
) -> None:
    """Import the CRD schemas a live cluster serves (through the Kubernetes API)."""
    from llmops.commands import schemas as cmd

    inv = invocation(ctx)
    dispatch(
        inv.debug,
        lambda: cmd.run_pull(
            inv.repository(), kubeconfig=kubeconfig, context=context, groups=list(group), catalog=catalog
        ),
    )


@schemas_app.command("list")
def schemas_list(ctx: typer.Context, catalog: CatalogOpt = None) -> None:
    """List the CRD schemas in the catalog."""
    from llmops.commands import schemas as cmd

    inv = invocation(ctx)
    dispatch(inv.debug, lambda: cmd.run_list(inv.repository(), catalog=catalog))
