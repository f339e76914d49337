"""The one place where errors become messages and exit codes.

An :class:`~llmops.errors.LlmopsError` is one ``error:`` line and a ``hint:`` line, with the
exit code its class carries. Ctrl-C is 130. Anything else is a bug: a paste-ready crash
report (version, platform, command, traceback) goes to the user's cache folder and the
message says where. ``--debug`` prints the traceback instead of hiding it.

SIGTERM and SIGHUP (a CI system cancelling a job, a closed terminal) are handled like
Ctrl-C: the signal becomes an exception in the main thread, so every ``with`` block
unwinds (temporary folders are removed, an unfinished promotion takes its branch back),
every child process group is killed (:func:`llmops.support.processes.stop_all`), and
llmops exits with 128 + the signal number (143 for SIGTERM, 129 for SIGHUP). A second
signal during that clean-up is ignored, so the clean-up finishes.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType

import click

from llmops import __version__
from llmops.errors import EXIT_ERROR, EXIT_INTERRUPTED, LlmopsError
from llmops.support import processes

# Signals handled like Ctrl-C (SIGHUP does not exist everywhere).
HANDLED_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread so clean-up runs as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    for sig in HANDLED_SIGNALS:  # the clean-up that follows must not be cut short by a second one
        signal.signal(sig, signal.SIG_IGN)
    raise Terminated(signum)


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise :class:`Terminated` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise_terminated) for sig in HANDLED_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# Option values never written to a crash report.
_SECRET_OPTIONS = ("--token",)
_USERINFO = re.compile(r"(://)[^/@\s]+@")


def _stderr_line(label: str, text: str, hint: str | None) -> None:
    from rich.markup import escape

    from llmops.commands import console

    console.stderr.print(f"[bold red]{label}:[/] {escape(text)}", soft_wrap=True)
    if hint:
        console.stderr.print(f"  [dim]hint:[/] {escape(hint)}", soft_wrap=True)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """The command line with token values and URL passwords replaced by ``***``."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        name, eq, _ = arg.partition("=")
        if name in _SECRET_OPTIONS:
            out.append(f"{name}=***" if eq else name)
            hide_next = not eq
            continue
        out.append(_USERINFO.sub(r"\1***@", arg))
    return out


def crash_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llmops" / "crash"


def write_crash_report(exc: BaseException) -> Path | None:
    """A paste-ready report of an unexpected error; None when it cannot be written."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    text = "\n".join(
        [
            f"llmops {__version__} crash report ({stamp})",
            f"python: {sys.version.split()[0]} ({sys.executable})",
            f"platform: {platform.platform()}",
            f"command: llmops {' '.join(redact_argv(sys.argv[1:]))}",
            "",
            "".join(traceback.format_exception(exc)),
        ]
    )
    try:
        folder = crash_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{stamp}-{os.getpid()}.log"
        path.write_text(text, encoding="utf-8")
    except OSError:
        return None
    return path


def dispatch(debug: bool, fn: Callable[[], int]) -> None:
    """Run a verb and exit with its code; errors become one line plus a hint (``click.exceptions.Exit``)."""
    from llmops.gitops import limits  # here, not at the top: `llmops --help` needs no pydantic

    try:
        with signals_as_interrupts(), limits.preserved():  # a verb's limits end with it
            code = fn()
    except Terminated as exc:
        processes.stop_all()
        print(f"terminated by {signal.Signals(exc.signum).name}: stopped and cleaned up", file=sys.stderr)
        raise click.exceptions.Exit(128 + exc.signum) from None
    except LlmopsError as exc:
        if debug:
            traceback.print_exc()
        _stderr_line("error", exc.message, exc.hint)
        raise click.exceptions.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        processes.stop_all()
        print("interrupted", file=sys.stderr)
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:  # a bug: one line and a crash report unless --debug
        if debug:
            traceback.print_exc()
            raise click.exceptions.Exit(EXIT_ERROR) from None
        report = write_crash_report(exc)
        where = f"a crash report is in {report}; " if report else ""
        _stderr_line(
            "internal error",
            f"{type(exc).__name__}: {exc}",
            f"{where}rerun with --debug for the traceback, and report it",
        )
        raise click.exceptions.Exit(EXIT_ERROR) from None
    raise click.exceptions.Exit(code)
