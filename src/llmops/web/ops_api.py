"""The engine's operational routes (kept apart from :mod:`llmops.web.api`'s core routes):

* ``POST /api/v1/environments/{environment}/freeze`` and ``.../unfreeze``: stop and allow syncs of an
  environment, recorded with who and why.
* ``GET /api/v1/events/stream``: every recorded event as it happens, as server-sent events (``id`` is
  the event's id, so a client resumes with ``Last-Event-ID`` or ``?since=``; ``event: event``; ``data``
  the event's JSON). ``?selector=`` narrows to an environment or Application.
* ``GET /api/v1/applications/{selector}/windows``: the sync windows assigned to an Application, the
  active ones, whether automated and manual syncs may run now, and when they may.
* ``GET /metrics``: Prometheus text format (docs/guide-engine.md lists the metrics).

Who asked: the body's ``initiator`` (the CLI sends the OS user), else the engine's OS user; a request
that needed the API token (the API exposed beyond loopback) is recorded as ``<initiator> (token
<name>)``, the token's name being its file's name in the state directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette.sse import EventSourceResponse

from llmops.engine.engine import Engine, current_user
from llmops.engine.metrics import CONTENT_TYPE
from llmops.engine.store import Event

API = "/api/v1"
PING_S = 15
TOKEN_NAME = "token"  # the API token's file name in the state directory


class FreezeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, description="why: recorded in the history")
    initiator: str | None = None


class UnfreezeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = None
    initiator: str | None = None


def initiator_of(request: Request, claimed: str | None, require_token: bool) -> str:
    who = claimed or current_user()
    return f"{who} (token {TOKEN_NAME})" if require_token else who


def add_routes(app: FastAPI, engine: Engine, *, require_token: bool) -> None:
    @app.post(f"{API}/environments/{{environment}}/freeze", summary="Stop every sync of an environment")
    async def freeze(environment: str, body: FreezeBody, request: Request) -> dict[str, Any]:
        who = initiator_of(request, body.initiator, require_token)
        return {
            "environment": environment,
            "frozen": engine.freeze(environment, initiator=who, reason=body.reason),
        }

    @app.post(f"{API}/environments/{{environment}}/unfreeze", summary="Allow syncs of a frozen environment")
    async def unfreeze(environment: str, body: UnfreezeBody, request: Request) -> dict[str, Any]:
        who = initiator_of(request, body.initiator, require_token)
        engine.unfreeze(environment, initiator=who, reason=body.reason)
        return {"environment": environment, "frozen": None}

    @app.get(API + "/applications/{selector}/windows", summary="Sync windows and freeze of an Application")
    async def windows(selector: str) -> dict[str, Any]:
        return engine.gates.describe(engine.one(selector))

    @app.get(f"{API}/events/stream", summary="Events as they happen (server-sent events)")
    async def stream(
        selector: str | None = None,
        since: int | None = None,
        last_event_id: str | None = Header(default=None),
    ) -> EventSourceResponse:
        apps = {a.name for a in engine.select(selector)} if selector else None
        resume = last_event_id or ""
        start = since if since is not None else int(resume) if resume.isdigit() else None
        return EventSourceResponse(_events(engine, apps, start), ping=PING_S)

    @app.get("/metrics", summary="Prometheus metrics (text format)", include_in_schema=True)
    async def metrics() -> Response:
        return Response(engine.metrics.exposition(), media_type=CONTENT_TYPE)


def _wanted(event: Event, apps: set[str] | None) -> bool:
    return apps is None or event.app in apps


async def _events(engine: Engine, apps: set[str] | None, since: int | None) -> AsyncIterator[dict[str, Any]]:
    """Recorded events after ``since`` (None: only new ones), then each new one as it is published."""
    queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=10000)
    loop = asyncio.get_running_loop()

    def listener(event: Event) -> None:
        with contextlib.suppress(asyncio.QueueFull, RuntimeError):
            loop.call_soon_threadsafe(queue.put_nowait, event)

    engine.store.subscribe(listener)
    try:
        last = 0
        if since is not None:
            for event in engine.events(None, since, 1000):
                last = event.id
                if _wanted(event, apps):
                    yield _sse(event)
        while not engine.stopping:
            try:
                async with asyncio.timeout(1.0):
                    event = await queue.get()
            except TimeoutError:
                continue
            if event.id > last and _wanted(event, apps):
                last = event.id
                yield _sse(event)
    finally:
        engine.store.unsubscribe(listener)


def _sse(event: Event) -> dict[str, Any]:
    return {"id": str(event.id), "event": "event", "data": json.dumps(event.to_dict())}
