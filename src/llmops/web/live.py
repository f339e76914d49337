"""Live updates for the dashboard: the engine's recorded events as a server-sent event stream.

Every state change the engine commits is recorded as an event (``engine/store.py`` publishes it after
the commit); :class:`EventStream` fans each one out to the open dashboard pages, which then fetch
their own page again and replace the parts that changed (``static/dashboard.js``). The rollout issue
plans a general event stream on the API; until it lands this one lives here, on its own route
(``/ui/stream``), and reads only what the store already publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

from llmops.engine.engine import Engine
from llmops.engine.store import Event

KEEPALIVE_S = 15.0
QUEUE_SIZE = 256  # a page that falls this far behind only misses notifications: it refetches anyway


class EventStream:
    """Fans the store's events out to each connected page."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queues: set[asyncio.Queue[Event]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        engine.store.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for queue in list(self._queues):
            loop.call_soon_threadsafe(self._put, queue, event)

    @staticmethod
    def _put(queue: asyncio.Queue[Event], event: Event) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(event)

    @property
    def listeners(self) -> int:
        return len(self._queues)

    async def stream(self, app: str | None) -> AsyncIterator[bytes]:
        """``text/event-stream``: one ``change`` event per recorded event (of ``app``, or of all),
        comments as keep-alives, the end when the engine stops."""
        self._loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        stop = self.engine.stop_event
        try:
            yield b"retry: 2000\n: connected\n\n"
            while not stop.is_set():
                event = await _next(queue, stop)
                if event is None:
                    yield b": keep-alive\n\n"
                elif app is None or event.app in (app, ""):
                    data = json.dumps(event.to_dict(), separators=(",", ":"))
                    yield f"id: {event.id}\nevent: change\ndata: {data}\n\n".encode()
        finally:
            self._queues.discard(queue)


async def _next(queue: asyncio.Queue[Event], stop: asyncio.Event) -> Event | None:
    """The next event; None after the keep-alive interval or when the engine stops."""
    getter = asyncio.ensure_future(queue.get())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait(
            {getter, stopper}, timeout=KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for task in (getter, stopper):
            if not task.done():
                task.cancel()
    return getter.result() if getter in done else None
