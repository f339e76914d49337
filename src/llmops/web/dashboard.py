"""The engine's web dashboard, served under ``/ui`` on the API's own address: Applications (cards by
environment), one Application (resource tree, live diff, history and rollback, sync, logs, events),
and the Playground (a streamed chat with an environment's model, and ``llmops smoke`` against it).

Pages are rendered on the server (Jinja2 templates in ``web/templates``); the browser runs only the
dashboard's own script (``web/static/dashboard.js``: fetch and EventSource), which posts actions to
the JSON API (``/api/v1``) with the page's CSRF token and keeps the page current from the event
stream (:mod:`llmops.web.live`). Nothing is loaded from the network: no CDN, font or third-party
script. Secret values never reach the browser (redacted as ``llmops diff`` redacts them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from llmops import __version__
from llmops.delivery import diff, diff_formats
from llmops.engine.engine import Engine
from llmops.errors import LlmopsError, UsageError
from llmops.gitops import manifests

from . import playground, viewmodel
from .live import EventStream
from .security import LOGIN, UI, Guard

HERE = Path(__file__).parent
EVENTS_SHOWN = 50
LOG_LINES = 200


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["short"] = viewmodel.short
    return env


class ChatBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    environment: str
    model: str
    messages: list[dict[str, str]] = Field(max_length=playground.MAX_MESSAGES)
    max_tokens: int = 128
    temperature: float = Field(default=0.7, ge=0, le=2)


class SmokeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    environment: str
    model: str | None = None


class Pages:
    """Renders the dashboard's pages for one engine."""

    def __init__(self, engine: Engine, guard: Guard) -> None:
        self.engine = engine
        self.guard = guard
        self.templates = _templates()

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        sid = self.guard.session(request)
        fresh = sid is None and not self.guard.require_token  # with a token, only signing in opens one
        if fresh:
            sid = self.guard.new_session()
        page = self.templates.get_template(template).render(
            csrf=self.guard.csrf_token(sid) if sid else "",
            version=__version__,
            repository=str(self.engine.root),
            api_url=self.engine.api_url,
            watch=self.engine.watch_mode,
            environments=self.environments(),
            **context,
        )
        response = HTMLResponse(page, status_code=status)
        if fresh and sid:
            self.guard.set_cookie(response, sid, secure=request.url.scheme == "https")
        return response

    def environments(self) -> list[str]:
        names = self.engine.repo.config.environment_names()
        present = {a.environment for a in self.engine.applications()}
        return [e for e in names if e in present] + sorted(present - set(names))

    # -- the pages -------------------------------------------------------------------------------

    def applications(self, request: Request) -> HTMLResponse:
        statuses = self.engine.status()
        groups = viewmodel.by_environment(statuses, self.environments())
        return self.render(request, "applications.html", page="applications", groups=groups)

    def application(self, request: Request, name: str) -> HTMLResponse:
        app = self.engine.application(name)
        if app is None:
            return self.render(
                request, "missing.html", status=404, page="applications",
                what=f"no Application named {name!r}",
                known=[a.name for a in self.engine.applications()],
            )  # fmt: skip
        status = self.engine.status(name)[0]
        changes, unified, diff_error = self._diff(name)
        events = list(reversed(self.engine.events(name, 0, EVENTS_SHOWN)))
        return self.render(
            request, "application.html", page="application",
            card=viewmodel.card(status), root=viewmodel.resource_tree(status),
            changes=changes, unified=unified, diff_error=diff_error,
            history=viewmodel.history_rows(self.engine.history(name)),
            events=events, logs=[label for label, _ in self.engine.log_files(name)],
            source=status.extra.get("source") or {},
            adaptations=status.extra.get("adaptations") or {},
        )  # fmt: skip

    def _diff(self, name: str) -> tuple[list[viewmodel.DiffView], str, str]:
        try:
            report = diff.live_report([self.engine.live_objects(name)], "live (local)")
        except LlmopsError as exc:
            return [], "", exc.message
        return viewmodel.diff_views(report), diff_formats.to_text(report), ""

    def playground(self, request: Request, environment: str | None) -> HTMLResponse:
        statuses = self.engine.status()
        models: dict[str, list[str]] = {}
        for s in statuses:
            models.setdefault(s.environment, []).extend(viewmodel.served_models(s))
        choices = [e for e in self.environments() if self.engine.runtime.endpoint(e)]
        chosen = environment if environment in choices else (choices[0] if choices else "")
        return self.render(
            request, "playground.html", page="playground",
            choices=choices, chosen=chosen, models={e: sorted(set(m)) for e, m in models.items()},
            endpoints={e: self.engine.runtime.endpoint(e) or "" for e in choices},
            cards={s.name: viewmodel.card(s) for s in statuses},
        )  # fmt: skip

    def login(self, request: Request, error: str = "", status: int = 200) -> HTMLResponse:
        return self.render(request, "login.html", status=status, page="login", error=error)

    # -- plain-text parts ------------------------------------------------------------------------

    def log_tail(self, name: str, tail: int) -> str:
        out = []
        for label, path in self.engine.log_files(self.engine.one(name).name):
            out.append(f"==> {label} <==")
            out.extend(_last_lines(path, tail))
        return "\n".join(out) + "\n" if out else "no vLLM log yet (nothing deployed)\n"

    def hook_log(self, name: str, op_id: int, job: str) -> str:
        app = self.engine.one(name)
        path = self.engine.hook_log(op_id, app.name, job)
        if path.parent != self.engine.paths.hooks / app.name or not path.is_file():
            raise UsageError(f"no hook log {job} for operation {op_id} of {app.name}")
        return path.read_text(encoding="utf-8", errors="replace")[-200_000:]

    def manifest(self, name: str, kind: str, obj: str) -> str:
        for item in self.engine.objects(self.engine.one(name).name):
            m = item["manifest"]
            if m.get("kind") == kind and (m.get("metadata") or {}).get("name") == obj:
                return manifests.dump_yaml([m])
        raise UsageError(f"no live {kind}/{obj} in {name}")


def _last_lines(path: Path, count: int, window: int = 256 * 1024) -> list[str]:
    """The last ``count`` lines of a log that may be large (only its end is read)."""
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - window))
            return fh.read().decode("utf-8", "replace").splitlines()[-count:]
    except OSError:
        return []


def mount(app: FastAPI, engine: Engine, guard: Guard) -> None:
    """Add the dashboard's routes to the engine's API application."""
    pages = Pages(engine, guard)
    stream = EventStream(engine)
    app.mount(f"{UI}/static", StaticFiles(directory=HERE / "static"), name="static")
    _page_routes(app, pages)
    _text_routes(app, pages)
    _live_routes(app, pages, stream)


def _page_routes(app: FastAPI, pages: Pages) -> None:
    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(f"{UI}/", status_code=307)

    @app.get(f"{UI}/", include_in_schema=False)
    async def applications(request: Request) -> HTMLResponse:
        return pages.applications(request)

    @app.get(UI + "/apps/{name}", include_in_schema=False)
    async def application(request: Request, name: str) -> HTMLResponse:
        return pages.application(request, name)

    @app.get(f"{UI}/playground", include_in_schema=False)
    async def playground_page(request: Request, env: str | None = None) -> HTMLResponse:
        return pages.playground(request, env)

    @app.get(LOGIN, include_in_schema=False)
    async def login_page(request: Request) -> HTMLResponse:
        return pages.login(request)

    @app.post(LOGIN, include_in_schema=False)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body())[:4096].decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0]
        if not pages.guard.token_ok(given):
            return pages.login(request, "that is not this engine's token", status=401)
        response = RedirectResponse(f"{UI}/", status_code=303)
        pages.guard.set_cookie(response, pages.guard.new_session(), secure=request.url.scheme == "https")
        return response


def _text_routes(app: FastAPI, pages: Pages) -> None:
    @app.get(UI + "/apps/{name}/logs", include_in_schema=False)
    async def logs(name: str, tail: int = LOG_LINES) -> PlainTextResponse:
        return PlainTextResponse(pages.log_tail(name, max(1, min(tail, 2000))))

    @app.get(UI + "/apps/{name}/hooks/{op_id}/{job}", include_in_schema=False)
    async def hook_log(name: str, op_id: int, job: str) -> PlainTextResponse:
        return PlainTextResponse(pages.hook_log(name, op_id, job))

    @app.get(UI + "/apps/{name}/objects/{kind}/{obj}", include_in_schema=False)
    async def manifest(name: str, kind: str, obj: str) -> PlainTextResponse:
        return PlainTextResponse(pages.manifest(name, kind, obj))


def _live_routes(app: FastAPI, pages: Pages, stream: EventStream) -> None:
    @app.get(f"{UI}/stream", include_in_schema=False)
    async def events(app_name: str | None = None) -> StreamingResponse:
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream.stream(app_name), media_type="text/event-stream", headers=headers)

    @app.post(f"{UI}/playground/chat", include_in_schema=False)
    async def chat(body: ChatBody) -> StreamingResponse:
        request = playground.ChatRequest(
            environment=body.environment, model=body.model, messages=tuple(body.messages),
            max_tokens=body.max_tokens, temperature=body.temperature,
        )  # fmt: skip
        playground.chat_body(request)  # refuse a bad request before the stream starts
        return StreamingResponse(
            playground.chat(pages.engine, request), media_type="text/event-stream",
            headers={"Cache-Control": "no-store"},
        )  # fmt: skip

    @app.post(f"{UI}/playground/smoke", include_in_schema=False)
    async def smoke(body: SmokeBody) -> dict[str, Any]:
        return await playground.run_smoke(pages.engine, body.environment, body.model)
