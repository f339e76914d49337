"""``llmops init``: propose a commented llmops.yaml for a repository (or the example layout) and write it."""

from __future__ import annotations

from pathlib import Path

from llmops.commands import console
from llmops.gitops import init, manifests


def _summary(plan: init.InitPlan) -> dict[str, object]:
    p = plan.proposal
    return {
        "root": str(plan.root),
        "files": plan.files,
        "environments": [e.model_dump() for e in p.config.environments] if p else [],
        "applications": [
            {
                "name": a.name,
                "file": a.file,
                "path": a.path,
                "environment": a.environment,
                "found_by": a.found_by,
            }
            for a in (p.applications if p else ())
        ],
        "notes": _notes(plan),
    }


def _notes(plan: init.InitPlan) -> list[str]:
    p = plan.proposal
    return [*p.notes, *(f"Application {n} matches no environment" for n in p.unassigned)] if p else []


def run(
    start: Path, *, example: bool = False, force: bool = False, dry_run: bool = False, fmt: str = "text"
) -> int:
    plan = init.plan(init.root_for(start), example=example)
    if dry_run:
        if fmt == "json":
            console.plain(manifests.dump_json(_summary(plan)))
        else:
            for rel, text in plan.files.items():
                console.plain(f"# ---- {rel}\n{text}" if len(plan.files) > 1 else text)
        return 0
    for change in plan.changes():
        if change.old is not None:
            console.plain(change.diff())
    written = init.write(plan, force=force)
    if fmt == "json":
        console.plain(manifests.dump_json({**_summary(plan), "written": [c.path for c in written]}))
    for change in written:
        verb = "replaced" if change.old is not None else "wrote"
        console.stderr.print(f"{verb} {change.path}")
    if not written:
        console.stderr.print("nothing to write: the files are already as proposed")
    for note in _notes(plan):
        console.stderr.print(f"[yellow]note:[/] {note}")
    if example:
        console.stderr.print(
            "next: review the files, commit them (`git init` first in a new folder), then `llmops validate`"
        )
    else:
        console.stderr.print("next: review llmops.yaml, commit it, then `llmops validate`")
    return 0
