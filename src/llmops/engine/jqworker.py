"""jq path expressions (Argo CD's ``ignoreDifferences.jqPathExpressions``) evaluated with a time limit.

The expressions come from Application manifests, which anyone may propose in a pull request, and a
jq program can loop forever. Argo CD bounds each evaluation (its ``jqExecutionTimeout``, 1 s by
default: util/argo/normalizers/diff_normalizer.go); the engine does the same by evaluating in a
worker process that is killed and replaced when it overruns. The worker imports only ``jq``.
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.connection import Connection
from typing import Any

TIMEOUT_S = 1.0
Path = list[str | int]


class JqError(Exception):
    """An expression did not compile, failed, or ran past the time limit."""


def _serve(conn: Connection) -> None:  # runs in the worker process
    import jq

    compiled: dict[str, Any] = {}
    while True:
        try:
            batch = conn.recv()
        except EOFError:
            return
        out: list[Any] = []
        for doc, exprs in batch:
            paths: list[Any] = []
            for expr in exprs:
                try:
                    prog = compiled.get(expr)
                    if prog is None:
                        prog = compiled[expr] = jq.compile(f"[path({expr})]")
                    paths.append(prog.input_value(doc).first())
                except Exception as exc:  # jq raises ValueError for both compile and run errors
                    paths.append({"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__})
            out.append(paths)
        conn.send(out)


class JqWorker:
    """One worker process, started on first use, replaced after a timeout."""

    def __init__(self, timeout_s: float = TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Connection | None = None

    def _ensure(self) -> tuple[Connection, bool]:
        fresh = False
        if self._conn is None or self._proc is None or not self._proc.is_alive():
            fresh = True
            ctx = multiprocessing.get_context("spawn")
            parent, child = ctx.Pipe()
            self._proc = ctx.Process(target=_serve, args=(child,), daemon=True, name="llmops-jq")
            self._proc.start()
            child.close()
            self._conn = parent
        return self._conn, fresh

    def paths(self, batch: list[tuple[Any, list[str]]]) -> list[list[list[Path] | JqError]]:
        """For each (document, expressions): the paths each expression selects, or its error."""
        if not batch:
            return []
        with self._lock:
            conn, fresh = self._ensure()
            conn.send(batch)
            # A fresh worker must start first (spawn imports Python): allow for that once.
            if not conn.poll(self.timeout_s * len(batch) + (15.0 if fresh else 0.0)):
                self._kill()
                raise JqError(f"jq path expressions ran longer than {self.timeout_s:g} s and were stopped")
            raw = conn.recv()
        return [[JqError(p["error"]) if isinstance(p, dict) else p for p in doc] for doc in raw]

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(5)
        self._proc = None
        self._conn = None

    def close(self) -> None:
        with self._lock:
            self._kill()
