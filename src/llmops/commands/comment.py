"""``llmops comment --base REF --pr N``: the diff as one sticky pull-request comment, edited in place."""

from __future__ import annotations

import json
from pathlib import Path

from rich.markup import escape

from llmops.commands import console
from llmops.delivery import diff, diff_formats, pr_comment
from llmops.errors import EXIT_ERROR, EXIT_OK
from llmops.gitops.repo import Repository


def run(
    repo: Repository,
    targets: list[str],
    *,
    base: str,
    head: str | None = None,
    number: int | None = None,
    github_repo: str | None = None,
    api_url: str = pr_comment.DEFAULT_API_URL,
    token_file: Path | None = None,
    key: str = "diff",
    fmt: str = "text",
    dry_run: bool = False,
) -> int:
    """Post (or, with ``dry_run``, print) the Markdown diff as the sticky comment ``key``."""
    pr = None if dry_run else _pull_request(number, github_repo, api_url)
    token = "" if pr is None else pr_comment.resolve_token(token_file)  # before the renders: fail fast
    report = diff.compute(repo, targets, base, head)
    markdown = diff_formats.to_markdown(report, limit=pr_comment.room(key))
    if dry_run or pr is None:
        body, _ = pr_comment.sticky_body(markdown, key)
        console.plain(body)
    else:
        posted = pr_comment.post_sticky(pr, markdown, token=token, key=key)
        _report(posted, pr, fmt)
    for app in report.errors:
        console.stderr.print(f"[bold red]error:[/] {escape(f'{app.environment}/{app.app}: {app.error}')}")
    if report.errors:
        console.stderr.print(
            "  [dim]hint:[/] the comment shows the render error; `llmops validate` says more"
        )
        return EXIT_ERROR
    return EXIT_OK


def _pull_request(number: int | None, github_repo: str | None, api_url: str) -> pr_comment.PullRequest:
    if number is None:
        raise pr_comment.CommentError(
            "which pull request? --pr is missing",
            hint="pass --pr N and --github-repo OWNER/NAME, or --dry-run to print the comment",
        )
    if not github_repo:
        raise pr_comment.CommentError(
            "which repository? --github-repo is missing (and GITHUB_REPOSITORY is not set)",
            hint="pass --github-repo OWNER/NAME",
        )
    return pr_comment.PullRequest(github_repo, number, api_url)


def _report(posted: pr_comment.Posted, pr: pr_comment.PullRequest, fmt: str) -> None:
    if fmt == "json":
        data = {
            "action": posted.action,
            "comment_id": posted.comment_id,
            "url": posted.url,
            "chars": posted.chars,
            "truncated": posted.truncated,
            "pull_request": f"{pr.repository}#{pr.number}",
        }
        console.plain(json.dumps(data, indent=2))
        return
    cut = " (cut to fit; it says so)" if posted.truncated else ""
    console.plain(
        f"comment {posted.action} on {pr.repository}#{pr.number}: {posted.url or posted.comment_id} "
        f"({posted.chars:,} characters{cut})"
    )
