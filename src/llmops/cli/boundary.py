"""The one place where errors become messages and exit codes.

An :class:`~llmops.errors.LlmopsError` is one ``error:`` line and a ``hint:`` line, with the
exit code its class carries. Ctrl-C is 130. A closed stdout (``llmops validate | head -1``)
ends the command quietly with 141 (128 + SIGPIPE), whatever it had found. Anything else is
a bug: a paste-ready crash report (version, platform, command, traceback) goes to the
user's cache folder and the message says where. ``--debug`` prints the traceback instead
of hiding it.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import click

from llmops import __version__
from llmops.errors import EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_INTERRUPTED, LlmopsError
from llmops.support.files import atomic_write_text

# Option values never written to a crash report.
_SECRET_OPTIONS = ("--token",)
_USERINFO = re.compile(r"(://)[^/@\s]+@")


def _stderr_line(label: str, text: str, hint: str | None) -> None:
    from rich.markup import escape

    from llmops.commands import console

    console.stderr.print(f"[bold red]{label}:[/] {escape(text)}", soft_wrap=True)
    if hint:
        console.stderr.print(f"  [dim]hint:[/] {escape(hint)}", soft_wrap=True)


def closed_pipe() -> int:
    """The reader of stdout went away: write nothing more, anywhere, and exit 141.

    stdout is pointed at /dev/null so that the interpreter's final flush cannot fail again
    (Python ignores SIGPIPE, so a write to a closed pipe raises BrokenPipeError instead).
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no file descriptor (a captured stream in tests)
        pass
    return EXIT_BROKEN_PIPE


def _fallback_hint() -> str:
    ctx = click.get_current_context(silent=True)
    return f"see `{ctx.command_path if ctx is not None else 'llmops'} --help`"


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
        atomic_write_text(path, text)
    except OSError:
        return None
    return path


def dispatch(debug: bool, fn: Callable[[], int]) -> None:
    """Run a verb and exit with its code; errors become one line plus a hint (``click.exceptions.Exit``)."""
    try:
        code = fn()
    except BrokenPipeError:
        raise click.exceptions.Exit(closed_pipe()) from None
    except LlmopsError as exc:
        if debug:
            traceback.print_exc()
        _stderr_line("error", exc.message, exc.hint or _fallback_hint())
        raise click.exceptions.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
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
