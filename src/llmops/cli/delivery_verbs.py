"""Verbs that move a change through the environments: ``diff``, ``comment`` and ``promote``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from llmops.cli.app import app, invocation
from llmops.cli.boundary import dispatch
from llmops.cli.options import cluster, output_format, target, targets

SECTION = "Delivery"


@app.verb(SECTION)
@targets
@click.option("-b", "--base", metavar="REV", help="Git revision to compare against.")
@click.option("--live", is_flag=True, help="Desired against live: what a sync would change.")
@target
@cluster
@click.option("--head", metavar="REV", help="Git revision of the change (default: the working tree).")
@output_format(["text", "markdown", "json"], "text")
@click.option("--summary", "no_diff", is_flag=True, help="Summary only, no line diffs (text).")
@click.option(
    "--all", "render_all", is_flag=True, help="Render every environment, even those no changed file touches."
)
@click.option("--exit-code", is_flag=True, help="Exit 1 when something changed.")
@click.option(
    "--max-chars", type=click.IntRange(min=1000), default=65_536, show_default=True,
    help="Markdown size limit (a GitHub comment holds 65536).",
)  # fmt: skip
@click.pass_context
def diff(
    ctx: click.Context,
    /,
    targets: tuple[str, ...],
    base: str | None,
    live: bool,
    target: str | None,
    head: str | None,
    fmt: str,
    no_diff: bool,
    render_all: bool,
    exit_code: bool,
    max_chars: int,
    **kube: Any,
) -> None:
    """Show what a change does to each environment (--base), or what a sync would change (--live)."""
    from llmops.commands import diff as cmd

    inv = invocation(ctx)
    if live:
        from llmops.commands.drivers import ClusterOptions, driver_for

        options = ClusterOptions(
            context=kube["kube_context"], namespace=kube["argocd_namespace"], kubeconfig=kube["kubeconfig"],
            timeout=kube["request_timeout"],
        )  # fmt: skip
        dispatch(
            inv.debug,
            lambda: cmd.run_live(
                lambda: driver_for(target, inv.repository, options), list(targets), fmt=fmt,
                show_diff=not no_diff, exit_code=exit_code, max_chars=max_chars,
            ),
        )  # fmt: skip
        return
    dispatch(
        inv.debug,
        lambda: cmd.run(
            inv.repository(),
            list(targets),
            base=base,
            head=head,
            fmt=fmt,
            show_diff=not no_diff,
            render_all=render_all,
            exit_code=exit_code,
            max_chars=max_chars,
        ),
    )


@app.verb(SECTION)
@targets
@click.option("-b", "--base", required=True, metavar="REV", help="Git revision to compare against.")
@click.option("--head", metavar="REV", help="Git revision of the change (default: the working tree).")
@click.option("--pr", "number", type=click.IntRange(min=1), metavar="N", help="Pull request number.")
@click.option(
    "--github-repo", envvar="GITHUB_REPOSITORY", metavar="OWNER/NAME",
    help="Repository of the pull request (default: $GITHUB_REPOSITORY).",
)  # fmt: skip
@click.option(
    "--api-url", envvar="GITHUB_API_URL", default="https://api.github.com", show_default=True,
    metavar="URL", help="GitHub API (GitHub Enterprise: https://HOST/api/v3; default: $GITHUB_API_URL).",
)  # fmt: skip
@click.option(
    "--token-file", type=click.Path(path_type=Path), metavar="PATH",
    help="Read the GitHub token from a file (default: $GITHUB_TOKEN).",
)  # fmt: skip
@click.option("--key", default="diff", show_default=True, help="Which sticky comment (its hidden marker).")
@output_format(["text", "json"], "text")
@click.option("--dry-run", is_flag=True, help="Print the comment instead of posting it.")
@click.pass_context
def comment(
    ctx: click.Context,
    targets: tuple[str, ...],
    base: str,
    head: str | None,
    number: int | None,
    github_repo: str | None,
    api_url: str,
    token_file: Path | None,
    key: str,
    fmt: str,
    dry_run: bool,
) -> None:
    """Post the diff as one pull-request comment, edited in place on every push (GitHub)."""
    from llmops.commands import comment as cmd

    inv = invocation(ctx)
    dispatch(
        inv.debug,
        lambda: cmd.run(
            inv.repository(),
            list(targets),
            base=base,
            head=head,
            number=number,
            github_repo=github_repo,
            api_url=api_url,
            token_file=token_file,
            key=key,
            fmt=fmt,
            dry_run=dry_run,
        ),
    )


@app.verb(SECTION)
@click.argument("src")
@click.argument("dst")
@click.option("--dry-run", is_flag=True, help="Show the diff only; write nothing.")
@click.option("--force", is_flag=True, help="Allow skipping a stage or going backwards (needs --reason).")
@click.option("--reason", help="Why the promotion order is broken (goes in the commit).")
@click.option("--push", is_flag=True, help="Push the new branch.")
@click.option("--remote", default="origin", show_default=True, help="Remote to push to.")
@click.option("--branch", help="Branch name (default: promote/DST-<short sha>).")
@click.pass_context
def promote(
    ctx: click.Context,
    src: str,
    dst: str,
    dry_run: bool,
    force: bool,
    reason: str | None,
    push: bool,
    remote: str,
    branch: str | None,
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
