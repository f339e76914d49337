"""One sticky comment on a GitHub pull request: posted once, then edited in place on every push.

The comment is found again by a hidden marker (an HTML comment GitHub does not show) on its
first line, written by the identity the token belongs to. Every call goes through the one
HTTP seam (:class:`llmops.support.http.HttpClient`); the token travels only in the
``Authorization`` header and never appears in a message.

GitHub REST API used (docs.github.com, "REST API endpoints for issue comments"; pull
requests are issues for comments):

- ``GET  /repos/{owner}/{repo}/issues/{number}/comments`` (``per_page`` at most 100, ``Link`` pagination)
- ``POST /repos/{owner}/{repo}/issues/{number}/comments`` with ``{"body": ...}``
- ``PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}`` with ``{"body": ...}``
- ``GET  /user``: the token's own login (a GitHub App installation token, as Pipelines-as-Code
  and GitHub Actions hand out, has none: its comments are written by a Bot account)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.errors import LlmopsError
from llmops.support.http import HttpClient, Response, truncate

TOKEN_ENV = "GITHUB_TOKEN"
COMMENT_LIMIT = 65_536  # GitHub refuses longer comment bodies (422)
DEFAULT_API_URL = "https://api.github.com"
MAX_PAGES = 30  # at most 3,000 comments are searched for the marker: bounded cost on huge PRs
_PER_PAGE = 100
_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,40}$")
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
_CUT_NOTE = "\n\n> **Truncated:** the comment was cut to fit GitHub's {limit:,} characters.\n"
_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class CommentError(LlmopsError):
    """The pull-request comment cannot be posted: bad target, no token, or GitHub refused it."""


@dataclass(frozen=True)
class PullRequest:
    """Which pull request: ``owner/name`` and its number, on the API at ``api_url``."""

    repository: str
    number: int
    api_url: str = DEFAULT_API_URL

    def __post_init__(self) -> None:
        if not _REPOSITORY.match(self.repository):
            raise CommentError(
                f"{self.repository!r} is not a GitHub repository name",
                hint="give it as OWNER/NAME, e.g. --github-repo my-org/gitops",
            )
        if self.number < 1:
            raise CommentError(
                f"pull request number {self.number} is not valid", hint="give --pr N with N >= 1"
            )

    @property
    def comments_path(self) -> str:
        return f"/repos/{self.repository}/issues/{self.number}/comments"


@dataclass(frozen=True, kw_only=True)
class Posted:
    """What happened to the sticky comment."""

    action: str  # created | updated | unchanged
    comment_id: int
    url: str
    chars: int
    truncated: bool


def resolve_token(token_file: Path | None) -> str:
    """The GitHub token: ``--token-file`` (a mounted Secret key), else ``$GITHUB_TOKEN``."""
    if token_file is None:
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise CommentError(
                "no GitHub token to post the comment with",
                hint=f"set {TOKEN_ENV} or pass --token-file PATH (never the token on the command line)",
            )
        return token
    try:
        text = token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CommentError(
            f"cannot read the token file {token_file}: {exc.strerror or exc}",
            hint="in Tekton, mount the git-provider-token key of the Pipelines-as-Code secret there",
        ) from exc
    if not text:
        raise CommentError(f"the token file {token_file} is empty")
    return text


def marker(key: str) -> str:
    """The hidden first line that identifies the sticky comment of ``key`` (``diff``, ...)."""
    if not _KEY.match(key):
        raise CommentError(
            f"comment key {key!r} is not valid", hint="use lower-case letters, digits, '.', '_' or '-'"
        )
    return f"<!-- llmops:{key} -->"


def sticky_body(markdown: str, key: str, limit: int = COMMENT_LIMIT) -> tuple[str, bool]:
    """(body, cut): the marker line, then ``markdown``, cut with a note when over ``limit`` characters.

    Callers that can shorten their own text sensibly (the diff keeps its summary and
    drops whole resource diffs) should fit :func:`room` first; this cut is the last guard.
    """
    head = marker(key) + "\n"
    body = head + markdown
    if len(body) <= limit:
        return body, False
    note = _CUT_NOTE.format(limit=limit)
    return body[: limit - len(note)] + note, True


def room(key: str, limit: int = COMMENT_LIMIT) -> int:
    """How many characters of markdown fit in one comment after the marker line."""
    return limit - len(marker(key)) - 1


# -- the GitHub API -----------------------------------------------------------------------------


def _check(resp: Response, pr: PullRequest) -> Response:
    if resp.status < 400:
        return resp
    msg = resp.server_message()
    where = f"{resp.method} {resp.path}"
    if resp.status == 401:
        raise CommentError(
            f"GitHub refused the token ({where}: 401 {msg})",
            hint="the token expired or is not a GitHub token; in Pipelines-as-Code use the "
            "git-provider-token key of {{ git_auth_secret }}, in GitHub Actions secrets.GITHUB_TOKEN",
        )
    if resp.status in (403, 404):
        raise CommentError(
            f"GitHub did not let this token comment on {pr.repository}#{pr.number} "
            f"({where}: {resp.status} {msg})",
            hint="the token needs pull-requests: write (Actions: permissions) or the GitHub App's "
            "pull request/issue write permission, and the pull request must exist",
        )
    raise CommentError(f"GitHub answered {where} with {resp.status}: {msg}")


def _json_object(resp: Response, what: str) -> dict[str, Any]:
    data = resp.json()
    if not isinstance(data, dict):
        raise CommentError(f"GitHub returned {truncate(str(data), 80)} for {what}, not an object")
    return data


def _viewer(client: HttpClient, pr: PullRequest) -> str | None:
    """The token's own login, or None for an installation token (it writes as a Bot)."""
    resp = client.request("GET", "/user")
    if resp.status in (401, 403):
        if resp.status == 401:
            _check(resp, pr)
        return None
    login = _json_object(_check(resp, pr), "/user").get("login")
    return login if isinstance(login, str) else None


def _pages(client: HttpClient, pr: PullRequest) -> Iterator[list[dict[str, Any]]]:
    path: str | None = pr.comments_path
    params: dict[str, str] | None = {"per_page": str(_PER_PAGE)}
    for _ in range(MAX_PAGES):
        if path is None:
            return
        resp = _check(client.request("GET", path, params=params), pr)
        data = resp.json()
        yield [c for c in data if isinstance(c, dict)] if isinstance(data, list) else []
        path, params = _next_page(resp, client.base_url), None


def _next_page(resp: Response, base_url: str) -> str | None:
    """The path of the ``rel="next"`` page, when GitHub sent one for the same API host."""
    link = {k.lower(): v for k, v in resp.headers.items()}.get("link", "")
    found = _NEXT.search(link)
    if not found or not found.group(1).startswith(base_url + "/"):
        return None  # never follow a link to another host with the token
    return found.group(1)[len(base_url) :]


def _is_ours(comment: dict[str, Any], head: str, viewer: str | None) -> bool:
    body = comment.get("body")
    user = comment.get("user") if isinstance(comment.get("user"), dict) else {}
    assert isinstance(user, dict)
    if not isinstance(body, str) or not body.startswith(head):
        return False
    if viewer is not None:
        return user.get("login") == viewer
    return user.get("type") == "Bot"


def find_sticky(client: HttpClient, pr: PullRequest, key: str) -> dict[str, Any] | None:
    """The oldest comment that starts with ``key``'s marker and was written by this token's identity."""
    head = marker(key)
    viewer = _viewer(client, pr)
    for page in _pages(client, pr):
        for comment in page:
            if _is_ours(comment, head, viewer):
                return comment
    return None


def post_sticky(
    pr: PullRequest,
    markdown: str,
    *,
    token: str,
    key: str = "diff",
    client_factory: Callable[..., HttpClient] = HttpClient,
) -> Posted:
    """Create the sticky comment of ``key`` on ``pr``, or edit it in place when it exists."""
    if not token.strip():
        raise CommentError("no GitHub token to post the comment with", hint=f"set {TOKEN_ENV}")
    body, cut = sticky_body(markdown, key)
    with client_factory(pr.api_url, token=token.strip(), headers=_HEADERS, timeout_s=30.0) as client:
        existing = find_sticky(client, pr, key)
        if existing is None:
            resp = _check(client.request("POST", pr.comments_path, json={"body": body}), pr)
            action = "created"
        elif existing.get("body") == body:
            return _posted("unchanged", existing, body, cut)
        else:
            path = f"/repos/{pr.repository}/issues/comments/{int(existing['id'])}"
            resp = _check(client.request("PATCH", path, json={"body": body}), pr)
            action = "updated"
        return _posted(action, _json_object(resp, "the comment"), body, cut)


def _posted(action: str, comment: dict[str, Any], body: str, cut: bool) -> Posted:
    return Posted(
        action=action,
        comment_id=int(comment.get("id") or 0),
        url=str(comment.get("html_url") or ""),
        chars=len(body),
        truncated=cut or "> **Truncated:**" in body,
    )
