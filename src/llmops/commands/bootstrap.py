"""``llmops bootstrap [--dry-run]``: prerequisites, then setup/, argocd/ and the Argo CD customizations."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.markup import escape

from llmops.cluster.bootstrap import BootstrapReport, BootstrapRequest, bootstrap, credentials_from
from llmops.cluster.client import connect
from llmops.commands import console
from llmops.commands.drivers import ClusterOptions
from llmops.errors import EXIT_FINDINGS, EXIT_OK
from llmops.gitops.repo import Repository

_MARK = {
    "create": "[green]+ create   [/]",
    "update": "[yellow]~ update   [/]",
    "unchanged": "[dim]= unchanged[/]",
    "conflict": "[bold red]! conflict [/]",
    "refused": "[bold red]! refused  [/]",
}


def run(
    repo: Repository,
    cluster: ClusterOptions,
    *,
    dry_run: bool = False,
    force_conflicts: bool = False,
    repo_secret: str | None = None,
    credentials_file: Path | None = None,
    fmt: str = "text",
) -> int:
    saved = repo.config.cluster
    request = BootstrapRequest(
        namespace=cluster.namespace or saved.namespace,
        dry_run=dry_run,
        force_conflicts=force_conflicts,
        repo_secret=repo_secret,
        credentials=credentials_from(credentials_file, sys.stdin.read),
    )
    with connect(kubeconfig=cluster.kubeconfig, context=cluster.context or saved.context,
                 timeout=cluster.timeout) as api:  # fmt: skip
        report = bootstrap(repo, api, request)
    if fmt == "json":
        console.plain(json.dumps(to_dict(report), indent=2))
    else:
        _text(report)
    failed = report.missing or any(c.action in ("conflict", "refused") for c in report.changes)
    return EXIT_FINDINGS if failed else EXIT_OK


def to_dict(report: BootstrapReport) -> dict[str, Any]:
    return {
        "server": report.server,
        "context": report.context,
        "user": report.user,
        "dry_run": report.dry_run,
        "applied": report.applied,
        "checks": [
            {"name": c.name, "ok": c.ok, "blocking": c.blocking, "detail": c.detail, "hint": c.hint}
            for c in report.checks
        ],
        "changes": [
            {
                "action": c.action,
                "kind": c.kind,
                "name": c.name,
                "namespace": c.namespace,
                "note": c.note,
                "diff": c.diff,
            }
            for c in report.changes
        ],
    }


def _text(report: BootstrapReport) -> None:
    out = console.stdout
    who = f" as {report.user}" if report.user else ""
    mode = " (dry run: nothing is written)" if report.dry_run else ""
    out.print(f"bootstrap of {escape(report.server)}{escape(who)}, context {escape(report.context)}{mode}")
    out.print("prerequisites:")
    for c in report.checks:
        mark = (
            "[green]ok     [/]" if c.ok else ("[bold red]MISSING[/]" if c.blocking else "[yellow]warning[/]")
        )
        out.print(f"  {mark} {c.name:<17} {escape(c.detail)}", soft_wrap=True)
        if c.hint and not c.ok:
            out.print(f"          [dim]hint: {escape(c.hint)}[/]", soft_wrap=True)
    if report.missing and not report.dry_run:
        out.print(f"[bold red]nothing applied:[/] {len(report.missing)} prerequisite(s) missing")
        return
    shown = [c for c in report.changes if c.action != "unchanged" or c.note]
    if shown:
        out.print("changes:" if not report.dry_run else "changes it would make:")
    for change in shown:
        out.print(f"  {_MARK[change.action]} {escape(change.ref)}", soft_wrap=True)
        if change.note:
            out.print(f"      [dim]{escape(change.note)}[/]", soft_wrap=True)
        if report.dry_run and change.diff:
            console.plain("\n".join("      " + line for line in change.diff.splitlines()))
    _summary(report)


def _summary(report: BootstrapReport) -> None:
    unchanged = report.count("unchanged")
    created, updated = report.count("create"), report.count("update")
    if created == updated == report.count("conflict") == report.count("refused") == 0:
        console.stdout.print(f"nothing to change: all {unchanged} objects are up to date")
        return
    conflicts = report.count("conflict") + report.count("refused")
    if report.dry_run:
        line = f"would create {created}, update {updated}; {unchanged} unchanged"
    else:
        line = f"created {created}, updated {updated}; {unchanged} unchanged"
    console.stdout.print(line + (f"; {conflicts} not applied (see above)" if conflicts else ""))
