"""A small real HTTP server on a free loopback port, for tests that need a server that misbehaves.

It is Python's own ``http.server`` answering fixed routes: a plain-HTTP server (for the
``https://`` mix-up), an HTML error page where an API was expected, an OpenAI ``/v1/models``
listing. No llmops code runs in it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Route:
    status: int
    body: str
    content_type: str = "application/json"


def models_route(*names: str, max_model_len: int = 512) -> Route:
    """``GET /v1/models`` as vLLM answers it."""
    data = [{"id": n, "object": "model", "max_model_len": max_model_len} for n in names]
    return Route(200, json.dumps({"object": "list", "data": data}))


HTML_404 = Route(
    404,
    "<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>"
    + "<p>The requested URL was not found on this server.</p>" * 40
    + "</body></html>",
    "text/html",
)


@contextmanager
def serve(routes: Mapping[str, Route]) -> Iterator[str]:
    """Serve ``routes`` (path -> answer; anything else is the HTML 404) until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0], HTML_404)
            body = route.body.encode()
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
