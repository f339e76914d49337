"""Verbs that move a change through the environments: ``diff`` and ``promote``."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops.cli.app import app, invocation
from llmops.cli.boundary import dispatch
from llmops.cli.options import DiffFormat, Targets


@app.command()
def diff(
    ctx: typer.Context,
    base: Annotated[str, typer.Option("--base", "-b", help="Git revision to compare against.")],
    targets: Targets = [],  # noqa: B006
    head: Annotated[
        str | None, typer.Option("--head", help="Git revision of the change (default: the working tree).")
    ] = None,
    fmt: Annotated[DiffFormat, typer.Option("--format", "-o", help="Output format.")] = DiffFormat.text,
    no_diff: Annotated[bool, typer.Option("--summary", help="Summary only, no line diffs (text).")] = False,
    render_all: Annotated[
        bool, typer.Option("--all", help="Render every environment, even those no changed file touches.")
    ] = False,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 1 when something changed.")] = False,
    max_chars: Annotated[
        int, typer.Option("--max-chars", min=1000, help="Markdown size limit (a GitHub comment holds 65536).")
    ] = 65_536,
) -> None:
    """Show what a change does to each environment: plan-style summary and diffs of the renders."""
    from llmops.commands import diff as cmd

    inv = invocation(ctx)
    dispatch(
        inv.debug,
        lambda: cmd.run(
            inv.repository(),
            list(targets),
            base=base,
            head=head,
            fmt=fmt.value,
            show_diff=not no_diff,
            render_all=render_all,
            exit_code=exit_code,
            max_chars=max_chars,
        ),
    )


@app.command()
def promote(
    ctx: typer.Context,
    src: Annotated[str, typer.Argument(help="Environment whose release is copied (e.g. dev).")],
    dst: Annotated[str, typer.Argument(help="Environment that receives it (e.g. staging).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the diff only; write nothing.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Allow skipping a stage or going backwards (needs --reason).")
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why the promotion order is broken (goes in the commit).")
    ] = None,
    push: Annotated[bool, typer.Option("--push", help="Push the new branch.")] = False,
    remote: Annotated[str, typer.Option("--remote", help="Remote to push to.")] = "origin",
    branch: Annotated[
        str | None, typer.Option("--branch", help="Branch name (default: promote/DST-<short sha>).")
    ] = None,
) -> None:
    """Promote SRC's release (model, image, vLLM arguments) to DST as one commit on a new branch."""
    from llmops.commands import promote as cmd

    inv = invocation(ctx)
    dispatch(
        inv.debug,
        lambda: cmd.run(
            inv.repository(),
            src,
            dst,
            dry_run=dry_run,
            force=force,
            reason=reason,
            push=push,
            remote=remote,
            branch=branch,
        ),
    )
