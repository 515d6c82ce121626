"""Waiting with a time limit that never loses a cancel.

On Python 3.11 `asyncio.wait_for` swallows a cancel that arrives in the same turn of the loop as what
it waits for: it returns the result and the task runs on. A loop like the outbox sender's or the
inbox feeder's (`while True: wait for a wake-up or a second`) then never stops, and `inbox.stop()`
or the end of `asyncio.run` waits for it forever. `asyncio.timeout` counts cancels and has no such
race, so every timed wait in the bot goes through `within` (ruff bans `asyncio.wait_for`: TID251)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable


async def within(seconds: float, awaitable: Awaitable[object]) -> bool:
    """Await `awaitable` for at most `seconds`: True when it finished, False when the time ran out (it
    is then cancelled). A cancel of the caller always propagates."""
    try:
        async with asyncio.timeout(max(seconds, 0)):
            await awaitable
        return True
    except TimeoutError:
        return False
