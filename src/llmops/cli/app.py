"""The root command: global options, read once and handed to every verb as an :class:`Invocation`."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from llmops import __version__

if TYPE_CHECKING:
    from llmops.gitops.repo import Repository

DEBUG_ENV = "LLMOPS_DEBUG"
# The sections of `llmops --help`, in the order a user meets them.
SECTIONS = ("Repository", "Pre-merge gate", "Delivery", "Serving", "Probes", "Engine", "Cluster", "Shell")
F = TypeVar("F", bound=Callable[..., Any])


def env_flag(value: str | None) -> bool:
    """How llmops reads a boolean environment variable: unset, empty, 0, false, no and off are false."""
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class Invocation:
    """What the global options say, for every verb: the repository to work on and --debug."""

    repo: Path | None = None
    debug: bool = False

    def repository(self) -> Repository:
        """The GitOps repository (``--repo``, else the one containing the current directory).

        Files the verb writes with ``--output-file`` inside it must stay inside it.
        """
        from llmops.commands import console
        from llmops.gitops.repo import Repository

        found = Repository.discover(self.repo)
        console.bind_repository(found.root)
        return found


class VerbGroup(click.Group):
    """A group whose help lists verbs by section, in the order they were registered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sections: dict[str, list[str]] = {}

    def verb(
        self, section: str, name: str | None = None, *, examples: Sequence[str] = (), **kwargs: Any
    ) -> Callable[[F], F]:
        """Register a verb under a help section (``@app.verb("Delivery", examples=[...])``).

        ``examples`` are command lines (with an optional ``# comment``) shown at the end of
        the verb's help, as kubectl does.
        """

        def decorate(fn: F) -> F:
            if examples:
                kwargs.setdefault("epilog", examples_epilog(examples))
            make: Callable[[F], click.Command] = click.command(name, **kwargs)
            cmd = make(fn)
            self.add_command(cmd)
            self.sections.setdefault(section, []).append(cmd.name or fn.__name__)
            return fn

        return decorate

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        listed = {n for names in self.sections.values() for n in names}
        rank = {name: i for i, name in enumerate(SECTIONS)}
        sections = dict(sorted(self.sections.items(), key=lambda kv: rank.get(kv[0], len(rank))))
        rest = [n for n in self.commands if n not in listed]
        if rest:
            sections["Other"] = rest
        limit = formatter.width - 6 - max(len(n) for n in self.commands)
        for title, names in sections.items():
            rows = [(n, self.commands[n].get_short_help_str(limit)) for n in names]
            with formatter.section(f"{title} commands"):
                formatter.write_dl(rows)


def examples_epilog(examples: Sequence[str]) -> str:
    """The "Examples:" block of a verb's help, kept line by line (click's ``\\b``)."""
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in examples)


def invocation(ctx: click.Context) -> Invocation:
    """The :class:`Invocation` the root command stored (a default one when a verb runs alone)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Invocation) else Invocation(debug=env_flag(os.environ.get(DEBUG_ENV)))


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=VerbGroup, context_settings=CONTEXT)
@click.option(
    "-C", "--repo", type=click.Path(path_type=Path), metavar="PATH",
    help="GitOps repository (default: the one containing the current directory).",
)  # fmt: skip
@click.option("--debug", is_flag=True, help=f"Show tracebacks on errors (or set {DEBUG_ENV}=1).")
@click.option("--no-color", is_flag=True, help="No colours or other styles (also: NO_COLOR=1).")
@click.version_option(__version__, "--version", prog_name="llmops", message="%(prog)s %(version)s")
@click.pass_context
def _root(ctx: click.Context, repo: Path | None, debug: bool, no_color: bool) -> None:
    """GitOps delivery of LLM inference services (vLLM on KServe, Argo CD, Kustomize).

    Global options may be written before or after the verb. Every verb takes -o FORMAT for
    its output format and --output-file PATH to write it to a file; notes go to stderr.
    Exit codes: 0 ok, 1 findings or failed checks, 2 could not run, 130 interrupted,
    141 output pipe closed, 143/129 terminated (SIGTERM/SIGHUP).
    """
    from llmops.commands import console

    console.configure(no_color=no_color)
    ctx.obj = Invocation(repo=repo, debug=debug or env_flag(os.environ.get(DEBUG_ENV)))


app: VerbGroup = _root
