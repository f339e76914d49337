"""``llmops envs``: the environments in promotion order and the Applications in each."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.commands import console
from llmops.gitops.repo import Environment, Repository

if TYPE_CHECKING:
    from rich.console import Console


def to_data(envs: list[Environment]) -> list[dict[str, Any]]:
    """The JSON/YAML shape (docs/reference-json.md)."""
    return [
        {
            "name": e.name,
            "expected_sync": e.expected_sync,
            "applications": [
                {
                    "name": a.name,
                    "overlay": a.path,
                    "namespace": a.namespace,
                    "project": a.project,
                    "sync": a.sync.describe(),
                    "automated": a.sync.automated,
                    "prune": a.sync.prune,
                    "self_heal": a.sync.self_heal,
                    "repo_url": a.repo_url,
                    "target_revision": a.target_revision,
                    "file": str(a.file),
                }
                for a in e.applications
            ],
        }
        for e in envs
    ]


def run(repo: Repository, *, fmt: str = "table", output_file: Path | None = None) -> int:
    envs = repo.environments()
    console.emit(
        to_data(envs), fmt, output_file=output_file, human=lambda out: _table(repo, envs, out, fmt == "wide")
    )
    for folder in repo.missing_application_folders():
        console.note(
            f"[yellow]note:[/] {folder!r} (llmops.yaml applications:) does not exist: "
            "no Application is read from it"
        )
    if repo.unassigned:
        console.note(
            "[yellow]note:[/] Applications matching no environment were ignored: "
            + ", ".join(console.safe(n) for n in repo.unassigned)
        )
    return 0


def _table(repo: Repository, envs: list[Environment], out: Console, wide: bool) -> None:
    safe = console.safe
    columns = ["#", "environment", "application", "overlay", "namespace", "sync policy", "revision"]
    if wide:
        columns += ["project", "Application file", "repoURL"]
    table = console.table(f"Environments of {safe(repo.root.name)} (promotion order)", columns)
    for i, env in enumerate(envs, 1):
        if not env.applications:
            table.add_row(str(i), safe(env.name), "[yellow]no Application[/]", *[""] * (len(columns) - 3))
        for j, app in enumerate(env.applications):
            row = [
                str(i) if j == 0 else "",
                safe(env.name) if j == 0 else "",
                safe(app.name),
                safe(app.path),
                safe(app.namespace),
                safe(app.sync.describe()),
                safe(app.target_revision),
            ]
            if wide:
                row += [safe(app.project), safe(str(app.file)), safe(app.repo_url)]
            table.add_row(*row)
    out.print(table)
