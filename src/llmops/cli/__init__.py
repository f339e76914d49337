"""The command line: parses arguments and dispatches to :mod:`llmops.commands`; holds no logic.

Verbs are registered on one click group by the ``*_verbs`` modules, grouped like the
capabilities they call (and listed by section in ``llmops --help``). Global options
(``--repo``/``-C``, ``--debug``) are declared once, on the root command, and may be written
before or after the verb. Usage errors become one ``error:`` line and a hint, like every
other error (:mod:`llmops.cli.boundary`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from llmops.cli import (
    cluster_verbs,
    delivery_verbs,
    engine_verbs,
    gitops_verbs,
    init_verbs,
    probe_verbs,
    serving_verbs,
    validation_verbs,
)
from llmops.cli.app import app
from llmops.errors import EXIT_ERROR, EXIT_INTERRUPTED

__all__ = ["app", "entrypoint", "main"]
VERB_MODULES = (
    gitops_verbs, init_verbs, validation_verbs, delivery_verbs, serving_verbs, probe_verbs, engine_verbs,
    cluster_verbs,
)  # fmt: skip

# Global options and how many values each takes.
GLOBAL_OPTIONS = {"--repo": 1, "-C": 1, "--debug": 0}


def hoist_global_options(argv: Sequence[str]) -> list[str]:
    """Move global options written after the verb to the front, where the root command reads them.

    Nothing after ``--`` is touched (it belongs to the verb, e.g. vLLM flags for ``size``).
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest += argv[i:]
            break
        name, eq, _ = arg.partition("=")
        takes = GLOBAL_OPTIONS.get(name)
        if takes is None:
            rest.append(arg)
            i += 1
            continue
        span = 1 + (takes if not eq else 0)
        front += argv[i : i + span]
        i += span
    return front + rest


def _usage_error(exc: click.UsageError) -> int:
    from rich.markup import escape

    from llmops.commands import console

    command = exc.ctx.command_path if exc.ctx is not None else "llmops"
    console.stderr.print(f"[bold red]error:[/] {escape(exc.format_message())}", soft_wrap=True)
    console.stderr.print(f"  [dim]hint:[/] see `{escape(command)} --help`", soft_wrap=True)
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run llmops with ``argv`` (default: the process arguments); returns the exit code."""
    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    try:
        result = app.main(args=args, prog_name="llmops", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx is not None else "")
        return 0
    except click.UsageError as exc:
        return _usage_error(exc)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return result if isinstance(result, int) else 0


def entrypoint() -> None:
    sys.exit(main())
