"""Expert review's clock: rounds waiting for reviewers get whoever can take them now (a reviewer
joined without setting a profile, or one finished reviews and has room)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import notices
from bot.campaign import Campaign
from bot.render import Texts
from bot.services import rounds

log = logging.getLogger(__name__)


async def assign_waiting(sessionmaker: async_sessionmaker[AsyncSession], now: datetime, *, campaign: Campaign,
                         texts: Texts) -> int:
    """Every round short of reviewers gets the eligible ones (each is told); returns how many
    assignments were made."""
    async with sessionmaker.begin() as session:
        made = await rounds.assign_waiting(session, campaign, now=now, actor_id=None)
        await notices.assigned(session, texts, made)
    if made:
        log.info("review: %d waiting assignments made", len(made))
    return len(made)
