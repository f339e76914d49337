"""``llmops bench (ENV | --url URL)``: a GuideLLM load test judged against the environment's SLOs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.commands import console
from llmops.commands.drivers import ClusterOptions, cluster_token
from llmops.errors import EXIT_FINDINGS, EXIT_OK
from llmops.gitops.config import BenchConfig, Limits, RepoConfig
from llmops.probes import bench

if TYPE_CHECKING:
    from rich.console import Console


def run(
    config: RepoConfig | None,
    request: bench.BenchRequest,
    *,
    raw_report: Path | None = None,
    fmt: str = "text",
    output_file: Path | None = None,
    endpoint: Callable[[str | None], str | None] | None = None,
    kube_token: ClusterOptions | None = None,
) -> int:
    if kube_token is not None and request.token is None and request.token_file is None:
        request = dataclasses.replace(request, token=cluster_token(kube_token))
    cfg = config.bench if config is not None else BenchConfig()
    if endpoint is not None and request.url is None:
        found = endpoint(cfg.for_environment(request.environment).url)
        if found:
            request = dataclasses.replace(request, url=found)
    limits = config.limits if config is not None else Limits()
    plan = bench.prepare(cfg, dataclasses.replace(request, max_body_bytes=int(limits.response_mib * 2**20)))
    slo = cfg.for_environment(request.environment).slo
    assert slo is not None  # for_environment fills it
    console.note(
        f"[dim]GuideLLM {bench.GUIDELLM_VERSION}: {console.safe(plan.describe())} "
        f"against {console.safe(plan.shown_url)}[/]"
    )
    with console.progress(f"GuideLLM: {plan.describe()}"):
        data, _console = bench.run_guidellm(plan, keep_report=raw_report)
    benchmarks = bench.parse_report(data)
    slos = bench.evaluate(benchmarks, slo)
    passed = all(r.passed for r in slos)
    if fmt == "markdown":
        console.write(bench.markdown(plan, request.environment, benchmarks, slos), output_file)
    else:
        console.emit(
            to_data(plan, request.environment, benchmarks, slos),
            fmt,
            output_file=output_file,
            human=lambda out: _text(benchmarks, slos, passed, out),
        )
    if output_file is not None or fmt != "text":
        console.note("SLOs met" if passed else "[bold red]SLOs NOT met[/]")
    return EXIT_OK if passed else EXIT_FINDINGS


def to_data(
    plan: bench.BenchPlan,
    environment: str | None,
    benchmarks: list[bench.BenchMetrics],
    slos: list[bench.SLOResult],
) -> dict[str, Any]:
    """The JSON/YAML shape (docs/reference-json.md)."""
    head: dict[str, Any] = {"model": plan.model, "url": plan.shown_url, "environment": environment}
    return head | {"load": plan.describe()} | bench.to_dict(benchmarks, slos)


def _text(
    benchmarks: list[bench.BenchMetrics], slos: list[bench.SLOResult], passed: bool, out: Console
) -> None:
    escape = console.escape
    for b in benchmarks:
        out.print(
            f"{escape(b.strategy)}: {b.requests_total} requests, {b.requests_errored} errors, "
            f"TTFT p95 {b.ttft_p95_ms:.1f} ms, ITL p95 {b.itl_p95_ms:.2f} ms, "
            f"{b.output_tokens_per_s:.1f} output tokens/s"
        )
        if b.first_error:
            out.print(f"  [yellow]first error:[/] {escape(b.first_error)}", soft_wrap=True)
    for r in slos:
        mark = "[green]PASS[/]" if r.passed else "[bold red]FAIL[/]"
        out.print(f"  {mark} {escape(f'{r.benchmark} {r.name} {r.measured} (objective {r.objective})')}")
    if not slos:
        out.print("[yellow]no SLOs configured[/]: set bench.slo in llmops.yaml to gate on them")
    out.print("SLOs met" if passed else "SLOs NOT met")
