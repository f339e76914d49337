"""The root command: global options, read once and handed to every verb as an :class:`Invocation`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmops import __version__

if TYPE_CHECKING:
    from llmops.gitops.repo import Repository

DEBUG_ENV = "LLMOPS_DEBUG"

app = typer.Typer(
    name="llmops",
    help="GitOps delivery of LLM inference services: render, validate, size, diff, promote, smoke-test.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: starts fast (no rich import) and reads like kubectl's
    context_settings={"help_option_names": ["-h", "--help"]},
)


def env_flag(value: str | None) -> bool:
    """How llmops reads a boolean environment variable: unset, empty, 0, false, no and off are false."""
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class Invocation:
    """What the global options say, for every verb: the repository to work on and --debug."""

    repo: Path | None = None
    debug: bool = False

    def repository(self) -> Repository:
        """The GitOps repository (``--repo``, else the one containing the current directory)."""
        from llmops.gitops.repo import Repository

        return Repository.discover(self.repo)


def invocation(ctx: typer.Context) -> Invocation:
    """The :class:`Invocation` the root callback stored (a default one when a verb runs alone)."""
    root = ctx.find_root()
    obj = root.obj
    return obj if isinstance(obj, Invocation) else Invocation(debug=env_flag(os.environ.get(DEBUG_ENV)))


def _version(value: bool) -> None:
    if value:
        print(f"llmops {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    repo: Annotated[
        Path | None,
        typer.Option(
            "--repo", "-C", help="GitOps repository (default: the one containing the current directory)."
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help=f"Show tracebacks on errors (or set {DEBUG_ENV}=1).")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    ctx.obj = Invocation(repo=repo, debug=debug or env_flag(os.environ.get(DEBUG_ENV)))
