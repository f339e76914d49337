"""``llmops diff [TARGET ...] --base REF [--head REF]``: what a change does to each environment.

``llmops diff ENV --live``: what syncing would change, desired (the target revision) against the
live objects of the embedded engine or the cluster, in the same formats.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from llmops.commands import console
from llmops.delivery import diff, diff_formats
from llmops.errors import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, UsageError
from llmops.gitops.appstate import Driver
from llmops.gitops.repo import Repository


def run(
    repo: Repository,
    targets: list[str],
    *,
    base: str | None,
    head: str | None = None,
    fmt: str = "text",
    output_file: Path | None = None,
    show_diff: bool = True,
    render_all: bool = False,
    exit_code: bool = False,
    max_chars: int = diff_formats.PR_COMMENT_LIMIT,
) -> int:
    if not base:
        raise UsageError(
            "give --base REV (a change against a revision) or --live (desired against live)",
            hint="e.g. llmops diff --base main, or llmops diff dev --live",
        )
    with console.progress(f"diff: rendering {base} and {head or 'the working tree'}"):
        report = diff.compute(repo, targets, base, head, render_all=render_all)
    return _print(
        report,
        fmt=fmt,
        output_file=output_file,
        show_diff=show_diff,
        exit_code=exit_code,
        max_chars=max_chars,
    )


def run_live(
    driver: Callable[[], Driver], targets: list[str], *, fmt: str = "text", output_file: Path | None = None,
    show_diff: bool = True, exit_code: bool = False, max_chars: int = diff_formats.PR_COMMENT_LIMIT,
) -> int:  # fmt: skip
    """Desired (the target revision) against live, per Application of ``targets`` (default: all)."""
    target = driver()
    names = [s.name for t in (targets or [None]) for s in target.status(t)]  # type: ignore[list-item]
    objects = [target.live_objects(name) for name in dict.fromkeys(names)]
    report = diff.live_report(objects, f"live ({target.target})")
    return _print(
        report,
        fmt=fmt,
        output_file=output_file,
        show_diff=show_diff,
        exit_code=exit_code,
        max_chars=max_chars,
    )


def _print(
    report: diff.DiffReport,
    *,
    fmt: str,
    output_file: Path | None,
    show_diff: bool,
    exit_code: bool,
    max_chars: int,
) -> int:
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
