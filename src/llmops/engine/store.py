"""The engine's state: one SQLite database (stdlib ``sqlite3``, WAL) in the state directory.

It holds the live objects (what the engine applied, with a ``resourceVersion`` and Argo CD's tracking
annotation), operations, history, the vLLM processes it started, settings it must keep across
restarts (ports), and events. Every change goes through this class: a change made inside
:meth:`Store.transaction` is committed whole or not at all (a sync applies all its objects and its
operation record in one transaction), and the events it records are published to subscribers only
after the commit, so a listener never sees a state that a crash could take back. The schema is
versioned (``PRAGMA user_version``); an older database is migrated forward, a newer one refused.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmops.errors import EngineError

SCHEMA_VERSION = 2
MAX_EVENTS = 5000  # older events are dropped (the newest are what people read)
MAX_RECORDS = 100  # freeze and unfreeze records kept per Application

_SCHEMA = """
CREATE TABLE IF NOT EXISTS live_objects (
    app TEXT NOT NULL, api_group TEXT NOT NULL, kind TEXT NOT NULL,
    namespace TEXT NOT NULL, name TEXT NOT NULL,
    manifest TEXT NOT NULL, resource_version INTEGER NOT NULL, revision TEXT NOT NULL,
    managed TEXT NOT NULL DEFAULT '{}', updated_at TEXT NOT NULL,
    PRIMARY KEY (app, api_group, kind, namespace, name)
);
CREATE TABLE IF NOT EXISTS operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, app TEXT NOT NULL, kind TEXT NOT NULL, phase TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '', revision TEXT NOT NULL, subject TEXT NOT NULL DEFAULT '',
    author TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '{}',
    started_at TEXT NOT NULL, finished_at TEXT, initiator TEXT NOT NULL, automated INTEGER NOT NULL,
    reason TEXT, retry_count INTEGER NOT NULL DEFAULT 0, result TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS operations_app ON operations (app, id);
CREATE TABLE IF NOT EXISTS history (
    app TEXT NOT NULL, id INTEGER NOT NULL, operation_id INTEGER NOT NULL, kind TEXT NOT NULL,
    revision TEXT NOT NULL, subject TEXT NOT NULL, author TEXT NOT NULL, source TEXT NOT NULL,
    started_at TEXT NOT NULL, deployed_at TEXT NOT NULL, initiator TEXT NOT NULL,
    automated INTEGER NOT NULL, reason TEXT, result TEXT NOT NULL, message TEXT NOT NULL,
    approved_revision TEXT, verification TEXT, verification_message TEXT,
    PRIMARY KEY (app, id)
);
CREATE TABLE IF NOT EXISTS processes (
    app TEXT NOT NULL, isvc TEXT NOT NULL, replica INTEGER NOT NULL,
    pid INTEGER NOT NULL, port INTEGER NOT NULL, served_model TEXT NOT NULL, digest TEXT NOT NULL,
    started_at TEXT NOT NULL, log_path TEXT NOT NULL,
    PRIMARY KEY (app, isvc, replica)
);
CREATE TABLE IF NOT EXISTS app_state (
    app TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS freezes (
    environment TEXT PRIMARY KEY, initiator TEXT NOT NULL, reason TEXT NOT NULL, at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, app TEXT NOT NULL,
    resource TEXT NOT NULL, type TEXT NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL
);
"""
_V2_HISTORY = ("approved_revision", "verification", "verification_message")
DEPLOY_KINDS = ("sync", "rollback")  # history entries that deployed something (freezes are records too)


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, order=True)
class ResourceKey:
    """A Kubernetes object's identity inside one Application: group, kind, namespace, name."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"

    @classmethod
    def of(cls, obj: dict[str, Any]) -> ResourceKey:
        api = str(obj.get("apiVersion") or "")
        group = api.split("/", 1)[0] if "/" in api else ""
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        assert isinstance(meta, dict)
        return cls(
            group, str(obj.get("kind") or ""), str(meta.get("namespace") or ""), str(meta.get("name") or "")
        )


@dataclass(frozen=True, kw_only=True)
class LiveObject:
    """An object as the engine applied it (and as ``llmops patch`` changed it since)."""

    app: str
    key: ResourceKey
    manifest: dict[str, Any]
    resource_version: int
    revision: str  # the Git revision it was applied from
    managed: dict[str, list[str]] = field(default_factory=dict)  # field manager -> JSON pointers it set
    updated_at: str = ""


@dataclass(frozen=True, kw_only=True)
class Event:
    """A state change, as people read it (and as the event stream of a later issue publishes it)."""

    id: int
    time: str
    app: str
    resource: str  # "" for the Application itself, else Kind/name
    type: str  # Normal | Warning
    reason: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time,
            "app": self.app,
            "resource": self.resource,
            "type": self.type,
            "reason": self.reason,
            "message": self.message,
        }


@dataclass(frozen=True, kw_only=True)
class ProcessRecord:
    """A vLLM process the engine started: enough to adopt it again after the engine restarts."""

    app: str
    isvc: str
    replica: int
    pid: int
    port: int
    served_model: str
    digest: str  # the process spec it was started from
    started_at: str
    log_path: str


Listener = Callable[[Event], None]


class Store:
    """The engine's SQLite database. Used from the engine's event loop thread (a lock guards the
    connection anyway, so a worker thread reading it is safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=10)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a committed transaction survives the process being killed (-9);
            # only a power loss may drop the last ones.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise EngineError(
                f"the engine's database {path} is unreadable: {exc}",
                hint="move it aside (the engine starts a new one; history is lost) or restore a backup",
            ) from exc
        self._lock = threading.RLock()
        self._depth = 0
        self._pending: list[Event] = []
        self._listeners: list[Listener] = []

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise EngineError(
                f"the engine's database {self.path} has schema {version}, newer than this llmops "
                f"understands ({SCHEMA_VERSION})",
                hint="upgrade llmops, or point LLMOPS_STATE_DIR at another folder",
            )
        if version == 1:  # schema 2: approval and verification records, freezes
            self._db.executescript(
                "BEGIN;"
                + "".join(f"ALTER TABLE history ADD COLUMN {c} TEXT;" for c in _V2_HISTORY)
                + _SCHEMA
                + f"PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
            )
        elif version < SCHEMA_VERSION:
            self._db.executescript("BEGIN;" + _SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")

    # -- transactions and events -------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All changes inside commit together; nested calls join the outer transaction."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._db.execute("ROLLBACK")
                    self._pending.clear()
                raise
            self._depth -= 1
            if not outer:
                return
            self._db.execute("COMMIT")
            published, self._pending = self._pending, []
        for event in published:
            self._publish(event)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def _publish(self, event: Event) -> None:
        for listener in list(self._listeners):
            listener(event)

    def emit(
        self, app: str, reason: str, message: str, *, resource: str = "", type_: str = "Normal"
    ) -> Event:
        """Record an event; published to subscribers once its transaction commits."""
        with self.transaction():
            stamp = now_rfc3339()
            cur = self._db.execute(
                "INSERT INTO events (time, app, resource, type, reason, message) VALUES (?, ?, ?, ?, ?, ?)",
                (stamp, app, resource, type_, reason, message),
            )
            event = Event(
                id=int(cur.lastrowid or 0),
                time=stamp,
                app=app,
                resource=resource,
                type=type_,
                reason=reason,
                message=message,
            )
            if event.id % 500 == 0:
                self._db.execute("DELETE FROM events WHERE id <= ?", (event.id - MAX_EVENTS,))
            self._pending.append(event)
        return event

    def events(self, *, app: str | None = None, since: int = 0, limit: int = 200) -> list[Event]:
        sql = (
            "SELECT * FROM events WHERE id > ?"
            + (" AND app = ?" if app else "")
            + " ORDER BY id DESC LIMIT ?"
        )
        args: tuple[Any, ...] = (since, app, limit) if app else (since, limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [Event(**dict(r)) for r in reversed(rows)]

    # -- settings ----------------------------------------------------------------------------

    def setting(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        with self.transaction():
            self._db.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value))

    def _next_resource_version(self) -> int:
        row = self._db.execute("SELECT value FROM settings WHERE key = 'resource_version'").fetchone()
        value = (int(row[0]) if row is not None else 0) + 1
        self._db.execute(
            "INSERT OR REPLACE INTO settings (key, value) VALUES ('resource_version', ?)", (str(value),)
        )
        return value

    # -- live objects ------------------------------------------------------------------------

    def live(self, app: str) -> list[LiveObject]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM live_objects WHERE app = ? ORDER BY kind, namespace, name", (app,)
            ).fetchall()
        return [_live(r) for r in rows]

    def get_live(self, app: str, key: ResourceKey) -> LiveObject | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM live_objects WHERE app = ? AND api_group = ? AND kind = ? AND namespace = ? "
                "AND name = ?",
                (app, key.group, key.kind, key.namespace, key.name),
            ).fetchone()
        return None if row is None else _live(row)

    def put_live(
        self,
        app: str,
        manifest: dict[str, Any],
        *,
        revision: str,
        managed: dict[str, list[str]] | None = None,
    ) -> LiveObject:
        """Create or replace a live object; its ``metadata.resourceVersion`` moves forward."""
        key = ResourceKey.of(manifest)
        with self.transaction():
            previous = self.get_live(app, key)
            version = self._next_resource_version()
            meta = manifest.setdefault("metadata", {})
            meta["resourceVersion"] = str(version)
            if previous is not None:
                for kept in ("uid", "creationTimestamp"):
                    if kept in (previous.manifest.get("metadata") or {}):
                        meta[kept] = previous.manifest["metadata"][kept]
            else:
                meta.setdefault("uid", f"{app}-{version}")
                meta.setdefault("creationTimestamp", now_rfc3339())
            owned = managed if managed is not None else (previous.managed if previous is not None else {})
            stamp = now_rfc3339()
            self._db.execute(
                "INSERT OR REPLACE INTO live_objects (app, api_group, kind, namespace, name, manifest, "
                "resource_version, revision, managed, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    app,
                    key.group,
                    key.kind,
                    key.namespace,
                    key.name,
                    json.dumps(manifest),
                    version,
                    revision,
                    json.dumps(owned),
                    stamp,
                ),
            )
        return LiveObject(
            app=app,
            key=key,
            manifest=manifest,
            resource_version=version,
            revision=revision,
            managed=owned,
            updated_at=stamp,
        )

    def put_status(self, app: str, key: ResourceKey, status: dict[str, Any]) -> bool:
        """Write an object's ``status`` (the runtime's part, as a status subresource); False when unchanged
        or gone."""
        with self.transaction():
            current = self.get_live(app, key)
            if current is None or current.manifest.get("status") == status:
                return False
            self.put_live(app, {**current.manifest, "status": status}, revision=current.revision)
        return True

    def delete_live(self, app: str, key: ResourceKey) -> bool:
        with self.transaction():
            cur = self._db.execute(
                "DELETE FROM live_objects WHERE app = ? AND api_group = ? AND kind = ? AND namespace = ? "
                "AND name = ?",
                (app, key.group, key.kind, key.namespace, key.name),
            )
        return cur.rowcount > 0

    # -- application state -------------------------------------------------------------------

    def app_state(self, app: str) -> dict[str, Any]:
        with self._lock:
            row = self._db.execute("SELECT state FROM app_state WHERE app = ?", (app,)).fetchone()
        return {} if row is None else dict(json.loads(row[0]))

    def set_app_state(self, app: str, state: dict[str, Any]) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO app_state (app, state, updated_at) VALUES (?, ?, ?)",
                (app, json.dumps(state, default=str), now_rfc3339()),
            )

    # -- operations --------------------------------------------------------------------------

    def start_operation(
        self,
        *,
        app: str,
        kind: str,
        revision: str,
        subject: str,
        author: str,
        source: dict[str, Any],
        initiator: str,
        automated: bool,
        reason: str | None,
        message: str = "",
    ) -> int:
        with self.transaction():
            cur = self._db.execute(
                "INSERT INTO operations (app, kind, phase, message, revision, subject, author, source, "
                "started_at, initiator, automated, reason) "
                "VALUES (?, ?, 'Running', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    app,
                    kind,
                    message,
                    revision,
                    subject,
                    author,
                    json.dumps(source),
                    now_rfc3339(),
                    initiator,
                    int(automated),
                    reason,
                ),
            )
        return int(cur.lastrowid or 0)

    def update_operation(
        self,
        op_id: int,
        *,
        phase: str | None = None,
        message: str | None = None,
        result: dict[str, Any] | None = None,
        retry_count: int | None = None,
        finished: bool = False,
    ) -> None:
        sets: list[str] = []
        args: list[Any] = []
        for column, value in (("phase", phase), ("message", message), ("retry_count", retry_count)):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        if result is not None:
            sets.append("result = ?")
            args.append(json.dumps(result, default=str))
        if finished:
            sets.append("finished_at = ?")
            args.append(now_rfc3339())
        if not sets:
            return
        with self.transaction():
            self._db.execute(f"UPDATE operations SET {', '.join(sets)} WHERE id = ?", (*args, op_id))

    def operation(self, op_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM operations WHERE id = ?", (op_id,)).fetchone()
        return None if row is None else _operation(row)

    def last_operation(self, app: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM operations WHERE app = ? ORDER BY id DESC LIMIT 1", (app,)
            ).fetchone()
        return None if row is None else _operation(row)

    def interrupted_operations(self) -> list[dict[str, Any]]:
        """Operations still Running in the database: their engine died mid-operation."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM operations WHERE phase IN ('Running', 'Terminating')"
            ).fetchall()
        return [_operation(r) for r in rows]

    # -- history -----------------------------------------------------------------------------

    def add_history(
        self, app: str, op: dict[str, Any], *, limit: int, approved_revision: str | None = None
    ) -> int:
        """Record a finished operation (or a freeze); keep the newest ``limit`` deployments (Argo CD's
        revisionHistoryLimit) and the newest ``MAX_RECORDS`` freeze records."""
        with self.transaction():
            row = self._db.execute("SELECT MAX(id) FROM history WHERE app = ?", (app,)).fetchone()
            hid = int(row[0] or 0) + 1
            self._db.execute(
                "INSERT INTO history (app, id, operation_id, kind, revision, subject, author, source, "
                "started_at, deployed_at, initiator, automated, reason, result, message, approved_revision) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    app,
                    hid,
                    op["id"],
                    op["kind"],
                    op["revision"],
                    op["subject"],
                    op["author"],
                    json.dumps(op["source"]),
                    op["started_at"],
                    op["finished_at"] or now_rfc3339(),
                    op["initiator"],
                    int(op["automated"]),
                    op["reason"],
                    op["phase"],
                    op["message"],
                    approved_revision,
                ),
            )
            for kinds, keep in ((DEPLOY_KINDS, max(limit, 1)), (("freeze", "unfreeze"), MAX_RECORDS)):
                marks = ", ".join("?" * len(kinds))
                self._db.execute(
                    f"DELETE FROM history WHERE app = ? AND kind IN ({marks}) AND id NOT IN "
                    f"(SELECT id FROM history WHERE app = ? AND kind IN ({marks}) ORDER BY id DESC LIMIT ?)",
                    (app, *kinds, app, *kinds, keep),
                )
        return hid

    def set_verification(self, app: str, operation_id: int, verdict: str, message: str) -> None:
        """The verification verdict (Pending, Passed, Failed) of the history entry of ``operation_id``."""
        with self.transaction():
            self._db.execute(
                "UPDATE history SET verification = ?, verification_message = ? "
                "WHERE app = ? AND operation_id = ?",
                (verdict, message, app, operation_id),
            )

    # -- freezes -----------------------------------------------------------------------------

    def freeze(self, environment: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM freezes WHERE environment = ?", (environment,)).fetchone()
        return None if row is None else dict(row)

    def set_freeze(self, environment: str, *, initiator: str, reason: str) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO freezes (environment, initiator, reason, at) VALUES (?, ?, ?, ?)",
                (environment, initiator, reason, now_rfc3339()),
            )

    def clear_freeze(self, environment: str) -> bool:
        with self.transaction():
            cur = self._db.execute("DELETE FROM freezes WHERE environment = ?", (environment,))
        return cur.rowcount > 0

    def history(self, app: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM history WHERE app = ? ORDER BY id", (app,)).fetchall()
        out = []
        for r in rows:
            entry = dict(r)
            entry["source"] = json.loads(entry["source"])
            entry["automated"] = bool(entry["automated"])
            out.append(entry)
        return out

    # -- processes ---------------------------------------------------------------------------

    def processes(self) -> list[ProcessRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM processes ORDER BY app, isvc, replica").fetchall()
        return [ProcessRecord(**dict(r)) for r in rows]

    def put_process(self, record: ProcessRecord) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO processes (app, isvc, replica, pid, port, served_model, digest, "
                "started_at, log_path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.app,
                    record.isvc,
                    record.replica,
                    record.pid,
                    record.port,
                    record.served_model,
                    record.digest,
                    record.started_at,
                    record.log_path,
                ),
            )

    def delete_process(self, app: str, isvc: str, replica: int, *, pid: int | None = None) -> None:
        """Forget a process record (only the one of ``pid`` when given: a rollout's new process has
        taken the old one's slot)."""
        sql = "DELETE FROM processes WHERE app = ? AND isvc = ? AND replica = ?"
        args: tuple[Any, ...] = (app, isvc, replica)
        if pid is not None:
            sql += " AND pid = ?"
            args = (*args, pid)
        with self.transaction():
            self._db.execute(sql, args)

    def integrity_ok(self) -> bool:
        with self._lock:
            return str(self._db.execute("PRAGMA integrity_check").fetchone()[0]) == "ok"


def _live(row: sqlite3.Row) -> LiveObject:
    return LiveObject(
        app=row["app"],
        key=ResourceKey(row["api_group"], row["kind"], row["namespace"], row["name"]),
        manifest=json.loads(row["manifest"]),
        resource_version=int(row["resource_version"]),
        revision=row["revision"],
        managed=json.loads(row["managed"]),
        updated_at=row["updated_at"],
    )


def _operation(row: sqlite3.Row) -> dict[str, Any]:
    op = dict(row)
    op["source"] = json.loads(op["source"])
    op["result"] = json.loads(op["result"])
    op["automated"] = bool(op["automated"])
    return op


def monotonic() -> float:
    return time.monotonic()
