"""The engine's JSON API, version 1 (``/api/v1``), with OpenAPI docs at ``/docs``.

Every answer is the JSON of a :mod:`llmops.gitops.appstate` record (docs/reference-json.md) or an
error ``{"error": {"type", "message", "hint"}}``. Where a path says ``{selector}`` it takes an
Application name or an environment name (one holding a single Application).

Security (:mod:`llmops.web.security`): the engine binds 127.0.0.1 by default and then answers only
loopback host names. Bound to another address, every ``/api`` request needs ``Authorization: Bearer
<token>`` (the token file in the state directory, 0600) or a dashboard session. Requests that change
something refuse cross-site callers: a browser's ``Origin`` must be the API's own, its
``Sec-Fetch-Site`` same-origin, the body must be JSON (a plain HTML form cannot send that), and a
browser must send the dashboard page's CSRF token. The dashboard itself is :mod:`llmops.web.dashboard`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from llmops import __version__
from llmops.engine.engine import Engine
from llmops.engine.patch import DEFAULT_FIELD_MANAGER
from llmops.engine.sync import OperationRefused
from llmops.errors import EngineError, LlmopsError, UsageError
from llmops.gitops.appstate import SyncRequest

from . import dashboard, ops_api
from .security import API, UI, UI_HEADERS, Guard, error


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SyncBody(_Body):
    initiator: str | None = None
    reason: str | None = None
    revision: str | None = None
    prune: bool | None = None


class RollbackBody(_Body):
    id: int | None = None
    initiator: str | None = None
    reason: str | None = None


class RefreshBody(_Body):
    selector: str | None = None
    hard: bool = True


class PatchBody(_Body):
    ref: str = Field(description="KIND/NAME of the live object")
    type: str = Field(default="merge", pattern="^(merge|json)$")
    patch: str = Field(description="the patch, as JSON text")
    field_manager: str = DEFAULT_FIELD_MANAGER


class ShutdownBody(_Body):
    keep_processes: bool = False


def _status_of(exc: LlmopsError) -> int:
    if isinstance(exc, OperationRefused):
        return 409
    if isinstance(exc, UsageError):
        return 404 if exc.message.startswith(("unknown", "no live", "no operation")) else 400
    if isinstance(exc, EngineError):
        return 409
    return 500


def create_app(
    engine: Engine, *, token: str, require_token: bool, on_shutdown: Callable[[bool], None]
) -> FastAPI:
    """The API of one running engine."""
    app = FastAPI(
        title="llmops engine",
        version=__version__,
        description="llmops' embedded GitOps engine: Argo CD Applications served by local vLLM processes.",
    )

    guard = Guard(token=token, require_token=require_token)

    @app.middleware("http")
    async def check(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        refused = guard.refusal(request)
        response = refused if refused is not None else await call_next(request)
        if request.url.path == "/" or request.url.path.startswith(UI):
            response.headers.update(UI_HEADERS)
        return response

    @app.exception_handler(LlmopsError)
    async def llmopserror(_request: Request, exc: LlmopsError) -> JSONResponse:
        return error(_status_of(exc), type(exc).__name__, exc.message, exc.hint)

    _read_routes(app, engine)
    _write_routes(app, engine, on_shutdown, require_token)
    ops_api.add_routes(app, engine, require_token=require_token)
    dashboard.mount(app, engine, guard)
    return app


def _tail(label: str, path: Any, lines: int, prefix: bool) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "".join((f"[{label}] " if prefix else "") + ln + "\n" for ln in text)


async def _follow(files: list[tuple[str, Any]], lines: int) -> AsyncIterator[bytes]:
    prefix = len(files) > 1
    positions: dict[str, int] = {}
    for label, path in files:
        yield _tail(label, path, lines, prefix).encode()
        positions[label] = path.stat().st_size if path.exists() else 0
    while True:
        await asyncio.sleep(0.5)
        for label, path in files:
            try:
                size = path.stat().st_size
                if size < positions[label]:
                    positions[label] = 0
                if size > positions[label]:
                    with path.open("rb") as fh:
                        fh.seek(positions[label])
                        chunk = fh.read(size - positions[label])
                    positions[label] = size
                    text = chunk.decode("utf-8", "replace")
                    yield "".join(
                        (f"[{label}] " if prefix else "") + ln + "\n" for ln in text.splitlines()
                    ).encode()
            except OSError:
                continue


def _read_routes(app: FastAPI, engine: Engine) -> None:
    @app.get(f"{API}/engine", summary="The engine: version, repository, state directory, endpoints")
    async def engine_info() -> dict[str, Any]:
        return engine.info()

    @app.get(f"{API}/applications", summary="Status of every Application, or of one environment's")
    async def applications(selector: str | None = None) -> dict[str, Any]:
        return {"items": [s.to_dict() for s in engine.status(selector)]}

    @app.get(API + "/applications/{selector}", summary="Status of one Application")
    async def application(selector: str) -> dict[str, Any]:
        return engine.status(engine.one(selector).name)[0].to_dict()

    @app.get(API + "/applications/{selector}/history", summary="Operations, oldest first")
    async def history(selector: str) -> dict[str, Any]:
        return {"items": [h.to_dict() for h in engine.history(selector)]}

    @app.get(API + "/applications/{selector}/objects", summary="The live objects, Secret values redacted")
    async def objects(selector: str) -> dict[str, Any]:
        return {"items": engine.objects(selector)}

    @app.get(API + "/applications/{selector}/live", summary="Desired and live objects, normalized alike")
    async def live(selector: str) -> dict[str, Any]:
        return engine.live_objects(selector).to_dict()

    @app.get(API + "/operations/{op_id}", summary="One operation")
    async def operation(op_id: int) -> dict[str, Any]:
        return engine.operation(op_id).to_dict()

    @app.get(f"{API}/events", summary="Recorded events, oldest first")
    async def events(
        app_name: str | None = Query(default=None, alias="app"), since: int = 0, limit: int = 200
    ) -> dict[str, Any]:
        return {"items": [e.to_dict() for e in engine.events(app_name, since, min(limit, 1000))]}

    @app.get(f"{API}/logs", summary="The vLLM logs of an environment or Application (follow: streamed)")
    async def logs(selector: str, tail: int = 100, follow: bool = False) -> Response:
        files = engine.log_files(selector)
        if not follow:
            return Response(
                "".join(_tail(label, path, tail, len(files) > 1) for label, path in files),
                media_type="text/plain",
            )
        return StreamingResponse(_follow(files, tail), media_type="text/plain")


def _write_routes(
    app: FastAPI, engine: Engine, on_shutdown: Callable[[bool], None], require_token: bool
) -> None:
    @app.post(API + "/applications/{selector}/sync", summary="Sync to the target revision (or `revision`)")
    async def sync(selector: str, body: SyncBody, http: Request) -> dict[str, Any]:
        request = SyncRequest(
            app=selector,
            initiator=ops_api.initiator_of(http, body.initiator, require_token),
            reason=body.reason,
            revision=body.revision,
            prune=body.prune,
        )
        return (await engine.sync(request)).to_dict()

    @app.post(
        API + "/applications/{selector}/rollback", summary="Redeploy a history entry (not for automated apps)"
    )
    async def rollback(selector: str, body: RollbackBody, http: Request) -> dict[str, Any]:
        who = ops_api.initiator_of(http, body.initiator, require_token)
        op = await engine.rollback(selector, body.id, initiator=who, reason=body.reason)
        return op.to_dict()

    @app.post(API + "/applications/{selector}/patch", summary="Patch a live object (oc patch)")
    async def patch(selector: str, body: PatchBody) -> dict[str, Any]:
        return await engine.patch(selector, body.ref, body.type, body.patch, field_manager=body.field_manager)

    @app.post(f"{API}/refresh", summary="Re-read the repositories and compare now")
    async def refresh(body: RefreshBody) -> dict[str, Any]:
        await engine.refresh(body.selector, hard=body.hard)
        return {"refreshed": [a.name for a in engine.select(body.selector)]}

    @app.post(f"{API}/shutdown", summary="Stop the engine (its vLLM processes too, unless keep_processes)")
    async def shutdown(body: ShutdownBody) -> dict[str, Any]:
        on_shutdown(body.keep_processes)
        return {"stopping": True}
