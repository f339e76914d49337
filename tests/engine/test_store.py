"""The engine's SQLite store: a sync's changes commit whole or not at all, listeners hear only what
committed, and killing the process that writes (kill -9) loses nothing it committed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from testing.engine import wait_for

from llmops.engine.store import Event, ResourceKey, Store
from llmops.errors import EngineError


def _cm(name: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "ns"},
        "data": {},
    }


def test_a_failed_transaction_leaves_nothing_behind_and_publishes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "engine.db")
    heard: list[Event] = []
    store.subscribe(heard.append)
    with pytest.raises(RuntimeError), store.transaction():
        store.put_live("app", _cm("a"), revision="r1")
        store.emit("app", "ResourceUpdated", "a created")
        raise RuntimeError("the apply failed half-way")
    assert store.live("app") == [] and heard == [] and store.events() == []
    with store.transaction():
        store.put_live("app", _cm("a"), revision="r1")
        store.put_live("app", _cm("b"), revision="r1")
        store.emit("app", "ResourceUpdated", "a and b created")
        assert heard == []  # not before the commit
    assert [e.message for e in heard] == ["a and b created"]
    assert [o.key.name for o in store.live("app")] == ["a", "b"]


def test_resource_versions_move_forward_and_status_writes_keep_the_spec(tmp_path: Path) -> None:
    store = Store(tmp_path / "engine.db")
    first = store.put_live("app", _cm("a"), revision="r1")
    key = ResourceKey("", "ConfigMap", "ns", "a")
    assert store.put_status("app", key, {"ready": True})
    assert not store.put_status("app", key, {"ready": True})  # unchanged: no write
    after = store.get_live("app", key)
    assert after is not None and after.resource_version > first.resource_version
    assert after.manifest["metadata"]["uid"] == first.manifest["metadata"]["uid"]
    assert after.manifest["status"] == {"ready": True} and after.revision == "r1"


def test_history_keeps_the_newest_entries(tmp_path: Path) -> None:
    store = Store(tmp_path / "engine.db")
    for n in range(5):
        op_id = store.start_operation(
            app="a", kind="sync", revision=f"r{n}", subject="s", author="x", source={}, initiator="me",
            automated=False, reason=None,
        )  # fmt: skip
        store.update_operation(op_id, phase="Succeeded", finished=True)
        op = store.operation(op_id)
        assert op is not None
        store.add_history("a", op, limit=3)
    assert [(h["id"], h["revision"]) for h in store.history("a")] == [(3, "r2"), (4, "r3"), (5, "r4")]


def test_a_database_from_a_newer_llmops_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "engine.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(EngineError, match="has schema 99, newer than this llmops understands"):
        Store(path)


WRITER = textwrap.dedent(
    """
    import sys
    from llmops.engine.store import Store
    store = Store(sys.argv[1])
    n = 0
    while True:
        n += 1
        with store.transaction():
            op = store.start_operation(app="a", kind="sync", revision=f"r{n}", subject="s", author="x",
                                       source={}, initiator="me", automated=False, reason=None)
            store.update_operation(op, phase="Succeeded", finished=True)
            store.add_history("a", store.operation(op), limit=100000)
            cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}}
            store.put_live("a", {**cm, "data": {"n": str(n)}}, revision=f"r{n}")
        if n == 50:
            print("going", flush=True)
    """
)


def test_kill_9_while_writing_loses_no_committed_history(tmp_path: Path) -> None:
    path = tmp_path / "engine.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "going"
    wait_for(lambda: len(Store(path).history("a")) > 200, 30, "200 committed syncs")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    store = Store(path)
    assert store.integrity_ok()
    history = store.history("a")
    ids = [h["id"] for h in history]
    assert ids == list(range(1, len(ids) + 1))  # no gap, no half-written entry
    live = store.live("a")[0]
    # The live object and the history were written in one transaction: they agree.
    assert live.revision == history[-1]["revision"] == f"r{len(ids)}"
    assert store.interrupted_operations() == []
