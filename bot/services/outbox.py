"""The outbox: notifications are rows written in the update's transaction, so they exist only if
the update's changes were committed; the sender (bot/outbox.py) delivers them. No aiogram here.

Statuses: pending -> sending -> sent; failed (given up: blocked, bad message, too many tries);
held (the person has no chat with the bot yet: waits, unchanged, until they open it)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxMessage, utcnow

MAX_ATTEMPTS = 5


def enqueue(session: AsyncSession, chat_id: int, payload: dict[str, Any], *, about: int | None = None) -> None:
    """`about`: the person the message is about (their data goes with it when they erase it)."""
    session.add(OutboxMessage(chat_id=chat_id, payload=json.dumps(payload, ensure_ascii=False), status="pending",
                              about_user_id=about, parts_sent=0, attempts=0, not_before=utcnow(),
                              created_at=utcnow()))
    session.info["outbox"] = True  # the unit of work wakes the sender after commit


async def due(session: AsyncSession, now: datetime, limit: int = 50) -> list[OutboxMessage]:
    query = (select(OutboxMessage).where(OutboxMessage.status == "pending", OutboxMessage.not_before <= now)
             .order_by(OutboxMessage.id).limit(limit))
    return list((await session.execute(query)).scalars())


async def claim(session: AsyncSession, message_id: int) -> bool:
    """Take a row for sending; False when another sender took it first."""
    result = await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id,
                                                               OutboxMessage.status == "pending")
                                   .values(status="sending"))
    return result.rowcount == 1


async def progress(session: AsyncSession, message_id: int, parts_sent: int) -> None:
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(parts_sent=parts_sent))


async def sent(session: AsyncSession, message_id: int) -> None:
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                          .values(status="sent", sent_at=utcnow()))


async def retry(session: AsyncSession, row: OutboxMessage, error: str, after: timedelta | None = None) -> str:
    """Back to pending for a later try (rate limit: `after` as Telegram said; otherwise growing
    back-off), or failed after MAX_ATTEMPTS. Returns the new status."""
    attempts = row.attempts + (0 if after is not None else 1)
    status = "failed" if attempts >= MAX_ATTEMPTS else "pending"
    wait = after if after is not None else timedelta(seconds=2 ** attempts)
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id)
                          .values(status=status, attempts=attempts, not_before=utcnow() + wait, last_error=error[:500]))
    return status


async def failed(session: AsyncSession, message_id: int, error: str) -> None:
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                          .values(status="failed", last_error=error[:500]))


async def release_stuck(session: AsyncSession) -> int:
    """At start: rows a crashed sender left in 'sending' go out again (at least once)."""
    result = await session.execute(update(OutboxMessage).where(OutboxMessage.status == "sending")
                                   .values(status="pending"))
    return result.rowcount or 0


async def hold(session: AsyncSession, message_id: int, error: str) -> None:
    """The chat does not exist for the bot yet (the person never opened it): keep the notification
    until they do, without using up its tries."""
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                          .values(status="held", last_error=error[:500]))


async def release_held(session: AsyncSession, chat_ids: Iterable[int]) -> int:
    """The person opened the bot: their held notifications go out (the unit of work wakes the
    sender after commit). Returns how many."""
    chat_ids = list(chat_ids)
    if not chat_ids:
        return 0
    result = await session.execute(update(OutboxMessage)
                                   .where(OutboxMessage.chat_id.in_(chat_ids), OutboxMessage.status == "held")
                                   .values(status="pending", not_before=utcnow()))
    released = result.rowcount or 0
    if released:
        session.info["outbox"] = True
    return released
