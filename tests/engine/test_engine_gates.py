"""Freezes, sync windows (with the engine's clock injected), approval records, /metrics and the event
stream on a real engine process, real git and kustomize (the light repository: no model)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from testing.cli import CliResult
from testing.engine import EngineProcess, change, commit, head_sha, light_repo, start_engine, wait_for

Cli = Callable[..., CliResult]

PROJECT = """\
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: default
  namespace: openshift-gitops
spec:
  syncWindows:
    # dev may not deploy by itself from 10:00 to 11:00 UTC (the engine's clock starts at 10:59:45).
    - kind: deny
      schedule: "0 10 * * *"
      duration: 1h
      applications: [light-dev]
    # staging: only from 02:00 to 03:00, but a person may sync outside it.
    - kind: allow
      schedule: "0 2 * * *"
      duration: 1h
      timeZone: Europe/Berlin
      manualSync: true
      namespaces: [light-staging]
"""


def _done(phase: str = "Succeeded") -> Callable[[dict[str, Any]], bool]:
    return lambda s: s["operation"] is not None and s["operation"]["phase"] == phase


def _metrics(engine: EngineProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(engine.api + "/metrics", timeout=10).text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _syncs(engine: EngineProcess, app: str, phase: str) -> float:
    found = [
        v
        for (name, labels), v in _metrics(engine).items()
        if name == "argocd_app_sync_total"
        and dict(labels).get("name") == app
        and dict(labels).get("phase") == phase
    ]
    return sum(found)


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


def test_freeze_blocks_every_sync_until_unfreeze_and_both_are_recorded(
    engine: EngineProcess, light: Path, cli: Cli
) -> None:
    engine.wait_status("light-dev", "first automated sync", _done())
    frozen = cli("--repo", light, "freeze", "dev", "--reason", "incident 42")
    assert frozen.code == 0, frozen.err
    sha = change(light, "deploy/base/config.yaml", "greeting: hello", "greeting: hola", "say hola")
    blocked = engine.wait_status(
        "light-dev", "the refusal", lambda s: "automated sync blocked" in s["extra"]["decision"]
    )
    assert blocked["sync_status"] == "OutOfSync"
    assert any(n.startswith("frozen by ") and n.endswith(": incident 42") for n in blocked["notes"])
    refused = cli("--repo", light, "sync", "staging", "--yes")
    assert refused.code == 0  # another environment is not frozen
    cli("--repo", light, "freeze", "staging", "--reason", "change freeze")
    again = cli("--repo", light, "sync", "staging", "--yes")
    assert again.code == 2
    assert again.error_lines[0].startswith("error: cannot sync light-staging: staging is frozen (by ")
    assert "change freeze" in again.error_lines[0] and "llmops unfreeze staging" in again.err
    rollback = cli("--repo", light, "rollback", "staging", "1")
    assert rollback.code == 2 and "frozen" in rollback.err
    status = cli("--repo", light, "status")
    assert status.out.count("frozen by") >= 2
    assert cli("--repo", light, "unfreeze", "dev", "--reason", "fixed").code == 0
    synced = engine.wait_status(
        "light-dev", "the held-back sync", lambda s: _done()(s) and s["revision"]["sha"] == sha
    )
    assert synced["sync_status"] == "Synced"
    history = cli("--repo", light, "history", "dev", "-o", "json").json()
    records = [(h["kind"], h["reason"]) for h in history if h["kind"] in ("freeze", "unfreeze")]
    assert records == [("freeze", "incident 42"), ("unfreeze", "fixed")]
    assert all(h["initiator"] not in ("", "automated") for h in history if h["kind"] == "freeze")
    staging = cli("--repo", light, "history", "staging", "-o", "json").json()
    manual = [h for h in staging if h["kind"] == "sync"]
    assert manual and manual[0]["approved_revision"] == manual[0]["revision"]["sha"]
    shown = cli("--repo", light, "history", "staging")
    assert "APPROVED" in shown.out and "freeze" in shown.out
    twice = cli("--repo", light, "freeze", "staging", "--reason", "again")
    assert twice.code == 2 and twice.error_lines[0].startswith("error: staging is already frozen by ")
    not_frozen = cli("--repo", light, "unfreeze", "dev")
    assert not_frozen.code == 2 and not_frozen.error_lines == ["error: dev is not frozen"]


def test_windows_block_an_automated_sync_until_the_window_closes_and_let_a_manual_one_through(
    light: Path, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    (light / "argocd" / "project.yaml").write_text(PROJECT)
    commit(light, "sync windows")
    monkeypatch.setenv("LLMOPS_ENGINE_NOW", "2026-06-01T10:59:40Z")  # 20 s before the deny window ends
    engine = start_engine(light, tmp_path / "engine")
    try:
        blocked = engine.wait_status(
            "light-dev",
            "blocked by the deny window",
            lambda s: "automated sync blocked" in s["extra"]["decision"],
        )
        windows = blocked["extra"]["sync_windows"]
        assert [w["kind"] for w in windows["active"]] == ["deny"]
        assert windows["automated"]["allowed"] is False
        assert windows["automated"]["next_open"] == "2026-06-01T11:00:00Z"
        assert blocked["operation"] is None  # nothing deployed while the window is active
        shown = cli("--repo", light, "status", "dev")
        assert (
            "sync window active: deny '0 10 * * *'" in shown.out and "opens 2026-06-01T11:00:00Z" in shown.out
        )
        synced = engine.wait_status("light-dev", "synced once the window closed", _done(), timeout=60)
        assert synced["operation"]["initiator"] == "automated"
        events = engine.get("/events", app="light-dev")["items"]
        assert any(e["reason"] == "SyncBlockedByWindow" for e in events)

        manual = cli("--repo", light, "sync", "staging", "--yes", "--reason", "outside the window, by hand")
        assert manual.code == 0, manual.err  # the closed allow window has manualSync: true
        change(
            light, "argocd/project.yaml", "      manualSync: true\n", "", "no manual syncs outside the window"
        )
        change(light, "deploy/base/config.yaml", "greeting: hello", "greeting: salut", "say salut")
        refused = wait_for(
            lambda: ((r := cli("--repo", light, "sync", "staging", "--yes")).code == 2 and r) or None,
            30,
            "the manual sync refused once manualSync is gone",
        )
        assert refused.error_lines[0].startswith(
            "error: cannot sync light-staging: outside every allow window"
        )
        assert "it may sync from 2026-06-02T00:00:00Z" in refused.err  # 02:00 Berlin summer time
    finally:
        engine.stop()


def test_metrics_parse_and_move_with_each_sync(engine: EngineProcess, light: Path) -> None:
    engine.wait_status("light-dev", "first automated sync", _done())
    before = _syncs(engine, "light-dev", "Succeeded")
    assert before >= 1
    metrics = _metrics(engine)
    info = [dict(labels) for (name, labels), _ in metrics.items() if name == "argocd_app_info"]
    dev = next(i for i in info if i["name"] == "light-dev")
    assert dev["sync_status"] == "Synced" and dev["health_status"] == "Healthy"
    assert dev["autosync_enabled"] == "true" and dev["dest_namespace"] == "light-dev"
    assert any(name == "argocd_app_reconcile_count" for name, _ in metrics)
    sha = change(light, "deploy/base/config.yaml", "greeting: hello", "greeting: ciao", "say ciao")
    engine.wait_status("light-dev", "the next sync", lambda s: _done()(s) and s["revision"]["sha"] == sha)
    wait_for(lambda: _syncs(engine, "light-dev", "Succeeded") == before + 1, 10, "the sync counted")
    assert head_sha(light) == sha


def test_events_are_streamed_as_server_sent_events_and_listed_by_the_cli(
    engine: EngineProcess, light: Path, cli: Cli
) -> None:
    engine.wait_status("light-dev", "first automated sync", _done())
    seen: list[dict[str, Any]] = []
    with httpx.stream(
        "GET", engine.api + "/api/v1/events/stream", params={"selector": "dev", "since": 0}, timeout=30
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data:"):
                seen.append(json.loads(line[5:]))
            if any(e["reason"] == "OperationCompleted" for e in seen):
                break
    assert {e["app"] for e in seen} == {"light-dev"}
    assert {"time", "app", "resource", "type", "reason", "message"} <= set(seen[0])
    listed = cli("--repo", light, "events", "dev")
    assert listed.code == 0 and "OperationCompleted" in listed.out and "light-staging" not in listed.out
    as_json = cli("--repo", light, "events", "-o", "json").json()
    assert any(e["reason"] == "EngineStarted" for e in as_json)
