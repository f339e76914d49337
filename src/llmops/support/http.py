"""The one HTTP client seam: every outgoing HTTP call of llmops goes through :class:`HttpClient`.

httpx is imported here and nowhere else (``.importlinter`` forbids it elsewhere). Transport
failures and unexpected statuses become :class:`~llmops.errors.EndpointError` subclasses
whose message says what to do (DNS, TLS, refused, timeout, 401/403, 5xx); the server's own
message is kept, truncated, and the httpx exception is chained as the cause.

An endpoint may misbehave (a body that never ends, a stream that never stops), so every
answer is read in pieces: no more than ``max_body_bytes`` of it, and not past the client's
deadline (checked between reads; one read waits at most ``timeout_s``). URLs are shown
without their user and password (:func:`public_url`), in messages as in reports.
"""

from __future__ import annotations

import codecs
import re
import ssl
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from llmops.errors import EndpointError
from llmops.support.text import one_line

BODY_LIMIT = 300  # characters of a body quoted in a message
MAX_BODY_BYTES = 16 * 1024 * 1024  # the default cap on one answer (limits.response_mib)
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def public_url(url: str) -> str:
    """``url`` without the ``user:password@`` part, for anything shown or written."""
    return _USERINFO.sub("", url)


class EndpointUnreachable(EndpointError):
    """Nothing answers: connection refused, reset or timed out."""

    retryable = True


class HostNotFound(EndpointUnreachable):
    """The host name does not resolve: retrying will not help."""

    retryable = False


class EndpointTLSError(EndpointError):
    """The TLS handshake failed (untrusted or mismatched certificate, or a plain-HTTP server)."""


class EndpointAuthError(EndpointError):
    """401/403: the endpoint wants a bearer token it accepts."""


class EndpointServerError(EndpointError):
    """5xx: the server failed (or a proxy in front of it: 502/503/504 while pods start)."""

    retryable = True


class EndpointResponseError(EndpointError):
    """The endpoint answered, but not as expected (other 4xx, a body of the wrong shape)."""


class ResponseTooLarge(EndpointResponseError):
    """The answer is larger than the cap (``limits.response_mib``)."""


class DeadlineExceeded(EndpointError):
    """The run's deadline passed while waiting for (or reading) an answer: not retried."""


def truncate(text: str, limit: int = BODY_LIMIT) -> str:
    """One printable line of at most ``limit`` characters (a server's text may hold escapes)."""
    return one_line(text, limit)


@dataclass(frozen=True, kw_only=True)
class Response:
    """A finished HTTP exchange (the body read in full)."""

    status: int
    reason: str
    method: str
    path: str
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.method} {self.path}"

    def json(self) -> Any:
        """The body as JSON; :class:`EndpointResponseError` when it is not."""
        import json

        try:
            return json.loads(self.text)
        except (ValueError, RecursionError) as exc:
            raise EndpointResponseError(
                f"{self.path} did not return JSON: {truncate(self.text)}",
                hint="is this URL the server you meant?",
            ) from exc

    def server_message(self) -> str:
        """The message of an error body (``{"error": {"message": ...}}`` and kin), else the body."""
        try:
            import json

            body = json.loads(self.text)
        except (ValueError, RecursionError):
            return truncate(self.text)
        if isinstance(body, dict):
            err = body.get("error", body)
            if isinstance(err, dict) and isinstance(err.get("message"), str):
                return truncate(err["message"])
            if isinstance(err, str):
                return truncate(err)
            if isinstance(body.get("message"), str):
                return truncate(body["message"])
        return truncate(self.text)


@dataclass(frozen=True)
class Stream:
    """A response whose body is read as it arrives, within the client's size cap and deadline."""

    status: int
    _response: httpx.Response
    _client: HttpClient

    def iter_text(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder(_encoding(self._response))(errors="replace")
        for chunk in self._client._pieces(self._response):
            text = decoder.decode(chunk)
            if text:
                yield text
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail

    def read(self) -> Response:
        return self._client._finished(self._response)


def _encoding(resp: httpx.Response) -> str:
    """The answer's charset when Python knows it, else UTF-8 (a server may name any)."""
    try:
        name = resp.encoding or "utf-8"
        codecs.lookup(name)
    except (LookupError, ValueError):
        return "utf-8"
    return name


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


_DNS_MARKERS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated",
    "name resolution",
    "getaddrinfo",
)


def transport_error(exc: httpx.TransportError, url: str) -> EndpointError:
    """The one-line error for a failed connection to ``url``."""
    parsed = httpx.URL(url)
    host = parsed.host
    text = " ".join(str(e) for e in _causes(exc)).lower()
    if "wrong_version_number" in text or "wrong version number" in text:
        return EndpointTLSError(
            f"{host} does not speak TLS: it answered an https:// request in plain HTTP",
            hint=f"use http://{host}{':' + str(parsed.port) if parsed.port else ''} instead of https://",
        )
    if any(isinstance(e, ssl.SSLError) for e in _causes(exc)) or "certificate" in text or "ssl" in text:
        return EndpointTLSError(
            f"TLS handshake with {host} failed: {truncate(str(exc))}",
            hint="trust the cluster's CA (SSL_CERT_FILE=ca.pem) or use the in-cluster http:// service URL",
        )
    if isinstance(exc, httpx.TimeoutException):
        return EndpointUnreachable(
            f"{public_url(url)} timed out ({type(exc).__name__})",
            hint="the server may still be loading the model; raise --timeout or --deadline",
        )
    if any(m in text for m in _DNS_MARKERS):
        return HostNotFound(
            f"cannot resolve host {host!r}",
            hint="check the URL; in-cluster service names resolve only inside the cluster",
        )
    if "connection refused" in text or "errno 111" in text:
        return EndpointUnreachable(
            f"connection refused by {host}:{parsed.port or ''} (nothing listens there)",
            hint="is the server running and is the port right? predictors listen on 8080",
        )
    shown = truncate(str(exc).replace(url, public_url(url))) or type(exc).__name__
    return EndpointUnreachable(f"cannot reach {public_url(url)}: {shown}")


def parse_base_url(url: str) -> str:
    """``url`` without a trailing slash, or :class:`EndpointError` when it cannot be an HTTP URL."""
    base = url.rstrip("/")
    try:
        parsed = httpx.URL(base)
        port = parsed.port
    except (httpx.InvalidURL, ValueError) as exc:
        raise EndpointError(
            f"invalid URL {public_url(url)!r}: {str(exc).replace(url, public_url(url))}",
            hint="give a full URL such as http://127.0.0.1:8000",
        ) from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise EndpointError(
            f"invalid URL {public_url(url)!r}", hint="give a full URL such as http://127.0.0.1:8000"
        )
    if port is not None and not 0 < port < 65536:
        raise EndpointError(f"invalid URL {public_url(url)!r}: port {port} is out of range (1-65535)")
    return base


class HttpClient:
    """A client for one base URL; the only place llmops talks HTTP.

    ``deadline_s`` bounds everything this client does from its creation on (requests,
    reading answers and streams); ``max_body_bytes`` bounds each answer.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        headers: Mapping[str, str] | None = None,
        transport: Any = None,
        deadline_s: float | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self._url = parse_base_url(base_url)
        self.base_url = public_url(self._url)  # for messages and reports: no password
        self.has_token = bool(token)
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self._deadline = time.monotonic() + deadline_s if deadline_s is not None else None
        self.max_body_bytes = max_body_bytes
        merged = {"Accept": "application/json", **(headers or {})}
        if token:
            merged["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            base_url=self._url, headers=merged, timeout=httpx.Timeout(timeout_s), transport=transport
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the deadline and the size cap ----------------------------------------------------------

    def _past_deadline(self, what: str) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"{what} did not finish within the deadline of {self.deadline_s:g}s",
            hint="the endpoint is too slow or never stops answering; raise --deadline if it is only slow",
        )

    def _timeout(self, what: str) -> httpx.Timeout:
        """The timeout of one request: ``timeout_s``, shortened to what is left of the deadline."""
        if self._deadline is None:
            return httpx.Timeout(self.timeout_s)
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise self._past_deadline(what)
        return httpx.Timeout(min(self.timeout_s, left))

    def _pieces(self, resp: httpx.Response) -> Iterator[bytes]:
        """The raw body in pieces, stopped at the size cap and at the deadline."""
        what = f"{resp.request.method} {resp.request.url.path}"
        total = 0
        try:
            for chunk in resp.iter_bytes():
                total += len(chunk)
                if total > self.max_body_bytes:
                    raise ResponseTooLarge(
                        f"{what} answered more than {self.max_body_bytes / 2**20:g} MiB: stopped reading",
                        hint="is this URL the model server? (limits.response_mib sets the cap)",
                    )
                if self._deadline is not None and time.monotonic() > self._deadline:
                    raise self._past_deadline(what)
                yield chunk
        except httpx.TimeoutException as exc:
            if self._deadline is not None and time.monotonic() >= self._deadline - 0.05:
                raise self._past_deadline(what) from exc
            raise transport_error(exc, str(resp.request.url)) from exc
        except httpx.TransportError as exc:
            raise transport_error(exc, str(resp.request.url)) from exc

    def _finished(self, resp: httpx.Response) -> Response:
        body = b"".join(self._pieces(resp))
        return Response(
            status=resp.status_code,
            reason=resp.reason_phrase,
            method=resp.request.method,
            path=resp.request.url.path,
            text=body.decode(_encoding(resp), errors="replace"),
            headers=dict(resp.headers),
        )

    # -- requests -------------------------------------------------------------------------------

    def request(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None
    ) -> Response:
        """Send one request and read the whole answer (within the cap and the deadline)."""
        with self.stream(method, path, json=json, params=params) as resp:
            return resp.read()

    @contextmanager
    def stream(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None
    ) -> Iterator[Stream]:
        """Send one request and read the answer as it arrives."""
        what = f"{method} {path}"
        try:
            with self._client.stream(
                method, path, json=json, params=params, timeout=self._timeout(what)
            ) as resp:
                yield Stream(resp.status_code, resp, self)
        except httpx.TimeoutException as exc:
            if self._deadline is not None and time.monotonic() >= self._deadline - 0.05:
                raise self._past_deadline(what) from exc
            raise transport_error(exc, self._url + path) from exc
        except httpx.TransportError as exc:
            raise transport_error(exc, self._url + path) from exc
