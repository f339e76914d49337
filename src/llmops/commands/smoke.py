"""``llmops smoke (ENV | --url URL)``: prove that a deployed model answers."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

from llmops.commands import console
from llmops.commands.drivers import ClusterOptions, cluster_token
from llmops.errors import EXIT_FINDINGS, EXIT_OK
from llmops.gitops.config import Limits, RepoConfig, SmokeConfig
from llmops.probes.smoke import SmokeReport, SmokeRequest, smoke
from llmops.support import junit

_MARK = {"pass": "[green]PASS[/]", "fail": "[bold red]FAIL[/]", "skip": "[yellow]SKIP[/]"}


def run(
    config: RepoConfig | None,
    request: SmokeRequest,
    *,
    fmt: str = "text",
    endpoint: Callable[[str | None], str | None] | None = None,
    kube_token: ClusterOptions | None = None,
) -> int:
    """``endpoint(configured URL)`` asks the target's driver where ENV answers when nothing else says;
    ``kube_token``: use the kubeconfig context's bearer token unless --token or --token-file is given."""
    if kube_token is not None and request.token is None and request.token_file is None:
        request = dataclasses.replace(request, token=cluster_token(kube_token))
    cfg = config.smoke if config is not None else SmokeConfig()
    limits = config.limits if config is not None else Limits()

    def log(msg: str) -> None:
        if fmt == "text":
            console.stderr.print(f"[dim]{console.safe(msg)}[/]")

    if endpoint is not None and request.url is None:
        found = endpoint(cfg.for_environment(request.environment).url)
        if found:
            log(f"{request.environment}: endpoint {found} (from its status)")
            request = dataclasses.replace(request, url=found)
    report = smoke(cfg, request, log=log, max_body_bytes=int(limits.response_mib * 2**20))
    if fmt == "json":
        console.plain(json.dumps(to_dict(report), indent=2))
    elif fmt == "junit":
        console.plain(_junit(report))
    else:
        _text(report)
    return EXIT_OK if report.passed else EXIT_FINDINGS


def to_dict(report: SmokeReport) -> dict[str, object]:
    return {
        "url": report.url,
        "environment": report.environment,
        "model": report.model,
        "passed": report.passed,
        "wall_s": round(report.wall_s, 3),
        "checks": [
            {
                "id": c.id,
                "status": c.status,
                "detail": c.detail,
                "hint": c.hint,
                "seconds": round(c.seconds, 3),
                "metrics": c.metrics,
            }
            for c in report.checks
        ],
    }


def _junit(report: SmokeReport) -> str:
    cases = [
        junit.Case(
            name=c.id,
            status=c.status,
            message=c.detail,
            seconds=c.seconds,
            details=c.detail + (f"\nhint: {c.hint}" if c.hint else ""),
            output=c.detail if c.status == "pass" else "",
        )
        for c in report.checks
    ]
    props = {"url": report.url, "model": report.model or "", "environment": report.environment or ""}
    return junit.render("llmops.probes.smoke", cases, properties=props)


def _text(report: SmokeReport) -> None:
    where = f" ({report.environment})" if report.environment else ""
    model = console.safe(report.model or "?")
    console.stdout.print(f"smoke test of {console.safe(report.url + where)}, model {model}")
    for c in report.checks:
        console.stdout.print(f"  {_MARK[c.status]} {c.id:<13} {console.safe(c.detail)}", soft_wrap=True)
        if c.hint and c.status == "fail":
            console.stdout.print(f"       [dim]hint: {console.safe(c.hint)}[/]", soft_wrap=True)
    ttft, rate = report.metric("ttft_ms"), report.metric("tokens_per_s")
    summary = "passed" if report.passed else "FAILED"
    figures = f": TTFT {ttft} ms, {rate} tokens/s" if ttft is not None and rate is not None else ""
    console.stdout.print(f"{summary} in {report.wall_s:.2f}s{figures}")
