"""Broadcasts' clock: every few seconds each broadcast being sent gets its next batch of copies in
the outbox when few of its copies still wait (so the sender always has work and the outbox never
holds a whole broadcast), and a broadcast whose copies are all delivered or given up is done: its
author gets the delivery report. Each broadcast in its own transaction."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.flows.broadcast import report_markup
from bot.outbox import notify
from bot.render import Texts
from bot.services import broadcasts
from storage.models import Broadcast

log = logging.getLogger(__name__)


async def fan_out(sessionmaker: async_sessionmaker[AsyncSession], now: datetime, *, texts: Texts,
                  admin_ids: tuple[int, ...] = ()) -> int:
    """Queue the next batches and finish what is over; returns how many copies were queued."""
    async with sessionmaker() as session:
        ids = [row.id for row in await broadcasts.sending(session)]
    queued = 0
    for broadcast_id in ids:
        try:  # one broadcast that fails does not hold up the others
            queued += await _advance(sessionmaker, broadcast_id, now, texts, admin_ids)
        except Exception:
            log.exception("broadcast %s: could not queue its next batch or finish it; trying again", broadcast_id)
    return queued


async def _advance(sessionmaker: async_sessionmaker[AsyncSession], broadcast_id: int, now: datetime, texts: Texts,
                   admin_ids: tuple[int, ...]) -> int:
    """One broadcast's step, in its own transaction: its next batch, or its end and report."""
    async with sessionmaker.begin() as session:
        row = await session.get(Broadcast, broadcast_id)
        if row is None or row.status != broadcasts.Status.sending:
            return 0
        if not row.fanned_out and await broadcasts.waiting(session, row.id) < broadcasts.LOW_WATER:
            return await broadcasts.queue_next(session, row, admin_ids, now)
        if await broadcasts.finish(session, row, now):
            report = await broadcasts.report(session, row)
            await notify(session, [row.author_id], texts.render("broadcasts/report", r=report, final=True),
                         report_markup(texts, row.id, final=True))
            log.info("broadcast %s done: %d sent, %d blocked, %d failed", row.id, report.sent, report.blocked,
                     report.failed)
    return 0
