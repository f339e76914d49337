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
from rich.markup import escape

from llmops import __version__
from llmops.commands import console
from llmops.errors import EXIT_ERROR, LlmopsError
from llmops.gitops.config import RepoConfig
from llmops.gitops.repo import Repository

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
        console.plain(f"llmops {__version__}")
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
        # escape: messages may hold brackets (pip extras, TLS errors) that rich would take for markup
        console.stderr.print(f"[bold red]error:[/] {escape(exc.message)}", markup=True, soft_wrap=True)
        if exc.hint:
            console.stderr.print(f"  [dim]hint:[/] {escape(exc.hint)}", soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        console.stderr.print("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:  # a bug: still one line unless --debug
        if debug:
            traceback.print_exc()
        else:
            console.stderr.print(
                f"[bold red]internal error:[/] {type(exc).__name__}: {exc}", markup=True, soft_wrap=True
            )
            console.stderr.print("  [dim]hint:[/] rerun with --debug and report the traceback")
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


class SmokeFormat(StrEnum):
    text = "text"
    json = "json"
    junit = "junit"


class BenchFormat(StrEnum):
    text = "text"
    json = "json"


UrlOpt = Annotated[
    str | None, typer.Option("--url", help="Endpoint base URL, e.g. http://127.0.0.1:8000 (overrides ENV).")
]
ModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="Served model name (default: the only one served).")
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", help="Bearer token for auth-enabled endpoints (or set LLMOPS_TOKEN)."),
]
TokenFileOpt = Annotated[
    Path | None,
    typer.Option("--token-file", help="Read the bearer token from a file (a mounted ServiceAccount token)."),
]
EnvArg = Annotated[
    str | None, typer.Argument(help="Environment whose endpoint to test (see LLMOPS_ENDPOINT_<ENV>).")
]


def _serving_config(repo: Path | None, environment: str | None, url: str | None) -> RepoConfig | None:
    """The repository's config; optional with --url (the PostSync Job runs outside any repository)."""
    try:
        found = _repo(repo)
    except LlmopsError:
        if environment is None and url is not None and repo is None:
            return None
        raise
    if environment is not None and environment not in found.config.environment_names():
        found.environment(environment)  # raises the one-line "unknown environment" error
    return found.config


@app.command()
def smoke(
    environment: EnvArg = None,
    url: UrlOpt = None,
    model: ModelOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    fmt: Annotated[SmokeFormat, typer.Option("--format", "-o", help="Output format.")] = SmokeFormat.text,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds per HTTP request.")] = None,
    retries: Annotated[int | None, typer.Option("--retries", help="Retries of refused/5xx calls.")] = None,
    deadline: Annotated[float | None, typer.Option("--deadline", help="Seconds for the whole run.")] = None,
    repo: RepoOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Smoke-test an OpenAI-compatible endpoint: reachable, model listed, chat, streaming (TTFT, tokens/s)."""
    from llmops.commands import smoke as cmd

    _dispatch(
        lambda: cmd.run(
            _serving_config(repo, environment, url), environment, url=url, model=model, token=token,
            token_file=token_file, fmt=fmt.value, timeout_s=timeout, retries=retries, deadline_s=deadline,
        ),
        debug,
    )


@app.command()
def bench(
    environment: EnvArg = None,
    url: UrlOpt = None,
    model: ModelOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    tokenizer: Annotated[
        str | None, typer.Option("--tokenizer", help="Tokenizer for synthetic prompts: local dir or hub id.")
    ] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write a markdown report here.")] = None,
    raw_report: Annotated[
        Path | None, typer.Option("--guidellm-report", help="Keep GuideLLM's JSON report here.")
    ] = None,
    max_requests: Annotated[
        int | None, typer.Option("--max-requests", min=1, help="Override bench.max_requests.")
    ] = None,
    fmt: Annotated[BenchFormat, typer.Option("--format", "-o", help="Output format.")] = BenchFormat.text,
    repo: RepoOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Load-test an endpoint with GuideLLM and gate on the environment's SLOs (exit 1 when missed)."""
    from llmops.commands import bench as cmd

    _dispatch(
        lambda: cmd.run(
            _serving_config(repo, environment, url), environment, url=url, model=model, token=token,
            token_file=token_file, tokenizer=tokenizer, report=report, raw_report=raw_report,
            max_requests=max_requests, fmt=fmt.value,
        ),
        debug,
    )


@app.command("demo-model")
def demo_model(
    path: Annotated[Path, typer.Argument(help="Directory to write the model to (absent or empty).")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed for the weights.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a non-empty directory.")] = False,
    debug: DebugOpt = False,
) -> None:
    """Write a tiny random-weight Qwen2 model (offline) that vLLM's CPU build serves."""
    from llmops.commands import demo_model as cmd

    _dispatch(lambda: cmd.run(path, seed=seed, force=force), debug)


class DiffFormat(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"


@app.command()
def diff(
    targets: Annotated[
        list[str], typer.Argument(help="Environments or Application names (default: all).")
    ] = [],  # noqa: B006
    base: Annotated[str, typer.Option("--base", "-b", help="Git revision to compare against.")] = "",
    head: Annotated[
        str | None, typer.Option("--head", help="Git revision of the change (default: the working tree).")
    ] = None,
    fmt: Annotated[DiffFormat, typer.Option("--format", "-o", help="Output format.")] = DiffFormat.text,
    no_diff: Annotated[bool, typer.Option("--summary", help="Summary only, no line diffs (text).")] = False,
    render_all: Annotated[
        bool, typer.Option("--all", help="Render every environment, even those no changed file touches.")
    ] = False,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit 1 when something changed.")] = False,
    max_chars: Annotated[
        int, typer.Option("--max-chars", min=1000, help="Markdown size limit (a GitHub comment holds 65536).")
    ] = 65_536,
    repo: RepoOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Show what a change does to each environment: plan-style summary and diffs of the renders."""
    from llmops.commands import diff as cmd
    from llmops.errors import UsageError

    def go() -> int:
        if not base:
            raise UsageError("--base is required", hint="e.g. llmops diff --base origin/main")
        return cmd.run(
            _repo(repo),
            list(targets),
            base=base,
            head=head,
            fmt=fmt.value,
            show_diff=not no_diff,
            render_all=render_all,
            exit_code=exit_code,
            max_chars=max_chars,
        )

    _dispatch(go, debug)


@app.command()
def promote(
    src: Annotated[str, typer.Argument(help="Environment whose release is copied (e.g. dev).")],
    dst: Annotated[str, typer.Argument(help="Environment that receives it (e.g. staging).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the diff only; write nothing.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Allow skipping a stage or going backwards (needs --reason).")
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why the promotion order is broken (goes in the commit).")
    ] = None,
    push: Annotated[bool, typer.Option("--push", help="Push the new branch.")] = False,
    remote: Annotated[str, typer.Option("--remote", help="Remote to push to.")] = "origin",
    branch: Annotated[
        str | None, typer.Option("--branch", help="Branch name (default: promote/DST-<short sha>).")
    ] = None,
    repo: RepoOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Promote SRC's release (model, image, vLLM arguments) to DST as one commit on a new branch."""
    from llmops.commands import promote as cmd

    _dispatch(
        lambda: cmd.run(
            _repo(repo),
            src,
            dst,
            dry_run=dry_run,
            force=force,
            reason=reason,
            push=push,
            remote=remote,
            branch=branch,
        ),
        debug,
    )


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def size(
    tokens: Annotated[
        list[str],
        typer.Argument(
            help="Environments or Application names, then vLLM flags (after --) to try.",
            metavar="[TARGET]... [-- VLLM_FLAGS]",
        ),
    ] = [],  # noqa: B006
    model: Annotated[
        str | None, typer.Option("--model", help="Size a model by name instead of a deployment.")
    ] = None,
    model_config: Annotated[
        Path | None, typer.Option("--model-config", help="The model's config.json (or its directory).")
    ] = None,
    gpu: Annotated[
        str | None, typer.Option("--gpu", help="GPU type, e.g. L4, A10G, A100-80GB, H100.")
    ] = None,
    gpus: Annotated[
        int | None, typer.Option("--gpus", help="GPU count with --model (default: TP x PP).")
    ] = None,
    fmt: Annotated[TableFormat, typer.Option("--format", "-o", help="Output format.")] = TableFormat.table,
    repo: RepoOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Will the vLLM configuration fit the GPU? KV cache tokens, sequences at full length, vLLM's error."""
    from llmops.commands import size as cmd

    def go() -> int:
        standalone = model is not None or (model_config is not None and not cmd.split_tokens(tokens)[0])
        return cmd.run(
            None if standalone else _repo(repo),
            list(tokens),
            model=model,
            model_config=model_config,
            gpu=gpu,
            gpu_count=gpus,
            fmt=fmt.value,
        )

    _dispatch(go, debug)


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
