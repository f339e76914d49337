"""jq path expressions (Argo CD's ``ignoreDifferences.jqPathExpressions``) evaluated with a time limit.

The expressions come from Application manifests, which anyone may propose in a pull request, and a
jq program can loop forever. Argo CD bounds each evaluation (its ``jqExecutionTimeout``, 1 s by
default: util/argo/normalizers/diff_normalizer.go); the engine does the same by evaluating in a
small worker process (``python -c``, importing only ``jq``, one JSON line per request) that is killed
and replaced when it overruns.
"""

from __future__ import annotations

import contextlib
import json
import select
import subprocess
import sys
import threading
import time
from typing import IO, Any

TIMEOUT_S = 1.0
START_TIMEOUT_S = 30.0
Path = list[str | int]

_WORKER = """
import json, sys
import jq
compiled = {}
print("ready", flush=True)
for line in sys.stdin:
    out = []
    for doc, exprs in json.loads(line):
        paths = []
        for expr in exprs:
            try:
                prog = compiled.get(expr)
                if prog is None:
                    prog = compiled[expr] = jq.compile("[path(" + expr + ")]")
                paths.append(prog.input_value(doc).first())
            except Exception as exc:
                text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                paths.append({"error": text})
        out.append(paths)
    print(json.dumps(out), flush=True)
"""


class JqError(Exception):
    """An expression did not compile, failed, or ran past the time limit."""


def _read_line(stream: IO[str], timeout: float) -> str | None:
    """One line from ``stream`` within ``timeout`` seconds, else None."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([stream], [], [], left)
        if ready:
            return stream.readline()


class JqWorker:
    """One worker process, started on first use, replaced after a timeout."""

    def __init__(self, timeout_s: float = TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None

    def _ensure(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            proc = subprocess.Popen(
                [sys.executable, "-c", _WORKER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
            assert proc.stdout is not None
            if _read_line(proc.stdout, START_TIMEOUT_S) != "ready\n":
                proc.kill()
                proc.wait()
                raise JqError("the jq worker process did not start (is the jq package installed?)")
            self._proc = proc
        return self._proc

    def paths(self, batch: list[tuple[Any, list[str]]]) -> list[list[list[Path] | JqError]]:
        """For each (document, expressions): the paths each expression selects, or its error."""
        if not batch:
            return []
        with self._lock:
            proc = self._ensure()
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(batch) + "\n")
            proc.stdin.flush()
            line = _read_line(proc.stdout, self.timeout_s * len(batch))
            if not line:
                self._kill()
                raise JqError(f"jq path expressions ran longer than {self.timeout_s:g} s and were stopped")
        raw = json.loads(line)
        return [[JqError(p["error"]) if isinstance(p, dict) else p for p in doc] for doc in raw]

    def _kill(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.kill()
            self._proc.wait(5)
        self._proc = None

    def close(self) -> None:
        with self._lock:
            self._kill()
