"""The stable local endpoint of an environment: an asyncio HTTP/1.1 reverse proxy in front of its vLLM
processes, as a Kubernetes Service fronts the pods of a Deployment.

Its address survives every redeploy (the port is remembered in the store). Each request is routed
when it arrives, by a router the engine owns (:data:`Router`): so a later rollout strategy can
switch backends between two requests, and in-flight requests are counted per backend so the old
process can be drained. When an environment serves several models (one InferenceService each),
requests go to the one their JSON body's ``model`` names and ``GET /v1/models`` lists them all.
Responses are streamed chunk by chunk (server-sent events of a streamed chat completion arrive as
vLLM writes them). With no ready process the answer is 503 with the reason, in OpenAI's error shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import h11

from .httpwire import Conn, WireError, forward_headers, open_client, read_body

CLIENT_IDLE_S = 75.0  # keep-alive idle time of a client connection
UPSTREAM_TIMEOUT_S = 600.0  # a long generation may go this long between two chunks
MAX_ROUTED_BODY = 16 * 1024 * 1024


@dataclass(frozen=True)
class Backend:
    """One ready vLLM replica."""

    host: str
    port: int
    served_name: str
    app: str = ""
    isvc: str = ""
    replica: int = 0


@dataclass(frozen=True)
class Routing:
    """What the router offers right now: backends by served model name, and (asked only when needed)
    why there is none."""

    by_model: dict[str, list[Backend]]
    why: Callable[[], str] = lambda: "no vLLM process is ready"


Router = Callable[[], Routing]


@dataclass
class ProxyStats:
    requests: int = 0
    errors: int = 0
    in_flight: Counter[Backend] = field(default_factory=Counter)
    first_routed: dict[Backend, float] = field(
        default_factory=dict
    )  # monotonic time of a backend's first request


Observe = Callable[[str, int, float], None]  # (environment, HTTP status, seconds): metrics


class _Pool:
    """Idle keep-alive connections to backends."""

    def __init__(self) -> None:
        self.idle: dict[tuple[str, int], list[Conn]] = {}

    async def get(self, backend: Backend) -> Conn:
        stack = self.idle.get((backend.host, backend.port)) or []
        while stack:
            conn = stack.pop()
            if not conn.reader.at_eof():
                conn.h11.start_next_cycle()
                return conn
            conn.close()
        return await open_client(backend.host, backend.port)

    def put(self, backend: Backend, conn: Conn) -> None:
        if conn.reusable():
            self.idle.setdefault((backend.host, backend.port), []).append(conn)
        else:
            conn.close()

    def close(self) -> None:
        for stack in self.idle.values():
            for conn in stack:
                conn.close()
        self.idle.clear()


def _error_body(status: int, message: str) -> bytes:
    kind = "ServiceUnavailable" if status == 503 else "BadGateway" if status == 502 else "BadRequest"
    return json.dumps({"error": {"message": message, "type": kind, "code": status}}).encode()


class EndpointProxy:
    """Serves one environment's stable endpoint on an already bound socket."""

    def __init__(
        self, environment: str, sock: socket.socket, router: Router, observe: Observe | None = None
    ) -> None:
        self.environment = environment
        self.sock = sock
        self.router = router
        self.observe = observe
        self.stats = ProxyStats()
        self._rr: Counter[str] = Counter()
        self._pool = _Pool()
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()
        self._last_backend: dict[int, Backend] = {}  # a request moved to another backend on connect

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        host = self.sock.getsockname()[0]
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, sock=self.sock, limit=2**20)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()
        for task in list(self._clients):
            task.cancel()
        self._pool.close()

    # -- routing ------------------------------------------------------------------------------

    def _choose(self, routing: Routing, model: str | None) -> Backend | None:
        if model is not None and model in routing.by_model:
            candidates = routing.by_model[model]
        elif len(routing.by_model) == 1:
            candidates = next(iter(routing.by_model.values()))
        else:
            return None
        if not candidates:
            return None
        key = model or ""
        self._rr[key] += 1
        return candidates[self._rr[key] % len(candidates)]

    # -- one client connection ----------------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        _no_delay(writer)
        conn = Conn(reader, writer, h11.Connection(h11.SERVER))
        try:
            while True:
                event = await conn.next_event(CLIENT_IDLE_S)
                if not isinstance(event, h11.Request):
                    break
                await self._handle(conn, event)
                if not conn.reusable():
                    break
                conn.h11.start_next_cycle()
        except (WireError, h11.ProtocolError, ConnectionError, OSError):
            pass
        finally:
            conn.close()
            if task is not None:
                self._clients.discard(task)

    async def _respond(self, conn: Conn, status: int, body: bytes, *, retry_after: bool = False) -> None:
        headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
        if retry_after:
            headers.append(("retry-after", "5"))
        if conn.h11.their_state is not h11.DONE:
            headers.append(("connection", "close"))
        await conn.send(h11.Response(status_code=status, headers=headers))
        await conn.send(h11.Data(data=body))
        await conn.send(h11.EndOfMessage())

    async def _handle(self, conn: Conn, request: h11.Request) -> None:
        self.stats.requests += 1
        started = time.monotonic()
        status = 502  # what a response broken off midway (either side) counts as
        try:
            status = await self._routed(conn, request)
        finally:
            if self.observe is not None:
                self.observe(self.environment, status, time.monotonic() - started)

    async def _routed(self, conn: Conn, request: h11.Request) -> int:
        """Route and forward one request; the status the client got."""
        routing = self.router()
        target = request.target.split(b"?", 1)[0]
        if request.method == b"GET" and target == b"/v1/models" and len(routing.by_model) > 1:
            await read_body(conn, CLIENT_IDLE_S)
            await self._models(conn, routing)
            return 200
        body: bytes | None = None
        model: str | None = None
        if len(routing.by_model) > 1 and request.method == b"POST":
            body = await read_body(conn, CLIENT_IDLE_S, MAX_ROUTED_BODY)
            model = _model_of(body)
            routing = self.router()  # routed after the wait: a rollout may have switched meanwhile
        backend = self._choose(routing, model)
        if backend is None:
            self.stats.errors += 1
            if body is None:
                with contextlib.suppress(WireError):
                    await read_body(conn, CLIENT_IDLE_S)
            status, why = _no_backend(routing, model)
            await self._respond(
                conn, status, _error_body(status, f"{self.environment}: {why}"), retry_after=status == 503
            )
            return status
        return await self._forward(conn, request, body, backend, model)

    def _count(self, backend: Backend, delta: int) -> None:
        """Requests in flight per backend: a replaced vLLM is stopped only once its count is 0."""
        self.stats.in_flight[backend] += delta
        if self.stats.in_flight[backend] <= 0:
            del self.stats.in_flight[backend]

    async def _forward(
        self, conn: Conn, request: h11.Request, body: bytes | None, backend: Backend, model: str | None
    ) -> int:
        self._count(backend, 1)  # counted from the moment it is chosen, before any wait
        try:
            return await self._forward_to(conn, request, body, backend, model)
        finally:
            self._count(self._last_backend.pop(id(conn), backend), -1)

    async def _connect(self, conn: Conn, backend: Backend, model: str | None) -> tuple[Backend, Conn]:
        """A connection to ``backend``; when it refuses (it was just replaced), one to whatever the
        router offers now. Nothing of the request was sent yet, so trying another is safe."""
        try:
            return backend, await self._pool.get(backend)
        except WireError:
            other = self._choose(self.router(), model)
            if other is None or other == backend:
                raise
            self._count(other, 1)
            self._count(backend, -1)
            self._last_backend[id(conn)] = other
            return other, await self._pool.get(other)

    async def _forward_to(
        self, conn: Conn, request: h11.Request, body: bytes | None, backend: Backend, model: str | None
    ) -> int:
        try:
            backend, upstream = await self._connect(conn, backend, model)
        except WireError as exc:
            self.stats.errors += 1
            if body is None:
                with contextlib.suppress(WireError):
                    await read_body(conn, CLIENT_IDLE_S)
            await self._respond(conn, 502, _error_body(502, f"{self.environment}: {exc}"))
            return 502
        self.stats.first_routed.setdefault(backend, time.monotonic())
        started = False
        try:
            headers = forward_headers(request.headers, host=f"{backend.host}:{backend.port}")
            if body is not None:
                headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
            upstream.send_nowait(h11.Request(method=request.method, target=request.target, headers=headers))
            await self._request_body(conn, upstream, body)
            response = await upstream.next_event(UPSTREAM_TIMEOUT_S)
            if not isinstance(response, h11.Response):
                raise WireError("the backend closed the connection without an answer")
            started = True
            await conn.send(
                h11.Response(
                    status_code=response.status_code,
                    headers=forward_headers(response.headers),
                    reason=response.reason,
                )
            )
            await self._response_body(conn, upstream)
        except (WireError, h11.ProtocolError) as exc:
            upstream.close()
            self.stats.errors += 1
            if started:
                raise WireError(f"backend failed mid-response: {exc}") from exc
            await self._respond(
                conn, 502, _error_body(502, f"{self.environment}: {backend.isvc or 'backend'}: {exc}")
            )
            return 502
        self._pool.put(backend, upstream)
        return int(response.status_code)

    async def _request_body(self, conn: Conn, upstream: Conn, body: bytes | None) -> None:
        if body is not None:
            if body:
                upstream.send_nowait(h11.Data(data=body))
            await upstream.send(h11.EndOfMessage())
            return
        while True:
            event = await conn.next_event(CLIENT_IDLE_S)
            if isinstance(event, h11.Data):
                upstream.send_nowait(h11.Data(data=event.data))
            elif isinstance(event, h11.EndOfMessage):
                await upstream.send(h11.EndOfMessage())
                return
            else:
                raise WireError("the client closed before the end of its request")

    async def _response_body(self, conn: Conn, upstream: Conn) -> None:
        while True:
            event = await upstream.next_event(UPSTREAM_TIMEOUT_S)
            if isinstance(event, h11.Data):
                await conn.send(h11.Data(data=event.data))
            elif isinstance(event, h11.EndOfMessage):
                await conn.send(h11.EndOfMessage())
                return
            else:
                raise WireError("the backend closed mid-response")

    async def _models(self, conn: Conn, routing: Routing) -> None:
        """``GET /v1/models`` of an environment serving several models: the lists of all, merged."""
        from .httpwire import get

        data: list[Any] = []
        for name, backends in sorted(routing.by_model.items()):
            if not backends:
                continue
            try:
                status, raw = await get(backends[0].host, backends[0].port, "/v1/models")
                if status == 200:
                    data += json.loads(raw).get("data", [])
            except (WireError, ValueError):
                data.append({"id": name, "object": "model", "owned_by": "vllm"})
        body = json.dumps({"object": "list", "data": data}).encode()
        await conn.send(
            h11.Response(
                status_code=200,
                headers=[("content-type", "application/json"), ("content-length", str(len(body)))],
            )
        )
        await conn.send(h11.Data(data=body))
        await conn.send(h11.EndOfMessage())


def _no_delay(writer: asyncio.StreamWriter) -> None:
    """Send each write at once (no Nagle): asyncio sets TCP_NODELAY only on sockets created with
    ``IPPROTO_TCP`` as their protocol (``base_events._set_nodelay``), and a connection accepted on the
    listening socket made with ``socket.socket()`` (protocol 0) is not one. Without it the answer's
    body waits for the client's delayed ACK of its head: about 40 ms on every request."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _model_of(body: bytes) -> str | None:
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        return None
    model = parsed.get("model") if isinstance(parsed, dict) else None
    return model if isinstance(model, str) else None


def _no_backend(routing: Routing, model: str | None) -> tuple[int, str]:
    """(HTTP status, reason) when no backend can take a request for ``model``."""
    if len(routing.by_model) > 1 and model not in routing.by_model:
        served = ", ".join(sorted(routing.by_model))
        return 404, f"model {model!r} is not served here (served: {served})"
    return 503, routing.why()
