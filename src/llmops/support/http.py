"""The one HTTP client seam: every outgoing HTTP call of llmops goes through :class:`HttpClient`.

httpx is imported here and nowhere else (``.importlinter`` forbids it elsewhere). Transport
failures and unexpected statuses become :class:`~llmops.errors.EndpointError` subclasses
whose message says what to do (DNS, TLS, refused, timeout, 401/403, 5xx); the server's own
message is kept, truncated, and the httpx exception is chained as the cause.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from llmops.errors import EndpointError

BODY_LIMIT = 300


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


def truncate(text: str, limit: int = BODY_LIMIT) -> str:
    """One line of at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


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
        except ValueError as exc:
            raise EndpointResponseError(
                f"{self.path} did not return JSON: {truncate(self.text)}",
                hint="is this URL the server you meant?",
            ) from exc

    def server_message(self) -> str:
        """The message of an error body (``{"error": {"message": ...}}`` and kin), else the body.

        An HTML page (a proxy's or a web server's error page) is named, not dumped.
        """
        if self.text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")):
            return f"an HTML page ({self.reason or 'no reason given'}), not an API answer"
        try:
            import json

            body = json.loads(self.text)
        except ValueError:
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
    """A response whose body is read as it arrives."""

    status: int
    _response: httpx.Response

    def iter_text(self) -> Iterator[str]:
        try:
            yield from self._response.iter_text()
        except httpx.TransportError as exc:
            raise transport_error(exc, str(self._response.request.url)) from exc

    def read(self) -> Response:
        self._response.read()
        return _finished(self._response)


def _finished(resp: httpx.Response) -> Response:
    return Response(
        status=resp.status_code,
        reason=resp.reason_phrase,
        method=resp.request.method,
        path=resp.request.url.path,
        text=resp.text,
        headers=dict(resp.headers),
    )


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
            f"{url} timed out ({type(exc).__name__})",
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
    return EndpointUnreachable(f"cannot reach {url}: {truncate(str(exc)) or type(exc).__name__}")


def parse_base_url(url: str) -> str:
    """``url`` without a trailing slash, or :class:`EndpointError` when it cannot be an HTTP URL."""
    base = url.rstrip("/")
    try:
        parsed = httpx.URL(base)
        port = parsed.port
    except (httpx.InvalidURL, ValueError) as exc:
        raise EndpointError(
            f"invalid URL {url!r}: {exc}", hint="give a full URL such as http://127.0.0.1:8000"
        ) from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise EndpointError(f"invalid URL {url!r}", hint="give a full URL such as http://127.0.0.1:8000")
    if port is not None and not 0 < port < 65536:
        raise EndpointError(
            f"invalid URL {url!r}: port {port} is out of range (1-65535)",
            hint="give a full URL such as http://127.0.0.1:8000",
        )
    return base


class HttpClient:
    """A client for one base URL; the only place llmops talks HTTP."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float = 10.0,
        headers: Mapping[str, str] | None = None,
        transport: Any = None,
    ) -> None:
        self.base_url = parse_base_url(base_url)
        self.has_token = bool(token)
        merged = {"Accept": "application/json", **(headers or {})}
        if token:
            merged["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            base_url=self.base_url, headers=merged, timeout=httpx.Timeout(timeout_s), transport=transport
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None
    ) -> Response:
        """Send one request and read the whole answer; transport failures raise."""
        try:
            resp = self._client.request(method, path, json=json, params=params)
        except httpx.TransportError as exc:
            raise transport_error(exc, self.base_url + path) from exc
        return _finished(resp)

    @contextmanager
    def stream(self, method: str, path: str, *, json: Any = None) -> Iterator[Stream]:
        """Send one request and read the answer as it arrives."""
        try:
            with self._client.stream(method, path, json=json) as resp:
                yield Stream(resp.status_code, resp)
        except httpx.TransportError as exc:
            raise transport_error(exc, self.base_url + path) from exc
