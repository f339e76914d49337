"""The playground's server side: a chat with an environment's model, streamed through the engine's own
origin, and ``llmops smoke`` against the environment's endpoint.

The page cannot call the environment's endpoint itself (another port is another origin, and the
dashboard's Content-Security-Policy allows only its own), so the engine forwards the chat to the
environment's stable endpoint and passes vLLM's server-sent events through unchanged; the page measures
time to first token and tokens per second as the person sees them, from the stream's own usage chunk.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from llmops.engine import httpwire
from llmops.engine.engine import Engine
from llmops.errors import UsageError
from llmops.probes.smoke import SmokeReport, SmokeRequest, smoke

MAX_TOKENS_LIMIT = 2048
MAX_MESSAGES = 50
MAX_PROMPT_CHARS = 32_000


class PlaygroundError(UsageError):
    """The playground cannot reach the environment's model (no endpoint, bad request)."""


@dataclass(frozen=True, kw_only=True)
class ChatRequest:
    environment: str
    model: str
    messages: tuple[dict[str, str], ...]
    max_tokens: int = 128
    temperature: float = 0.7


def _endpoint(engine: Engine, environment: str) -> tuple[str, int, str]:
    url = engine.runtime.endpoint(environment)
    if url is None:
        known = ", ".join(sorted(engine.runtime.proxies)) or "none"
        raise PlaygroundError(f"no endpoint for environment {environment!r}", hint=f"environments: {known}")
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", int(parts.port or 80), url


def chat_body(request: ChatRequest) -> bytes:
    """The OpenAI chat request vLLM streams (with the usage chunk at the end)."""
    if not request.messages or len(request.messages) > MAX_MESSAGES:
        raise PlaygroundError(f"send 1 to {MAX_MESSAGES} messages")
    if sum(len(m.get("content", "")) for m in request.messages) > MAX_PROMPT_CHARS:
        raise PlaygroundError(f"the conversation is longer than {MAX_PROMPT_CHARS} characters")
    body = {
        "model": request.model,
        "messages": [{"role": m["role"], "content": m["content"]} for m in request.messages],
        "max_tokens": max(1, min(request.max_tokens, MAX_TOKENS_LIMIT)),
        "temperature": request.temperature,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    return json.dumps(body).encode()


def _error_event(message: str) -> bytes:
    return f"data: {json.dumps({'error': {'message': message}})}\n\ndata: [DONE]\n\n".encode()


async def chat(engine: Engine, request: ChatRequest) -> AsyncIterator[bytes]:
    """vLLM's event stream for the chat, or one error event saying why there is none."""
    host, port, url = _endpoint(engine, request.environment)
    body = chat_body(request)
    try:
        status, chunks = await httpwire.post_stream(host, port, "/v1/chat/completions", body)
    except httpwire.WireError as exc:
        yield _error_event(f"{url} does not answer: {exc}")
        return
    if status >= 400:
        text = b"".join([c async for c in chunks]).decode("utf-8", "replace")
        yield _error_event(f"{url} answered {status}: {_message(text)}")
        return
    try:
        async for chunk in chunks:
            yield chunk
    except httpwire.WireError as exc:
        yield _error_event(f"the stream broke: {exc}")


def _message(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text[:500]
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])[:500]
        if isinstance(err, str):
            return err[:500]
        if isinstance(data.get("message"), str):
            return str(data["message"])[:500]
    return text[:500]


def report_dict(report: SmokeReport) -> dict[str, Any]:
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


async def run_smoke(engine: Engine, environment: str, model: str | None) -> dict[str, Any]:
    """``llmops smoke ENV`` against the environment's endpoint, with llmops.yaml's settings."""
    _, _, url = _endpoint(engine, environment)
    request = SmokeRequest(environment=environment, url=url, model=model or None)
    report = await asyncio.to_thread(smoke, engine.repo.config.smoke, request)
    return report_dict(report)
