"""Argo CD's sync semantics on the embedded engine, with real git, real kustomize and a real engine
process, on a repository whose Applications deploy no model (ConfigMaps, Secrets, ServiceAccounts,
hook Jobs): automated sync, manual approval, self-heal, prune, hooks, retry, history, rollback."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from testing.cli import CliResult
from testing.engine import EngineProcess, change, head_sha, light_repo, start_engine, wait_for

Cli = Callable[..., CliResult]


@pytest.fixture
def light(tmp_path: Path) -> Path:
    return light_repo(tmp_path / "light")


@pytest.fixture
def engine(light: Path, tmp_path: Path) -> Iterator[EngineProcess]:
    running = start_engine(light, tmp_path / "engine")
    try:
        yield running
    finally:
        running.stop()


def _done(phase: str = "Succeeded") -> Callable[[dict[str, Any]], bool]:
    return lambda s: s["operation"] is not None and s["operation"]["phase"] == phase


def _live(engine: EngineProcess, app: str) -> dict[str, Any]:
    return engine.objects(app)


def test_automated_app_syncs_each_new_commit_and_prunes_what_left_git(
    engine: EngineProcess, light: Path
) -> None:
    first = engine.wait_status("light-dev", "first automated sync", _done())
    assert first["sync_status"] == "Synced" and first["health_status"] == "Healthy"
    assert first["operation"]["initiator"] == "automated"
    sha = change(light, "deploy/base/config.yaml", "greeting: hello", "greeting: bonjour", "say bonjour")
    change(
        light, "deploy/base/kustomization.yaml", "  - serviceaccount.yaml\n", "", "drop the ServiceAccount"
    )
    latest = head_sha(light)
    synced = engine.wait_status(
        "light-dev", "sync to the newest commit", lambda s: _done()(s) and s["revision"]["sha"] == latest
    )
    assert synced["sync_status"] == "Synced"
    live = _live(engine, "light-dev")
    assert live["ConfigMap/settings"]["data"]["greeting"] == "bonjour"
    assert "ServiceAccount/runner" not in live  # prune: true deleted what left Git
    pruned = [r for r in synced["operation"]["resources"] if r["status"] == "Pruned"]
    assert [r["name"] for r in pruned] == ["runner"]
    assert sha != latest


def test_manual_app_waits_for_a_person_who_must_confirm(engine: EngineProcess, light: Path, cli: Cli) -> None:
    staging = engine.wait_status("light-staging", "compared", lambda s: s["sync_status"] == "OutOfSync")
    assert staging["health_status"] == "Missing" and staging["operation"] is None
    refused = cli("--repo", light, "sync", "staging")
    assert refused.code == 2
    assert refused.error_lines == [
        "error: light-staging is synced by a person, and there is no terminal to confirm on"
    ]
    assert "--yes" in refused.err
    done = cli("--repo", light, "sync", "staging", "--yes", "--reason", "approved in review #12")
    assert done.code == 0, done.err
    assert "Succeeded" in done.out
    history = cli("--repo", light, "history", "staging", "-o", "json").json()
    assert [(h["kind"], h["result"], h["automated"], h["reason"]) for h in history] == [
        ("sync", "Succeeded", False, "approved in review #12")
    ]
    assert history[0]["initiator"] not in ("", "automated")
    status = cli("--repo", light, "status", "staging", "-o", "json").json()[0]
    assert (status["sync_status"], status["health_status"]) == ("Synced", "Healthy")


def test_drift_is_reverted_where_self_heal_is_on_and_reported_elsewhere(
    engine: EngineProcess, light: Path, cli: Cli
) -> None:
    engine.wait_status("light-dev", "first sync", _done())
    assert cli("--repo", light, "sync", "staging", "--yes").code == 0
    drift = json.dumps({"data": {"greeting": "patched by hand"}})
    assert cli("--repo", light, "patch", "staging", "ConfigMap/settings", "-p", drift).code == 0
    reported = engine.wait_status(
        "light-staging", "OutOfSync after the patch", lambda s: s["sync_status"] == "OutOfSync"
    )
    changed = [r for r in reported["resources"] if r["sync_status"] == "OutOfSync"]
    assert [(r["kind"], r["name"]) for r in changed] == [("ConfigMap", "settings")]
    diff = cli("--repo", light, "diff", "staging", "--live")
    assert diff.code == 0, diff.err
    assert "~ ConfigMap/settings: data.greeting patched by hand -> hello" in diff.out
    before = len(engine.get("/applications/light-dev/history")["items"])
    assert cli("--repo", light, "patch", "dev", "ConfigMap/settings", "-p", drift).code == 0
    healed = engine.wait_status(
        "light-dev",
        "self-heal",
        lambda s: len(engine.get("/applications/light-dev/history")["items"]) > before and _done()(s),
    )
    assert healed["sync_status"] == "Synced"
    assert _live(engine, "light-dev")["ConfigMap/settings"]["data"]["greeting"] == "hello"
    assert healed["operation"]["automated"] and "self-heal" in healed["operation"]["reason"]
    assert engine.status("light-staging")["sync_status"] == "OutOfSync"  # staging waits for a person


def test_ignored_differences_do_not_count_as_drift(engine: EngineProcess, light: Path, cli: Cli) -> None:
    engine.wait_status("light-dev", "first sync", _done())
    assert cli("--repo", light, "sync", "staging", "--yes").code == 0
    patches = [  # each changes a field Git declares, which the Application's ignoreDifferences ignore
        ("ConfigMap/settings", {"data": {"ignored-by-jq": "changed live"}}, []),
        ("ConfigMap/settings", {"metadata": {"annotations": {"ignored-by-pointer": "x"}}}, []),
        ("ServiceAccount/runner", {"metadata": {"labels": {"team": "x"}}}, ["--field-manager", "operator-x"]),
        # A label Git does not declare: no difference in Argo CD's three-way diff either.
        ("ServiceAccount/runner", {"metadata": {"labels": {"hotfix": "1"}}}, []),
    ]
    for ref, body, extra in patches:
        assert cli("--repo", light, "patch", "staging", ref, "-p", json.dumps(body), *extra).code == 0
    engine.post("/refresh", {"selector": "staging"})
    wait_for(lambda: engine.status("light-staging")["extra"] is not None, 5, "a pass")
    assert engine.status("light-staging")["sync_status"] == "Synced"
    # The same label set by another field manager is drift.
    relabel = json.dumps({"metadata": {"labels": {"team": "y"}}})
    assert cli("--repo", light, "patch", "staging", "ServiceAccount/runner", "-p", relabel).code == 0
    drifted = engine.wait_status(
        "light-staging", "drift by another manager", lambda s: s["sync_status"] == "OutOfSync"
    )
    assert [(r["kind"], r["name"]) for r in drifted["resources"] if r["sync_status"] == "OutOfSync"] == [
        ("ServiceAccount", "runner")
    ]


def test_prune_off_leaves_resources_that_left_git_requiring_pruning(
    engine: EngineProcess, light: Path, cli: Cli
) -> None:
    assert cli("--repo", light, "sync", "staging", "--yes").code == 0
    change(light, "deploy/base/kustomization.yaml", "  - secret.yaml\n", "", "drop the Secret")
    engine.wait_status("light-staging", "OutOfSync", lambda s: s["sync_status"] == "OutOfSync")
    assert cli("--repo", light, "sync", "staging", "--yes").code == 0
    after = engine.status("light-staging")
    assert after["sync_status"] == "OutOfSync"
    pruning = [r["name"] for r in after["resources"] if r["requires_pruning"]]
    assert pruning == ["credentials"]
    assert "Secret/credentials" in _live(engine, "light-staging")
    assert cli("--repo", light, "sync", "staging", "--yes", "--prune").code == 0
    assert engine.status("light-staging")["sync_status"] == "Synced"
    assert "Secret/credentials" not in _live(engine, "light-staging")


def test_a_failing_post_sync_hook_fails_the_sync_after_its_retries(
    engine: EngineProcess, light: Path, cli: Cli
) -> None:
    engine.wait_status("light-dev", "first sync", _done())
    change(
        light, "deploy/base/hook.yaml", 'args: ["--version"]',
        'args: ["smoke", "--url=http://127.0.0.1:9", "--retries=0", "--deadline=2"]',
        "a hook that cannot pass",
    )  # fmt: skip
    result = cli("--repo", light, "sync", "staging", "--yes", "-o", "json")
    assert result.code == 1
    (op,) = result.json()
    assert op["phase"] == "Failed"
    assert op["message"].startswith(
        "one or more synchronization tasks completed unsuccessfully: PostSync Job/post-sync-check failed"
    )
    assert "connection refused" in op["message"]
    assert op["retry_count"] == 1  # retry.limit 1 in the Application
    (hook,) = [r for r in op["resources"] if r["hook_phase"] == "PostSync"]
    assert hook["status"] == "Failed"
    assert "FAIL reachable" in Path(hook["log"]).read_text()
    # HookSucceeded only: the failed Job stays live, with its Failed condition, for people to read.
    job = engine.get("/applications/light-staging")["resources"]
    assert [(r["kind"], r["hook"], r["health_status"]) for r in job if r["hook"]] == [
        ("Job", "PostSync", "Degraded")
    ]


def test_rollback_is_refused_for_automated_apps_and_redeploys_for_manual_ones(
    engine: EngineProcess, light: Path, cli: Cli
) -> None:
    engine.wait_status("light-dev", "first sync", _done())
    refused = cli("--repo", light, "rollback", "dev")
    assert refused.code == 2
    assert refused.error_lines == [
        "error: rollback cannot be initiated when auto-sync is enabled (light-dev syncs automatically)"
    ]
    old = head_sha(light)
    assert cli("--repo", light, "sync", "staging", "--yes").code == 0
    change(light, "deploy/base/config.yaml", "greeting: hello", "greeting: hola", "say hola")
    engine.wait_status("light-staging", "OutOfSync", lambda s: s["sync_status"] == "OutOfSync")
    assert cli("--repo", light, "sync", "staging", "--yes").code == 0
    assert _live(engine, "light-staging")["ConfigMap/settings"]["data"]["greeting"] == "hola"
    back = cli("--repo", light, "rollback", "staging", "1", "--reason", "hola broke the demo", "-o", "json")
    assert back.code == 0, back.err
    assert back.json()["kind"] == "rollback" and back.json()["revision"]["sha"] == old
    assert _live(engine, "light-staging")["ConfigMap/settings"]["data"]["greeting"] == "hello"
    after = engine.status("light-staging")
    assert after["revision"]["sha"] == old and after["sync_status"] == "OutOfSync"  # Git still says hola
    kinds = [
        (h["id"], h["kind"], h["reason"]) for h in engine.get("/applications/light-staging/history")["items"]
    ]
    assert kinds[-1] == (3, "rollback", "hola broke the demo")
    missing = cli("--repo", light, "rollback", "staging", "42")
    assert missing.error_lines == ["error: application light-staging does not have deployment with id 42"]


def test_a_broken_commit_is_a_comparison_error_and_nothing_live_changes(
    engine: EngineProcess, light: Path, cli: Cli
) -> None:
    engine.wait_status("light-dev", "first sync", _done())
    before = _live(engine, "light-dev")
    change(
        light,
        "deploy/base/kustomization.yaml",
        "  - hook.yaml\n",
        "  - hook.yaml\n  - missing.yaml\n",
        "broken",
    )
    broken = engine.wait_status("light-dev", "ComparisonError", lambda s: bool(s["comparison_error"]))
    assert broken["sync_status"] == "Unknown"
    assert "missing.yaml" in broken["comparison_error"]
    assert _live(engine, "light-dev") == before
    shown = cli("--repo", light, "status", "dev")
    assert "ComparisonError:" in shown.out and "missing.yaml" in shown.out
    change(light, "deploy/base/kustomization.yaml", "  - missing.yaml\n", "", "fixed")
    engine.wait_status(
        "light-dev", "synced again", lambda s: not s["comparison_error"] and s["sync_status"] == "Synced"
    )


def test_only_one_operation_runs_at_a_time(engine: EngineProcess, light: Path, cli: Cli) -> None:
    change(
        light, "deploy/base/hook.yaml", 'args: ["--version"]',
        'args: ["smoke", "--url=http://127.0.0.1:9", "--retries=50", "--deadline=6"]',
        "a slow hook",
    )  # fmt: skip
    started = cli("--repo", light, "sync", "staging", "--yes", "--async")
    assert started.code == 0, started.err
    second = cli("--repo", light, "sync", "staging", "--yes")
    assert second.code == 2
    assert second.error_lines == ["error: another operation is already in progress for light-staging"]
    waited = cli("--repo", light, "wait", "staging", "--operation", "--timeout", "120")
    assert waited.code == 0


def test_history_keeps_revision_history_limit_entries(light: Path, tmp_path: Path, cli: Cli) -> None:
    change(
        light,
        "argocd/light-staging.yaml",
        "  ignoreDifferences:",
        "  revisionHistoryLimit: 2\n  ignoreDifferences:",
        "keep 2",
    )
    engine = start_engine(light, tmp_path / "engine")
    try:
        for _ in range(3):
            assert cli("--repo", light, "sync", "staging", "--yes").code == 0
        ids = [h["id"] for h in engine.get("/applications/light-staging/history")["items"]]
        assert ids == [2, 3]
    finally:
        engine.stop()


def test_engine_restart_keeps_history_endpoints_and_resumes(
    engine: EngineProcess, light: Path, tmp_path: Path, cli: Cli
) -> None:
    engine.wait_status("light-dev", "first sync", _done())
    assert cli("--repo", light, "sync", "staging", "--yes", "--reason", "before the crash").code == 0
    endpoints = engine.get("/engine")["endpoints"]
    history = engine.get("/applications/light-staging/history")["items"]
    engine.kill9()
    assert cli("--repo", light, "status").error_lines  # nothing answers: one line
    again = start_engine(light, tmp_path / "engine2")
    try:
        assert again.get("/engine")["endpoints"] == endpoints
        assert again.get("/applications/light-staging/history")["items"] == history
        assert again.status("light-staging")["sync_status"] == "Synced"
    finally:
        again.stop()


def test_a_second_engine_on_the_same_repository_is_one_clear_line(
    engine: EngineProcess, light: Path, cli: Cli
) -> None:
    second = cli("--repo", light, "up", "--quiet")
    assert second.code == 2
    (line,) = second.error_lines
    assert line.startswith(
        f"error: an engine already runs for {light.resolve()} (pid {engine.proc.pid}, API http://127.0.0.1:"
    )


def test_a_remote_repository_is_mirrored_and_fetched_on_refresh(tmp_path: Path, cli: Cli) -> None:
    from testing.repos import git

    source = light_repo(tmp_path / "upstream")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(source), str(remote))
    local = light_repo(tmp_path / "local")  # the engine's repository: Applications and llmops.yaml
    config = local / "llmops.yaml"
    config.write_text(
        config.read_text()
        + f"engine:\n  repositories:\n    - url: https://example.invalid/light.git\n      remote: {remote}\n"
    )
    change(
        local, "deploy/base/config.yaml", "greeting: hello", "greeting: not this one", "local copy differs"
    )
    engine = start_engine(local, tmp_path / "engine")
    try:
        first = engine.wait_status("light-dev", "synced from the remote", _done())
        assert first["revision"]["sha"] == head_sha(source)  # the remote's main, not the local one
        assert engine.objects("light-dev")["ConfigMap/settings"]["data"]["greeting"] == "hello"
        pushed = change(
            source, "deploy/base/config.yaml", "greeting: hello", "greeting: from upstream", "upstream change"
        )
        git(source, "push", "-q", str(remote), "main")
        assert cli("--repo", local, "refresh", "dev").code == 0  # instead of waiting for the 180 s poll
        engine.wait_status(
            "light-dev", "the pushed commit", lambda s: _done()(s) and s["revision"]["sha"] == pushed
        )
        assert engine.objects("light-dev")["ConfigMap/settings"]["data"]["greeting"] == "from upstream"
    finally:
        engine.stop()


def test_detach_runs_in_the_background_until_down(light: Path, cli: Cli) -> None:
    started = cli("--repo", light, "up", "--detach")
    assert started.code == 0, started.err
    assert "running in the background" in started.err
    try:
        status = cli("--repo", light, "status", "-o", "json")
        assert status.code == 0 and {s["name"] for s in status.json()} == {"light-dev", "light-staging"}
    finally:
        stopped = cli("--repo", light, "down")
    assert stopped.code == 0 and "engine stopped" in stopped.err
    assert cli("--repo", light, "status").error_lines == [
        f"error: no engine is running for {light.resolve()}"
    ]


def test_an_operation_cut_by_an_engine_crash_resumes_at_the_next_start(
    engine: EngineProcess, light: Path, tmp_path: Path, cli: Cli
) -> None:
    change(
        light, "deploy/base/hook.yaml", 'args: ["--version"]',
        'args: ["smoke", "--url=http://127.0.0.1:9", "--retries=50", "--deadline=8"]',
        "a slow hook",
    )  # fmt: skip
    assert cli("--repo", light, "sync", "staging", "--yes", "--async").code == 0
    wait_for(
        lambda: any(
            e["reason"] == "HookStarted" for e in engine.get("/events", app="light-staging")["items"]
        ),
        30,
        "the hook running",
    )
    op_id = engine.status("light-staging")["operation"]["id"]
    engine.kill9()
    again = start_engine(light, tmp_path / "engine2")
    try:
        done = again.wait_status(
            "light-staging", "the resumed operation ends", lambda s: s["operation"]["phase"] != "Running", 90
        )
        assert done["operation"]["id"] == op_id and done["operation"]["phase"] == "Failed"
        events = again.get("/events", app="light-staging")["items"]
        assert "OperationResumed" in [e["reason"] for e in events]
        orphans = [e["message"] for e in events if e["reason"] == "HookOrphanStopped"]
        assert len(orphans) == 1 and "post-sync-check" in orphans[0]  # the hook never runs twice at once
        pid = int(orphans[0].split("process ")[1].split()[0])
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
        history = again.get("/applications/light-staging/history")["items"]
        assert [(h["kind"], h["result"]) for h in history] == [("sync", "Failed")]
    finally:
        again.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_a_closed_terminal_stop_the_engine_cleanly(
    engine: EngineProcess, light: Path, cli: Cli, sig: signal.Signals
) -> None:
    engine.wait_status("light-dev", "first sync", _done())
    assert engine.stop(sig) == 0
    assert "engine stopped" in engine.output()
    assert cli("--repo", light, "status").error_lines == [
        f"error: no engine is running for {light.resolve()}"
    ]
