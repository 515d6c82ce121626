"""The update inbox: updates are stored in one short transaction and acknowledged; workers take them
one at a time per person, in order, in parallel across people. No aiogram here.

Statuses: pending (waiting, maybe until not_before after a failure) -> working (a worker has it) ->
done (its changes committed, in the same transaction as the update's own changes) | dead (failed
for good; operators see it with /deadletters). A row left `working` by a stopped process goes back
to pending at start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import InboxUpdate, utcnow

MAX_ATTEMPTS = 5
ACTIVE = ("pending", "working")


def chat_key(update: dict[str, Any]) -> int:
    """Whose updates must run one at a time and in order: the person who sent it (or the chat)."""
    for name, body in update.items():
        if name == "update_id" or not isinstance(body, dict):
            continue
        for holder in ("from", "user", "voter_chat", "chat", "message"):
            value = body.get(holder)
            if isinstance(value, dict):
                if isinstance(value.get("id"), int):
                    return value["id"]
                if isinstance(value.get("chat"), dict) and isinstance(value["chat"].get("id"), int):
                    return value["chat"]["id"]
    return 0


async def receive(session: AsyncSession, updates: list[dict[str, Any]]) -> int:
    """Store updates (a second copy of one is ignored). Returns how many rows were new."""
    if not updates:
        return 0
    now = utcnow()
    rows = [{"update_id": u["update_id"], "chat_key": chat_key(u), "payload": json.dumps(u, ensure_ascii=False),
             "status": "pending", "attempts": 0, "not_before": now, "received_at": now} for u in updates]
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    result = await session.execute(insert(InboxUpdate).values(rows).on_conflict_do_nothing(
        index_elements=["update_id"]))
    return result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(rows)


@dataclass(frozen=True)
class Claimed:
    update_id: int
    chat_key: int
    payload: dict[str, Any]
    attempts: int  # including this one


async def claim(session: AsyncSession, now: datetime, busy: set[int] | frozenset[int] = frozenset()) -> Claimed | None:
    """Take the oldest update whose person has nothing earlier waiting or running (`busy`: chats this
    process is handling). On PostgreSQL several processes share the inbox: SKIP LOCKED."""
    earlier = aliased(InboxUpdate)
    query = (select(InboxUpdate.update_id)
             .where(InboxUpdate.status == "pending", InboxUpdate.not_before <= now,
                    ~exists().where(and_(earlier.chat_key == InboxUpdate.chat_key,
                                         earlier.update_id < InboxUpdate.update_id,
                                         earlier.status.in_(ACTIVE))))
             .order_by(InboxUpdate.update_id).limit(1))
    if busy:
        query = query.where(InboxUpdate.chat_key.not_in(busy))
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    update_id = (await session.execute(query)).scalar()
    if update_id is None:
        return None
    taken = await session.execute(update(InboxUpdate)
                                  .where(InboxUpdate.update_id == update_id, InboxUpdate.status == "pending")
                                  .values(status="working", started_at=now, attempts=InboxUpdate.attempts + 1)
                                  .returning(InboxUpdate.chat_key, InboxUpdate.payload, InboxUpdate.attempts))
    row = taken.first()
    if row is None:
        return None
    return Claimed(update_id, row.chat_key, json.loads(row.payload), row.attempts)


async def done(session: AsyncSession, update_id: int) -> None:
    """Handled: written in the update's own transaction, so its changes and this commit together."""
    await session.execute(update(InboxUpdate).where(InboxUpdate.update_id == update_id)
                          .values(status="done", finished_at=utcnow(), last_error=None))


async def retry_or_park(session: AsyncSession, update_id: int, error: str, *, transient: bool) -> str:
    """A failed attempt: a transient failure goes back to pending with back-off (2, 4, 8 … s) until
    MAX_ATTEMPTS; any other is parked as dead at once. Returns the new status."""
    row = await session.get(InboxUpdate, update_id)
    if row is None:
        return "missing"
    if transient and row.attempts < MAX_ATTEMPTS:
        row.status, row.not_before = "pending", utcnow() + timedelta(seconds=2 ** row.attempts)
    else:
        row.status, row.finished_at = "dead", utcnow()
    row.last_error = error[:2000]
    return row.status


async def release_working(session: AsyncSession, older_than: timedelta | None = None) -> int:
    """At start (or for a process that died): rows left `working` are taken again."""
    query = update(InboxUpdate).where(InboxUpdate.status == "working")
    if older_than is not None:
        query = query.where(InboxUpdate.started_at < utcnow() - older_than)
    result = await session.execute(query.values(status="pending", not_before=utcnow()))
    return result.rowcount or 0


async def backlog(session: AsyncSession) -> int:
    return (await session.execute(select(func.count()).select_from(InboxUpdate)
                                  .where(InboxUpdate.status.in_(ACTIVE)))).scalar_one()


async def unfinished(session: AsyncSession) -> int:
    return await backlog(session)


async def dead_letters(session: AsyncSession, limit: int = 10) -> tuple[list[InboxUpdate], int]:
    where = InboxUpdate.status == "dead"
    total = (await session.execute(select(func.count()).select_from(InboxUpdate).where(where))).scalar_one()
    rows = (await session.execute(select(InboxUpdate).where(where).order_by(InboxUpdate.update_id.desc())
                                  .limit(limit))).scalars().all()
    return list(rows), total


def kind_of(payload: str) -> str:
    """What an update was (message, callback_query …), from its stored JSON."""
    update = json.loads(payload)
    return next((k for k in update if k != "update_id"), "?")


async def prune(session: AsyncSession, older_than: timedelta = timedelta(days=2)) -> int:
    """Handled updates older than Telegram's redelivery window are not needed any more."""
    result = await session.execute(delete(InboxUpdate).where(InboxUpdate.status == "done",
                                                             InboxUpdate.received_at < utcnow() - older_than))
    return result.rowcount or 0
