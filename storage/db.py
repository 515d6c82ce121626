"""Engine, session factory and the session of the update being handled.

One AsyncSession per update, opened by the middleware and committed at its end; services never
commit on their own. `current_session` lets the SQL FSM storage write in that same transaction
(on SQLite a second connection would wait on the first one's write lock).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from contextvars import ContextVar
from pathlib import Path
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

current_session: ContextVar[AsyncSession | None] = ContextVar("current_session", default=None)


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            # WAL: readers never wait for the writer
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _ensure_sqlite_dir(url: str) -> None:
    _, _, path = url.partition(":///")
    if path and path != ":memory:":
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)


_write_locks: WeakKeyDictionary[object, asyncio.Lock] = WeakKeyDictionary()


def commit_lock(sessionmaker: async_sessionmaker[AsyncSession]) -> AbstractAsyncContextManager:
    """SQLite has one writer: this process's commits queue on one asyncio lock per database instead
    of in SQLite's busy loop, which sleeps in growing steps. Other databases need none."""
    engine = sessionmaker.kw["bind"]
    if engine.dialect.name != "sqlite":
        return nullcontext()
    lock = _write_locks.get(engine.sync_engine)
    if lock is None:
        lock = _write_locks[engine.sync_engine] = asyncio.Lock()
    return lock


def after_commit(session: AsyncSession, then: Callable[[], None]) -> None:
    """Run `then` once the update's unit of work has committed (not at all when it rolls back)."""
    session.info.setdefault("after_commit", []).append(then)
