"""Misbehaving network peers on 127.0.0.1, run by the tests that need them (free ports, threads).

- :class:`Scripted`: an HTTP/1.1 server whose answer to each request is a list of byte
  chunks, sent as they come (a generator may never end: a stream that never stops, a body
  that never ends), or a fixed body of any shape.
- :class:`Silent`: accepts connections and never answers.
- :func:`unanswered`: a port whose connections are never accepted (the backlog is full),
  so a client's connect times out, as with a host that drops packets.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

Handler = Callable[[str, str], tuple[int, dict[str, str], Iterable[bytes]]]  # (method, path) -> answer


def _read_request(conn: socket.socket) -> tuple[str, str] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    length = next(
        (int(ln.split(":", 1)[1]) for ln in lines[1:] if ln.lower().startswith("content-length:")), 0
    )
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return method, path


@dataclass
class Scripted:
    """An HTTP server answering with whatever ``handler`` returns (status, headers, chunks)."""

    handler: Handler
    _sock: socket.socket = field(init=False)
    _conns: list[socket.socket] = field(default_factory=list, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)

    def __post_init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        threading.Thread(target=self._serve, daemon=True, name="scripted-http").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError, ValueError):
            while not self._stop.is_set():
                request = _read_request(conn)
                if request is None:
                    return
                status, headers, chunks = self.handler(*request)
                head = [f"HTTP/1.1 {status} X", "Transfer-Encoding: chunked", "Connection: keep-alive"]
                head += [f"{k}: {v}" for k, v in headers.items()]
                conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
                for chunk in chunks:
                    if self._stop.is_set():
                        return
                    if chunk:
                        conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                conn.sendall(b"0\r\n\r\n")

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()

    def __enter__(self) -> Scripted:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def json_answer(body: bytes | str, status: int = 200) -> tuple[int, dict[str, str], list[bytes]]:
    data = body.encode() if isinstance(body, str) else body
    return status, {"Content-Type": "application/json"}, [data]


@dataclass
class Silent:
    """Accepts every connection and never sends a byte."""

    _sock: socket.socket = field(init=False)
    _conns: list[socket.socket] = field(default_factory=list, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)

    def __post_init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True, name="silent").start()

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._conns.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()

    def __enter__(self) -> Silent:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@contextlib.contextmanager
def unanswered() -> Iterator[int]:
    """A port on 127.0.0.1 whose new connections hang: a listener with a full backlog (Linux)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    filler = socket.create_connection(("127.0.0.1", port))  # fills the one-slot accept queue
    try:
        yield port
    finally:
        filler.close()
        server.close()
