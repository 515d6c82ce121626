"""APScheduler is the clock: jobs wake up and read due work from the database."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.services import inbox
from bot.services.users import prune_updates

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)


def build_scheduler(app: App) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=app.settings.timezone)

    async def prune() -> None:
        async with app.sessionmaker.begin() as session:
            removed = await prune_updates(session)
            handled = await inbox.prune(session)
        log.info("pruned %d processed update ids and %d handled inbox updates", removed, handled)

    scheduler.add_job(prune, "interval", hours=6, id="prune_updates", coalesce=True, max_instances=1)

    async def release_stale() -> None:
        """Updates a dead process left `working` (several processes share the inbox on PostgreSQL)."""
        from bot.inbox import STALE

        async with app.sessionmaker.begin() as session:
            if released := await inbox.release_working(session, STALE):
                log.warning("inbox: %d updates left by a stopped process are taken again", released)

    if app.dispatcher["inbox"].shared:
        scheduler.add_job(release_stale, "interval", minutes=5, id="release_stale", coalesce=True, max_instances=1)
    return scheduler
