"""HTTP client for an OpenAI-compatible inference endpoint (vLLM, KServe predictor, Route).

Every call goes through :meth:`Endpoint._send`, the one seam where httpx errors
and unexpected statuses become :class:`~llmops.errors.EndpointError` subclasses
with a message that says what to do: DNS, TLS, connection refused, timeouts,
401/403 (which token is needed), unknown model (which models are served), 5xx.
Server messages are kept, truncated; the httpx exception is chained as the cause.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from llmops.errors import EndpointError

_BODY_LIMIT = 300

T = TypeVar("T")


class EndpointUnreachable(EndpointError):
    """Nothing answers: name not resolved, connection refused, timed out."""

    retryable = True


class EndpointTLSError(EndpointError):
    """The TLS handshake failed (untrusted or mismatched certificate)."""


class EndpointAuthError(EndpointError):
    """401/403: the endpoint wants a bearer token it accepts."""


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


class EndpointServerError(EndpointError):
    """5xx: the server failed (or a proxy in front of it: 502/503/504 while pods start)."""

    retryable = True


class EndpointResponseError(EndpointError):
    """The endpoint answered, but not as an OpenAI-compatible server would (other 4xx, bad JSON)."""


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


def _truncate(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _BODY_LIMIT else text[:_BODY_LIMIT] + "..."


def _server_message(resp: httpx.Response) -> str:
    """The error message of an OpenAI-style error body, else the (truncated) body."""
    try:
        body = resp.json()
    except (ValueError, UnicodeDecodeError):
        return _truncate(resp.text)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return _truncate(err["message"])
        if isinstance(err, str):
            return _truncate(err)
        if isinstance(body.get("message"), str):
            return _truncate(body["message"])
    return _truncate(resp.text)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _transport_error(exc: httpx.TransportError, url: str) -> EndpointError:
    host = httpx.URL(url).host
    text = " ".join(str(e) for e in _causes(exc)).lower()
    if any(isinstance(e, ssl.SSLError) for e in _causes(exc)) or "certificate" in text or "ssl" in text:
        return EndpointTLSError(
            f"TLS handshake with {host} failed: {_truncate(str(exc))}",
            hint="trust the cluster's CA (SSL_CERT_FILE=ca.pem) or use the in-cluster http:// service URL",
        )
    if isinstance(exc, httpx.TimeoutException):
        return EndpointUnreachable(
            f"{url} timed out ({type(exc).__name__})",
            hint="the server may still be loading the model; raise --timeout or --deadline",
        )
    dns_markers = (
        "name or service not known",
        "nodename nor servname",
        "temporary failure in name resolution",
        "no address associated",
        "name resolution",
        "getaddrinfo",
    )
    if any(m in text for m in dns_markers):
        err = EndpointUnreachable(
            f"cannot resolve host {host!r}",
            hint="check the URL; in-cluster service names resolve only inside the cluster",
        )
        err.retryable = False
        return err
    if "connection refused" in text or "errno 111" in text:
        return EndpointUnreachable(
            f"connection refused by {host}:{httpx.URL(url).port or ''} (nothing listens there)",
            hint="is the server running and is the port right? predictors listen on 8080",
        )
    return EndpointUnreachable(f"cannot reach {url}: {_truncate(str(exc)) or type(exc).__name__}")


class Endpoint:
    """A client for one OpenAI-compatible base URL (``http://host:port``, no ``/v1``)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base = url.rstrip("/")
        if base.endswith("/v1"):
            base = base[: -len("/v1")]
        try:
            parsed = httpx.URL(base)
        except httpx.InvalidURL as exc:
            raise EndpointError(f"invalid endpoint URL {url!r}: {exc}") from exc
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise EndpointError(
                f"invalid endpoint URL {url!r}", hint="give a full URL such as http://127.0.0.1:8000"
            )
        self.url = base
        self._token = token
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            base_url=base, headers=headers, timeout=httpx.Timeout(timeout_s), transport=transport
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the seam ---------------------------------------------------------------------------------

    def _check_status(self, resp: httpx.Response, model: str | None) -> None:
        if resp.status_code < 400:
            return
        msg = _server_message(resp)
        where = f"{resp.request.method} {resp.request.url.path}"
        if resp.status_code in (401, 403):
            what = "was rejected" if self._token else "needs a bearer token"
            raise EndpointAuthError(
                f"{where} {what} ({resp.status_code}): {msg or resp.reason_phrase}",
                hint="pass --token or --token-file with a token of a principal allowed to `get` the "
                "InferenceService (e.g. `oc create token <sa> -n <namespace>` for a ServiceAccount "
                "bound to a Role with get on inferenceservices)",
            )
        if resp.status_code == 404 and model is not None and "model" in msg.lower():
            raise UnknownModelError(model, self._served_quietly())
        if resp.status_code >= 500:
            raise EndpointServerError(f"{where} failed with {resp.status_code}: {msg or resp.reason_phrase}")
        raise EndpointResponseError(f"{where} answered {resp.status_code}: {msg or resp.reason_phrase}")

    def _send(self, method: str, path: str, *, body: Any = None, model: str | None = None) -> httpx.Response:
        try:
            resp = self._client.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise _transport_error(exc, self.url + path) from exc
        self._check_status(resp, model)
        return resp

    def _json(self, resp: httpx.Response) -> dict[str, Any]:
        try:
            data = resp.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise EndpointResponseError(
                f"{resp.request.url.path} did not return JSON: {_truncate(resp.text)}",
                hint="is this URL an OpenAI-compatible server (vLLM)?",
            ) from exc
        if not isinstance(data, dict):
            raise EndpointResponseError(
                f"{resp.request.url.path} returned {type(data).__name__}, not an object"
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
        data = self._json(self._send("GET", "/v1/models"))
        items = data.get("data")
        if not isinstance(items, list):
            raise EndpointResponseError(
                "/v1/models has no `data` list", hint="is this an OpenAI-compatible server?"
            )
        return [m for m in items if isinstance(m, dict) and "id" in m]

    def chat(self, model: str, prompt: str, *, max_tokens: int = 16, temperature: float = 0.0) -> Completion:
        body = _chat_body(model, prompt, max_tokens, temperature)
        start = time.perf_counter()
        data = self._json(self._send("POST", "/v1/chat/completions", body=body, model=model))
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
        try:
            with self._client.stream("POST", "/v1/chat/completions", json=body) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    self._check_status(resp, model)
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
        except httpx.TransportError as exc:
            raise _transport_error(exc, self.url + "/v1/chat/completions") from exc
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

    httpx's ``iter_lines`` follows ``str.splitlines`` and also breaks at U+0085, U+2028,
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
        raise EndpointResponseError(f"stream chunk is not JSON: {_truncate(payload)}") from exc
    if not isinstance(chunk, dict):
        raise EndpointResponseError(f"stream chunk is not an object: {_truncate(payload)}")
    if "error" in chunk:  # vLLM reports mid-stream failures as an error chunk
        err = chunk["error"]
        msg = err.get("message") if isinstance(err, dict) else err
        raise EndpointServerError(f"the stream failed: {_truncate(str(msg))}")
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
