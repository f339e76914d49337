"""Argo CD sync windows: which apply to an Application, whether one is active, and llmops' freeze.

The rules are Argo CD's own (``pkg/apis/application/v1alpha1/types.go``: ``SyncWindows.Matches``,
``CanSync``, ``SyncWindow.active``): a window matches an Application by name, destination
cluster or destination namespace (globs; all of the set ones with ``andOperator``); it is
active when the last start of its cron schedule, in its time zone, is less than ``duration``
ago; an active deny window blocks syncs (manual ones too unless ``manualSync``), and when allow
windows exist but none is active, syncs wait for one (manual ones pass with ``manualSync``).

A freeze (``llmops freeze ENV``) is one more deny window on the AppProject: always active
(every minute, for an hour), matching the environment's Applications, manual syncs included.
The AppProject's annotation ``llmops.io/freeze.<env>`` records the window, who set it, when and
why, so ``unfreeze`` removes exactly that window and nothing another person wrote.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

FREEZE_ANNOTATION = "llmops.io/freeze."
FREEZE_SCHEDULE = "* * * * *"  # starts every minute ...
FREEZE_DURATION = "1h"  # ... and lasts an hour: active until removed
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration(text: str) -> timedelta:
    """A Go duration (``64h``, ``1h30m``, ``90s``), as ``time.ParseDuration`` reads it."""
    pos, total = 0, 0.0
    body = text.strip()
    if not body:
        raise ValueError("empty duration")
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    return timedelta(seconds=total)


@dataclass(frozen=True, kw_only=True)
class Destination:
    """Where an Application deploys (what sync windows match besides its name)."""

    app: str
    namespace: str = ""
    server: str = ""
    name: str = ""


@dataclass(frozen=True, kw_only=True)
class Window:
    """One entry of an AppProject's ``spec.syncWindows``."""

    kind: str
    schedule: str
    duration: str
    applications: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    manual_sync: bool = False
    time_zone: str = "UTC"
    and_operator: bool = False
    description: str = ""
    raw: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Window:
        def names(key: str) -> tuple[str, ...]:
            return tuple(str(v) for v in data.get(key) or [])

        return cls(
            kind=str(data.get("kind", "")),
            schedule=str(data.get("schedule", "")),
            duration=str(data.get("duration", "")),
            applications=names("applications"),
            namespaces=names("namespaces"),
            clusters=names("clusters"),
            manual_sync=bool(data.get("manualSync")),
            time_zone=str(data.get("timeZone") or "UTC"),
            and_operator=bool(data.get("andOperator")),
            description=str(data.get("description") or ""),
            raw=data,
        )

    def matches(self, dest: Destination) -> bool:
        """Argo CD's ``SyncWindows.Matches`` for one window (OR of the set criteria, or AND)."""
        checks: list[bool] = []
        if self.applications:
            checks.append(any(fnmatchcase(dest.app, p) for p in self.applications))
        if self.clusters:
            checks.append(
                any((dest.name and fnmatchcase(dest.name, p)) or (dest.server and fnmatchcase(dest.server, p))
                    for p in self.clusters)
            )  # fmt: skip
        if self.namespaces:
            checks.append(any(fnmatchcase(dest.namespace, p) for p in self.namespaces))
        if not checks:
            return False
        return all(checks) if self.and_operator else any(checks)

    def active(self, now: datetime) -> bool:
        """Whether the window is open at ``now``: its last start is less than ``duration`` ago."""
        current = now.astimezone(UTC).replace(tzinfo=None)
        try:
            zone = ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")  # Argo CD falls back to UTC for an unknown zone
        offset = now.astimezone(zone).utcoffset() or timedelta(0)
        start = current + offset - go_duration(self.duration)
        following: datetime = croniter(self.schedule, start).get_next(datetime)
        return following < current + offset

    def describe(self) -> str:
        what = (
            self.description or f"{self.kind} window {self.schedule} for {self.duration} ({self.time_zone})"
        )
        return what


def matching(windows: Sequence[dict[str, Any]], dest: Destination) -> list[Window]:
    return [w for w in (Window.from_dict(d) for d in windows if isinstance(d, dict)) if w.matches(dest)]


def blocking(
    windows: Sequence[dict[str, Any]], dest: Destination, *, manual: bool, now: datetime
) -> list[Window]:
    """The windows that stop a sync of ``dest`` now (empty: it may sync), per Argo CD's ``CanSync``."""
    mine = matching(windows, dest)
    if not mine:
        return []
    active = [w for w in mine if w.active(now)]
    denies = [w for w in active if w.kind == "deny"]
    if denies:
        if manual and all(w.manual_sync for w in denies):
            return []
        return denies
    if any(w.kind == "allow" for w in active):
        return []
    allows = [w for w in mine if w.kind == "allow"]
    if allows and not (manual and all(w.manual_sync for w in allows)):
        return allows
    return []


# -- freeze ----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Freeze:
    """What ``llmops freeze`` recorded on the AppProject for one environment."""

    environment: str
    by: str
    reason: str
    since: str
    window: dict[str, Any]

    def describe(self) -> str:
        return f"frozen by {self.by} since {self.since}: {self.reason}"


def freeze_key(environment: str) -> str:
    return FREEZE_ANNOTATION + environment


def freeze_window(
    environment: str, apps: Sequence[str], *, by: str, reason: str, since: str
) -> dict[str, Any]:
    return {
        "kind": "deny",
        "schedule": FREEZE_SCHEDULE,
        "duration": FREEZE_DURATION,
        "applications": sorted(apps),
        "manualSync": False,
        "timeZone": "UTC",
        "description": f"llmops freeze of {environment} by {by} at {since}: {reason}"[:250],
    }


def freezes(project: dict[str, Any]) -> dict[str, Freeze]:
    """The freezes recorded on an AppProject, by environment."""
    annotations = (project.get("metadata") or {}).get("annotations") or {}
    out: dict[str, Freeze] = {}
    for key, value in annotations.items():
        if not str(key).startswith(FREEZE_ANNOTATION):
            continue
        env = str(key)[len(FREEZE_ANNOTATION) :]
        try:
            data = json.loads(value)
            out[env] = Freeze(environment=env, by=str(data["by"]), reason=str(data["reason"]),
                              since=str(data["since"]), window=dict(data["window"]))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            continue  # not ours to interpret: left alone
    return out


def _escape(key: str) -> str:
    """A JSON pointer segment (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def freeze_patch(project: dict[str, Any], record: Freeze) -> list[dict[str, Any]]:
    """The JSON patch that adds the freeze window and its record, guarded by the resourceVersion."""
    meta = project.get("metadata") or {}
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")}
    ]
    windows = (project.get("spec") or {}).get("syncWindows")
    if isinstance(windows, list):
        ops.append({"op": "add", "path": "/spec/syncWindows/-", "value": record.window})
    else:
        ops.append({"op": "add", "path": "/spec/syncWindows", "value": [record.window]})
    value = json.dumps(
        {"by": record.by, "reason": record.reason, "since": record.since, "window": record.window},
        sort_keys=True,
    )
    if isinstance(meta.get("annotations"), dict):
        path = "/metadata/annotations/" + _escape(freeze_key(record.environment))
        ops.append({"op": "add", "path": path, "value": value})
    else:
        ops.append(
            {"op": "add", "path": "/metadata/annotations", "value": {freeze_key(record.environment): value}}
        )
    return ops


def unfreeze_patch(project: dict[str, Any], record: Freeze) -> tuple[list[dict[str, Any]], bool]:
    """The JSON patch removing exactly the recorded window and the record; whether the window was found."""
    meta = project.get("metadata") or {}
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": meta.get("resourceVersion")}
    ]
    windows = (project.get("spec") or {}).get("syncWindows") or []
    index = next((i for i, w in enumerate(windows) if w == record.window), None)
    if index is not None:
        ops.append({"op": "test", "path": f"/spec/syncWindows/{index}", "value": record.window})
        ops.append({"op": "remove", "path": f"/spec/syncWindows/{index}"})
    ops.append({"op": "remove", "path": "/metadata/annotations/" + _escape(freeze_key(record.environment))})
    return ops, index is not None
