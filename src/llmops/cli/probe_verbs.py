"""Verbs that ask a served model: ``smoke`` and ``bench``."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from llmops.cli.app import Invocation, app, invocation
from llmops.cli.boundary import dispatch
from llmops.cli.options import endpoint, output_format, target
from llmops.errors import LlmopsError

if TYPE_CHECKING:
    from llmops.gitops.config import RepoConfig

SECTION = "Probes"


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


@app.verb(SECTION)
@endpoint
@output_format(["text", "json", "junit"], "text")
@click.option("--timeout", type=float, metavar="SECONDS", help="Seconds per HTTP request.")
@click.option("--retries", type=int, metavar="N", help="Retries of refused/5xx calls.")
@click.option("--deadline", type=float, metavar="SECONDS", help="Seconds for the whole run.")
@target
@click.pass_context
def smoke(
    ctx: click.Context,
    environment: str | None,
    url: str | None,
    model: str | None,
    token: str | None,
    token_file: Path | None,
    token_from_kubeconfig: bool,
    fmt: str,
    timeout: float | None,
    retries: int | None,
    deadline: float | None,
    target: str | None,
) -> None:
    """Smoke-test an OpenAI-compatible endpoint: reachable, model listed, chat, streaming (TTFT, tokens/s)."""
    from llmops.commands import smoke as cmd
    from llmops.commands.drivers import ClusterOptions
    from llmops.probes.smoke import SmokeRequest

    inv = invocation(ctx)
    request = SmokeRequest(
        environment=environment, url=url, model=model, token=token, token_file=token_file,
        timeout_s=timeout, retries=retries, deadline_s=deadline,
    )  # fmt: skip
    from llmops.commands.endpoints import finder

    found = finder(environment, inv.repository, target)
    kube = ClusterOptions() if token_from_kubeconfig else None
    run = partial(cmd.run, request=request, fmt=fmt, endpoint=found, kube_token=kube)
    dispatch(inv.debug, lambda: run(_serving_config(inv, environment, url)))


@app.verb(SECTION)
@endpoint
@click.option("--tokenizer", help="Tokenizer for synthetic prompts: local dir or hub id.")
@click.option(
    "--report", type=click.Path(path_type=Path), metavar="PATH", help="Write a markdown report here."
)
@click.option(
    "--guidellm-report", "raw_report", type=click.Path(path_type=Path), metavar="PATH",
    help="Keep GuideLLM's JSON report here.",
)  # fmt: skip
@click.option("--max-requests", type=click.IntRange(min=1), metavar="N", help="Override bench.max_requests.")
@click.option("--deadline", type=float, metavar="SECONDS", help="Seconds for the whole run.")
@output_format(["text", "json"], "text")
@target
@click.pass_context
def bench(
    ctx: click.Context,
    environment: str | None,
    url: str | None,
    model: str | None,
    token: str | None,
    token_file: Path | None,
    token_from_kubeconfig: bool,
    tokenizer: str | None,
    report: Path | None,
    raw_report: Path | None,
    max_requests: int | None,
    deadline: float | None,
    fmt: str,
    target: str | None,
) -> None:
    """Load-test an endpoint with GuideLLM and gate on the environment's SLOs (exit 1 when missed)."""
    from llmops.commands import bench as cmd
    from llmops.commands.drivers import ClusterOptions
    from llmops.probes.bench import BenchRequest

    inv = invocation(ctx)
    request = BenchRequest(
        environment=environment, url=url, model=model, token=token, token_file=token_file,
        tokenizer=tokenizer, max_requests=max_requests, deadline_s=deadline,
    )  # fmt: skip
    from llmops.commands.endpoints import finder

    found = finder(environment, inv.repository, target)
    dispatch(
        inv.debug,
        lambda: cmd.run(
            _serving_config(inv, environment, url), request, report=report, raw_report=raw_report, fmt=fmt,
            endpoint=found,
            kube_token=ClusterOptions() if token_from_kubeconfig else None,
        ),
    )  # fmt: skip
