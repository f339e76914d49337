"""Load tests with GuideLLM, judged against service-level objectives.

GuideLLM (PyPI ``guidellm``, 0.8) runs as a subprocess of the same Python, so
the ``serve`` extra is all a user installs. Every GuideLLM call lives in this
module. The whole run is described in a scenario file written to a private
temporary directory (mode 0600), so a bearer token never appears on a command
line; GuideLLM masks it in its own report. llmops reads GuideLLM's JSON report,
keeps the figures SLOs are written in, and judges them.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llmops.errors import LlmopsError, UsageError
from llmops.gitops.config import BenchConfig, BenchProfile, BenchSLO
from llmops.probes.endpoint import Endpoint, UnknownModelError
from llmops.probes.target import resolve_token, resolve_url
from llmops.support import processes
from llmops.support.files import atomic_write_text
from llmops.support.http import MAX_BODY_BYTES, public_url

GUIDELLM_VERSION = "0.8.1"


class BenchError(LlmopsError):
    """GuideLLM is missing, failed, or wrote a report llmops cannot read."""


@dataclass(frozen=True, kw_only=True)
class BenchPlan:
    url: str
    model: str
    profile: BenchProfile
    max_requests: int | None
    max_seconds: float | None
    prompt_tokens: int
    output_tokens: int
    tokenizer: str
    timeout_s: float = 600.0
    token: str | None = None
    deadline_at: float | None = None  # time.monotonic() by which everything must be done (--deadline)

    @property
    def shown_url(self) -> str:
        """The endpoint as printed and reported: without user and password."""
        return public_url(self.url)

    def seconds_left(self) -> float:
        """What GuideLLM may take: bench.timeout_s, cut to what is left of the deadline."""
        if self.deadline_at is None:
            return self.timeout_s
        left = self.deadline_at - time.monotonic()
        if left <= 0:
            raise BenchError("the deadline passed before GuideLLM could start", hint="raise --deadline")
        return min(self.timeout_s, left)

    def describe(self) -> str:
        prof = self.profile
        shape: str = prof.kind
        if prof.kind == "concurrent":
            shape += f", {prof.streams or 1} streams"
        elif prof.rate is not None:
            shape += f", rate {prof.rate:g}"
        stop = []
        if self.max_requests:
            stop.append(f"{self.max_requests} requests")
        if self.max_seconds:
            stop.append(f"{self.max_seconds:g} s")
        return (
            f"{shape}; stop after {' or '.join(stop) or 'GuideLLM default'}; "
            f"{self.prompt_tokens} prompt / {self.output_tokens} output tokens (synthetic)"
        )


@dataclass(frozen=True, kw_only=True)
class BenchRequest:
    """What the user asked for on the command line; unset fields come from llmops.yaml."""

    environment: str | None
    url: str | None = None
    model: str | None = None
    token: str | None = None
    token_file: Path | None = None
    tokenizer: str | None = None
    max_requests: int | None = None
    deadline_s: float | None = None  # the whole run: asking the endpoint, then GuideLLM
    max_body_bytes: int = MAX_BODY_BYTES  # limits.response_mib


def _local_tokenizer(name: str) -> str:
    """A local tokenizer directory as an absolute path (GuideLLM runs elsewhere), else a hub id."""
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def _pick_model(cards: dict[str, dict[str, Any]], wanted: str | None) -> str:
    served = list(cards)
    if wanted is None:
        if len(served) != 1:
            raise UsageError(
                f"the endpoint serves {len(served)} models ({', '.join(served)}); which one?",
                hint="pass --model NAME",
            )
        return served[0]
    if wanted not in served:
        raise UnknownModelError(wanted, served)
    return wanted


def _check_fits(card: dict[str, Any], name: str, cfg: BenchConfig) -> None:
    limit = card.get("max_model_len")
    if isinstance(limit, int) and cfg.prompt_tokens + cfg.output_tokens > limit:
        raise UsageError(
            f"bench asks for {cfg.prompt_tokens} prompt + {cfg.output_tokens} output tokens, more than "
            f"the {limit} tokens {name!r} is served with (max_model_len): every request would fail",
            hint="lower bench.prompt_tokens / output_tokens (leave room for the chat template)",
        )


def prepare(cfg: BenchConfig, request: BenchRequest) -> BenchPlan:
    """The plan of a benchmark: which URL, model, load and tokenizer.

    The endpoint is asked first, so a wrong URL, token or model fails in a second with a
    clear message instead of after GuideLLM's start-up.
    """
    started = time.monotonic()
    env_cfg = cfg.for_environment(request.environment)
    target = resolve_url(request.environment, request.url, env_cfg.url)
    secret = resolve_token(request.token, request.token_file)
    with Endpoint(
        target.url, token=secret, deadline_s=request.deadline_s, max_body_bytes=request.max_body_bytes
    ) as ep:
        cards = {str(c["id"]): c for c in ep.model_cards()}
    name = _pick_model(cards, request.model or env_cfg.model)
    _check_fits(cards[name], name, cfg)
    assert env_cfg.profile is not None  # for_environment fills it
    return BenchPlan(
        url=target.url.rstrip("/").removesuffix("/v1"),
        model=name,
        profile=env_cfg.profile,
        max_requests=request.max_requests or env_cfg.max_requests,
        max_seconds=env_cfg.max_seconds,
        prompt_tokens=cfg.prompt_tokens,
        output_tokens=cfg.output_tokens,
        tokenizer=_local_tokenizer(request.tokenizer or cfg.tokenizer or name),
        timeout_s=cfg.timeout_s,
        token=secret,
        deadline_at=started + request.deadline_s if request.deadline_s is not None else None,
    )


@dataclass(frozen=True)
class BenchMetrics:
    """One GuideLLM benchmark (one load level): the figures SLOs are written in."""

    strategy: str
    duration_s: float
    requests_total: int  # completed: successful + errored
    requests_errored: int
    requests_per_s: float
    ttft_p50_ms: float
    ttft_p95_ms: float
    itl_p50_ms: float
    itl_p95_ms: float
    latency_p95_s: float
    output_tokens_per_s: float
    output_tokens_total: int
    prompt_tokens_mean: float
    first_error: str | None = None  # what the first failed request died of, as GuideLLM recorded it
    # Requests still in flight when the run's constraint stopped it (cancelled): neither success nor error.
    requests_incomplete: int = 0

    @property
    def error_rate(self) -> float:
        return self.requests_errored / self.requests_total if self.requests_total else 1.0


@dataclass(frozen=True)
class SLOResult:
    benchmark: str
    name: str
    objective: str
    measured: str
    passed: bool


def scenario(plan: BenchPlan) -> dict[str, Any]:
    """The GuideLLM 0.8 scenario (``guidellm run -c FILE``) for a plan."""
    # No user:password in the URL GuideLLM gets: it would land in its report (use --token).
    backend: dict[str, Any] = {"kind": "openai_http", "target": plan.shown_url, "model": plan.model}
    if plan.token:
        backend["api_key"] = plan.token
    profile: dict[str, Any] = {"kind": plan.profile.kind}
    if plan.profile.kind == "concurrent":
        profile["streams"] = plan.profile.streams or 1
    elif plan.profile.rate is not None and plan.profile.kind in ("constant", "poisson", "sweep"):
        profile["rate"] = plan.profile.rate
    constraints: list[dict[str, Any]] = []
    if plan.max_requests:
        constraints.append({"kind": "max_requests", "count": plan.max_requests})
    if plan.max_seconds:
        constraints.append({"kind": "max_duration", "seconds": plan.max_seconds})
    return {
        "metadata": {"name": "llmops-bench", "description": plan.describe()},
        "spec": {
            "backend": backend,
            "profile": profile,
            "data": [
                {
                    "kind": "synthetic_text",
                    "prompt_tokens": plan.prompt_tokens,
                    "output_tokens": plan.output_tokens,
                }
            ],
            "constraints": constraints,
            "tokenizer": {"kind": "hf_auto", "model": plan.tokenizer},
        },
    }


def command(scenario_file: Path, report_file: Path) -> list[str]:
    return [
        sys.executable, "-m", "guidellm", "run",
        "-c", str(scenario_file),
        "--output", f"kind=json,path={report_file}",
        "--disable-console-interactive",
    ]  # fmt: skip


def _check_installed() -> None:
    try:
        from importlib.metadata import PackageNotFoundError, version

        found = version("guidellm")
    except PackageNotFoundError as exc:
        raise BenchError(
            "GuideLLM is not installed",
            hint=f"install the serving extra: pip install 'llmops[serve]' (guidellm=={GUIDELLM_VERSION})",
        ) from exc
    if found.split("+")[0].split(".")[:2] != GUIDELLM_VERSION.split(".")[:2]:
        raise BenchError(
            f"GuideLLM {found} is installed; llmops reads the report format of {GUIDELLM_VERSION}",
            hint=f"pip install guidellm=={GUIDELLM_VERSION}",
        )


def run_guidellm(plan: BenchPlan, *, keep_report: Path | None = None) -> tuple[dict[str, Any], str]:
    """Run GuideLLM for ``plan``; return its JSON report and the tail of its console output."""
    _check_installed()
    with tempfile.TemporaryDirectory(prefix="llmops-bench-") as tmp:
        scen = Path(tmp) / "scenario.json"
        fd = os.open(scen, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(scenario(plan), fh)
        report = Path(tmp) / "guidellm.json"
        env = dict(os.environ)
        if Path(plan.tokenizer).is_dir():  # a local tokenizer needs no model hub
            env.setdefault("HF_HUB_OFFLINE", "1")
        seconds = plan.seconds_left()
        # Its own process group: stopping it (timeout, Ctrl-C, SIGTERM) stops its workers too.
        proc = processes.run(
            command(scen, report), limits=processes.Limits(timeout_s=seconds), cwd=tmp, env=env
        )
        if proc.timed_out:
            raise BenchError(
                f"GuideLLM did not finish within {seconds:g}s",
                hint="lower bench.max_requests / max_seconds, or raise bench.timeout_s or --deadline",
            )
        console = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0 or not report.exists():
            raise BenchError(
                f"GuideLLM failed (exit {proc.returncode}): {_last_error(console)}",
                hint="check the tokenizer (a local directory, or a hub id reachable from here) and the URL",
            )
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise BenchError(f"GuideLLM's report is not JSON: {exc}") from exc
        if keep_report is not None:
            _write_atomic(keep_report, report.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise BenchError("GuideLLM's report is not a JSON object")
    return data, console[-4000:]


def _last_error(console: str) -> str:
    lines = [ln.strip() for ln in console.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "error" in ln.lower() or "exception" in ln.lower():
            return ln[:300]
    return lines[-1][:300] if lines else "no output"


def _stat(metrics: dict[str, Any], name: str, key: str = "mean", group: str = "successful") -> float:
    try:
        dist = metrics[name][group]
        value = dist["percentiles"][key] if key.startswith("p") else dist[key]
    except (KeyError, TypeError) as exc:
        raise BenchError(f"GuideLLM's report lacks metrics.{name}.{group}.{key}") from exc
    return float(value or 0.0)


def _first_error(requests: Any) -> str | None:
    if not isinstance(requests, dict):
        return None
    for group in ("errored",):
        for req in requests.get(group) or []:
            info = req.get("info") if isinstance(req, dict) else None
            if isinstance(info, dict) and info.get("error"):
                return " ".join(str(info["error"]).split())[:300]
    return None


def parse_report(data: dict[str, Any]) -> list[BenchMetrics]:
    """The benchmarks (load levels) of a GuideLLM 0.8 JSON report."""
    benches = data.get("benchmarks")
    if not isinstance(benches, list) or not benches:
        raise BenchError("GuideLLM's report has no benchmarks", hint="did every request fail?")
    out: list[BenchMetrics] = []
    for b in benches:
        m = b.get("metrics") or {}
        totals = m.get("request_totals") or {}
        strategy = (b.get("config") or {}).get("strategy") or {}
        label = str(strategy.get("type_", "?"))
        if strategy.get("streams"):
            label += f"@{strategy['streams']}"
        elif strategy.get("rate"):
            label += f"@{float(strategy['rate']):.2f}/s"
        out.append(
            BenchMetrics(
                strategy=label,
                duration_s=float(b.get("duration") or 0.0),
                requests_total=int(totals.get("successful", 0)) + int(totals.get("errored", 0)),
                requests_errored=int(totals.get("errored", 0)),
                requests_incomplete=int(totals.get("incomplete", 0)),
                requests_per_s=_stat(m, "requests_per_second", group="total"),
                ttft_p50_ms=_stat(m, "time_to_first_token_ms", "p50"),
                ttft_p95_ms=_stat(m, "time_to_first_token_ms", "p95"),
                itl_p50_ms=_stat(m, "inter_token_latency_ms", "p50"),
                itl_p95_ms=_stat(m, "inter_token_latency_ms", "p95"),
                latency_p95_s=_stat(m, "request_latency", "p95"),
                output_tokens_per_s=_stat(m, "output_tokens_per_second", group="total"),
                output_tokens_total=int(_stat(m, "output_token_count", "total_sum")),
                prompt_tokens_mean=_stat(m, "prompt_token_count"),
                first_error=_first_error(b.get("requests")),
            )
        )
    return out


@dataclass(frozen=True)
class _Objective:
    """One SLO: how to read the objective and the measurement, and which way is good."""

    name: str
    objective: Callable[[BenchSLO], float | None]
    measured: Callable[[BenchMetrics], float]
    show_objective: Callable[[float], str]
    show_measured: Callable[[BenchMetrics], str]
    at_most: bool = True  # the measurement must be <= the objective (else >=)
    latency: bool = False  # meaningless when no request succeeded


OBJECTIVES: tuple[_Objective, ...] = (
    _Objective(
        "ttft_p95_ms", lambda s: s.ttft_p95_ms, lambda b: b.ttft_p95_ms,
        lambda v: f"<= {v:g} ms", lambda b: f"{b.ttft_p95_ms:.1f} ms", latency=True,
    ),
    _Objective(
        "itl_p95_ms", lambda s: s.itl_p95_ms, lambda b: b.itl_p95_ms,
        lambda v: f"<= {v:g} ms", lambda b: f"{b.itl_p95_ms:.2f} ms", latency=True,
    ),
    _Objective(
        "error_rate", lambda s: s.max_error_rate, lambda b: b.error_rate,
        lambda v: f"<= {v:.2%}", lambda b: f"{b.error_rate:.2%} ({b.requests_errored}/{b.requests_total})",
    ),
    _Objective(
        "output_tokens_per_s", lambda s: s.min_output_tokens_per_s, lambda b: b.output_tokens_per_s,
        lambda v: f">= {v:g}", lambda b: f"{b.output_tokens_per_s:.1f}", at_most=False,
    ),
)  # fmt: skip


def _judge(b: BenchMetrics, objective: _Objective, wanted: float) -> SLOResult:
    shown = objective.show_objective(wanted)
    if objective.latency and b.requests_errored >= b.requests_total:
        # nothing succeeded: the latencies are not measurements
        return SLOResult(b.strategy, objective.name, shown, "no successful request", False)
    value = objective.measured(b)
    passed = value <= wanted if objective.at_most else value >= wanted
    return SLOResult(b.strategy, objective.name, shown, objective.show_measured(b), passed)


def evaluate(benchmarks: list[BenchMetrics], slo: BenchSLO) -> list[SLOResult]:
    """Judge every benchmark against every SLO that is set."""
    return [
        _judge(b, objective, wanted)
        for b in benchmarks
        for objective in OBJECTIVES
        if (wanted := objective.objective(slo)) is not None
    ]


def markdown(
    plan: BenchPlan, environment: str | None, benchmarks: list[BenchMetrics], slos: list[SLOResult]
) -> str:
    passed = all(r.passed for r in slos)
    lines = [
        f"# Benchmark of {plan.model}" + (f" ({environment})" if environment else ""),
        "",
        f"- endpoint: `{plan.shown_url}`",
        f"- load: {plan.describe()}",
        f"- tool: GuideLLM {GUIDELLM_VERSION} (token counts from the server's usage)",
        f"- verdict: **{'PASS' if passed else 'FAIL'}**"
        + ("" if slos else " (no SLOs configured for this environment)"),
        "",
        "## Results",
        "",
        "| load | requests | errors | req/s | TTFT p50 | TTFT p95 | ITL p50 | ITL p95 "
        "| latency p95 | output tok/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in benchmarks:
        lines.append(
            f"| {b.strategy} | {b.requests_total} | {b.requests_errored} | {b.requests_per_s:.1f} "
            f"| {b.ttft_p50_ms:.1f} ms | {b.ttft_p95_ms:.1f} ms "
            f"| {b.itl_p50_ms:.2f} ms | {b.itl_p95_ms:.2f} ms "
            f"| {b.latency_p95_s:.3f} s | {b.output_tokens_per_s:.1f} |"
        )
    if slos:
        lines += [
            "",
            "## Service-level objectives",
            "",
            "| load | SLO | objective | measured | result |",
            "|---|---|---|---|---|",
        ]
        for r in slos:
            lines.append(
                f"| {r.benchmark} | {r.name} | {r.objective} | {r.measured} "
                f"| {'pass' if r.passed else '**FAIL**'} |"
            )
    return "\n".join(lines) + "\n"


def to_dict(benchmarks: list[BenchMetrics], slos: list[SLOResult]) -> dict[str, Any]:
    return {
        "passed": all(r.passed for r in slos),
        "benchmarks": [asdict(b) | {"error_rate": b.error_rate} for b in benchmarks],
        "slos": [asdict(r) for r in slos],
    }


def _write_atomic(path: Path, text: str) -> None:
    atomic_write_text(path, text, parents=True)


def write_report(path: Path, text: str) -> None:
    try:
        _write_atomic(path, text)
    except OSError as exc:
        raise BenchError(f"cannot write the report {path}: {exc.strerror or exc}") from exc
