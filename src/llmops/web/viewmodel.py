"""What the dashboard's pages show, computed from the engine's records (:mod:`llmops.gitops.appstate`):
badges with Argo CD's colours, icons and text labels, application cards, the resource tree, the live
diff, history rows. Pure functions, no web framework: the templates only lay these out.

Colours are Argo CD's (``ui/src/app/shared/components/colors.ts`` in argoproj/argo-cd: success
``#18BE94`` for Healthy and Synced, warning ``#f4c030`` for OutOfSync (and Missing in recent versions;
older ones used grey), failed ``#E96D76`` for Degraded, running ``#0DADEA`` for Progressing (blue in
Argo CD, not yellow), suspended ``#766f94``, grey ``#CCD6DD`` for Unknown), and so are the icons
(``ui/src/app/applications/components/utils.tsx``: ``ComparisonStatusIcon`` a check for Synced, an
arrow up for OutOfSync, a bin for a resource that requires pruning; ``HealthStatusIcon`` a heart for
Healthy, a broken heart for Degraded, a spinning notch for Progressing, a pause for Suspended, a ghost
for Missing, a question mark for Unknown), drawn anew in ``templates/_icons.html``. Every badge also
carries its text, so colour is never the only signal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmops.delivery.diff import ABSENT, DiffReport, FieldChange, ResourceChange
from llmops.gitops.appstate import AppStatus, HistoryEntry, OperationState, ResourceStatus, Revision

DEMO_NOTE = "demo weights"
ROLLBACK_REFUSED = "rollback cannot be initiated when auto-sync is enabled"
# extra keys the dashboard already shows in its own way (others become badges: what later issues add)
KNOWN_EXTRA = frozenset({"adaptations", "processes", "source", "decision"})
# Resource kinds in the order a person reads an inference service: how it runs, what it is, the rest.
KIND_ORDER = ("ServingRuntime", "InferenceService")


@dataclass(frozen=True)
class Badge:
    """A status as a coloured pill with an icon and its text (``css``: the colour class)."""

    label: str
    css: str
    icon: str
    title: str = ""


_HEALTH = {
    "Healthy": ("health-healthy", "heart"),
    "Progressing": ("health-progressing", "notch"),
    "Degraded": ("health-degraded", "heart-broken"),
    "Suspended": ("health-suspended", "pause"),
    "Missing": ("health-missing", "ghost"),
    "Unknown": ("health-unknown", "question"),
}
_SYNC = {
    "Synced": ("sync-synced", "check"),
    "OutOfSync": ("sync-outofsync", "arrow-up"),
    "Unknown": ("sync-unknown", "question"),
}
_PHASE = {
    "Succeeded": ("op-succeeded", "check"),
    "Failed": ("op-failed", "cross"),
    "Error": ("op-failed", "cross"),
    "Running": ("op-running", "notch"),
    "Terminating": ("op-failed", "cross"),
}
_PROCESS_HEALTH = {"Ready": "Healthy", "Starting": "Progressing", "Pending": "Progressing",
                   "BackOff": "Degraded", "Stopped": "Missing"}  # fmt: skip


def health_badge(status: str | None, message: str = "") -> Badge | None:
    if status is None:
        return None
    css, icon = _HEALTH.get(status, _HEALTH["Unknown"])
    return Badge(status, css, icon, message or status)


def sync_badge(status: str, *, requires_pruning: bool = False) -> Badge:
    css, icon = _SYNC.get(status, _SYNC["Unknown"])
    if requires_pruning:
        return Badge(status, css, "trash", "OutOfSync: gone from Git, deleted when a sync prunes")
    return Badge(status, css, icon, status)


def phase_badge(phase: str) -> Badge:
    css, icon = _PHASE.get(phase, ("op-running", "notch"))
    return Badge(phase, css, icon, phase)


def short(sha: str) -> str:
    return sha[:8]


def revision_text(rev: Revision | None) -> str:
    return f"{short(rev.sha)} {rev.subject}".strip() if rev is not None and rev.sha else ""


# -- application cards --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class OperationView:
    id: int
    title: str  # "sync #3" / "rollback #4"
    phase: Badge
    initiator: str
    automated: bool
    reason: str
    message: str
    revision: str
    started_at: str
    finished_at: str
    hooks: tuple[HookRun, ...] = ()


@dataclass(frozen=True, kw_only=True)
class HookRun:
    op_id: int
    name: str
    phase: str  # PreSync | PostSync | SyncFail
    status: str
    message: str
    has_log: bool


@dataclass(frozen=True, kw_only=True)
class Card:
    name: str
    environment: str
    namespace: str
    sync: Badge
    health: Badge
    health_message: str
    revision: Revision | None
    target: str  # "main -> 1a2b3c4d subject" when the target resolves to something else than what runs
    operation: OperationView | None
    policy: Badge
    badges: tuple[Badge, ...]  # demo weights, notes, what later issues add to extra
    endpoint: str
    comparison_error: str
    auto_sync: bool
    rollback_refusal: str  # why rollback is refused ("" when it is allowed)
    models: tuple[str, ...]


def operation_view(op: OperationState | None) -> OperationView | None:
    if op is None:
        return None
    hooks = tuple(
        HookRun(
            op_id=op.id,
            name=r.name,
            phase=r.hook_phase or "",
            status=r.status,
            message=r.message,
            has_log=bool(r.log),
        )
        for r in op.resources
        if r.hook_phase
    )
    return OperationView(
        id=op.id,
        title=f"{op.kind} #{op.id}",
        phase=phase_badge(op.phase),
        initiator=op.initiator,
        automated=op.automated,
        reason=op.reason or "",
        message=op.message,
        revision=revision_text(op.revision),
        started_at=op.started_at,
        finished_at=op.finished_at or "",
        hooks=hooks,
    )


def policy_badge(status: AppStatus) -> Badge:
    if not status.auto_sync:
        return Badge("manual", "policy-manual", "hand", "a person syncs it (no syncPolicy.automated)")
    parts = ["auto-sync"] + (["self-heal"] if status.self_heal else []) + (["prune"] if status.prune else [])
    return Badge(" + ".join(parts), "policy-auto", "sync", "syncPolicy.automated: Git is applied by itself")


def _scalar(value: Any) -> str | None:
    if isinstance(value, str | int | float | bool) and len(str(value)) <= 80:
        return str(value)
    return None


def note_badges(status: AppStatus) -> tuple[Badge, ...]:
    """Notes (demo weights, capped replicas, windows, freezes...) and unknown scalar extras as badges."""
    out = []
    for note in status.notes:
        if note == DEMO_NOTE:
            out.append(Badge(note, "note-demo", "flask", "the demo model (random weights) stands in"))
        else:
            out.append(Badge(note, "note", "info", note))
    for key, value in sorted(status.extra.items()):
        text = _scalar(value) if key not in KNOWN_EXTRA else None
        if text:
            out.append(Badge(f"{key.replace('_', ' ')}: {text}", "note", "info", f"{key}: {text}"))
    return tuple(out)


def target_text(status: AppStatus) -> str:
    desired = status.desired_revision
    if desired is None or (status.revision is not None and desired.sha == status.revision.sha):
        return ""
    return f"{status.target_revision} -> {revision_text(desired)}"


def served_models(status: AppStatus) -> tuple[str, ...]:
    procs = status.extra.get("processes") or []
    names = [str(p.get("served_model")) for p in procs if isinstance(p, dict) and p.get("served_model")]
    names += [r.name for r in status.resources if r.kind == "InferenceService"]
    return tuple(dict.fromkeys(names))


def card(status: AppStatus) -> Card:
    health = health_badge(status.health_status, status.health_message)
    assert health is not None
    return Card(
        name=status.name,
        environment=status.environment,
        namespace=status.namespace,
        sync=sync_badge(status.sync_status),
        health=health,
        health_message=status.health_message,
        revision=status.revision,
        target=target_text(status),
        operation=operation_view(status.operation),
        policy=policy_badge(status),
        badges=note_badges(status),
        endpoint=status.endpoint or "",
        comparison_error=status.comparison_error or "",
        auto_sync=status.auto_sync,
        rollback_refusal=(
            f"{ROLLBACK_REFUSED} ({status.name} syncs automatically)" if status.auto_sync else ""
        ),
        models=served_models(status),
    )


def by_environment(statuses: Iterable[AppStatus], order: Sequence[str]) -> list[tuple[str, list[Card]]]:
    """Cards grouped by environment, in promotion order (environments llmops.yaml does not list last)."""
    groups: dict[str, list[Card]] = {env: [] for env in order}
    for status in statuses:
        groups.setdefault(status.environment, []).append(card(status))
    return [(env, cards) for env, cards in groups.items() if cards]


# -- the resource tree --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TreeNode:
    id: str  # unique within the page (DOM id)
    kind: str
    name: str
    sync: Badge | None = None
    health: Badge | None = None
    message: str = ""
    detail: str = ""
    hook: str = ""
    ref: str = ""  # KIND/NAME of a live object (patchable, has a manifest); "" for processes
    children: tuple[TreeNode, ...] = field(default=())


def _dom_id(*parts: str) -> str:
    return "node-" + "-".join("".join(c if c.isalnum() else "_" for c in p) for p in parts)


def _process_node(proc: Mapping[str, Any]) -> TreeNode:
    state = str(proc.get("state", "Pending"))
    health = _PROCESS_HEALTH.get(state, "Unknown")
    bits = [f"pid {proc['pid']}" if proc.get("pid") else "not running", f"port {proc.get('port')}"]
    bits += [f"restarts {proc.get('restarts', 0)}", f"model {proc.get('served_model', '?')}"]
    return TreeNode(
        id=_dom_id("proc", str(proc.get("isvc")), str(proc.get("replica"))),
        kind="vLLM process",
        name=f"{proc.get('isvc')}-{proc.get('replica')}",
        health=health_badge(health, str(proc.get("last_error") or state)),
        message=str(proc.get("last_error") or state),
        detail=", ".join(bits),
    )


def _resource_node(res: ResourceStatus, processes: Sequence[Mapping[str, Any]]) -> TreeNode:
    children: tuple[TreeNode, ...] = ()
    if res.kind == "InferenceService":
        children = tuple(_process_node(p) for p in processes if p.get("isvc") == res.name)
    return TreeNode(
        id=_dom_id(res.kind, res.name),
        kind=res.kind,
        name=res.name,
        sync=sync_badge(res.sync_status, requires_pruning=res.requires_pruning),
        health=health_badge(res.health_status, res.health_message),
        message=res.health_message,
        hook=res.hook or "",
        detail=f"{res.hook} hook" if res.hook else (res.namespace or ""),
        ref=f"{res.kind}/{res.name}",
        children=children,
    )


def _kind_rank(res: ResourceStatus) -> tuple[int, int, str, str]:
    rank = KIND_ORDER.index(res.kind) if res.kind in KIND_ORDER else len(KIND_ORDER)
    return (1 if res.hook else 0, rank, res.kind, res.name)


def resource_tree(status: AppStatus) -> TreeNode:
    """Application -> its resources (ServingRuntime, InferenceService, Secrets, ... hooks last) ->
    the vLLM processes under each InferenceService."""
    processes = [p for p in status.extra.get("processes") or [] if isinstance(p, dict)]
    children = tuple(_resource_node(r, processes) for r in sorted(status.resources, key=_kind_rank))
    return TreeNode(
        id=_dom_id("app", status.name),
        kind="Application",
        name=status.name,
        sync=sync_badge(status.sync_status),
        health=health_badge(status.health_status, status.health_message),
        message=status.health_message,
        detail=f"namespace {status.namespace}",
        children=children,
    )


# -- the live diff ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DiffRow:
    path: str
    live: str
    desired: str


@dataclass(frozen=True, kw_only=True)
class DiffView:
    action: str  # added (in Git, not live) | changed | removed (live, not in Git)
    ref: str
    rows: tuple[DiffRow, ...]
    unified: str
    note: str


def _show(value: Any) -> str:
    if value is ABSENT:
        return "(none)"
    return value if isinstance(value, str) else repr(value)


def _rows(fields: Sequence[FieldChange]) -> tuple[DiffRow, ...]:
    return tuple(DiffRow(path=f.path, live=_show(f.old), desired=_show(f.new)) for f in fields)


def diff_views(report: DiffReport) -> list[DiffView]:
    """Each changed resource: its fields side by side (live | desired) and the unified diff."""
    changes: list[ResourceChange] = [c for app in report.apps for c in app.changes]
    return [
        DiffView(action=c.action, ref=c.ref, rows=_rows(c.fields), unified=c.diff, note=c.note)
        for c in changes
    ]


# -- history ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class HistoryRow:
    id: int
    kind: str
    revision: Revision
    deployed_at: str
    initiator: str
    reason: str
    result: Badge
    message: str
    can_rollback: bool  # a Succeeded entry (the only kind Argo CD keeps)


def history_rows(entries: Sequence[HistoryEntry]) -> list[HistoryRow]:
    """Newest first, as Argo CD's HISTORY AND ROLLBACK lists them."""
    return [
        HistoryRow(
            id=e.id,
            kind=e.kind,
            revision=e.revision,
            deployed_at=e.deployed_at,
            initiator=e.initiator,
            reason=e.reason or "",
            result=phase_badge(e.result),
            message=e.message.splitlines()[0] if e.message else "",
            can_rollback=e.result == "Succeeded",
        )
        for e in reversed(entries)
    ]
