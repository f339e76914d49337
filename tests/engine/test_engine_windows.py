"""Sync windows evaluated as Argo CD does (pkg/apis/application/v1alpha1/types.go), with an injected
clock: deny wins, manualSync, allow windows that exist but are closed, matching, time zones across
both DST changes, and the next time a sync may run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from llmops.engine.windows import Clock, SyncWindow, WindowError, Windows, go_duration, matches, windows_for


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def deny(schedule: str, duration: str, **kw: object) -> SyncWindow:
    return SyncWindow(kind="deny", schedule=schedule, duration=duration, **kw)  # type: ignore[arg-type]


def allow(schedule: str, duration: str, **kw: object) -> SyncWindow:
    return SyncWindow(kind="allow", schedule=schedule, duration=duration, **kw)  # type: ignore[arg-type]


def test_a_window_is_open_strictly_after_its_start_and_before_its_end() -> None:
    w = deny("0 10 * * *", "1h")
    assert not w.active(at("2026-06-01T09:59:59"))
    assert not w.active(at("2026-06-01T10:00:00"))  # Argo CD: Next(now - d) must be before now
    assert w.active(at("2026-06-01T10:00:01"))
    assert w.active(at("2026-06-01T10:59:59"))
    assert not w.active(at("2026-06-01T11:00:00"))


def test_deny_wins_over_an_active_allow_and_manual_sync_needs_every_deny_to_allow_it() -> None:
    both = Windows((allow("0 8 * * *", "10h", manual_sync=True), deny("0 10 * * *", "1h", manual_sync=True)))
    now = at("2026-06-01T10:30:00")
    assert both.can_sync(False, now)[0] is False
    assert both.can_sync(True, now) == (True, "")
    strict = Windows((*both.windows, deny("0 9 * * *", "3h", manual_sync=False)))
    allowed, why = strict.can_sync(True, now)
    assert not allowed and why.startswith("blocked by sync window deny '0 10 * * *'")


def test_allow_windows_that_exist_but_are_closed_block_and_manual_sync_lets_a_person_through() -> None:
    closed = Windows((allow("0 2 * * *", "1h", manual_sync=True),))
    now = at("2026-06-01T12:00:00")
    assert closed.can_sync(False, now)[0] is False
    assert closed.can_sync(True, now)[0] is True
    no_manual = Windows((allow("0 2 * * *", "1h"),))
    allowed, why = no_manual.can_sync(True, now)
    assert not allowed and why.startswith("outside every allow window")
    assert no_manual.next_open(True, now) == at("2026-06-02T02:00:00")
    assert Windows(()).can_sync(False, now) == (True, "")


def test_next_open_time_crosses_the_end_of_a_deny_window() -> None:
    weekend = Windows((deny("0 16 * * 5", "64h"),))  # the reference repository's production freeze
    friday_evening = at("2026-06-05T18:00:00")
    verdict = weekend.verdict(False, friday_evening)
    assert not verdict.allowed and verdict.next_open == at("2026-06-08T08:00:00")
    assert weekend.can_sync(False, verdict.next_open + timedelta(seconds=1))[0]


def test_time_zone_follows_the_offset_in_force_at_the_check_through_both_dst_changes() -> None:
    # 02:00-03:00 Berlin time. Argo CD shifts the UTC clock by the zone's current offset, so on the
    # night clocks go forward (2026-03-29, 02:00 does not exist) the window never opens, and on the
    # night they go back (2026-10-25, 02:00-03:00 happens twice) it is open for two hours.
    w = deny("0 2 * * *", "1h", time_zone="Europe/Berlin")

    def open_minutes(day: str) -> list[str]:
        start = at(day)
        return [
            (start + timedelta(minutes=m)).strftime("%H:%M")
            for m in range(0, 6 * 60, 15)
            if w.active(start + timedelta(minutes=m))
        ]

    assert open_minutes("2026-03-20T00:00:00") == ["01:15", "01:30", "01:45"]  # CET: 02:00 = 01:00 UTC
    assert open_minutes("2026-06-20T00:00:00") == ["00:15", "00:30", "00:45"]  # CEST: 02:00 = 00:00 UTC
    assert open_minutes("2026-03-29T00:00:00") == []
    assert open_minutes("2026-10-25T00:00:00") == ["00:15", "00:30", "00:45", "01:15", "01:30", "01:45"]
    assert Windows((w,)).next_open(False, at("2026-10-25T00:30:00")) == at("2026-10-25T02:00:00")


def test_windows_are_assigned_by_application_then_cluster_then_namespace() -> None:
    args = {
        "app": "llmops-production",
        "namespace": "llmops-prod",
        "dest_server": "https://k",
        "dest_name": "",
    }
    assert matches(deny("* * * * *", "1h", applications=("llmops-prod*",)), **args)
    assert matches(deny("* * * * *", "1h", namespaces=("llmops-*",)), **args)
    assert matches(deny("* * * * *", "1h", clusters=("https://k",)), **args)
    assert not matches(deny("* * * * *", "1h", applications=("llmops-dev",)), **args)
    # OR by default: another application listed, but the namespace matches.
    assert matches(deny("* * * * *", "1h", applications=("x",), namespaces=("llmops-prod",)), **args)
    # andOperator: every list that is set must match.
    both = deny("* * * * *", "1h", applications=("x",), namespaces=("llmops-prod",), and_operator=True)
    assert not matches(both, **args)


def test_windows_for_reads_the_app_project_and_a_bad_window_blocks_as_in_argo_cd() -> None:
    app = {"metadata": {"name": "a"}, "spec": {"destination": {"namespace": "n", "server": "s"}}}
    project = {
        "metadata": {"name": "p"},
        "spec": {
            "syncWindows": [{"kind": "deny", "schedule": "nonsense", "duration": "1h", "applications": ["a"]}]
        },
    }
    windows = windows_for(app, project)
    allowed, why = windows.can_sync(True, at("2026-06-01T00:00:00"))
    assert not allowed and why == "invalid sync window: cannot parse schedule 'nonsense'"
    assert windows_for(app, None).windows == ()


def test_go_durations() -> None:
    assert go_duration("64h") == timedelta(hours=64)
    assert go_duration("1h30m") == timedelta(minutes=90)
    assert go_duration("1.5h") == timedelta(minutes=90)
    assert go_duration("0") == timedelta(0)
    for bad in ("", "10", "1d", "h"):
        with pytest.raises(WindowError):
            go_duration(bad)


def test_the_injected_clock_starts_where_told_and_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOPS_ENGINE_NOW", "2026-03-29T00:59:58Z")
    clock = Clock.from_env()
    first = clock.now()
    assert abs((first - at("2026-03-29T00:59:58")).total_seconds()) < 1
    assert clock.now() >= first
