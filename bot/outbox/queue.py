"""The outbox queue: notifications are rows written in the update's transaction, so they exist only if
the update's changes were committed; the sender (bot/outbox/sender.py) delivers them. No aiogram here.

Statuses (OutboxStatus): pending -> sending -> sent; failed (given up: blocked, bad message, too many
tries); held, which waits for one of two things:
- a person: Telegram said the chat does not exist (they never opened the bot); `last_error` says so.
  Released when they open it (`release_held`);
- a time: queued with `hold_until` (quiet hours); `last_error` empty, `not_before` the time.
  Released by the job `bot.jobs.outbox.release_due` (`release_due_holds`)."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Lease, OutboxMessage, User, utcnow
from storage.statuses import OutboxStatus

MAX_ATTEMPTS = 5
BLOCKED = "blocked: "  # how last_error begins when the person blocked the bot (a report counts them)

# held rows that wait for a time, not for a person (see the module's docstring)
_WAITS_FOR_TIME = (OutboxMessage.status == OutboxStatus.held, OutboxMessage.last_error.is_(None))


async def enqueue_many(session: AsyncSession, messages: Iterable[tuple[int, dict[str, Any]]], *,
                       about: int | None = None, hold_until: datetime | None = None,
                       now: datetime | None = None, broadcast: int | None = None, bulk: bool = False) -> int:
    """Queue (chat_id, payload) pairs in one INSERT (fan-out jobs queue thousands). `about`: the person
    the messages are about (their data goes with them when they erase it). `hold_until`: held until
    then (quiet hours) when it is later than `now`. `broadcast`: the broadcast they are copies of
    (sent after notifications). `bulk`: queued by a scan for many people (reminders): sent after the
    notifications of people's own actions, before broadcasts. Returns how many rows were queued."""
    now = now or utcnow()
    held = hold_until is not None and hold_until > now
    status, not_before = (OutboxStatus.held, hold_until) if held else (OutboxStatus.pending, now)
    rows = [{"chat_id": chat_id, "payload": json.dumps(payload, ensure_ascii=False), "status": status,
             "about_user_id": about, "parts_sent": 0, "attempts": 0, "not_before": not_before, "created_at": now,
             "broadcast_id": broadcast, "bulk": bulk}
            for chat_id, payload in messages]
    if not rows:
        return 0
    await session.execute(insert(OutboxMessage), rows)
    if not held:
        session.info["outbox"] = True  # the unit of work wakes the sender after commit
    return len(rows)


async def enqueue(session: AsyncSession, chat_id: int, payload: dict[str, Any], *, about: int | None = None,
                  hold_until: datetime | None = None, now: datetime | None = None) -> int:
    """Queue one row; returns its id (a relay's history points at it)."""
    now = now or utcnow()
    held = hold_until is not None and hold_until > now
    status, not_before = (OutboxStatus.held, hold_until) if held else (OutboxStatus.pending, now)
    row = OutboxMessage(chat_id=chat_id, payload=json.dumps(payload, ensure_ascii=False), status=status,
                        about_user_id=about, parts_sent=0, attempts=0, not_before=not_before, created_at=now)
    session.add(row)
    await session.flush()
    if not held:
        session.info["outbox"] = True
    return row.id


ORDER = (OutboxMessage.broadcast_id.is_not(None), OutboxMessage.bulk, OutboxMessage.id)  # see `due`, `lane`


def lane(row: OutboxMessage) -> tuple[bool, bool, int]:
    """A row's place in `ORDER`, for rows at hand."""
    return row.broadcast_id is not None, row.bulk, row.id


async def due(session: AsyncSession, now: datetime, limit: int = 50,
              skip_chats: Collection[int] = ()) -> list[OutboxMessage]:
    """The next rows to send: notifications first (a decision is not queued behind a broadcast, nor
    behind a scan's reminders to everyone), then reminders, then broadcasts' copies, each in the
    order they were queued (`ORDER`). `skip_chats`: not these chats' (the sender has rows of theirs
    at hand already). Nor a chat one of whose rows waits to be tried again: each chat's rows go in
    order."""
    # a chat whose message waits for a later try (a server error, a 429) gets nothing else meanwhile:
    # its messages arrive in order (an approval must not come before the request for a correction)
    retrying = select(OutboxMessage.chat_id).where(OutboxMessage.status == OutboxStatus.pending,
                                                   OutboxMessage.not_before > now)
    query = select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.pending, OutboxMessage.not_before <= now,
                                        OutboxMessage.chat_id.not_in(retrying))
    if skip_chats:
        query = query.where(OutboxMessage.chat_id.not_in(list(skip_chats)))
    query = query.order_by(*ORDER).limit(limit)
    return list((await session.execute(query)).scalars())


async def claim(session: AsyncSession, message_id: int, *,
                lease: tuple[str, str, datetime] | None = None) -> bool:
    """Take a row for sending; False when another sender took it first, or (`lease`: its name,
    holder and now) when the lease is no longer that holder's (it hung and another took over)."""
    query = update(OutboxMessage).where(OutboxMessage.id == message_id, OutboxMessage.status == OutboxStatus.pending)
    if lease is not None:
        name, holder, now = lease
        query = query.where(exists().where(Lease.name == name, Lease.holder == holder, Lease.expires_at > now))
    result = await session.execute(query.values(status=OutboxStatus.sending))
    return result.rowcount == 1


async def progress(session: AsyncSession, message_id: int, parts_sent: int) -> None:
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id).values(parts_sent=parts_sent))


async def put_back(session: AsyncSession, message_id: int, parts_sent: int) -> None:
    """A row the sender stopped in the middle of (it claimed it and sent `parts_sent` of its parts)
    goes back to pending: the next try sends only the rest."""
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id,
                                                      OutboxMessage.status == OutboxStatus.sending)
                          .values(status=OutboxStatus.pending, parts_sent=parts_sent))


async def sent(session: AsyncSession, message_id: int, result_message_id: int | None = None) -> None:
    """Delivered; `result_message_id`: the message Telegram made of the row's last part."""
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                          .values(status=OutboxStatus.sent, sent_at=utcnow(), result_message_id=result_message_id,
                                  last_error=None))


async def by_result(session: AsyncSession, chat_id: int, result_message_id: int) -> OutboxMessage | None:
    """The row delivered to `chat_id` as message `result_message_id` (a reply points at it), if any."""
    query = (select(OutboxMessage).where(OutboxMessage.chat_id == chat_id,
                                         OutboxMessage.result_message_id == result_message_id)
             .order_by(OutboxMessage.id.desc()).limit(1))
    return (await session.execute(query)).scalar()


def payload_of(row: OutboxMessage) -> dict[str, Any]:
    try:
        payload = json.loads(row.payload)
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


async def retry(session: AsyncSession, row: OutboxMessage, error: str, after: timedelta | None = None) -> OutboxStatus:
    """Back to pending for a later try (rate limit: `after` as Telegram said; otherwise growing
    back-off), or failed after MAX_ATTEMPTS. Returns the new status."""
    attempts = row.attempts + (0 if after is not None else 1)
    status = OutboxStatus.failed if attempts >= MAX_ATTEMPTS else OutboxStatus.pending
    wait = after if after is not None else timedelta(seconds=2 ** attempts)
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id)
                          .values(status=status, attempts=attempts, not_before=utcnow() + wait, last_error=error[:500]))
    return status


async def failed(session: AsyncSession, message_id: int, error: str) -> None:
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                          .values(status=OutboxStatus.failed, last_error=error[:500]))


async def mark_unreachable(session: AsyncSession, chat_id: int, now: datetime) -> None:
    """The person blocked the bot: broadcasts skip them until they write to it again."""
    await session.execute(update(User).where(User.id == chat_id, User.unreachable_at.is_(None))
                          .values(unreachable_at=now))


async def release_stuck(session: AsyncSession) -> int:
    """At start: rows a crashed sender left in 'sending' go out again (at least once)."""
    result = await session.execute(update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.sending)
                                   .values(status=OutboxStatus.pending))
    return result.rowcount or 0


async def hold(session: AsyncSession, message_id: int, error: str) -> None:
    """The chat does not exist for the bot yet (the person never opened it): keep the notification
    until they do, without using up its tries. `error` (never empty) marks it as waiting for a person."""
    await session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id)
                          .values(status=OutboxStatus.held, last_error=error[:500] or "held"))


async def release_held(session: AsyncSession, chat_ids: Iterable[int], now: datetime | None = None) -> int:
    """The person opened the bot: their held notifications go out (the unit of work wakes the
    sender after commit), except those held for quiet hours that are not over. Returns how many."""
    chat_ids = list(chat_ids)
    if not chat_ids:
        return 0
    now = now or utcnow()
    result = await session.execute(update(OutboxMessage)
                                   .where(OutboxMessage.chat_id.in_(chat_ids), OutboxMessage.status == OutboxStatus.held,
                                          OutboxMessage.not_before <= now)
                                   .values(status=OutboxStatus.pending, not_before=now))
    released = result.rowcount or 0
    if released:
        session.info["outbox"] = True
    return released


async def release_due_holds(session: AsyncSession, now: datetime) -> int:
    """Rows held until a time that has come go out (the sender finds them within a second)."""
    result = await session.execute(update(OutboxMessage).where(*_WAITS_FOR_TIME, OutboxMessage.not_before <= now)
                                   .values(status=OutboxStatus.pending))
    return result.rowcount or 0
