"""``llmops diff [TARGET ...] --base REF [--head REF]``: what a change does to each environment."""

from __future__ import annotations

from pathlib import Path

from llmops.commands import console
from llmops.delivery import diff, diff_formats
from llmops.errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK
from llmops.gitops.repo import Repository


def run(
    repo: Repository,
    targets: list[str],
    *,
    base: str,
    head: str | None = None,
    fmt: str = "text",
    output_file: Path | None = None,
    show_diff: bool = True,
    render_all: bool = False,
    exit_code: bool = False,
    max_chars: int = diff_formats.PR_COMMENT_LIMIT,
) -> int:
    with console.progress(f"diff: rendering {base} and {head or 'the working tree'}"):
        report = diff.compute(repo, targets, base, head, render_all=render_all)
    if fmt in ("json", "yaml"):
        console.emit(diff_formats.to_data(report), fmt, output_file=output_file)
    elif fmt == "markdown":
        console.write(diff_formats.to_markdown(report, limit=max_chars), output_file)
    else:
        console.write(diff_formats.to_text(report, show_diff=show_diff), output_file)
    for app in report.errors:
        console.note(f"[bold red]error:[/] {console.safe(f'{app.environment}/{app.app}: {app.error}')}")
    if report.errors:
        console.note(
            "  [dim]hint:[/] run `kubectl kustomize OVERLAY` at that revision to see kustomize's full message"
        )
        return EXIT_ERROR
    return EXIT_FINDINGS if exit_code and report.has_changes else EXIT_OK
