"""The stable endpoint: each request routed when it arrives, streamed answers passed on as they come."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from llmops.engine.proxy import Backend, EndpointProxy, Routing

pytestmark = pytest.mark.asyncio


class FakeVllm:
    """A small OpenAI-shaped HTTP server: /health, /v1/models, and a chat completion streamed in chunks."""

    def __init__(self, name: str, model: str, gap_s: float = 0.25) -> None:
        self.name, self.model, self.gap_s = name, model, gap_s
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
            if not head:
                break
            line, *headers = head.decode().split("\r\n")
            _method, path, _ = line.split(" ")
            length = next(
                (int(h.split(":")[1]) for h in headers if h.lower().startswith("content-length")), 0
            )
            body = await reader.readexactly(length) if length else b""
            if path == "/v1/chat/completions":
                await self._stream(writer, json.loads(body))
            else:
                data = (
                    {"data": [{"id": self.model, "object": "model"}]}
                    if path == "/v1/models"
                    else {"ok": True}
                )
                payload = json.dumps(data).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                    % (len(payload), payload)
                )
            await writer.drain()
        writer.close()

    async def _stream(self, writer: asyncio.StreamWriter, request: dict[str, Any]) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        for i in range(4):
            data = {"backend": self.name, "model": request.get("model"), "n": i}
            event = f"data: {json.dumps(data)}\n\n".encode()
            writer.write(b"%x\r\n%s\r\n" % (len(event), event))
            await writer.drain()
            await asyncio.sleep(self.gap_s)
        writer.write(b"0\r\n\r\n")

    def backend(self) -> Backend:
        return Backend("127.0.0.1", self.port, self.model, isvc=self.name)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


def _socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    return sock


@pytest_asyncio.fixture
async def fakes() -> AsyncIterator[tuple[FakeVllm, FakeVllm]]:
    a, b = FakeVllm("old", "m"), FakeVllm("new", "m")
    await a.start()
    await b.start()
    yield a, b
    await a.close()
    await b.close()


async def _proxy(routing: dict[str, Any]) -> EndpointProxy:
    proxy = EndpointProxy("dev", _socket(), lambda: routing["now"])
    await proxy.start()
    return proxy


async def test_a_streamed_answer_is_passed_on_chunk_by_chunk(fakes: tuple[FakeVllm, FakeVllm]) -> None:
    old, _ = fakes
    proxy = await _proxy({"now": Routing(by_model={"m": [old.backend()]})})
    arrivals: list[float] = []
    async with httpx.AsyncClient(base_url=proxy.url) as client:
        start = time.monotonic()
        async with client.stream(
            "POST", "/v1/chat/completions", json={"model": "m", "stream": True}
        ) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    arrivals.append(time.monotonic() - start)
    await proxy.close()
    assert len(arrivals) == 4
    assert arrivals[0] < arrivals[-1] - 0.5  # the first chunk did not wait for the last (0.25 s apart)


async def test_each_request_goes_to_the_backend_routed_at_that_moment(
    fakes: tuple[FakeVllm, FakeVllm],
) -> None:
    old, new = fakes
    routing = {"now": Routing(by_model={"m": [old.backend()]})}
    proxy = await _proxy(routing)
    seen = []
    async with httpx.AsyncClient(base_url=proxy.url) as client:  # one keep-alive connection for both
        for switch in (False, True):
            if switch:
                routing["now"] = Routing(by_model={"m": [new.backend()]})
            response = await client.post("/v1/chat/completions", json={"model": "m"})
            seen.append(json.loads(response.text.splitlines()[0].removeprefix("data: "))["backend"])
    await proxy.close()
    assert seen == ["old", "new"]


async def test_no_ready_backend_is_503_with_the_reason() -> None:
    proxy = await _proxy(
        {"now": Routing(by_model={"m": []}, why=lambda: "llmops-dev is Progressing: vLLM starting")}
    )
    async with httpx.AsyncClient(base_url=proxy.url) as client:
        response = await client.post("/v1/chat/completions", json={"model": "m"})
    await proxy.close()
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert response.json()["error"]["message"] == "dev: llmops-dev is Progressing: vLLM starting"


async def test_several_models_are_routed_by_name_and_listed_together() -> None:
    a, b = FakeVllm("a", "model-a"), FakeVllm("b", "model-b")
    await a.start()
    await b.start()
    proxy = await _proxy({"now": Routing(by_model={"model-a": [a.backend()], "model-b": [b.backend()]})})
    async with httpx.AsyncClient(base_url=proxy.url) as client:
        to_b = await client.post("/v1/chat/completions", json={"model": "model-b"})
        unknown = await client.post("/v1/chat/completions", json={"model": "model-c"})
        listed = await client.get("/v1/models")
    await proxy.close()
    await a.close()
    await b.close()
    assert '"backend": "b"' in to_b.text
    assert (
        unknown.status_code == 404
        and "not served here (served: model-a, model-b)" in unknown.json()["error"]["message"]
    )
    assert [m["id"] for m in listed.json()["data"]] == ["model-a", "model-b"]


async def test_a_backend_that_vanished_is_a_502_not_a_hang() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    gone = Backend("127.0.0.1", closed_port, "m")
    proxy = await _proxy({"now": Routing(by_model={"m": [gone]})})
    async with httpx.AsyncClient(base_url=proxy.url, timeout=10) as client:
        response = await client.post("/v1/chat/completions", json={"model": "m"})
    await proxy.close()
    assert response.status_code == 502 and "cannot connect" in response.json()["error"]["message"]
