"""The smoke test: does the deployed model answer, correctly and fast enough?

Checks run in order from an explicit registry (:data:`CHECKS`); each returns a
:class:`CheckResult`. When the endpoint is unreachable or the model is not
served, the remaining checks are skipped rather than piling up the same error.
Transient failures (connection refused, timeouts, 5xx) are retried within the
deadline, so the check also works right after an Argo CD sync while pods start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from llmops.errors import EndpointError, UsageError
from llmops.gitops.config import GoldenPrompt, SmokeConfig, SmokeLimits
from llmops.probes.endpoint import Completion, DeadlineExceeded, Endpoint, with_retries
from llmops.probes.target import resolve_token, resolve_url
from llmops.support.http import MAX_BODY_BYTES

Status = Literal["pass", "fail", "skip"]
T = TypeVar("T")


@dataclass(frozen=True)
class CheckResult:
    id: str
    status: Status
    detail: str
    seconds: float = 0.0
    hint: str | None = None
    metrics: dict[str, float | int | str] = field(default_factory=dict)


@dataclass(frozen=True)
class SmokeSettings:
    prompt: str = "Say hello in one short sentence."
    max_tokens: int = 16
    timeout_s: float = 10.0
    retries: int = 3
    deadline_s: float = 60.0
    limits: SmokeLimits = field(default_factory=SmokeLimits)
    golden: tuple[GoldenPrompt, ...] = ()


@dataclass(frozen=True)
class SmokeReport:
    url: str
    model: str | None
    environment: str | None
    checks: tuple[CheckResult, ...]
    wall_s: float

    @property
    def passed(self) -> bool:
        return all(c.status != "fail" for c in self.checks)

    def metric(self, name: str) -> float | int | str | None:
        for c in self.checks:
            if name in c.metrics:
                return c.metrics[name]
        return None


class _Context:
    """What the checks share: the client, the settings, and what earlier checks learned."""

    def __init__(
        self, endpoint: Endpoint, settings: SmokeSettings, model: str | None, log: Callable[[str], None]
    ) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.model = model
        self.log = log
        self.start = time.monotonic()
        self.chat: Completion | None = None
        self.stream: Completion | None = None

    def call(self, fn: Callable[[], T]) -> T:
        left = self.settings.deadline_s - (time.monotonic() - self.start)
        return with_retries(
            fn,
            retries=self.settings.retries,
            deadline_s=max(left, 0.0),
            on_retry=lambda exc, delay: self.log(f"retrying in {delay:.1f}s: {exc.message}"),
        )

    def require_model(self) -> str:
        if self.model is None:  # model-listed resolves it; it failed
            raise UsageError("no model resolved")
        return self.model


class _Fail(Exception):
    """A check's verdict: it ran and the endpoint's answer is wrong."""

    def __init__(
        self, detail: str, hint: str | None = None, metrics: dict[str, float | int | str] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail, self.hint, self.metrics = detail, hint, metrics or {}


Check = Callable[[_Context], tuple[str, dict[str, float | int | str]]]


def check_reachable(ctx: _Context) -> tuple[str, dict[str, float | int | str]]:
    path = ctx.call(ctx.endpoint.health)
    return f"{path} answered", {}


def check_model_listed(ctx: _Context) -> tuple[str, dict[str, float | int | str]]:
    served = ctx.call(ctx.endpoint.models)
    if ctx.model is None:
        if len(served) == 1:
            ctx.model = served[0]
            return f"serves one model, {ctx.model!r}; using it", {"model": ctx.model}
        raise _Fail(
            f"the endpoint serves {len(served)} models ({', '.join(served) or 'none'}); which one?",
            hint="pass --model NAME",
        )
    if ctx.model not in served:
        raise _Fail(
            f"model {ctx.model!r} is not served (served: {', '.join(served) or 'none'})",
            hint="pass --model with one of the served names (on KServe: the InferenceService name)",
        )
    return f"{ctx.model!r} is listed", {"model": ctx.model}


def check_chat(ctx: _Context) -> tuple[str, dict[str, float | int | str]]:
    model, s = ctx.require_model(), ctx.settings
    ctx.chat = reply = ctx.call(lambda: ctx.endpoint.chat(model, s.prompt, max_tokens=s.max_tokens))
    metrics: dict[str, float | int | str] = {"latency_ms": round(reply.latency_s * 1000, 1)}
    if reply.completion_tokens is not None:
        metrics["completion_tokens"] = reply.completion_tokens
    if not reply.content:
        raise _Fail("the chat completion has empty content", metrics=metrics)
    if not reply.finish_reason:
        raise _Fail("the chat completion has no finish_reason", metrics=metrics)
    return (
        f"{reply.completion_tokens} tokens in {reply.latency_s * 1000:.0f} ms, "
        f"finish_reason={reply.finish_reason}",
        metrics,
    )


def check_stream(ctx: _Context) -> tuple[str, dict[str, float | int | str]]:
    model, s = ctx.require_model(), ctx.settings
    ctx.stream = reply = ctx.call(lambda: ctx.endpoint.stream_chat(model, s.prompt, max_tokens=s.max_tokens))
    metrics: dict[str, float | int | str] = {"stream_latency_ms": round(reply.latency_s * 1000, 1)}
    if reply.ttft_s is None:
        raise _Fail(f"the stream carried no content ({reply.chunks} chunks)", metrics=metrics)
    metrics["ttft_ms"] = round(reply.ttft_s * 1000, 1)
    if reply.completion_tokens is None:
        raise _Fail(
            "the stream's final chunk has no usage (token counts)",
            hint="the server ignored stream_options.include_usage; vLLM supports it",
            metrics=metrics,
        )
    metrics["completion_tokens"] = reply.completion_tokens
    if reply.prompt_tokens is not None:
        metrics["prompt_tokens"] = reply.prompt_tokens
    rate = reply.tokens_per_s
    if rate is not None:
        metrics["tokens_per_s"] = round(rate, 1)
    if not reply.finish_reason:
        raise _Fail("the stream ended without a finish_reason", metrics=metrics)
    return (
        f"TTFT {reply.ttft_s * 1000:.0f} ms, {reply.completion_tokens} tokens at "
        f"{rate or 0:.0f} tokens/s (server usage), finish_reason={reply.finish_reason}",
        metrics,
    )


def check_latency(ctx: _Context) -> tuple[str, dict[str, float | int | str]]:
    limits = ctx.settings.limits
    if limits.ttft_ms is None and limits.latency_ms is None:
        return "no latency limits configured", {}
    over: list[str] = []
    seen: list[str] = []
    if limits.ttft_ms is not None and ctx.stream is not None and ctx.stream.ttft_s is not None:
        ttft = ctx.stream.ttft_s * 1000
        seen.append(f"TTFT {ttft:.0f} ms <= {limits.ttft_ms:g}")
        if ttft > limits.ttft_ms:
            over.append(f"TTFT {ttft:.0f} ms > limit {limits.ttft_ms:g} ms")
    if limits.latency_ms is not None and ctx.chat is not None:
        lat = ctx.chat.latency_s * 1000
        seen.append(f"latency {lat:.0f} ms <= {limits.latency_ms:g}")
        if lat > limits.latency_ms:
            over.append(f"latency {lat:.0f} ms > limit {limits.latency_ms:g} ms")
    if over:
        raise _Fail("; ".join(over), hint="see smoke.limits / smoke.environments.<env>.limits in llmops.yaml")
    if not seen:
        raise _Fail("no measurement to compare with the limits (chat or stream failed)")
    return ", ".join(seen), {}


def _golden(prompt: GoldenPrompt) -> Check:
    def check(ctx: _Context) -> tuple[str, dict[str, float | int | str]]:
        model = ctx.require_model()
        reply = ctx.call(lambda: ctx.endpoint.chat(model, prompt.prompt, max_tokens=prompt.max_tokens))
        missing = [e for e in prompt.expect if e.lower() not in reply.content.lower()]
        if missing:
            shown = reply.content if len(reply.content) <= 120 else reply.content[:120] + "..."
            raise _Fail(f"answer lacks {', '.join(repr(m) for m in missing)}; it was {shown!r}")
        return f"answer contains {', '.join(repr(e) for e in prompt.expect)}", {}

    return check


# The checks, in order. Tests may replace entries; golden prompts are appended per run.
CHECKS: dict[str, Check] = {
    "reachable": check_reachable,
    "model-listed": check_model_listed,
    "chat": check_chat,
    "stream": check_stream,
    "latency": check_latency,
}
# A failure of one of these makes the rest meaningless: they are skipped.
GATES = ("reachable", "model-listed")


def run_smoke(
    endpoint: Endpoint,
    settings: SmokeSettings,
    *,
    model: str | None,
    environment: str | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> SmokeReport:
    ctx = _Context(endpoint, settings, model, log)
    checks: dict[str, Check] = dict(CHECKS)
    for i, golden in enumerate(settings.golden, 1):
        checks[f"golden-{i}"] = _golden(golden)
    results: list[CheckResult] = []
    blocked: str | None = None
    for cid, fn in checks.items():
        if blocked is not None:
            what = "passed" if blocked == "the deadline" else "failed"
            results.append(CheckResult(cid, "skip", f"skipped: {blocked} {what}"))
            continue
        t0 = time.perf_counter()
        try:
            detail, metrics = fn(ctx)
            results.append(CheckResult(cid, "pass", detail, time.perf_counter() - t0, metrics=metrics))
        except _Fail as exc:
            results.append(
                CheckResult(cid, "fail", exc.detail, time.perf_counter() - t0, exc.hint, exc.metrics)
            )
        except EndpointError as exc:
            results.append(CheckResult(cid, "fail", exc.message, time.perf_counter() - t0, exc.hint))
            if isinstance(exc, DeadlineExceeded):
                blocked = "the deadline"
        if results[-1].status == "fail" and cid in GATES:
            blocked = cid
    return SmokeReport(
        url=endpoint.url,
        model=ctx.model,
        environment=environment,
        checks=tuple(results),
        wall_s=time.monotonic() - ctx.start,
    )


@dataclass(frozen=True, kw_only=True)
class SmokeRequest:
    """What the user asked for on the command line; unset fields come from llmops.yaml."""

    environment: str | None
    url: str | None = None
    model: str | None = None
    token: str | None = None
    token_file: Path | None = None
    timeout_s: float | None = None
    retries: int | None = None
    deadline_s: float | None = None


def settings_for(cfg: SmokeConfig, request: SmokeRequest) -> SmokeSettings:
    """The environment's smoke settings from llmops.yaml, with the command line's overrides."""
    env_cfg = cfg.for_environment(request.environment)
    return SmokeSettings(
        prompt=cfg.prompt,
        max_tokens=cfg.max_tokens,
        timeout_s=request.timeout_s if request.timeout_s is not None else cfg.timeout_s,
        retries=request.retries if request.retries is not None else cfg.retries,
        deadline_s=request.deadline_s if request.deadline_s is not None else cfg.deadline_s,
        limits=env_cfg.limits or cfg.limits,
        golden=tuple(env_cfg.golden or ()),
    )


def smoke(
    cfg: SmokeConfig,
    request: SmokeRequest,
    *,
    log: Callable[[str], None] = lambda _msg: None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> SmokeReport:
    """Find the endpoint (``--url``, ``LLMOPS_ENDPOINT_<ENV>``, llmops.yaml) and smoke-test it.

    The deadline holds inside every request and stream, and no answer is read past
    ``max_body_bytes`` (``limits.response_mib``).
    """
    env_cfg = cfg.for_environment(request.environment)
    target = resolve_url(request.environment, request.url, env_cfg.url)
    settings = settings_for(cfg, request)
    token = resolve_token(request.token, request.token_file)
    with Endpoint(
        target.url,
        token=token,
        timeout_s=settings.timeout_s,
        deadline_s=settings.deadline_s,
        max_body_bytes=max_body_bytes,
    ) as ep:
        return run_smoke(
            ep, settings, model=request.model or env_cfg.model, environment=request.environment, log=log
        )
