"""``llmops promote SRC DST``: copy SRC's release into DST as one commit on a new branch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmops.commands import console
from llmops.delivery import promote
from llmops.delivery.diff import ABSENT
from llmops.errors import EXIT_OK, LlmopsError
from llmops.gitops.repo import Repository


def run(
    repo: Repository,
    src: str,
    dst: str,
    *,
    dry_run: bool = False,
    force: bool = False,
    reason: str | None = None,
    push: bool = False,
    remote: str = "origin",
    branch: str | None = None,
    fmt: str = "text",
    output_file: Path | None = None,
) -> int:
    p = promote.plan(repo, src, dst, force=force, reason=reason)
    for note in p.notes:
        console.note(f"note: {console.safe(note)}")
    for warning in p.warnings:
        console.note(f"[yellow]warning:[/] {console.safe(warning)}")
    name = branch or p.branch
    if not p.edits:
        _emit(p, fmt, output_file, dry_run=dry_run, branch=None)
        console.note(
            f"nothing to promote: {dst} already runs the release of {src} "
            f"(commit {p.source_commit[:8]}); no branch or commit created"
        )
        return EXIT_OK
    if dry_run:
        _emit(p, fmt, output_file, dry_run=True, branch=name)
        try:
            promote.preflight(repo, name)
        except LlmopsError as exc:
            raise type(exc)(f"dry run: the real run would refuse: {exc.message}", hint=exc.hint) from exc
        console.note(
            f"dry run: nothing written; would commit {len(p.edits)} file(s) on branch {console.safe(name)}"
        )
        return EXIT_OK
    result = promote.apply(repo, p, branch=branch, push=push, remote=remote)
    _emit(
        p, fmt, output_file, dry_run=False, branch=result.branch, commit=result.commit, pushed=result.pushed
    )
    where = f" and pushed it to {console.safe(remote)}" if result.pushed else ""
    console.note(
        f"created branch {console.safe(result.branch)} with commit {result.commit[:8]}{where}; your checkout "
        f"is unchanged (git switch {console.safe(result.branch)} to look at it)"
    )
    if not result.pushed:
        push_it = f"git push -u {console.safe(remote)} {console.safe(result.branch)}"
        console.note(f"next: {push_it}, then open a pull request")
    return EXIT_OK


def _value(value: Any) -> Any:
    return None if value is ABSENT else value


def to_data(
    p: promote.Plan, *, dry_run: bool, branch: str | None, commit: str | None = None, pushed: bool = False
) -> dict[str, Any]:
    """The JSON/YAML shape (docs/reference-json.md)."""
    return {
        "src": p.src,
        "dst": p.dst,
        "source_commit": p.source_commit,
        "dry_run": dry_run,
        "branch": branch,
        "commit": commit,
        "pushed": pushed,
        "edits": [
            {
                "file": e.path,
                "src_app": e.src_app,
                "dst_app": e.dst_app,
                "fields": [
                    {"resource": f.resource, "path": f.path, "old": _value(f.old), "new": _value(f.new)}
                    for f in e.fields
                ],
                "diff": e.unified_diff(),
            }
            for e in p.edits
        ],
        "notes": list(p.notes),
        "warnings": list(p.warnings),
    }


def _emit(
    p: promote.Plan,
    fmt: str,
    output_file: Path | None,
    *,
    dry_run: bool,
    branch: str | None,
    commit: str | None = None,
    pushed: bool = False,
) -> None:
    if fmt in ("json", "yaml"):
        data = to_data(p, dry_run=dry_run, branch=branch, commit=commit, pushed=pushed)
        console.emit(data, fmt, output_file=output_file)
    elif not p.edits:
        return
    elif commit is None:
        console.write("".join(e.unified_diff() for e in p.edits), output_file)
    else:
        console.write(promote.commit_message(p), output_file)
