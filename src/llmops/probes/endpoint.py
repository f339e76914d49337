"""The client of an OpenAI-compatible inference endpoint (vLLM, KServe predictor, Route).

It speaks the OpenAI API over :class:`llmops.support.http.HttpClient`, the one HTTP seam,
and adds what only an inference server can get wrong: an unknown model (which models are
served), a stream whose chunks are not what they should be, and which token a 401 wants.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from llmops.errors import EndpointError
from llmops.support.http import (
    EndpointAuthError,
    EndpointResponseError,
    EndpointServerError,
    EndpointTLSError,
    EndpointUnreachable,
    HostNotFound,
    HttpClient,
    Response,
    truncate,
)

__all__ = [
    "Completion",
    "Endpoint",
    "EndpointAuthError",
    "EndpointResponseError",
    "EndpointServerError",
    "EndpointTLSError",
    "EndpointUnreachable",
    "HostNotFound",
    "UnknownModelError",
    "sse_lines",
    "with_retries",
]

T = TypeVar("T")


class UnknownModelError(EndpointError):
    """The model name is not among the models the endpoint serves."""

    def __init__(self, model: str, served: list[str], *, hint: str | None = None) -> None:
        listed = ", ".join(served) if served else "none"
        super().__init__(
            f"model {model!r} is not served by this endpoint (served: {listed})",
            hint=hint or "pass --model with one of the served names (the InferenceService name on KServe)",
        )
        self.model = model
        self.served = served


@dataclass(frozen=True)
class Completion:
    """One chat completion, non-streaming or assembled from a stream."""

    content: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float
    # Streaming only: time from sending the request to the first content token.
    ttft_s: float | None = None
    chunks: int = 0

    @property
    def tokens_per_s(self) -> float | None:
        """Output tokens per second over the whole request, from the server's token count."""
        if not self.completion_tokens or self.latency_s <= 0:
            return None
        return self.completion_tokens / self.latency_s

    @property
    def decode_tokens_per_s(self) -> float | None:
        """Output tokens per second after the first token (the decode rate)."""
        if self.ttft_s is None or not self.completion_tokens or self.completion_tokens < 2:
            return None
        span = self.latency_s - self.ttft_s
        return (self.completion_tokens - 1) / span if span > 0 else None


class Endpoint:
    """A client for one OpenAI-compatible base URL (``http://host:port``, with or without ``/v1``)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        transport: Any = None,
    ) -> None:
        base = url.rstrip("/").removesuffix("/v1")
        self._http = HttpClient(base, token=token, timeout_s=timeout_s, transport=transport)
        self.url = self._http.base_url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- statuses ---------------------------------------------------------------------------------

    def _check_status(self, resp: Response, model: str | None) -> None:
        if resp.status < 400:
            return
        msg = resp.server_message() or resp.reason
        if resp.status in (401, 403):
            what = "was rejected" if self._http.has_token else "needs a bearer token"
            raise EndpointAuthError(
                f"{resp.where} {what} ({resp.status}): {msg}",
                hint="pass --token or --token-file with a token of a principal allowed to `get` the "
                "InferenceService (e.g. `oc create token <sa> -n <namespace>` for a ServiceAccount "
                "bound to a Role with get on inferenceservices)",
            )
        if resp.status == 404 and model is not None and "model" in msg.lower():
            raise UnknownModelError(model, self._served_quietly())
        if resp.status >= 500:
            raise EndpointServerError(
                f"{resp.where} failed with {resp.status}: {msg}",
                hint="the server (or a proxy in front of it) failed; its logs say why",
            )
        raise EndpointResponseError(
            f"{resp.where} answered {resp.status}: {msg}",
            hint="is the URL the server's base URL (without /v1), of an OpenAI-compatible server?",
        )

    def _send(self, method: str, path: str, *, body: Any = None, model: str | None = None) -> Response:
        resp = self._http.request(method, path, json=body)
        self._check_status(resp, model)
        return resp

    @staticmethod
    def _object(resp: Response) -> dict[str, Any]:
        data = resp.json()
        if not isinstance(data, dict):
            raise EndpointResponseError(
                f"{resp.path} returned {type(data).__name__}, not an object",
                hint="is this URL an OpenAI-compatible server (vLLM)?",
            )
        return data

    def _served_quietly(self) -> list[str]:
        try:
            return self.models()
        except EndpointError:
            return []

    # -- API --------------------------------------------------------------------------------------

    def health(self) -> str:
        """Prove the server answers: ``/health`` (vLLM), else ``/v1/models``. Returns the path used."""
        try:
            self._send("GET", "/health")
            return "/health"
        except EndpointResponseError:
            self.models()  # some gateways expose only /v1
            return "/v1/models"

    def models(self) -> list[str]:
        return [str(m["id"]) for m in self.model_cards()]

    def model_cards(self) -> list[dict[str, Any]]:
        """The entries of ``/v1/models`` (vLLM adds ``max_model_len`` to each)."""
        data = self._object(self._send("GET", "/v1/models"))
        items = data.get("data")
        if not isinstance(items, list):
            raise EndpointResponseError(
                "/v1/models has no `data` list", hint="is this an OpenAI-compatible server?"
            )
        return [m for m in items if isinstance(m, dict) and "id" in m]

    def chat(self, model: str, prompt: str, *, max_tokens: int = 16, temperature: float = 0.0) -> Completion:
        body = _chat_body(model, prompt, max_tokens, temperature)
        start = time.perf_counter()
        data = self._object(self._send("POST", "/v1/chat/completions", body=body, model=model))
        latency = time.perf_counter() - start
        choices = data.get("choices") or [{}]
        first = choices[0] if isinstance(choices[0], dict) else {}
        message = first.get("message") or {}
        usage = data.get("usage") or {}
        return Completion(
            content=str(message.get("content") or ""),
            finish_reason=first.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            latency_s=latency,
        )

    def stream_chat(
        self, model: str, prompt: str, *, max_tokens: int = 16, temperature: float = 0.0
    ) -> Completion:
        """Stream a chat completion; measure TTFT and take token counts from the final usage chunk."""
        body = _chat_body(model, prompt, max_tokens, temperature)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        parts: list[str] = []
        finish: str | None = None
        usage: dict[str, Any] = {}
        ttft: float | None = None
        chunks = 0
        start = time.perf_counter()
        with self._http.stream("POST", "/v1/chat/completions", json=body) as resp:
            if resp.status >= 400:
                self._check_status(resp.read(), model)
            for line in sse_lines(resp.iter_text()):
                if not line.startswith("data:"):
                    continue
                payload = line[len("data:") :].strip()
                if payload == "[DONE]":
                    break
                chunk = _parse_chunk(payload)
                chunks += 1
                if chunk.get("usage"):
                    usage = chunk["usage"]
                for choice in chunk.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content") or ""
                    if text and ttft is None:
                        ttft = time.perf_counter() - start
                    parts.append(text)
                    finish = choice.get("finish_reason") or finish
        return Completion(
            content="".join(parts),
            finish_reason=finish,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            latency_s=time.perf_counter() - start,
            ttft_s=ttft,
            chunks=chunks,
        )


_SSE_EOL = re.compile(r"\r\n|\r|\n")


def sse_lines(chunks: Iterable[str]) -> Iterator[str]:
    """Lines of a server-sent event stream, split only where SSE splits them.

    A line splitter that follows ``str.splitlines`` and also breaks at U+0085, U+2028,
    U+2029 and other separators that JSON carries unescaped inside strings, which cuts
    a ``data:`` line of a model's output in two.
    """
    buffer = ""
    for chunk in chunks:
        buffer += chunk
        parts = _SSE_EOL.split(buffer)
        # A trailing "\r" may be the first half of "\r\n": keep it for the next chunk.
        buffer = parts.pop()
        if buffer == "" and chunk.endswith("\r") and parts:
            buffer = parts.pop() + "\r"
        yield from parts
    if buffer:
        yield buffer.rstrip("\r")


def _chat_body(model: str, prompt: str, max_tokens: int, temperature: float) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": temperature,
    }


def _parse_chunk(payload: str) -> dict[str, Any]:
    try:
        chunk = json.loads(payload)
    except ValueError as exc:
        raise EndpointResponseError(f"stream chunk is not JSON: {truncate(payload)}") from exc
    if not isinstance(chunk, dict):
        raise EndpointResponseError(f"stream chunk is not an object: {truncate(payload)}")
    if "error" in chunk:  # vLLM reports mid-stream failures as an error chunk
        err = chunk["error"]
        msg = err.get("message") if isinstance(err, dict) else err
        raise EndpointServerError(f"the stream failed: {truncate(str(msg))}")
    return chunk


def with_retries(
    fn: Callable[[], T],
    *,
    retries: int,
    deadline_s: float,
    on_retry: Callable[[EndpointError, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn``; on a retryable error try again (backoff 0.5 s doubling to 5 s) within the deadline."""
    end = time.monotonic() + deadline_s
    delay = 0.5
    attempt = 0
    while True:
        try:
            return fn()
        except EndpointError as exc:
            attempt += 1
            left = end - time.monotonic()
            if not exc.retryable or attempt > retries or left <= delay:
                raise
            if on_retry is not None:
                on_retry(exc, delay)
            sleep(delay)
            delay = min(delay * 2, 5.0)
