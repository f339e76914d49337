"""A local fake of the part of GitHub's REST API that sticky pull-request comments use.

Runs on 127.0.0.1 on a free port in a thread of the test process; nothing leaves the
machine. It behaves as GitHub documents it: a bearer token is required, comments are
listed oldest first ``per_page`` at a time with a ``Link: <...>; rel="next"`` header,
a body over 65,536 characters is refused with 422, a comment can only be edited by its
author (403 otherwise), and ``GET /user`` answers 403 for an installation token (as
GitHub does for ``GITHUB_TOKEN`` and GitHub App tokens).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 65_536
_LIST = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)/comments$")
_ONE = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/issues/comments/(?P<id>\d+)$")


@dataclass(frozen=True)
class Identity:
    """Who a token is: a Bot (an installation token: no ``/user``) or a user with a login."""

    login: str
    bot: bool = True


@dataclass
class GitHubState:
    """What the fake holds: tokens, comments per pull request, and every request it saw."""

    tokens: dict[str, Identity] = field(default_factory=dict)
    comments: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_comment(self, repo: str, number: int, body: str, who: Identity) -> dict[str, Any]:
        with self.lock:
            self.next_id += 1
            comment = {
                "id": self.next_id,
                "body": body,
                "html_url": f"https://github.invalid/{repo}/pull/{number}#issuecomment-{self.next_id}",
                "user": {"login": who.login, "type": "Bot" if who.bot else "User"},
            }
            self.comments.setdefault((repo, number), []).append(comment)
            return comment

    def find(self, comment_id: int) -> dict[str, Any] | None:
        for comments in self.comments.values():
            for c in comments:
                if c["id"] == comment_id:
                    return c
        return None


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    # -- plumbing --------------------------------------------------------------------------------

    def _send(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def _who(self) -> Identity | None:
        auth = self.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        return self.server.state.tokens.get(token)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        data = json.loads(self.rfile.read(length) or b"{}")
        return data if isinstance(data, dict) else {}

    def _handle(self, method: str) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        with state.lock:
            state.requests.append((method, self.path, dict(self.headers)))
        who = self._who()
        if who is None:
            self._send(401, {"message": "Bad credentials"})
            return
        if method == "GET" and url.path == "/user":
            self._user(who)
        elif (m := _LIST.match(url.path)) and method == "GET":
            self._list(m["repo"], int(m["number"]), parse_qs(url.query))
        elif (m := _LIST.match(url.path)) and method == "POST":
            self._create(m["repo"], int(m["number"]), who)
        elif (m := _ONE.match(url.path)) and method == "PATCH":
            self._edit(int(m["id"]), who)
        else:
            self._send(404, {"message": "Not Found"})

    # -- endpoints -------------------------------------------------------------------------------

    def _user(self, who: Identity) -> None:
        if who.bot:
            self._send(403, {"message": "Resource not accessible by integration"})
        else:
            self._send(200, {"login": who.login, "type": "User"})

    def _list(self, repo: str, number: int, query: dict[str, list[str]]) -> None:
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        page = int(query.get("page", ["1"])[0])
        comments = self.server.state.comments.get((repo, number), [])
        chunk = comments[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(comments):
            query = f"per_page={per_page}&page={page + 1}"
            nxt = f"{self.server.url}/repositories/4242/issues/{number}/comments?{query}"
            headers["Link"] = f'<{nxt}>; rel="next"'
            # GitHub's next links name the repository by id: map it back.
            self.server.ids["4242"] = repo
        self._send(200, chunk, headers)

    def _valid_body(self) -> str | None:
        body = self._body().get("body")
        if not isinstance(body, str) or not body:
            self._send(
                422, {"message": "Validation Failed", "errors": [{"field": "body", "code": "missing"}]}
            )
            return None
        if len(body) > MAX_BODY:
            self._send(
                422,
                {
                    "message": "Validation Failed",
                    "errors": ["Body is too long (maximum is 65536 characters)"],
                },
            )
            return None
        return body

    def _create(self, repo: str, number: int, who: Identity) -> None:
        body = self._valid_body()
        if body is not None:
            self._send(201, self.server.state.add_comment(repo, number, body, who))

    def _edit(self, comment_id: int, who: Identity) -> None:
        comment = self.server.state.find(comment_id)
        if comment is None:
            self._send(404, {"message": "Not Found"})
            return
        if comment["user"]["login"] != who.login:
            self._send(403, {"message": "You do not have permission to edit this comment"})
            return
        body = self._valid_body()
        if body is not None:
            with self.server.state.lock:
                comment["body"] = body
            self._send(200, comment)

    def do_GET(self) -> None:
        # a "next" link names the repository by id, as GitHub's do
        m = re.match(r"^/repositories/(\d+)/(issues/\d+/comments.*)$", self.path)
        if m and m.group(1) in self.server.ids:
            self.path = f"/repos/{self.server.ids[m.group(1)]}/{m.group(2)}"
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: GitHubState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state
        self.ids: dict[str, str] = {}

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


@dataclass(frozen=True)
class FakeGitHub:
    """A running fake: its API URL and its state."""

    url: str
    state: GitHubState

    def comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        return list(self.state.comments.get((repo, number), []))

    def methods(self) -> list[str]:
        """``METHOD path`` of every request, in order."""
        return [f"{m} {urlsplit(p).path}" for m, p, _ in self.state.requests]


@contextmanager
def fake_github(tokens: dict[str, Identity]) -> Iterator[FakeGitHub]:
    """Run the fake on a free loopback port for the ``with`` block; it is shut down after."""
    state = GitHubState(tokens=dict(tokens))
    server = _Server(state)
    thread = threading.Thread(target=server.serve_forever, name="fake-github", daemon=True)
    thread.start()
    try:
        yield FakeGitHub(server.url, state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
