"""The update inbox: updates are stored in one short transaction and acknowledged; workers take them
one at a time per person, in order, in parallel across people. No aiogram here.

Statuses: pending (waiting, maybe until not_before after a failure) -> working (a worker has it) ->
done (its changes committed, in the same transaction as the update's own changes) | dead (failed
for good; operators see it with /deadletters). A row left `working` by a stopped process goes back
to pending at start.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import InboxUpdate, utcnow
from storage.statuses import InboxStatus

MAX_ATTEMPTS = 5
ACTIVE = (InboxStatus.pending, InboxStatus.working)


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


async def receive(session: AsyncSession, updates: list[dict[str, Any]]) -> list[int]:
    """Store updates (a second copy of one is ignored). Returns the ids of the new rows."""
    if not updates:
        return []
    now = utcnow()
    rows = [{"update_id": u["update_id"], "chat_key": chat_key(u), "payload": json.dumps(u, ensure_ascii=False),
             "status": InboxStatus.pending, "attempts": 0, "not_before": now, "received_at": now} for u in updates]
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    # on the table, not the mapped class: a Core statement skips the ORM's bulk-insert machinery
    result = await session.execute(insert(_INBOX).values(rows).on_conflict_do_nothing(index_elements=["update_id"])
                                   .returning(_INBOX.c.update_id))
    return list(result.scalars())


@dataclass(frozen=True)
class Claimed:
    update_id: int
    chat_key: int
    payload: dict[str, Any]
    attempts: int  # including this one
    parsed: Any = field(default=None, compare=False, repr=False)  # the update as polling read it, if at hand
    not_before: datetime | None = field(default=None, compare=False)  # held until then (a retry's back-off)


# The hot path's statements are Core statements on the table, built once with bind parameters: an
# alias or an ORM statement built per call cost a fifth of the bot's time under load (py-spy in
# bench/bench_updates.py); these are compiled once and served from SQLAlchemy's cache after.
_INBOX = InboxUpdate.__table__
_EARLIER = _INBOX.alias("earlier")
_DUE_COLUMNS = (_INBOX.c.update_id, _INBOX.c.chat_key, _INBOX.c.payload, _INBOX.c.attempts)


def _due_query(busy: bool, *columns):
    """Due rows (parameters: now, limit, and busy when `busy`): the oldest of each person who has
    nothing earlier waiting or running, oldest first."""
    t, earlier = _INBOX, _EARLIER
    query = (select(*columns)
             .where(t.c.status == InboxStatus.pending, t.c.not_before <= bindparam("now"),
                    ~exists().where(and_(earlier.c.chat_key == t.c.chat_key,
                                         earlier.c.update_id < t.c.update_id,
                                         earlier.c.status.in_(ACTIVE))))
             .order_by(t.c.update_id).limit(bindparam("limit")))
    return query.where(t.c.chat_key.not_in(bindparam("busy", expanding=True))) if busy else query


_PEEK = {busy: _due_query(busy, *_DUE_COLUMNS) for busy in (False, True)}
_DUE_IDS = {busy: _due_query(busy, _INBOX.c.update_id) for busy in (False, True)}
_DUE_IDS_LOCKED = {busy: query.with_for_update(skip_locked=True) for busy, query in _DUE_IDS.items()}
_DONE = (update(_INBOX).where(_INBOX.c.update_id == bindparam("id"))
         .values(status=InboxStatus.done, finished_at=bindparam("at"), last_error=None))


def _due_params(now: datetime, busy: set[int] | frozenset[int], limit: int) -> dict[str, Any]:
    params: dict[str, Any] = {"now": now, "limit": limit}
    if busy:
        params["busy"] = list(busy)
    return params


async def peek(session: AsyncSession, now: datetime, busy: set[int] | frozenset[int] = frozenset(),
               limit: int = 1) -> list[Claimed]:
    """What is due, without taking it: for a process that is alone on its inbox (SQLite), where the
    process's own set of busy chats is the only claim needed and a stop leaves the rows pending."""
    rows = (await session.execute(_PEEK[bool(busy)], _due_params(now, busy, limit))).all()
    return [Claimed(r.update_id, r.chat_key, json.loads(r.payload), r.attempts + 1) for r in rows]


async def waiting(session: AsyncSession) -> list[Claimed]:
    """Everything pending, oldest first, for a process alone on its inbox to hold in memory at start."""
    t = _INBOX
    rows = (await session.execute(select(*_DUE_COLUMNS, t.c.not_before).where(t.c.status == InboxStatus.pending)
                                  .order_by(t.c.update_id))).all()
    return [Claimed(r.update_id, r.chat_key, json.loads(r.payload), r.attempts + 1, not_before=r.not_before)
            for r in rows]


async def due(session: AsyncSession, now: datetime, busy: set[int] | frozenset[int] = frozenset(),
              limit: int = 1) -> list[int]:
    """Up to `limit` update ids, each the oldest of a person who has nothing earlier waiting or
    running (so at most one per person), oldest first; `busy`: chats this process is handling. On
    PostgreSQL the rows are locked (SKIP LOCKED: several processes share the inbox) until `take`."""
    query = (_DUE_IDS_LOCKED if session.bind.dialect.name == "postgresql" else _DUE_IDS)[bool(busy)]
    return list((await session.execute(query, _due_params(now, busy, limit))).scalars())


async def take(session: AsyncSession, ids: list[int], now: datetime) -> list[Claimed]:
    """Mark the updates `due` found as working (one of them taken meanwhile is left out)."""
    taken = await session.execute(update(InboxUpdate)
                                  .where(InboxUpdate.update_id.in_(ids), InboxUpdate.status == InboxStatus.pending)
                                  .values(status=InboxStatus.working, started_at=now, attempts=InboxUpdate.attempts + 1)
                                  .returning(InboxUpdate.update_id, InboxUpdate.chat_key, InboxUpdate.payload,
                                             InboxUpdate.attempts)
                                  .execution_options(synchronize_session=False))
    rows = sorted(taken.all(), key=lambda r: r.update_id)
    return [Claimed(r.update_id, r.chat_key, json.loads(r.payload), r.attempts) for r in rows]


async def claim(session: AsyncSession, now: datetime, busy: set[int] | frozenset[int] = frozenset(),
                limit: int = 1) -> list[Claimed]:
    """`due` and `take` in one go."""
    ids = await due(session, now, busy, limit)
    return await take(session, ids, now) if ids else []


async def done(session: AsyncSession, update_id: int) -> None:
    """Handled: written in the update's own transaction, so its changes and this commit together."""
    await session.execute(_DONE, {"id": update_id, "at": utcnow()})


async def retry_or_park(session: AsyncSession, update_id: int, error: str, *, transient: bool,
                        attempt: int) -> InboxStatus | None:
    """A failed attempt: a transient failure goes back to pending with back-off (2, 4, 8 … s) until
    MAX_ATTEMPTS; any other is parked as dead at once. Returns the new status (None: the row is gone)."""
    row = await session.get(InboxUpdate, update_id)
    if row is None:
        return None
    row.attempts = max(row.attempts, attempt)
    if transient and row.attempts < MAX_ATTEMPTS:
        row.status, row.not_before = InboxStatus.pending, utcnow() + timedelta(seconds=2 ** row.attempts)
    else:
        row.status, row.finished_at = InboxStatus.dead, utcnow()
    row.last_error = error[:2000]
    return row.status


async def release_working(session: AsyncSession, older_than: timedelta | None = None, *,
                          now: datetime | None = None) -> int:
    """At start (or for a process that died): rows left `working` are taken again."""
    now = now or utcnow()
    query = update(InboxUpdate).where(InboxUpdate.status == InboxStatus.working)
    if older_than is not None:
        query = query.where(InboxUpdate.started_at < now - older_than)
    result = await session.execute(query.values(status=InboxStatus.pending, not_before=now))
    return result.rowcount or 0


async def backlog(session: AsyncSession) -> int:
    return (await session.execute(select(func.count()).select_from(InboxUpdate)
                                  .where(InboxUpdate.status.in_(ACTIVE)))).scalar_one()


async def dead_letters(session: AsyncSession, limit: int = 10) -> tuple[list[InboxUpdate], int]:
    where = InboxUpdate.status == InboxStatus.dead
    total = (await session.execute(select(func.count()).select_from(InboxUpdate).where(where))).scalar_one()
    rows = (await session.execute(select(InboxUpdate).where(where).order_by(InboxUpdate.update_id.desc())
                                  .limit(limit))).scalars().all()
    return list(rows), total


def kind_of(payload: str) -> str:
    """What an update was (message, callback_query …), from its stored JSON."""
    update = json.loads(payload)
    return next((k for k in update if k != "update_id"), "?")


async def prune(session: AsyncSession, older_than: timedelta = timedelta(days=2), *,
                now: datetime | None = None) -> int:
    """Handled updates older than Telegram's redelivery window are not needed any more."""
    result = await session.execute(delete(InboxUpdate).where(InboxUpdate.status == InboxStatus.done,
                                                             InboxUpdate.received_at < (now or utcnow()) - older_than))
    return result.rowcount or 0
