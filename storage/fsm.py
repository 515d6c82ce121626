"""aiogram FSM storage in the SQL database (aiogram ships none): drafts survive a restart."""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import current_session
from storage.models import FsmRecord, utcnow


def key_string(key: StorageKey) -> str:
    parts = [str(key.bot_id), str(key.chat_id), str(key.user_id)]
    if key.thread_id:
        parts.append(f"t{key.thread_id}")
    if key.business_connection_id:
        parts.append(f"b{key.business_connection_id}")
    parts.append(key.destiny)
    return ":".join(parts)


_FSM = FsmRecord.__table__
# built once, Core statements: the state is read on every update
_READ = {name: select(_FSM.c[name]).where(_FSM.c.key == bindparam("key")) for name in ("state", "data")}


class SQLStorage(BaseStorage):
    """One row per conversation key, written in the update's transaction (or a short one of its own)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def _save(self, key: StorageKey, *, state: Any = ..., data: Any = ...) -> None:
        session = current_session.get()
        if session is not None:
            # inside an update: part of its transaction, committed or rolled back with it
            await self._write(session, key, state, data)
            return
        async with self.sessionmaker.begin() as own:
            await self._write(own, key, state, data)

    @staticmethod
    async def _write(session: AsyncSession, key: StorageKey, state: Any, data: Any) -> None:
        row = await session.get(FsmRecord, key_string(key))
        if row is None:
            row = FsmRecord(key=key_string(key), state=None, data="{}")
            session.add(row)
        if state is not ...:
            row.state = state
        if data is not ...:
            row.data = json.dumps(data, ensure_ascii=False)
        row.updated_at = utcnow()

    async def _read(self, name: str, key: StorageKey) -> Any:
        k = key_string(key)
        session = current_session.get()
        if session is not None:
            # written earlier in this update: the row in the session has it (a Core read does not
            # flush first, so it would not)
            row = session.sync_session.identity_map.get(session.sync_session.identity_key(FsmRecord, k))
            if row is not None:
                return getattr(row, name)
            return (await session.execute(_READ[name], {"key": k})).scalar()
        async with self.sessionmaker.kw["bind"].connect() as conn:  # outside an update
            return (await conn.execute(_READ[name], {"key": k})).scalar()

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._save(key, state=state.state if isinstance(state, State) else state)

    async def get_state(self, key: StorageKey) -> str | None:
        return await self._read("state", key)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, Mapping):
            raise TypeError(f"FSM data must be a mapping, got {type(data).__name__}")
        await self._save(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        raw = await self._read("data", key)
        return json.loads(raw) if raw else {}

    async def close(self) -> None:
        pass


# FSM changes of the update being handled, for storages outside the database (Redis)
pending_fsm: ContextVar[dict[StorageKey, dict[str, Any]] | None] = ContextVar("pending_fsm", default=None)


class AfterCommitStorage(BaseStorage):
    """A storage outside the database (Redis) made to succeed or fail with the update's transaction:
    while an update is handled, its state and data changes are kept aside (and read back from there)
    and written by `flush_fsm` after the commit; a rolled-back update leaves the conversation as it
    was, so a form whose submission failed is still there to submit again."""

    def __init__(self, inner: BaseStorage) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:  # e.g. RedisStorage.redis for the event isolation
        return getattr(self.inner, name)

    def _pending(self, key: StorageKey) -> dict[str, Any] | None:
        buffer = pending_fsm.get()
        if buffer is None:
            return None
        return buffer.setdefault(key, {"storage": self.inner})

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        changes = self._pending(key)
        if changes is None:
            await self.inner.set_state(key, value)
        else:
            changes["state"] = value

    async def get_state(self, key: StorageKey) -> str | None:
        buffer = pending_fsm.get()
        if buffer is not None and "state" in buffer.get(key, {}):
            return buffer[key]["state"]
        return await self.inner.get_state(key)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, Mapping):
            raise TypeError(f"FSM data must be a mapping, got {type(data).__name__}")
        changes = self._pending(key)
        if changes is None:
            await self.inner.set_data(key, data)
        else:
            changes["data"] = json.loads(json.dumps(dict(data)))  # a snapshot, as a real write would be

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        buffer = pending_fsm.get()
        if buffer is not None and "data" in buffer.get(key, {}):
            return json.loads(json.dumps(buffer[key]["data"]))
        return await self.inner.get_data(key)

    async def close(self) -> None:
        await self.inner.close()


async def flush_fsm(buffer: dict[StorageKey, dict[str, Any]]) -> None:
    """After the update's commit: write what AfterCommitStorage kept aside."""
    for key, changes in buffer.items():
        storage: BaseStorage = changes["storage"]
        if "state" in changes:
            await storage.set_state(key, changes["state"])
        if "data" in changes:
            await storage.set_data(key, changes["data"])
