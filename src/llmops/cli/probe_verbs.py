"""Verbs that ask a served model: ``smoke`` and ``bench``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from llmops.cli.app import Invocation, app, invocation
from llmops.cli.boundary import dispatch
from llmops.cli.options import endpoint, output_file, output_format, positive_seconds, target
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


@app.verb(
    SECTION,
    examples=[
        "llmops smoke --url http://127.0.0.1:8000                # any OpenAI-compatible endpoint",
        "llmops smoke production -o junit --output-file smoke.xml # URL from LLMOPS_ENDPOINT_PRODUCTION",
        "llmops smoke staging --token-file /var/run/secrets/kubernetes.io/serviceaccount/token",
    ],
)
@endpoint
@output_format(["text", "json", "yaml", "junit"], "text")
@output_file
@positive_seconds("--timeout", "Seconds per HTTP request (more than 0).")
@click.option("--retries", type=click.IntRange(min=0), metavar="N", help="Retries of refused/5xx calls.")
@positive_seconds("--deadline", "Seconds for the whole run, retries included (more than 0).")
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
    output_file: Path | None,
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
    dispatch(
        inv.debug,
        lambda: cmd.run(
            _serving_config(inv, environment, url), request, fmt=fmt, output_file=output_file, endpoint=found,
            kube_token=kube,
        ),
    )  # fmt: skip


@app.verb(
    SECTION,
    examples=[
        "llmops bench staging                               # the load and SLOs of llmops.yaml",
        "llmops bench --url http://127.0.0.1:8000 --tokenizer /tmp/demo \\",
        "    --prompt-tokens 128 --output-tokens 64 --profile concurrent:8 --max-requests 40",
        "llmops bench production -o markdown --output-file bench.md   # a report for the review",
    ],
)
@endpoint
@click.option("--tokenizer", help="Tokenizer for synthetic prompts: local dir or hub id.")
@click.option(
    "--profile", metavar="KIND[:N]",
    help="Load profile: synchronous, throughput, concurrent:STREAMS, constant:RATE, poisson:RATE, "
    "sweep:STEPS (overrides bench.profile).",
)  # fmt: skip
@click.option("--max-requests", type=click.IntRange(min=1), metavar="N", help="Override bench.max_requests.")
@click.option(
    "--prompt-tokens", type=click.IntRange(min=1), metavar="N", help="Override bench.prompt_tokens."
)
@click.option(
    "--output-tokens", type=click.IntRange(min=1), metavar="N", help="Override bench.output_tokens."
)
@positive_seconds("--deadline", "Seconds for the whole run (more than 0).")
@output_format(["text", "json", "yaml", "markdown"], "text")
@output_file
@click.option(
    "--guidellm-report", "raw_report", type=click.Path(path_type=Path, dir_okay=False), metavar="PATH",
    help="Also keep GuideLLM's own JSON report here.",
)  # fmt: skip
@click.option(
    "--report", "markdown_report", type=click.Path(path_type=Path, dir_okay=False), hidden=True,
    help="Deprecated: -o markdown --output-file PATH.",
)  # fmt: skip
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
    profile: str | None,
    max_requests: int | None,
    prompt_tokens: int | None,
    output_tokens: int | None,
    deadline: float | None,
    fmt: str,
    output_file: Path | None,
    raw_report: Path | None,
    markdown_report: Path | None,
    target: str | None,
) -> None:
    """Load-test an endpoint with GuideLLM and gate on the environment's SLOs (exit 1 when missed).

    --report PATH (deprecated) is -o markdown --output-file PATH.
    """
    from llmops.commands import bench as cmd
    from llmops.commands.drivers import ClusterOptions
    from llmops.probes.bench import BenchRequest, parse_profile

    inv = invocation(ctx)
    if markdown_report is not None:
        fmt, output_file = "markdown", markdown_report

    from llmops.commands.endpoints import finder

    found = finder(environment, inv.repository, target)

    def run() -> int:
        request = BenchRequest(
            environment=environment, url=url, model=model, token=token, token_file=token_file,
            tokenizer=tokenizer, max_requests=max_requests, prompt_tokens=prompt_tokens,
            output_tokens=output_tokens, profile=parse_profile(profile) if profile else None,
            deadline_s=deadline,
        )  # fmt: skip
        config = _serving_config(inv, environment, url)
        return cmd.run(
            config, request, raw_report=raw_report, fmt=fmt, output_file=output_file, endpoint=found,
            kube_token=ClusterOptions() if token_from_kubeconfig else None,
        )  # fmt: skip

    dispatch(inv.debug, run)
