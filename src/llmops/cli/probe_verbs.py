"""Verbs that ask a served model: ``smoke`` and ``bench``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmops.cli.app import Invocation, app, invocation
from llmops.cli.boundary import dispatch
from llmops.cli.options import BenchFormat, EnvArg, ModelOpt, SmokeFormat, TokenFileOpt, TokenOpt, UrlOpt
from llmops.errors import LlmopsError

if TYPE_CHECKING:
    from llmops.gitops.config import RepoConfig


def _serving_config(inv: Invocation, environment: str | None, url: str | None) -> RepoConfig | None:
    """The repository's config; optional with --url (the PostSync Job runs outside any repository)."""
    try:
        found = inv.repository()
    except LlmopsError:
        if environment is None and url is not None and inv.repo is None:
            return None
        raise
    if environment is not None and environment not in found.config.environment_names():
        found.environment(environment)  # raises the one-line "unknown environment" error
    return found.config


@app.command()
def smoke(
    ctx: typer.Context,
    environment: EnvArg = None,
    url: UrlOpt = None,
    model: ModelOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    fmt: Annotated[SmokeFormat, typer.Option("--format", "-o", help="Output format.")] = SmokeFormat.text,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Seconds per HTTP request.")] = None,
    retries: Annotated[int | None, typer.Option("--retries", help="Retries of refused/5xx calls.")] = None,
    deadline: Annotated[float | None, typer.Option("--deadline", help="Seconds for the whole run.")] = None,
) -> None:
    """Smoke-test an OpenAI-compatible endpoint: reachable, model listed, chat, streaming (TTFT, tokens/s)."""
    from llmops.commands import smoke as cmd
    from llmops.probes.smoke import SmokeRequest

    inv = invocation(ctx)
    request = SmokeRequest(
        environment=environment, url=url, model=model, token=token, token_file=token_file,
        timeout_s=timeout, retries=retries, deadline_s=deadline,
    )  # fmt: skip
    dispatch(inv.debug, lambda: cmd.run(_serving_config(inv, environment, url), request, fmt=fmt.value))


@app.command()
def bench(
    ctx: typer.Context,
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
) -> None:
    """Load-test an endpoint with GuideLLM and gate on the environment's SLOs (exit 1 when missed)."""
    from llmops.commands import bench as cmd
    from llmops.probes.bench import BenchRequest

    inv = invocation(ctx)
    request = BenchRequest(
        environment=environment, url=url, model=model, token=token, token_file=token_file,
        tokenizer=tokenizer, max_requests=max_requests,
    )  # fmt: skip
    dispatch(
        inv.debug,
        lambda: cmd.run(
            _serving_config(inv, environment, url), request, report=report, raw_report=raw_report,
            fmt=fmt.value,
        ),
    )  # fmt: skip
