"""Child processes that can be bounded and stopped: the one way llmops starts a tool.

Each child runs in a process group of its own, so stopping it stops whatever it started
too (kustomize's git, GuideLLM's workers). :func:`run` applies resource limits on Linux
(``RLIMIT_DATA`` for memory, ``RLIMIT_CPU`` for CPU time, set with ``prlimit`` as soon as
the child exists) and a wall-clock timeout. Every running child is listed, so
:func:`stop_all` can end them at once when the user presses Ctrl-C or the process gets
SIGTERM or SIGHUP (the CLI boundary and the parallel renderer call it); threads waiting on
a child then return straight away.

Memory is limited through ``RLIMIT_DATA`` rather than ``RLIMIT_AS``: Go programs such as
kubectl reserve hundreds of MiB of address space they never touch, which ``RLIMIT_AS``
counts and ``RLIMIT_DATA`` (private writable memory) does not.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What one child may use; None means unlimited."""

    timeout_s: float | None = None  # wall clock
    memory_bytes: int | None = None  # private writable memory (RLIMIT_DATA)
    cpu_s: int | None = None  # CPU time (RLIMIT_CPU): the kernel sends SIGXCPU, then SIGKILL


@dataclass(frozen=True, kw_only=True)
class Finished:
    """How a child ended."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False  # killed at the wall-clock limit
    cpu_exceeded: bool = False  # killed at the CPU-time limit
    stopped: bool = False  # killed by stop_all (an interruption)

    @property
    def signal(self) -> int | None:
        """The signal that ended the child, if one did."""
        return -self.returncode if self.returncode < 0 else None


_lock = threading.Lock()
_running: dict[int, subprocess.Popen[str]] = {}  # pid -> child, each the leader of its own group
_stopped: set[int] = set()  # children stop_all killed, until their run() returns


def _register(proc: subprocess.Popen[str]) -> None:
    with _lock:
        _running[proc.pid] = proc


def _unregister(proc: subprocess.Popen[str]) -> bool:
    """Forget the child; True when stop_all killed it."""
    with _lock:
        _running.pop(proc.pid, None)
        stopped = proc.pid in _stopped
        _stopped.discard(proc.pid)
    return stopped


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the child's whole process group (it leads it); a gone group is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def stop_all() -> int:
    """Kill every running child's process group now; returns how many were running."""
    with _lock:
        children = list(_running.values())
        _stopped.update(_running)
    for proc in children:
        _kill_group(proc)
    return len(children)


def running() -> list[int]:
    """Process ids of the children running now (for tests and diagnostics)."""
    with _lock:
        return sorted(_running)


def _apply_limits(pid: int, limits: Limits) -> None:
    """Set the child's resource limits (Linux ``prlimit``); elsewhere only the timeout applies."""
    if sys.platform != "linux":
        return
    import resource

    prlimit = resource.prlimit
    with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
        if limits.memory_bytes is not None:
            prlimit(pid, resource.RLIMIT_DATA, (limits.memory_bytes, limits.memory_bytes))
        if limits.cpu_s is not None:
            # The soft limit sends SIGXCPU; the hard one, a second later, SIGKILL.
            prlimit(pid, resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))


def run(
    args: Sequence[str],
    *,
    limits: Limits | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    interactive: bool = False,
    input: str | None = None,
) -> Finished:
    """Run ``args`` to completion within ``limits``; raise OSError when it cannot start.

    The child gets its own process group unless ``interactive`` is set and stdin is a
    terminal (a ``git push`` that may ask for a password must stay in the foreground).
    ``input`` is written to the child's stdin.
    On any exception while waiting (Ctrl-C, SIGTERM turned into an exception by the CLI)
    the child's group is killed before the exception goes on.
    """
    limits = limits or Limits()
    own_group = not (interactive and sys.stdin is not None and sys.stdin.isatty())
    proc = subprocess.Popen(
        list(args),
        stdin=subprocess.PIPE if input is not None else (None if interactive else subprocess.DEVNULL),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=dict(env) if env is not None else None,
        cwd=cwd,
        process_group=0 if own_group else None,
    )
    _register(proc)
    try:
        _apply_limits(proc.pid, limits)
        try:
            out, err = proc.communicate(input=input, timeout=limits.timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            timed_out = True
    except BaseException:
        _kill_group(proc)
        with contextlib.suppress(Exception):
            proc.communicate(timeout=5)
        _unregister(proc)
        raise
    stopped = _unregister(proc)
    # Over RLIMIT_CPU the kernel sends SIGXCPU, and SIGKILL at the hard limit (Go ignores SIGXCPU).
    by_kernel = proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and not (timed_out or stopped)
    return Finished(
        args=tuple(args),
        returncode=proc.returncode,
        stdout=out or "",
        stderr=err or "",
        timed_out=timed_out,
        cpu_exceeded=limits.cpu_s is not None and by_kernel,
        stopped=stopped,
    )
