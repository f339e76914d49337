"""HTTP/1.1 on asyncio streams for the engine's data path: the stable endpoints' reverse proxy and the
readiness probes of its vLLM processes.

The engine's own event loop carries every request to a model, so this speaks HTTP with ``h11`` (a
sans-I/O protocol implementation, already installed with httpx) directly on asyncio streams: no
thread hop, no buffering of a streamed answer. Outgoing calls of the CLI and library still go
through :mod:`llmops.support.http`; this module only talks to the engine's own local processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import h11

READ_CHUNK = 65536
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"te",
        b"trailer",
        b"upgrade",
    }
)


class WireError(Exception):
    """The peer closed, timed out, or spoke something that is not HTTP/1.1."""


@dataclass
class Conn:
    """One HTTP/1.1 connection: asyncio streams plus h11's state machine."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection
    extra: dict[str, Any] = field(default_factory=dict)

    async def next_event(self, timeout: float | None = None) -> Any:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            try:
                async with asyncio.timeout(timeout):
                    data = await self.reader.read(READ_CHUNK)
            except (ConnectionError, OSError) as exc:
                raise WireError(str(exc) or type(exc).__name__) from exc
            except TimeoutError as exc:
                raise WireError("timed out") from exc
            self.h11.receive_data(data)

    async def send(self, event: Any) -> None:
        data = self.h11.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    def send_nowait(self, event: Any) -> None:
        data = self.h11.send(event)
        if data:
            self.writer.write(data)

    def reusable(self) -> bool:
        return self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


async def open_client(host: str, port: int, timeout: float = 5.0) -> Conn:
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as exc:
        raise WireError(f"cannot connect to {host}:{port}: {exc or type(exc).__name__}") from exc
    return Conn(reader, writer, h11.Connection(h11.CLIENT))


def forward_headers(headers: Any, *, host: str | None = None) -> list[tuple[bytes, bytes]]:
    """End-to-end headers of a message (hop-by-hop ones dropped; h11 frames the body again)."""
    out = [
        (k, v) for k, v in headers if k.lower() not in HOP_BY_HOP and (host is None or k.lower() != b"host")
    ]
    if host is not None:
        out.insert(0, (b"host", host.encode()))
    return out


async def read_body(conn: Conn, timeout: float, limit: int = 16 * 1024 * 1024) -> bytes:
    body = bytearray()
    while True:
        event = await conn.next_event(timeout)
        if isinstance(event, h11.Data):
            body += event.data
            if len(body) > limit:
                raise WireError(f"body larger than {limit} bytes")
        elif isinstance(event, h11.EndOfMessage):
            return bytes(body)
        elif isinstance(event, h11.ConnectionClosed):
            raise WireError("connection closed before the end of the body")


async def get(host: str, port: int, path: str, *, timeout: float = 3.0) -> tuple[int, bytes]:
    """One GET on a fresh connection: (status, body). WireError when nothing sensible answers."""
    conn = await open_client(host, port, timeout)
    try:
        await conn.send(
            h11.Request(
                method="GET", target=path, headers=[("host", f"{host}:{port}"), ("connection", "close")]
            )
        )
        await conn.send(h11.EndOfMessage())
        response = await conn.next_event(timeout)
        if not isinstance(response, h11.Response):
            raise WireError(f"unexpected answer {type(response).__name__}")
        return response.status_code, await read_body(conn, timeout)
    except h11.ProtocolError as exc:
        raise WireError(f"not HTTP/1.1: {exc}") from exc
    finally:
        conn.close()


async def post_stream(
    host: str, port: int, path: str, body: bytes, *, timeout: float = 60.0
) -> tuple[int, AsyncIterator[bytes]]:
    """One JSON POST on a fresh connection: (status, the body's chunks as they arrive). The connection
    closes when the chunks are read to the end (or the iterator is closed)."""
    conn = await open_client(host, port, timeout)
    try:
        headers = [("host", f"{host}:{port}"), ("content-type", "application/json"),
                   ("content-length", str(len(body))), ("connection", "close")]  # fmt: skip
        await conn.send(h11.Request(method="POST", target=path, headers=headers))
        await conn.send(h11.Data(data=body))
        await conn.send(h11.EndOfMessage())
        response = await conn.next_event(timeout)
        if not isinstance(response, h11.Response):
            raise WireError(f"unexpected answer {type(response).__name__}")
    except h11.ProtocolError as exc:
        conn.close()
        raise WireError(f"not HTTP/1.1: {exc}") from exc
    except BaseException:
        conn.close()
        raise

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while True:
                event = await conn.next_event(timeout)
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    return
        except h11.ProtocolError as exc:
            raise WireError(f"not HTTP/1.1: {exc}") from exc
        finally:
            conn.close()

    return response.status_code, chunks()
