"""``llmops promote SRC DST``: copy SRC's release into DST as one commit on a new branch."""

from __future__ import annotations

from llmops.commands import console
from llmops.delivery import promote
from llmops.errors import EXIT_OK
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
) -> int:
    p = promote.plan(repo, src, dst, force=force, reason=reason)
    for note in p.notes:
        console.stderr.print(f"note: {console.safe(note)}", soft_wrap=True)
    if not p.edits:
        console.stdout.print(
            f"nothing to promote: {dst} already runs the release of {src} "
            f"(commit {p.source_commit[:8]}); no branch or commit created"
        )
        return EXIT_OK
    if dry_run:
        console.plain("".join(e.unified_diff() for e in p.edits))
        console.stderr.print(
            f"dry run: nothing written; would commit {len(p.edits)} file(s) on branch {branch or p.branch}",
            soft_wrap=True,
        )
        return EXIT_OK
    result = promote.apply(repo, p, branch=branch, push=push, remote=remote)
    console.plain(promote.commit_message(p))
    where = f" and pushed it to {remote}" if result.pushed else ""
    console.stdout.print(
        f"created branch {result.branch} with commit {result.commit[:8]}{where}; your checkout is "
        f"unchanged (git switch {result.branch} to look at it)",
        soft_wrap=True,
    )
    if not result.pushed:
        console.stdout.print(f"next: git push -u {remote} {result.branch}, then open a pull request")
    return EXIT_OK
