"""Housekeeping of the update tables."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services import inbox
from bot.services.users import prune_updates

log = logging.getLogger(__name__)


async def prune(sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Processed update ids and handled inbox rows older than Telegram's redelivery window go.
    Returns how many rows were deleted."""
    async with sessionmaker.begin() as session:
        removed = await prune_updates(session, now=now)
        handled = await inbox.prune(session, now=now)
    log.info("pruned %d processed update ids and %d handled inbox updates", removed, handled)
    return removed + handled


async def release_stale(sessionmaker: async_sessionmaker[AsyncSession], now: datetime) -> int:
    """Updates a dead process left `working` are taken again (only when several processes share the
    inbox on PostgreSQL: alone, the process releases them at its start). Returns how many."""
    from bot.inbox import STALE

    async with sessionmaker.begin() as session:
        released = await inbox.release_working(session, STALE, now=now)
    if released:
        log.warning("inbox: %d updates left by a stopped process are taken again", released)
    return released
