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
from dataclasses import dataclass, field
from typing import Any, TypeVar

from llmops.errors import EndpointError
from llmops.support.http import (
    MAX_BODY_BYTES,
    DeadlineExceeded,
    EndpointAuthError,
    EndpointResponseError,
    EndpointServerError,
    EndpointTLSError,
    EndpointUnreachable,
    HostNotFound,
    HttpClient,
    Response,
    ResponseTooLarge,
    truncate,
)

__all__ = [
    "Completion",
    "DeadlineExceeded",
    "Endpoint",
    "EndpointAuthError",
    "EndpointResponseError",
    "EndpointServerError",
    "EndpointTLSError",
    "EndpointUnreachable",
    "HostNotFound",
    "ResponseTooLarge",
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
        deadline_s: float | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        base = url.rstrip("/").removesuffix("/v1")
        self._http = HttpClient(
            base,
            token=token,
            timeout_s=timeout_s,
            transport=transport,
            deadline_s=deadline_s,
            max_body_bytes=max_body_bytes,
        )
        self.url = self._http.base_url  # without user:password

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
            raise EndpointServerError(f"{resp.where} failed with {resp.status}: {msg}")
        raise EndpointResponseError(f"{resp.where} answered {resp.status}: {msg}")

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
        choices = _list(data, "choices", "the chat answer")
        first = _item(choices, 0, "the chat answer's choices") if choices else {}
        message = _mapping(first, "message", "the chat answer's choices[0]")
        usage = _usage(data, "the chat answer")
        return Completion(
            content=_text(message, "content", "the chat answer's message"),
            finish_reason=_text(first, "finish_reason", "the chat answer's choices[0]") or None,
            prompt_tokens=usage[0],
            completion_tokens=usage[1],
            latency_s=latency,
        )

    def stream_chat(
        self, model: str, prompt: str, *, max_tokens: int = 16, temperature: float = 0.0
    ) -> Completion:
        """Stream a chat completion; measure TTFT and take token counts from the final usage chunk."""
        body = _chat_body(model, prompt, max_tokens, temperature)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        state = _StreamState(start=time.perf_counter())
        with self._http.stream("POST", "/v1/chat/completions", json=body) as resp:
            if resp.status >= 400:
                self._check_status(resp.read(), model)
            for line in sse_lines(resp.iter_text()):
                if not line.startswith("data:"):
                    continue
                payload = line[len("data:") :].strip()
                if payload == "[DONE]":
                    break
                state.add(_parse_chunk(payload), where=f"stream chunk {state.chunks + 1}")
        return state.completion()


_SSE_EOL = re.compile(r"\r\n|\r|\n")


MAX_SSE_LINE = 1 << 20  # characters: no event of a chat stream comes near it


def sse_lines(chunks: Iterable[str], max_line: int = MAX_SSE_LINE) -> Iterator[str]:
    """Lines of a server-sent event stream, split only where SSE splits them.

    A line splitter that follows ``str.splitlines`` and also breaks at U+0085, U+2028,
    U+2029 and other separators that JSON carries unescaped inside strings, which cuts
    a ``data:`` line of a model's output in two. A line longer than ``max_line`` ends the
    stream with :class:`EndpointResponseError` (a server sending one endless line).
    Pieces without a line break are only collected, so a long line costs linear time.
    """
    pending: list[str] = []  # pieces of the line being read
    size = 0
    for chunk in chunks:
        trailing_cr = bool(pending) and pending[-1].endswith("\r")
        if not trailing_cr and not _SSE_EOL.search(chunk):
            pending.append(chunk)
            size += len(chunk)
            if size > max_line:
                raise EndpointResponseError(
                    f"the stream sent a line of more than {max_line:,} characters",
                    hint="is this URL an OpenAI-compatible server (vLLM)?",
                )
            continue
        parts = _SSE_EOL.split("".join(pending) + chunk)
        # A trailing "\r" may be the first half of "\r\n": keep it for the next chunk.
        rest = parts.pop()
        if rest == "" and chunk.endswith("\r") and parts:
            rest = parts.pop() + "\r"
        yield from parts
        pending, size = ([rest], len(rest)) if rest else ([], 0)
    if pending:
        yield "".join(pending).rstrip("\r")


# -- reading answers of any shape -------------------------------------------------------------
# An endpoint may send valid JSON of the wrong shape; each reader below either returns the
# value or raises EndpointResponseError naming the field, so a check fails with one line.


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def _wrong(where: str, key: str | int, value: Any, wanted: str) -> EndpointResponseError:
    step = f"[{key}]" if isinstance(key, int) else f".{key}"
    return EndpointResponseError(
        f"{where}{step} is {_kind(value)}, not {wanted}",
        hint="is this URL an OpenAI-compatible server (vLLM)?",
    )


def _mapping(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _wrong(where, key, value, "an object")
    return value


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _wrong(where, key, value, "a list")
    return value


def _item(items: list[Any], index: int, where: str) -> dict[str, Any]:
    value = items[index]
    if not isinstance(value, dict):
        raise _wrong(where, index, value, "an object")
    return value


def _text(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _wrong(where, key, value, "a string")
    return value


def _count(obj: dict[str, Any], key: str, where: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _wrong(where, key, value, "a count")
    return value


def _usage(obj: dict[str, Any], where: str) -> tuple[int | None, int | None]:
    usage = _mapping(obj, "usage", where)
    return _count(usage, "prompt_tokens", f"{where}'s usage"), _count(
        usage, "completion_tokens", f"{where}'s usage"
    )


@dataclass
class _StreamState:
    """A streamed chat completion being put together, chunk by chunk."""

    start: float
    parts: list[str] = field(default_factory=list)
    finish: str | None = None
    usage: tuple[int | None, int | None] = (None, None)
    ttft: float | None = None
    chunks: int = 0

    def add(self, chunk: dict[str, Any], *, where: str) -> None:
        self.chunks += 1
        if chunk.get("usage"):
            self.usage = _usage(chunk, where)
        for i in range(len(choices := _list(chunk, "choices", where))):
            choice = _item(choices, i, f"{where}'s choices")
            text = _text(_mapping(choice, "delta", f"{where}'s choices[{i}]"), "content", f"{where}'s delta")
            if text and self.ttft is None:
                self.ttft = time.perf_counter() - self.start
            self.parts.append(text)
            self.finish = _text(choice, "finish_reason", f"{where}'s choices[{i}]") or self.finish

    def completion(self) -> Completion:
        return Completion(
            content="".join(self.parts),
            finish_reason=self.finish,
            prompt_tokens=self.usage[0],
            completion_tokens=self.usage[1],
            latency_s=time.perf_counter() - self.start,
            ttft_s=self.ttft,
            chunks=self.chunks,
        )


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
    except (ValueError, RecursionError) as exc:
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
