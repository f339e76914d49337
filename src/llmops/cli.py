"""Command-line interface: parse arguments, dispatch to ``llmops.commands``, map errors.

This module holds no logic of its own. Every command returns an exit code;
every :class:`~llmops.errors.LlmopsError` becomes one line on stderr (plus a
hint) and its exit code. ``--debug`` (or ``LLMOPS_DEBUG=1``) shows tracebacks.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from llmops import __version__, output
from llmops.errors import EXIT_ERROR, LlmopsError
from llmops.repo import Repository

app = typer.Typer(
    name="llmops",
    help="GitOps delivery of LLM inference services: render, validate, size, diff, promote, smoke-test.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


class _State:
    debug = False
    repo: Path | None = None


RepoOpt = Annotated[
    Path | None,
    typer.Option(
        "--repo", "-C", help="GitOps repository (default: the one containing the current directory)."
    ),
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")]


class RenderFormat(StrEnum):
    yaml = "yaml"
    json = "json"


class TableFormat(StrEnum):
    table = "table"
    json = "json"


def _version(value: bool) -> None:
    if value:
        output.plain(f"llmops {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    repo: RepoOpt = None,
    debug: DebugOpt = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    _State.debug = debug or os.environ.get("LLMOPS_DEBUG", "") not in ("", "0")
    _State.repo = repo


def _dispatch(fn: Callable[[], int], debug: bool = False) -> None:
    """Run a command and exit with its code; the one place errors become messages."""
    debug = debug or _State.debug
    try:
        code = fn()
    except LlmopsError as exc:
        if debug:
            traceback.print_exc()
        output.stderr.print(f"[bold red]error:[/] {exc.message}", markup=True, soft_wrap=True)
        if exc.hint:
            output.stderr.print(f"  [dim]hint:[/] {exc.hint}", soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        output.stderr.print("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:  # a bug: still one line unless --debug
        if debug:
            traceback.print_exc()
        else:
            output.stderr.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {exc}", markup=True, soft_wrap=True
            )
            output.stderr.print("  [dim]hint:[/] rerun with --debug and report the traceback")
        raise typer.Exit(EXIT_ERROR) from None
    raise typer.Exit(code)


def _repo(repo: Path | None) -> Repository:
    return Repository.discover(repo or _State.repo)


@app.command()
def envs(
    fmt: Annotated[TableFormat, typer.Option("--format", "-o", help="Output format.")] = TableFormat.table,
    repo: RepoOpt = None,
    debug: DebugOpt = False,
) -> None:
    """List environments in promotion order with their Applications and sync policies."""
    from llmops.commands import envs as cmd

    _dispatch(lambda: cmd.run(_repo(repo), fmt=fmt.value), debug)


@app.command()
def render(
    targets: Annotated[
        list[str], typer.Argument(help="Environments or Application names (default: all).")
    ] = [],  # noqa: B006
    fmt: Annotated[RenderFormat, typer.Option("--output", "-o", help="Output format.")] = RenderFormat.yaml,
    repo: RepoOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Render environments with real kustomize, exactly as Argo CD will."""
    from llmops.commands import render as cmd

    _dispatch(lambda: cmd.run(_repo(repo), list(targets), fmt=fmt.value), debug)


class ValidateFormat(StrEnum):
    table = "table"
    json = "json"
    junit = "junit"
    sarif = "sarif"
    github = "github"


@app.command()
def validate(
    env: Annotated[
        list[str], typer.Option("--env", "-e", help="Environment to validate (repeatable; default: all).")
    ] = [],  # noqa: B006
    fmt: Annotated[
        ValidateFormat, typer.Option("--format", "-o", help="Report format.")
    ] = ValidateFormat.table,
    changed_only: Annotated[
        bool, typer.Option("--changed-only", help="Only the environments a change since --base affects.")
    ] = False,
    base: Annotated[
        str, typer.Option("--base", help="Git ref to compare with for --changed-only.")
    ] = "origin/main",
    output_file: Annotated[
        Path | None, typer.Option("--output", help="Write the (non-table) report to this file.")
    ] = None,
    repo: RepoOpt = None,
    debug: DebugOpt = False,
) -> None:
    """The pre-merge gate: build, YAML lint, strict schemas, security, GitOps and vLLM serving rules.

    Exit 0 when there is no error, 1 when there are errors, 2 when validation could not run.
    """
    from llmops.commands import validate as cmd

    _dispatch(
        lambda: cmd.run(
            _repo(repo),
            list(env),
            fmt=fmt.value,
            changed_only=changed_only,
            base=base,
            output_file=output_file,
        ),
        debug,
    )


schemas_app = typer.Typer(help="The CRD schema catalog used by `llmops validate`.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")
CatalogOpt = Annotated[
    Path | None, typer.Option("--catalog", help="Catalog folder (default: validate.schemas in llmops.yaml).")
]


@schemas_app.command("import")
def schemas_import(
    sources: Annotated[list[Path], typer.Argument(help="CRD YAML files or folders of them.")],
    catalog: CatalogOpt = None,
    repo: RepoOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Import CRD schemas from YAML files into the repository's catalog."""
    from llmops.commands import schemas as cmd

    _dispatch(lambda: cmd.run_import(_repo(repo), list(sources), catalog=catalog), debug)


@schemas_app.command("pull")
def schemas_pull(
    kubeconfig: Annotated[Path | None, typer.Option("--kubeconfig", help="Default: $KUBECONFIG.")] = None,
    context: Annotated[str | None, typer.Option("--context", help="kubeconfig context.")] = None,
    group: Annotated[
        list[str], typer.Option("--group", "-g", help="Only CRDs of this API group (repeatable).")
    ] = [],  # noqa: B006
    catalog: CatalogOpt = None,
    repo: RepoOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Import the CRD schemas a live cluster serves (through the Kubernetes API)."""
    from llmops.commands import schemas as cmd

    _dispatch(
        lambda: cmd.run_pull(
            _repo(repo), kubeconfig=kubeconfig, context=context, groups=list(group), catalog=catalog
        ),
        debug,
    )


@schemas_app.command("list")
def schemas_list(catalog: CatalogOpt = None, repo: RepoOpt = None, debug: DebugOpt = False) -> None:
    """List the CRD schemas in the catalog."""
    from llmops.commands import schemas as cmd

    _dispatch(lambda: cmd.run_list(_repo(repo), catalog=catalog), debug)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code instead of exiting (handy for tests)."""
    try:
        app(args=argv, prog_name="llmops")  # standalone: usage errors print and exit 2
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def entrypoint() -> None:
    sys.exit(main())
