"""Engine, session factory and the session of the update being handled.

One AsyncSession per update, opened by the middleware and committed at its end; services never
commit on their own. `current_session` lets the SQL FSM storage write in that same transaction
(on SQLite a second connection would wait on the first one's write lock).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from contextvars import ContextVar
from pathlib import Path
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

current_session: ContextVar[AsyncSession | None] = ContextVar("current_session", default=None)


def make_engine(url: str, *, echo: bool = False, busy_seconds: float = 10, pool_size: int = 16,
                pool_timeout: float = 10) -> AsyncEngine:
    """busy_seconds: how long an SQLite write waits for another process's write lock before it
    fails (fail fast: the person is told to try again instead of waiting half a minute). The pool
    holds `pool_size` connections (no overflow: a burst waits `pool_timeout` for one, then the
    update is retried by the inbox)."""
    pool = {"pool_size": pool_size, "max_overflow": 0, "pool_timeout": pool_timeout}
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": busy_seconds}, **pool)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            # WAL: readers never wait for the writer
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True, **pool)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _ensure_sqlite_dir(url: str) -> None:
    _, _, path = url.partition(":///")
    if path and path != ":memory:":
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)


_write_locks: WeakKeyDictionary[object, asyncio.Lock] = WeakKeyDictionary()


def _write_lock(engine: AsyncEngine) -> AbstractAsyncContextManager:
    """SQLite has one writer: this process's first write of a transaction queues on one asyncio lock
    per database instead of in SQLite's busy loop, which sleeps in growing steps. Other databases
    need none. A transaction that already wrote holds SQLite's lock and must not wait for this one
    (this lock's holder may be waiting for that transaction to commit): see `write`."""
    if engine.dialect.name != "sqlite":
        return nullcontext()
    lock = _write_locks.get(engine.sync_engine)
    if lock is None:
        lock = _write_locks[engine.sync_engine] = asyncio.Lock()
    return lock


@event.listens_for(Session, "after_flush")
def _wrote_by_flush(session: Session, _context) -> None:
    session.info["wrote"] = True


@event.listens_for(Session, "do_orm_execute")
def _wrote_by_statement(state) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        state.session.info["wrote"] = True


async def write(session: AsyncSession, action: Callable[[], Awaitable[None]]) -> None:
    """Flush or commit: the first write of a transaction queues on the write lock; later ones hold
    SQLite's lock already and go straight on."""
    if session.sync_session.info.get("wrote"):
        await action()
        return
    async with _write_lock(session.bind):
        await action()


async def save_before_saying(session: AsyncSession) -> None:
    """Before a reply goes out: write what the update changed, so a database that cannot take the
    write (another process holds SQLite's lock) fails the update before the person is told anything
    it did; the reply never claims what was not saved. The commit that follows cannot fail on a lock."""
    if session.new or session.dirty or session.deleted:
        await write(session, session.flush)


def after_commit(session: AsyncSession, then: Callable[[], None]) -> None:
    """Run `then` once the update's unit of work has committed (not at all when it rolls back)."""
    session.info.setdefault("after_commit", []).append(then)
