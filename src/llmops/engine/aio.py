"""asyncio helpers the engine's loops share."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for ``event`` at most ``timeout`` seconds; whether it was set.

    ``asyncio.timeout`` rather than ``asyncio.wait_for``: on Python 3.11 a ``wait_for`` cancelled
    just as its event is set can swallow the cancellation, and a loop waiting that way never stops.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
