"""Argo CD's sync window rules (types.go: Matches, CanSync, active), checked case by case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from llmops.cluster.windows import Destination, Window, blocking, go_duration

WEEKEND = {"kind": "deny", "schedule": "0 16 * * 5", "duration": "64h", "timeZone": "UTC",
           "applications": ["llmops-production"], "manualSync": False}  # fmt: skip
PROD = Destination(app="llmops-production", namespace="llmops-prod", server="https://kubernetes.default.svc")
STAGING = Destination(
    app="llmops-staging", namespace="llmops-staging", server="https://kubernetes.default.svc"
)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("64h", 64 * 3600), ("1h30m", 5400), ("90s", 90), ("1.5h", 5400), ("500ms", 0.5)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert go_duration(text) == timedelta(seconds=seconds)


def test_a_go_duration_needs_units() -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        go_duration("64")


@pytest.mark.parametrize(
    ("when", "active"),
    [
        ("2026-11-27T15:59:00", False),  # Friday, before 16:00
        ("2026-11-27T16:00:30", True),  # Friday, the window opened
        ("2026-11-29T23:00:00", True),  # Sunday night
        ("2026-11-30T07:59:00", True),  # Monday, 08:00 is 64 h after Friday 16:00
        ("2026-11-30T08:00:30", False),  # Monday morning, closed
        ("2026-11-25T12:00:00", False),  # Wednesday
    ],
)
def test_the_weekend_window_is_open_from_friday_16_to_monday_08(when: str, active: bool) -> None:
    assert Window.from_dict(WEEKEND).active(_at(when)) is active


def test_the_window_time_zone_shifts_the_schedule() -> None:
    berlin = Window.from_dict(
        {**WEEKEND, "timeZone": "Europe/Berlin"}
    )  # 16:00 in Berlin is 15:00 UTC in winter
    assert berlin.active(_at("2026-11-27T15:30:00"))
    assert not Window.from_dict(WEEKEND).active(_at("2026-11-27T15:30:00"))


def test_windows_match_by_application_namespace_or_cluster() -> None:
    by_ns = Window.from_dict(
        {"kind": "deny", "schedule": "* * * * *", "duration": "1h", "namespaces": ["llmops-*"]}
    )
    assert by_ns.matches(PROD) and by_ns.matches(STAGING)
    both = Window.from_dict({"kind": "deny", "schedule": "* * * * *", "duration": "1h", "andOperator": True,
                             "applications": ["*-staging"], "clusters": ["https://other"]})  # fmt: skip
    assert not both.matches(STAGING)  # AND: the cluster does not match
    either = Window.from_dict({**both.raw, "andOperator": False} if both.raw else {})
    assert either.matches(STAGING)


def test_deny_blocks_manual_syncs_unless_manual_sync_is_allowed() -> None:
    friday = _at("2026-11-27T18:00:00")
    assert blocking([WEEKEND], PROD, manual=True, now=friday)
    assert not blocking([{**WEEKEND, "manualSync": True}], PROD, manual=True, now=friday)
    assert blocking(
        [{**WEEKEND, "manualSync": True}], PROD, manual=False, now=friday
    )  # automated still waits
    assert not blocking([WEEKEND], STAGING, manual=True, now=friday)  # not its window


def test_outside_every_allow_window_syncs_wait() -> None:
    office = {"kind": "allow", "schedule": "0 8 * * 1-5", "duration": "10h", "applications": ["*"]}
    assert not blocking([office], STAGING, manual=False, now=_at("2026-11-25T09:00:00"))
    assert blocking([office], STAGING, manual=False, now=_at("2026-11-25T20:00:00"))
    assert not blocking(
        [{**office, "manualSync": True}], STAGING, manual=True, now=_at("2026-11-25T20:00:00")
    )
