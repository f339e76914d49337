"""What the dashboard shows, from the engine's records: Argo CD's colours with words, the resource tree
down to vLLM processes, badges for notes later issues add, history newest first, the diff with Secret
values redacted."""

from __future__ import annotations

from llmops.delivery.diff import live_report
from llmops.gitops.appstate import (
    AppStatus,
    HistoryEntry,
    LiveObjects,
    OperationState,
    ResourceResult,
    ResourceStatus,
    Revision,
)
from llmops.web import viewmodel

REV = Revision(sha="1c479c2e" + "0" * 32, subject="initial", author="Ana")


def _status(**fields: object) -> AppStatus:
    base: dict[str, object] = {
        "name": "llmops-dev", "environment": "dev", "namespace": "llmops-dev", "target": "local",
        "sync_status": "Synced", "health_status": "Healthy",
    }  # fmt: skip
    return AppStatus(**(base | fields))  # type: ignore[arg-type]


def test_every_status_has_its_argo_cd_colour_icon_and_words() -> None:
    expected = {
        "Healthy": ("health-healthy", "heart"), "Progressing": ("health-progressing", "notch"),
        "Degraded": ("health-degraded", "heart-broken"), "Suspended": ("health-suspended", "pause"),
        "Missing": ("health-missing", "ghost"), "Unknown": ("health-unknown", "question"),
    }  # fmt: skip
    for status, (css, icon) in expected.items():
        badge = viewmodel.health_badge(status)
        assert badge is not None and (badge.label, badge.css, badge.icon) == (status, css, icon)
    assert viewmodel.health_badge(None) is None  # a kind without health (ConfigMap) shows none
    assert viewmodel.sync_badge("OutOfSync").icon == "arrow-up"
    assert viewmodel.sync_badge("OutOfSync", requires_pruning=True).icon == "trash"


def test_card_shows_policy_demo_weights_and_what_later_issues_add() -> None:
    status = _status(
        auto_sync=True, self_heal=True, prune=True, revision=REV,
        notes=("demo weights", "frozen: release week"),
        extra={"processes": [], "held_at": "staging until verification", "window": {"kind": "deny"}},
    )  # fmt: skip
    card = viewmodel.card(status)
    assert card.policy.label == "auto-sync + self-heal + prune"
    labels = [b.label for b in card.badges]
    assert labels == ["demo weights", "frozen: release week", "held at: staging until verification"]
    assert card.badges[0].css == "note-demo"
    assert card.rollback_refusal.startswith("rollback cannot be initiated when auto-sync is enabled")
    assert viewmodel.card(_status(auto_sync=False)).rollback_refusal == ""
    assert viewmodel.card(_status()).policy.label == "manual"


def test_target_is_shown_only_when_git_moved_past_what_runs() -> None:
    newer = Revision(sha="9" * 40, subject="dev: fewer sequences")
    assert viewmodel.target_text(_status(revision=REV, desired_revision=REV)) == ""
    moved = _status(revision=REV, desired_revision=newer, target_revision="main")
    assert viewmodel.target_text(moved) == "main -> 99999999 dev: fewer sequences"


def test_resource_tree_puts_processes_under_their_inference_service_and_hooks_last() -> None:
    resources = (
        ResourceStatus(group="batch", kind="Job", namespace="ns", name="smoke", sync_status="Synced",
                       health_status="Healthy", hook="PostSync"),
        ResourceStatus(group="", kind="Secret", namespace="ns", name="pull", sync_status="Synced"),
        ResourceStatus(group="serving.kserve.io", kind="InferenceService", namespace="ns", name="m",
                       sync_status="OutOfSync", health_status="Degraded", health_message="vLLM exited"),
        ResourceStatus(group="serving.kserve.io", kind="ServingRuntime", namespace="ns", name="rt",
                       sync_status="Synced", health_status="Healthy"),
    )  # fmt: skip
    procs = [
        {"isvc": "m", "replica": 0, "pid": 41, "port": 9000, "state": "BackOff", "restarts": 2,
         "last_error": "vLLM exited with code 1", "served_model": "m"},
        {"isvc": "other", "replica": 0, "pid": 42, "port": 9001, "state": "Ready", "served_model": "o"},
    ]  # fmt: skip
    root = viewmodel.resource_tree(_status(resources=resources, extra={"processes": procs}))
    assert (root.kind, root.name) == ("Application", "llmops-dev")
    assert [c.kind for c in root.children] == ["ServingRuntime", "InferenceService", "Secret", "Job"]
    isvc = root.children[1]
    assert isvc.sync is not None and isvc.sync.label == "OutOfSync"
    (proc,) = isvc.children
    assert proc.kind == "vLLM process" and proc.name == "m-0"
    assert proc.health is not None and proc.health.label == "Degraded"
    assert "pid 41" in proc.detail and "restarts 2" in proc.detail
    assert root.children[2].health is None and root.children[3].hook == "PostSync"
    assert len({n.id for n in (root, *root.children, proc)}) == 6  # DOM ids are unique


def test_history_is_newest_first_and_only_succeeded_entries_roll_back() -> None:
    entries = [
        HistoryEntry(id=1, revision=REV, deployed_at="t1", started_at="t0", initiator="ana", automated=False),
        HistoryEntry(id=2, revision=REV, deployed_at="t3", started_at="t2", initiator="bo", automated=False,
                     result="Failed", message="hook failed\nmore"),
    ]  # fmt: skip
    rows = viewmodel.history_rows(entries)
    assert [r.id for r in rows] == [2, 1]
    assert (rows[0].can_rollback, rows[0].message, rows[0].result.css) == (False, "hook failed", "op-failed")
    assert rows[1].can_rollback


def test_hooks_of_the_last_operation_are_listed_with_their_result() -> None:
    op = OperationState(
        id=3, kind="sync", phase="Failed", message="one or more tasks failed", revision=REV, started_at="t",
        resources=(
            ResourceResult(group="", kind="ConfigMap", namespace="n", name="c", status="Synced"),
            ResourceResult(group="batch", kind="Job", namespace="n", name="smoke", status="Failed",
                           hook_phase="PostSync", log="/state/hooks/app/3-smoke.log"),
        ),
    )  # fmt: skip
    view = viewmodel.operation_view(op)
    assert view is not None and view.title == "sync #3" and view.phase.label == "Failed"
    (hook,) = view.hooks
    assert (hook.name, hook.phase, hook.status, hook.has_log) == ("smoke", "PostSync", "Failed", True)


def test_the_diff_rows_are_diff_live_with_secret_values_redacted() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"},
              "stringData": {"password": "from-git"}}  # fmt: skip
    live_secret = secret | {"stringData": {"password": "by-hand"}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"},
              "data": {"a": "git"}}  # fmt: skip
    objects = LiveObjects(
        app="app", environment="staging", revision=REV,
        desired=(secret, config), live=(live_secret, config | {"data": {"a": "live"}}),
    )  # fmt: skip
    views = viewmodel.diff_views(live_report([objects], "live (local)"))
    by_ref = {v.ref: v for v in views}
    assert [(r.path, r.live, r.desired) for r in by_ref["ConfigMap/c"].rows] == [("data.a", "live", "git")]
    shown = repr(by_ref["Secret/s"])
    assert "by-hand" not in shown and "from-git" not in shown and "<redacted, changed>" in shown
