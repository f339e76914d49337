"""``llmops bench (ENV | --url URL)``: a GuideLLM load test judged against the environment's SLOs."""

from __future__ import annotations

import json
from pathlib import Path

from rich.markup import escape

from llmops.commands import console
from llmops.errors import EXIT_FINDINGS, EXIT_OK, UsageError
from llmops.gitops.config import BenchConfig, RepoConfig
from llmops.probes import bench
from llmops.probes.endpoint import Endpoint, UnknownModelError
from llmops.probes.target import resolve_token, resolve_url


def _tokenizer(name: str) -> str:
    """A local tokenizer directory as an absolute path (GuideLLM runs elsewhere), else a hub id."""
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def run(
    config: RepoConfig | None,
    environment: str | None,
    *,
    url: str | None = None,
    model: str | None = None,
    token: str | None = None,
    token_file: Path | None = None,
    tokenizer: str | None = None,
    report: Path | None = None,
    raw_report: Path | None = None,
    max_requests: int | None = None,
    fmt: str = "text",
) -> int:
    cfg = config.bench if config is not None else BenchConfig()
    env_cfg = cfg.for_environment(environment)
    target = resolve_url(environment, url, env_cfg.url)
    secret = resolve_token(token, token_file)
    # Ask the endpoint first: a wrong URL, token or model fails in a second with a clear message
    # instead of after GuideLLM's start-up.
    with Endpoint(target.url, token=secret) as ep:
        cards = {str(c["id"]): c for c in ep.model_cards()}
    served = list(cards)
    name = model or env_cfg.model
    if name is None:
        if len(served) != 1:
            raise UsageError(
                f"the endpoint serves {len(served)} models ({', '.join(served)}); which one?",
                hint="pass --model NAME",
            )
        name = served[0]
    elif name not in served:
        raise UnknownModelError(name, served)
    assert env_cfg.profile is not None and env_cfg.slo is not None  # for_environment fills them
    limit = cards[name].get("max_model_len")
    if isinstance(limit, int) and cfg.prompt_tokens + cfg.output_tokens > limit:
        raise UsageError(
            f"bench asks for {cfg.prompt_tokens} prompt + {cfg.output_tokens} output tokens, more than "
            f"the {limit} tokens {name!r} is served with (max_model_len): every request would fail",
            hint="lower bench.prompt_tokens / output_tokens (leave room for the chat template)",
        )
    plan = bench.BenchPlan(
        url=target.url.rstrip("/").removesuffix("/v1"),
        model=name,
        profile=env_cfg.profile,
        max_requests=max_requests or env_cfg.max_requests,
        max_seconds=env_cfg.max_seconds,
        prompt_tokens=cfg.prompt_tokens,
        output_tokens=cfg.output_tokens,
        tokenizer=_tokenizer(tokenizer or cfg.tokenizer or name),
        timeout_s=cfg.timeout_s,
        token=secret,
    )
    if fmt == "text":
        console.stderr.print(
            f"[dim]GuideLLM {bench.GUIDELLM_VERSION}: {plan.describe()} against {plan.url}[/]"
        )
    data, _console = bench.run_guidellm(plan, keep_report=raw_report)
    benchmarks = bench.parse_report(data)
    slos = bench.evaluate(benchmarks, env_cfg.slo)
    passed = all(r.passed for r in slos)
    md = bench.markdown(plan, environment, benchmarks, slos)
    if report is not None:
        bench.write_report(report, md)
    if fmt == "json":
        console.plain(json.dumps(bench.to_dict(benchmarks, slos) | {"model": name, "url": plan.url}, indent=2))
    else:
        for b in benchmarks:
            console.stdout.print(
                f"{b.strategy}: {b.requests_total} requests, {b.requests_errored} errors, "
                f"TTFT p95 {b.ttft_p95_ms:.1f} ms, ITL p95 {b.itl_p95_ms:.2f} ms, "
                f"{b.output_tokens_per_s:.1f} output tokens/s"
            )
            if b.first_error:
                console.stdout.print(f"  [yellow]first error:[/] {escape(b.first_error)}", soft_wrap=True)
        for r in slos:
            mark = "[green]PASS[/]" if r.passed else "[bold red]FAIL[/]"
            console.stdout.print(f"  {mark} {r.benchmark} {r.name} {r.measured} (objective {r.objective})")
        if not slos:
            console.stdout.print("[yellow]no SLOs configured[/]: set bench.slo in llmops.yaml to gate on them")
        verdict = "SLOs met" if passed else "SLOs NOT met"
        console.stdout.print(verdict + (f"; report written to {report}" if report else ""))
    return EXIT_OK if passed else EXIT_FINDINGS
