"""Sync windows as Argo CD evaluates them, and the engine's clock.

An AppProject's ``spec.syncWindows`` allow or deny syncs on a cron schedule. The rules follow
argo-cd pkg/apis/application/v1alpha1/types.go (``SyncWindows.Matches``, ``Active``,
``InactiveAllows``, ``CanSync``, ``hasDeny``, ``manualEnabled``, ``scheduleOffsetByTimeZone``):

* A window is assigned to an Application when one of its ``applications`` globs matches the
  Application's name, else one of its ``clusters`` globs the destination name or server, else one of
  its ``namespaces`` globs the destination namespace (``andOperator: true``: every list that is set
  must match).
* A window is active when its schedule started less than ``duration`` ago. The schedule is read in
  UTC shifted by the offset ``timeZone`` has *now* (Argo CD shifts by the current offset, so on the
  nights clocks change a window follows the offset in force at the moment of the check).
* Deny wins: an active deny window blocks every sync, a manual one passes only when every active
  deny window has ``manualSync: true``. Otherwise an active allow window allows. Otherwise, when
  allow windows exist but none is active, syncs are blocked (manual ones pass only when every
  inactive allow window has ``manualSync: true``). No windows: everything may sync.

``syncOverrun`` (an operation already running may continue into a deny window) is accepted: the
engine checks windows when an operation starts, and its operations take seconds.

The clock is injectable (:class:`Clock`): ``LLMOPS_ENGINE_NOW`` (RFC 3339) starts the engine's
wall clock at that instant and lets it run at real speed; tests use it to cross a window boundary.
"""

from __future__ import annotations

import fnmatch
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from llmops.errors import EngineError

CLOCK_ENV = "LLMOPS_ENGINE_NOW"
HORIZON = timedelta(days=400)  # how far ahead the next open time is looked for
_MAX_BOUNDARIES = 20000


class WindowError(EngineError):
    """A sync window that cannot be read (bad schedule or duration): Argo CD blocks syncs then."""


# -- the clock ------------------------------------------------------------------------------------


class Clock:
    """The engine's wall clock (UTC): real time, or real time shifted to start at ``start``."""

    def __init__(self, start: datetime | None = None) -> None:
        self._offset = (start - datetime.now(UTC)).total_seconds() if start is not None else 0.0

    @classmethod
    def from_env(cls) -> Clock:
        raw = os.environ.get(CLOCK_ENV, "").strip()
        if not raw:
            return cls()
        try:
            start = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError as exc:
            raise EngineError(
                f"{CLOCK_ENV}={raw!r} is not an RFC 3339 time", hint="e.g. 2026-03-29T00:30:00Z, or unset it"
            ) from exc
        return cls(start if start.tzinfo else start.replace(tzinfo=UTC))

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self._offset, UTC)

    @property
    def shifted(self) -> bool:
        return self._offset != 0.0


# -- Go durations -----------------------------------------------------------------------------------

_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def go_duration(text: str) -> timedelta:
    """Go's ``time.ParseDuration``: ``64h``, ``1h30m``, ``90s``, ``1.5h`` (a unit is required but for 0)."""
    raw = text.strip()
    sign = -1.0 if raw.startswith("-") else 1.0
    body = raw.lstrip("+-")
    if body == "0":
        return timedelta(0)
    parts = _PART.findall(body)
    if not body or not parts or "".join(n + u for n, u in parts) != body:
        raise WindowError(f"cannot parse duration '{text}'", hint="use a Go duration such as 1h, 30m, 64h")
    return timedelta(seconds=sign * sum(float(n) * _UNIT[u] for n, u in parts))


# -- one window -------------------------------------------------------------------------------------


def _strings(raw: Any) -> tuple[str, ...]:
    return tuple(str(x) for x in raw) if isinstance(raw, list) else ()


def _zone(name: str) -> ZoneInfo | None:
    """The window's time zone; an unknown one is UTC, as Argo CD falls back (with a warning)."""
    if not name or name.upper() == "UTC":
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True, kw_only=True)
class SyncWindow:
    kind: str  # allow | deny
    schedule: str
    duration: str
    applications: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    manual_sync: bool = False
    time_zone: str = "UTC"
    and_operator: bool = False
    description: str = ""
    sync_overrun: bool = False
    project: str = ""

    @classmethod
    def of(cls, raw: dict[str, Any], project: str = "") -> SyncWindow:
        return cls(
            kind=str(raw.get("kind") or ""),
            schedule=str(raw.get("schedule") or ""),
            duration=str(raw.get("duration") or ""),
            applications=_strings(raw.get("applications")),
            namespaces=_strings(raw.get("namespaces")),
            clusters=_strings(raw.get("clusters")),
            manual_sync=raw.get("manualSync") is True,
            time_zone=str(raw.get("timeZone") or "UTC"),
            and_operator=raw.get("andOperator") is True,
            description=str(raw.get("description") or ""),
            sync_overrun=raw.get("syncOverrun") is True,
            project=project,
        )

    def label(self) -> str:
        manual = ", manual syncs allowed" if self.manual_sync else ""
        about = f" ({self.description})" if self.description else ""
        return f"{self.kind} '{self.schedule}' for {self.duration} ({self.time_zone}{manual}){about}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "schedule": self.schedule,
            "duration": self.duration,
            "timeZone": self.time_zone,
            "manualSync": self.manual_sync,
            "applications": list(self.applications),
            "namespaces": list(self.namespaces),
            "clusters": list(self.clusters),
            "description": self.description,
            "project": self.project,
        }

    # -- timing -----------------------------------------------------------------------------

    def _parsed(self) -> tuple[timedelta, str]:
        if self.kind not in ("allow", "deny"):
            raise WindowError(f"sync window kind '{self.kind}' mismatch: can only be allow or deny")
        if len(self.schedule.split()) != 5 or not croniter.is_valid(self.schedule):
            raise WindowError(
                f"cannot parse schedule '{self.schedule}'", hint="five cron fields: minute hour dom month dow"
            )
        return go_duration(self.duration), self.schedule

    def offset(self, at: datetime) -> timedelta:
        """The UTC offset of the window's time zone at ``at`` (Argo CD: at the current time)."""
        zone = _zone(self.time_zone)
        return (at.astimezone(zone).utcoffset() or timedelta(0)) if zone is not None else timedelta(0)

    def active(self, at: datetime) -> bool:
        """Argo CD: ``schedule.Next(now + offset - duration)`` is before ``now + offset``."""
        duration, schedule = self._parsed()
        shifted = at.astimezone(UTC).replace(tzinfo=None) + self.offset(at)
        start = croniter(schedule, shifted - duration).get_next(datetime)
        return bool(start < shifted)

    def boundaries(self, start: datetime, end: datetime) -> list[datetime]:
        """Instants in (start - duration, end] where this window opens or closes (UTC, aware).

        The shift is the offset at each candidate, so both sides of a DST change are found."""
        duration, schedule = self._parsed()
        out: list[datetime] = []
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        step = max(timedelta(days=15), (end - start) / 30)
        offsets = {self.offset(start + step * k) for k in range(31)} | {self.offset(end)}
        for off in offsets:
            base = start.replace(tzinfo=None) + off - duration
            it = croniter(schedule, base)
            for _ in range(_MAX_BOUNDARIES):
                opened = it.get_next(datetime) - off
                if opened > end.replace(tzinfo=None):
                    break
                for edge in (opened, opened + duration):
                    out.append(edge.replace(tzinfo=UTC))
        return sorted(set(out))


# -- windows of one Application ---------------------------------------------------------------------


def _glob(pattern: str, text: str) -> bool:
    return fnmatch.fnmatchcase(text, pattern)


def _any(patterns: Sequence[str], *texts: str) -> bool:
    return any(_glob(p, t) for p in patterns for t in texts if t)


def matches(window: SyncWindow, *, app: str, namespace: str, dest_server: str, dest_name: str) -> bool:
    """``SyncWindows.Matches`` for one window: applications, then clusters, then namespaces."""
    matched = False
    is_set = False
    if window.applications:
        is_set = True
        matched = _any(window.applications, app)
    if window.and_operator and is_set and not matched:
        return False
    if not window.and_operator and matched:
        return True
    if window.clusters:
        is_set = True
        matched = _any(window.clusters, dest_name, dest_server)
    if window.and_operator and is_set and not matched:
        return False
    if not window.and_operator and matched:
        return True
    if window.namespaces:
        matched = _any(window.namespaces, namespace)
    return matched


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What the windows say about a sync at one instant."""

    allowed: bool
    reason: str = ""  # why it is blocked
    active: tuple[SyncWindow, ...] = ()
    next_open: datetime | None = None  # when it may run (blocked only); None: not within the horizon


@dataclass(frozen=True)
class Windows:
    """The sync windows assigned to one Application."""

    windows: tuple[SyncWindow, ...] = field(default_factory=tuple)

    def active(self, at: datetime) -> tuple[SyncWindow, ...]:
        return tuple(w for w in self.windows if w.active(at))

    def can_sync(self, manual: bool, at: datetime) -> tuple[bool, str]:
        """``CanSync(isManual, nil)``: (allowed, why not). An unreadable window blocks, as in Argo CD."""
        if not self.windows:
            return True, ""
        try:
            active = self.active(at)
            denies = [w for w in active if w.kind == "deny"]
            if denies:
                if manual and all(w.manual_sync for w in denies):
                    return True, ""
                return False, "blocked by sync window " + "; ".join(w.label() for w in denies)
            if any(w.kind == "allow" for w in active):
                return True, ""
            inactive = [w for w in self.windows if w.kind == "allow" and not w.active(at)]
        except WindowError as exc:
            return False, f"invalid sync window: {exc.message}"
        if inactive:
            if manual and all(w.manual_sync for w in inactive):
                return True, ""
            return False, "outside every allow window (" + "; ".join(w.label() for w in inactive) + ")"
        return True, ""

    def verdict(self, manual: bool, at: datetime) -> Verdict:
        allowed, reason = self.can_sync(manual, at)
        try:
            active = self.active(at)
        except WindowError:
            active = ()
        if allowed:
            return Verdict(allowed=True, active=active)
        return Verdict(allowed=False, reason=reason, active=active, next_open=self.next_open(manual, at))

    def next_open(self, manual: bool, at: datetime) -> datetime | None:
        """The first instant after ``at`` when :meth:`can_sync` allows (None: not within the horizon)."""
        end = at + HORIZON
        try:
            edges = sorted({e for w in self.windows for e in w.boundaries(at, end) if e > at})
        except WindowError:
            return None
        for edge in edges:
            if self.can_sync(manual, edge + timedelta(seconds=1))[0]:
                return edge  # a window is open strictly after its start: callers wait a moment more
        return None


def project_windows(project: dict[str, Any] | None) -> tuple[SyncWindow, ...]:
    spec = (project or {}).get("spec")
    raw = spec.get("syncWindows") if isinstance(spec, dict) else None
    name = str(((project or {}).get("metadata") or {}).get("name") or "")
    return tuple(SyncWindow.of(w, name) for w in raw or () if isinstance(w, dict))


def windows_for(app_manifest: dict[str, Any], project: dict[str, Any] | None) -> Windows:
    """The windows of ``project`` assigned to the Application ``app_manifest``."""
    meta = app_manifest.get("metadata") or {}
    spec = app_manifest.get("spec") or {}
    dest = spec.get("destination") if isinstance(spec.get("destination"), dict) else {}
    assert isinstance(dest, dict)
    chosen = tuple(
        w
        for w in project_windows(project)
        if matches(
            w,
            app=str(meta.get("name") or ""),
            namespace=str(dest.get("namespace") or ""),
            dest_server=str(dest.get("server") or ""),
            dest_name=str(dest.get("name") or ""),
        )
    )
    return Windows(chosen)


def stamp(at: datetime | None) -> str | None:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at is not None else None
