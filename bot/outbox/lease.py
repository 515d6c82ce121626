"""Leases: work only one process may do at a time, whatever the number of bot processes on one
database. The outbox sender holds the lease "outbox": Telegram's limits (about 30 messages a second,
one a second per chat) are the bot's, not a process's, so one sender paces them all.

A lease is a row (name, holder, expires_at). Its holder renews it while it works; another process
takes it only once it has expired (its holder died or hung), so the longest gap after a crash is the
lease's length. Taking and renewing are each one conditional UPDATE (or the first INSERT), which both
SQLite and PostgreSQL run atomically: of two processes that try at once, one wins. No aiogram here."""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Lease

TTL = timedelta(seconds=15)


def new_holder() -> str:
    """This process's name as a holder: host, pid and a random part (a restarted process with the
    same pid is someone else)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(4)}"


async def take(session: AsyncSession, name: str, holder: str, now: datetime, *, ttl: timedelta = TTL,
               force: bool = False) -> bool:
    """Take or renew lease `name` until now + ttl: True when `holder` has it now (it was free,
    expired or already theirs; `force`: whoever held it). Commit at once: the row is the lock."""
    expires = now + ttl
    query = update(Lease).where(Lease.name == name).values(holder=holder, expires_at=expires)
    if not force:
        query = query.where(or_(Lease.holder == holder, Lease.expires_at <= now))
    if (await session.execute(query)).rowcount == 1:
        return True
    if await session.get(Lease, name) is not None:
        return False
    try:
        async with session.begin_nested():
            session.add(Lease(name=name, holder=holder, expires_at=expires))
    except IntegrityError:  # another process made it first: theirs
        return False
    return True


async def give_up(session: AsyncSession, name: str, holder: str) -> None:
    """A clean stop: the lease is free at once (the next process need not wait for it to expire)."""
    await session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


async def holder_of(session: AsyncSession, name: str, now: datetime) -> str | None:
    """Who holds lease `name` now (None: nobody, or it expired)."""
    lease = await session.get(Lease, name)
    return lease.holder if lease is not None and lease.expires_at > now else None
