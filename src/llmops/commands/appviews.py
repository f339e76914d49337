"""How the environment verbs show Argo CD's records (status, operations, history) as tables, JSON and
YAML. Shared by those verbs and ``llmops up``'s live view; not a verb itself. The JSON is each
record's ``to_dict()`` (docs/reference-json.md), identical for ``--target local`` and ``cluster``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import yaml

from llmops.commands.console import safe

if TYPE_CHECKING:
    from rich.table import Table

    from llmops.gitops.appstate import AppStatus, HistoryEntry, OperationState

SYNC_STYLE = {"Synced": "green", "OutOfSync": "yellow", "Unknown": "dim"}
HEALTH_STYLE = {
    "Healthy": "green",
    "Progressing": "cyan",
    "Degraded": "bold red",
    "Suspended": "magenta",
    "Missing": "yellow",
    "Unknown": "dim",
}
PHASE_STYLE = {
    "Succeeded": "green",
    "Running": "cyan",
    "Failed": "bold red",
    "Error": "bold red",
    "Terminating": "yellow",
}


def dump(data: Any, fmt: str) -> str:
    if fmt == "yaml":
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)
    return json.dumps(data, indent=2) + "\n"


def styled(text: str, styles: dict[str, str]) -> str:
    style = styles.get(text)
    return f"[{style}]{safe(text)}[/]" if style else safe(text)


def short(sha: str | None) -> str:
    return (sha or "")[:8]


def revision_text(status: AppStatus) -> str:
    deployed = status.revision
    desired = status.desired_revision
    if deployed is None:
        return f"[dim]none yet[/] (target {safe(short(desired.sha) if desired else status.target_revision)})"
    text = f"{short(deployed.sha)} {safe(deployed.subject[:40])}"
    if desired is not None and desired.sha != deployed.sha:
        text += f" [yellow](target {short(desired.sha)})[/]"
    return text


def status_table(statuses: Sequence[AppStatus]) -> Table:
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("ENVIRONMENT", "APPLICATION", "SYNC", "HEALTH", "REVISION", "ENDPOINT", "POLICY"):
        table.add_column(column, overflow="fold")
    for s in statuses:
        policy = (
            ("auto" + ("+heal" if s.self_heal else "") + ("+prune" if s.prune else ""))
            if s.auto_sync
            else "manual"
        )
        table.add_row(
            safe(s.environment),
            safe(s.name),
            styled(s.sync_status, SYNC_STYLE),
            styled(s.health_status, HEALTH_STYLE),
            revision_text(s),
            safe(s.endpoint or "-"),
            policy,
        )
    return table


def status_details(s: AppStatus) -> list[str]:
    """Lines under the table: errors, health reasons, notes, the last operation."""
    lines: list[str] = []
    if s.comparison_error:
        lines.append(f"  [bold red]ComparisonError:[/] {safe(s.comparison_error)}")
    if s.health_status != "Healthy" and s.health_message:
        lines.append(f"  {styled(s.health_status, HEALTH_STYLE)}: {safe(s.health_message)}")
    lines += [f"  [dim]note:[/] {safe(n)}" for n in s.notes]
    if s.operation is not None:
        lines.append("  " + operation_line(s.operation))
    out_of_sync = [r for r in s.resources if r.sync_status == "OutOfSync" and not r.hook]
    if out_of_sync and all(r.health_status == "Missing" for r in s.resources if not r.hook):
        how = "a person syncs it: llmops sync " + s.environment if not s.auto_sync else "syncing by itself"
        lines.append(f"  [yellow]not deployed yet[/]: {len(out_of_sync)} resources in Git ({safe(how)})")
        out_of_sync = []
    for r in out_of_sync[:10]:
        why = (
            "requires pruning"
            if r.requires_pruning
            else "not live"
            if r.health_status == "Missing"
            else "differs from Git"
        )
        lines.append(f"  [yellow]OutOfSync[/] {safe(r.kind)}/{safe(r.name)} ({why})")
    return [f"[bold]{safe(s.name)}[/]", *lines] if lines else []


def operation_line(op: OperationState) -> str:
    who = op.initiator + (f" ({op.reason})" if op.reason else "")
    first = op.message.splitlines()[0] if op.message else ""
    return (
        f"last {op.kind} #{op.id}: {styled(op.phase, PHASE_STYLE)} to {short(op.revision.sha)} "
        f"by {safe(who)}: {safe(first)}"
    )


def first_line(text: str | None) -> str:
    return text.splitlines()[0] if text else ""


def operation_result_lines(op: OperationState) -> list[str]:
    lines = []
    for r in op.resources:
        hook = f" {r.hook_phase} hook" if r.hook_phase else ""
        lines.append(
            f"  {safe(r.status):<13}{hook} {safe(r.kind)}/{safe(r.name)}: " + safe(first_line(r.message))
        )
        if r.log:
            lines.append(f"    [dim]log: {safe(r.log)}[/]")
    return lines


def history_table(entries: Sequence[HistoryEntry]) -> Table:
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in (
        "ID",
        "KIND",
        "RESULT",
        "REVISION",
        "SUBJECT",
        "STARTED",
        "FINISHED",
        "INITIATOR",
        "REASON",
    ):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(
            str(e.id),
            e.kind,
            styled(e.result, PHASE_STYLE),
            short(e.revision.sha),
            safe(e.revision.subject[:50]),
            e.started_at,
            e.deployed_at,
            safe(e.initiator),
            safe(e.reason or ""),
        )
    return table
