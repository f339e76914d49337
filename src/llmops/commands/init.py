"""``llmops init``: propose a commented llmops.yaml for a repository (or the example layout) and write it."""

from __future__ import annotations

from pathlib import Path

from llmops.commands import console
from llmops.gitops import init


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
    start: Path,
    *,
    example: bool = False,
    force: bool = False,
    dry_run: bool = False,
    fmt: str = "text",
    output_file: Path | None = None,
) -> int:
    """Write the proposal (``dry_run``: only print it). ``text`` prints the files (dry run) or
    the diff of each file replaced; ``json``/``yaml`` print the summary (docs/reference-json.md)."""
    plan = init.plan(init.root_for(start), example=example)
    if dry_run:
        if fmt in console.DATA_FORMATS:
            console.emit({**_summary(plan), "written": []}, fmt, output_file=output_file)
        else:
            many = len(plan.files) > 1
            texts = [f"# ---- {rel}\n{text}" if many else text for rel, text in plan.files.items()]
            console.write("".join(texts), output_file)
        return 0
    diffs = [change.diff() for change in plan.changes() if change.old is not None]
    if diffs and fmt not in console.DATA_FORMATS:  # the diff comes first: a refusal points at it
        console.write("".join(diffs), output_file)
    elif diffs:
        console.note(console.escape("".join(diffs)))
    written = init.write(plan, force=force)
    if fmt in console.DATA_FORMATS:
        data = {**_summary(plan), "written": [c.path for c in written]}
        console.emit(data, fmt, output_file=output_file)
    _tell(plan, written, example)
    return 0


def _tell(plan: init.InitPlan, written: list[init.FileChange], example: bool) -> None:
    for change in written:
        console.note(f"{'replaced' if change.old is not None else 'wrote'} {console.escape(change.path)}")
    if not written:
        console.note("nothing to write: the files are already as proposed")
    for note in _notes(plan):
        console.note(f"[yellow]note:[/] {console.escape(note)}")
    if example:
        console.note(
            "next: review the files, commit them (`git init` first in a new folder), then `llmops validate`"
        )
    else:
        console.note("next: review llmops.yaml, commit it, then `llmops validate`")
