"""``llmops bench (ENV | --url URL)``: a GuideLLM load test judged against the environment's SLOs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from llmops.commands import console
from llmops.commands.drivers import ClusterOptions, cluster_token
from llmops.errors import EXIT_FINDINGS, EXIT_OK
from llmops.gitops.config import BenchConfig, Limits, RepoConfig
from llmops.probes import bench


def run(
    config: RepoConfig | None,
    request: bench.BenchRequest,
    *,
    report: Path | None = None,
    raw_report: Path | None = None,
    fmt: str = "text",
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
    if fmt == "text":
        console.stderr.print(
            f"[dim]GuideLLM {bench.GUIDELLM_VERSION}: {console.safe(plan.describe())} "
            f"against {console.safe(plan.shown_url)}[/]"
        )
    data, _console = bench.run_guidellm(plan, keep_report=raw_report)
    benchmarks = bench.parse_report(data)
    slos = bench.evaluate(benchmarks, slo)
    passed = all(r.passed for r in slos)
    md = bench.markdown(plan, request.environment, benchmarks, slos)
    if report is not None:
        bench.write_report(report, md)
    if fmt == "json":
        summary = bench.to_dict(benchmarks, slos) | {"model": plan.model, "url": plan.shown_url}
        console.plain(json.dumps(summary, indent=2))
    else:
        for b in benchmarks:
            console.stdout.print(
                f"{console.safe(b.strategy)}: {b.requests_total} requests, {b.requests_errored} errors, "
                f"TTFT p95 {b.ttft_p95_ms:.1f} ms, ITL p95 {b.itl_p95_ms:.2f} ms, "
                f"{b.output_tokens_per_s:.1f} output tokens/s"
            )
            if b.first_error:
                console.stdout.print(
                    f"  [yellow]first error:[/] {console.safe(b.first_error)}", soft_wrap=True
                )
        for r in slos:
            mark = "[green]PASS[/]" if r.passed else "[bold red]FAIL[/]"
            console.stdout.print(
                f"  {mark} {console.safe(r.benchmark)} {r.name} {r.measured} (objective {r.objective})"
            )
        if not slos:
            console.stdout.print(
                "[yellow]no SLOs configured[/]: set bench.slo in llmops.yaml to gate on them"
            )
        verdict = "SLOs met" if passed else "SLOs NOT met"
        console.stdout.print(verdict + (f"; report written to {report}" if report else ""))
    return EXIT_OK if passed else EXIT_FINDINGS
