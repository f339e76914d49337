"""``llmops envs``: the environments in promotion order and the Applications in each."""

from __future__ import annotations

from rich.table import Table

from llmops.commands import console
from llmops.gitops import manifests
from llmops.gitops.repo import Repository


def run(repo: Repository, *, fmt: str = "table") -> int:
    envs = repo.environments()
    if fmt == "json":
        console.plain(
            manifests.dump_json(
                [
                    {
                        "name": e.name,
                        "expected_sync": e.expected_sync,
                        "applications": [
                            {
                                "name": a.name,
                                "overlay": a.path,
                                "namespace": a.namespace,
                                "sync": a.sync.describe(),
                                "automated": a.sync.automated,
                                "prune": a.sync.prune,
                                "self_heal": a.sync.self_heal,
                                "target_revision": a.target_revision,
                                "file": str(a.file),
                            }
                            for a in e.applications
                        ],
                    }
                    for e in envs
                ]
            )
        )
        return 0
    safe = console.safe
    table = Table(title=f"Environments of {safe(repo.root.name)} (promotion order)", title_justify="left")
    for col in ("#", "environment", "application", "overlay", "namespace", "sync policy", "revision"):
        table.add_column(col)
    for i, env in enumerate(envs, 1):
        if not env.applications:
            table.add_row(str(i), safe(env.name), "[yellow]no Application[/]", "", "", "", "")
        for j, app in enumerate(env.applications):
            table.add_row(
                str(i) if j == 0 else "",
                safe(env.name) if j == 0 else "",
                safe(app.name),
                safe(app.path),
                safe(app.namespace),
                safe(app.sync.describe()),
                safe(app.target_revision),
            )
    console.stdout.print(table)
    if repo.unassigned:
        console.stderr.print(
            "[yellow]note:[/] Applications matching no environment were ignored: "
            + ", ".join(safe(n) for n in repo.unassigned)
        )
    return 0
