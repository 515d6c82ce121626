"""The outbox's clock."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outbox import queue

log = logging.getLogger(__name__)


async def release_due(sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Messages held until a time (quiet hours) whose time has come go out: the sender finds them
    within a second. Returns how many."""
    async with sessionmaker.begin() as session:
        released = await queue.release_due_holds(session, now)
    if released:
        log.info("outbox: %d held messages are due and go out", released)
    return released
