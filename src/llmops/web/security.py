"""Who may use the engine's HTTP server, and from where: the API token, dashboard sessions, CSRF tokens,
the engine's own origin.

One guard (:meth:`Guard.refusal`) runs before every route, API and dashboard alike:

- **Host.** Bound to loopback, a request must name a loopback host (``127.0.0.1``, ``localhost``,
  ``[::1]``): a page on another name that resolves to 127.0.0.1 (DNS rebinding) is refused.
- **Token.** Bound to another address, ``/api`` needs ``Authorization: Bearer <token>`` or a dashboard
  session; the dashboard asks for the token once (``/ui/login``) and keeps a session cookie
  (``HttpOnly``, ``SameSite=Strict``), held in the engine's memory.
- **Cross-site.** A request that changes something must come from the engine's own origin (``Origin``,
  ``Sec-Fetch-Site``), carry a JSON body (a plain HTML form cannot), and, when a browser sends it (it
  carries ``Origin``, ``Sec-Fetch-Site`` or the session cookie), the page's CSRF token in
  ``X-CSRF-Token``: an HMAC of the session under a key that never leaves the engine.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from hashlib import sha256
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

API = "/api/v1"
UI = "/ui"
LOGIN = f"{UI}/login"
STATIC = f"{UI}/static/"
SESSION_COOKIE = "llmops_session"
CSRF_HEADER = "x-csrf-token"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_SESSIONS = 1000

# The dashboard's pages load nothing from elsewhere: no CDN, no inline script, no frame around them.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
UI_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def error(status: int, kind: str, message: str, hint: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message, "hint": hint}}, status_code=status)


def _host_name(host_header: str) -> str:
    """``127.0.0.1:8080`` -> ``127.0.0.1``; ``[::1]:80`` -> ``::1``."""
    return (urlsplit(f"//{host_header}").hostname or "").lower()


def same_origin(request: Request) -> bool:
    """The browser says the request comes from the page's own origin (or it is not a browser)."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
        return False
    return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")


def from_browser(request: Request) -> bool:
    """Browsers send ``Origin`` or ``Sec-Fetch-Site`` on every fetch and form POST; CLIs send neither."""
    return any(h in request.headers for h in ("origin", "sec-fetch-site")) or (
        SESSION_COOKIE in request.cookies
    )


@dataclass
class Guard:
    """The checks of one running engine (``token``: the state directory's API token)."""

    token: str
    require_token: bool
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    sessions: set[str] = field(default_factory=set)

    # -- sessions and CSRF tokens ---------------------------------------------------------------

    def new_session(self) -> str:
        if len(self.sessions) >= MAX_SESSIONS:
            self.sessions.clear()  # bounded memory: everyone signs in again
        sid = secrets.token_urlsafe(32)
        self.sessions.add(sid)
        return sid

    def session(self, request: Request) -> str | None:
        sid = request.cookies.get(SESSION_COOKIE)
        return sid if sid is not None and sid in self.sessions else None

    def csrf_token(self, sid: str) -> str:
        return hmac.new(self.key, sid.encode(), sha256).hexdigest()

    def csrf_ok(self, request: Request) -> bool:
        sid = self.session(request)
        given = request.headers.get(CSRF_HEADER, "")
        return sid is not None and hmac.compare_digest(given.encode(), self.csrf_token(sid).encode())

    def token_ok(self, given: str) -> bool:
        return hmac.compare_digest(given.strip().encode(), self.token.encode())

    def set_cookie(self, response: Response, sid: str, secure: bool) -> None:
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict", secure=secure, path="/")

    # -- the checks -----------------------------------------------------------------------------

    def host_ok(self, request: Request) -> bool:
        """Bound to loopback, only loopback names reach the engine (no DNS rebinding)."""
        return self.require_token or _host_name(request.headers.get("host", "")) in LOOPBACK_NAMES

    def authenticated(self, request: Request) -> bool:
        if not self.require_token or self.session(request) is not None:
            return True
        given = request.headers.get("authorization", "")
        return given.startswith("Bearer ") and self.token_ok(given.removeprefix("Bearer "))

    def refusal(self, request: Request) -> Response | None:
        """Why this request may not go on (as the answer to send), or None."""
        path = request.url.path
        if not self.host_ok(request):
            return error(421, "MisdirectedRequest", "this engine answers only on its own address (127.0.0.1)")
        if path.startswith(STATIC):
            return None
        if path == LOGIN:
            return self._login_refusal(request)
        if not self.authenticated(request):
            if path.startswith((API, "/metrics")):  # programs: an answer, not a sign-in page
                hint = "send Authorization: Bearer <the token file in the engine's state directory>"
                return error(401, "Unauthorized", "this engine API needs its token", hint)
            return RedirectResponse(LOGIN, status_code=303)
        if request.method in MUTATING:
            return self._write_refusal(request)
        return None

    def _login_refusal(self, request: Request) -> Response | None:
        if request.method in MUTATING and not same_origin(request):
            return error(403, "Forbidden", "cross-site requests may not sign in")
        return None

    def _write_refusal(self, request: Request) -> Response | None:
        if not same_origin(request):
            return error(403, "Forbidden", "cross-site requests may not change the engine's state")
        if from_browser(request) and not self.csrf_ok(request):
            return error(
                403,
                "Forbidden",
                "this request lacks the dashboard's CSRF token",
                "reload the page (the engine restarted, or the session expired) and try again",
            )
        if not request.headers.get("content-type", "").startswith("application/json"):
            return error(415, "UnsupportedMediaType", "send a JSON body (Content-Type: application/json)")
        return None
