"""Updates go to the inbox first, then to workers.

Intake (polling or the webhook) only writes the updates into the `inbox` table in one short
transaction and acknowledges them (the next getUpdates offset, or the webhook's 200). Workers, a fixed
number of them (INBOX_WORKERS), take one update at a time: never two of one person at once or out of
order, people in parallel. The update's own unit of work marks it done in its transaction
(bot/middlewares.py), so its effects and "done" commit together: a crash anywhere leaves it pending
(or working, taken again at start) and the processed_updates check keeps a re-run from repeating what
committed. A transient failure (a database lock, a pool or network timeout) is retried with back-off
without troubling the person; any other failure was already apologised for by the error handler and
is parked as dead for operators (/deadletters).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections import deque
from dataclasses import replace
from datetime import timedelta
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import Update
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services import inbox
from bot.waiting import within
from storage.db import write
from storage.models import utcnow
from storage.statuses import InboxStatus

log = logging.getLogger(__name__)

MESSAGE_KINDS = ("message", "edited_message")
STALE = timedelta(minutes=10)  # an update `working` this long belongs to a process that died


def is_transient(exc: BaseException) -> bool:
    """A failure that a later try may not meet: the database busy, a pool or network timeout."""
    if isinstance(exc, OperationalError):
        text = str(exc).lower()
        return "locked" in text or "busy" in text or "could not connect" in text or "connection" in text
    return isinstance(exc, PoolTimeout | TelegramNetworkError | TelegramRetryAfter | TelegramServerError |
                      TimeoutError | ConnectionError)


class Inbox:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], dispatcher: Dispatcher, *,
                 workers: int = 4, pool_size: int | None = None, shared: bool = False) -> None:
        self.sessionmaker = sessionmaker
        self.dp = dispatcher
        self.workers = max(1, workers)
        self.pool_size = pool_size
        self.shared = shared  # other processes (kepubot worker) handle this inbox too
        self.wake = asyncio.Event()
        self.busy: set[int] = set()  # chats this process is handling now
        self.tasks: list[asyncio.Task] = []
        self.queue: asyncio.Queue[inbox.Claimed] = asyncio.Queue()  # taken by the feeder, for the workers
        self.bot: Bot | None = None
        self._pool_warned = False
        self._counted_at, self._waiting = 0.0, 0  # the backlog, counted now and then
        # A process alone on its inbox (not shared), once started, holds what waits in memory as well
        # as in the table: the workers take it from here without a query per update (two per update
        # before, a tenth of the bot's time under load), the table keeps it across a stop.
        self.held_here = False
        self._lines: dict[int, list[inbox.Claimed]] = {}  # per person, oldest first
        self._ready: deque[int] = deque()  # people with something waiting (stale entries are skipped)
        self._backing_off: set[int] = set()  # people whose first update waits for a retry's back-off
        self._known: set[int] = set()  # update ids held here, waiting or running

    # ---------------------------------------------------------------- intake

    async def receive(self, updates: list[dict[str, Any]], parsed: list[Update] | None = None) -> int:
        """Store updates and return; the workers are woken. Duplicates (a re-delivery) are ignored.
        `parsed`: the same updates as aiogram objects (polling has them), so they are not read twice."""
        if not updates:
            return 0
        async with self.sessionmaker() as session:
            async def store() -> None:
                nonlocal new
                new = await inbox.receive(session, updates)
                await session.commit()

            new: list[int] = []
            await write(session, store)
            if self.held_here:
                objects = dict(zip((u["update_id"] for u in updates), parsed or (), strict=False))
                payloads = {u["update_id"]: u for u in updates}
                for update_id in sorted(new):
                    payload = payloads[update_id]
                    self._hold(inbox.Claimed(update_id, inbox.chat_key(payload), payload, 1,
                                             parsed=objects.get(update_id)))
                waiting = len(self._known) - len(self.busy)
            else:
                waiting = await self._backlog(session)
        self.wake.set()
        if self.bot is not None and waiting > 2 * self.workers:
            # a long queue: show at once that the message arrived (the answer follows in turn)
            asyncio.create_task(self._acknowledge(self.bot, updates))
        return len(new)

    # ---------------------------------------------------------------- held in memory (alone)

    def _hold(self, claimed: inbox.Claimed) -> None:
        if claimed.update_id in self._known:
            return
        self._known.add(claimed.update_id)
        line = self._lines.setdefault(claimed.chat_key, [])
        bisect.insort(line, claimed, key=lambda c: c.update_id)
        if len(line) == 1 and claimed.chat_key not in self.busy and claimed.chat_key not in self._backing_off:
            self._ready.append(claimed.chat_key)

    def _take_here(self, limit: int) -> list[inbox.Claimed]:
        """Up to `limit` updates, the oldest of each person with nothing running, in arrival order."""
        taken: list[inbox.Claimed] = []
        while self._ready and len(taken) < limit:
            chat = self._ready.popleft()
            line = self._lines.get(chat)
            if not line or chat in self.busy or chat in self._backing_off or any(c.chat_key == chat for c in taken):
                continue
            taken.append(line.pop(0))
            if not line:
                del self._lines[chat]
        return taken

    def _finished_here(self, claimed: inbox.Claimed) -> None:
        """A worker is done with an update (handled, parked, or held again for a retry)."""
        if not any(c.update_id == claimed.update_id for c in self._lines.get(claimed.chat_key, ())):
            self._known.discard(claimed.update_id)
        if self._lines.get(claimed.chat_key) and claimed.chat_key not in self._backing_off:
            self._ready.append(claimed.chat_key)

    def _retry_here(self, claimed: inbox.Claimed, delay: float) -> None:
        """A transient failure: the update waits `delay` s (as its row's not_before), first in line."""
        self._known.discard(claimed.update_id)
        self._back_off(claimed.chat_key, delay)
        self._hold(replace(claimed, attempts=claimed.attempts + 1, parsed=None, not_before=None))

    def _back_off(self, chat: int, delay: float) -> None:
        self._backing_off.add(chat)
        asyncio.get_running_loop().call_later(max(delay, 0), self._end_back_off, chat)

    def _end_back_off(self, chat: int) -> None:
        self._backing_off.discard(chat)
        if self._lines.get(chat) and chat not in self.busy:
            self._ready.append(chat)
        self.wake.set()

    async def _backlog(self, session: AsyncSession) -> int:
        """How many updates wait, counted at most once a second (intake is a hot path)."""
        now = time.monotonic()
        if self.bot is not None and now - self._counted_at >= 1.0:
            self._counted_at, self._waiting = now, await inbox.backlog(session)
        return self._waiting

    async def _acknowledge(self, bot: Bot, updates: list[dict[str, Any]]) -> None:
        chats = {u[k]["chat"]["id"]: ("upload_document" if "document" in u[k] or "video" in u[k] else "typing")
                 for u in updates for k in MESSAGE_KINDS
                 if isinstance(u.get(k), dict) and u[k].get("chat", {}).get("type") == "private"}
        for chat_id, action in list(chats.items())[:30]:
            try:
                await bot.send_chat_action(chat_id, action)
            except Exception:  # noqa: BLE001 - a courtesy: never let it disturb the intake
                log.debug("chat action for %s failed", chat_id, exc_info=True)

    # ---------------------------------------------------------------- workers

    async def start(self, bot: Bot) -> None:
        """Updates a stopped process left `working` are taken again; then the workers start."""
        self.bot = bot
        async with self.sessionmaker() as session:
            async def release() -> None:
                nonlocal released
                # alone, whatever is `working` was left by a stop; shared (INBOX_SHARED, kepubot worker),
                # other processes may be working right now: only rows stale for STALE are taken again
                released = await inbox.release_working(session, STALE if self.shared else None)
                await session.commit()

            released = 0
            await write(session, release)
            left = await inbox.backlog(session)
        if released or left:
            log.info("inbox: %d updates waiting at start (%d were being handled when the last run stopped)",
                     left, released)
        if not self.shared:
            async with self.sessionmaker() as session:
                rows = await inbox.waiting(session)
            self.held_here = True
            now = utcnow()
            for row in rows:
                if row.not_before is not None and row.not_before > now and row.chat_key not in self._lines:
                    self._back_off(row.chat_key, (row.not_before - now).total_seconds())
                self._hold(row)
        self.tasks = [asyncio.create_task(self._feed(bot), name="inbox-feed"),
                      *(asyncio.create_task(self._work(bot), name=f"inbox-worker-{i}") for i in range(self.workers))]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []
        self.held_here = False  # the table has it all; a start holds it again
        self._lines.clear()
        self._ready.clear()
        self._backing_off.clear()
        self._known.clear()

    async def drain(self, bot: Bot) -> None:
        """Handle everything that is due now, then return (tests; a bench's end)."""
        self.bot = self.bot or bot
        while True:
            claimed = await self._claim(1)
            if not claimed:
                return
            self.busy.add(claimed[0].chat_key)
            try:
                await self._handle(bot, claimed[0])
            finally:
                self.busy.discard(claimed[0].chat_key)

    async def _feed(self, bot: Bot) -> None:
        """One task takes updates for the free workers, several in one transaction (one write per
        batch, not per update), and hands them over; at most one per person is out at a time."""
        while True:
            free = self.workers - len(self.busy)
            claimed: list[inbox.Claimed] = []
            if free > 0:
                try:
                    claimed = await self._claim(free)
                except Exception as exc:  # the database is away: wait and try again
                    self._note_pool(exc)
                    log.warning("inbox: could not take updates (%s); trying again", type(exc).__name__)
                    await asyncio.sleep(1)
                    continue
            for one in claimed:
                self.busy.add(one.chat_key)
                self.queue.put_nowait(one)
            if len(claimed) < free:
                self.wake.clear()  # nothing more due now: wait for new updates or a finished one
                await within(1.0, self.wake.wait())
            elif free <= 0:
                self.wake.clear()
                await self.wake.wait()

    async def _work(self, bot: Bot) -> None:
        while True:
            claimed = await self.queue.get()
            try:
                await self._handle(bot, claimed)
            except Exception as exc:  # its outcome could not be written (the database is away)
                log.warning("update %s: could not record its outcome (%s); trying again", claimed.update_id,
                            type(exc).__name__)
                if self.held_here:
                    self._retry_here(replace(claimed, attempts=claimed.attempts - 1), 1)
            finally:
                self.busy.discard(claimed.chat_key)
                if self.held_here:
                    self._finished_here(claimed)
                self.wake.set()  # a worker is free, and this person's next update may go now

    async def _claim(self, limit: int) -> list[inbox.Claimed]:
        """Look (a read: no write lock), then take what is due in one short write."""
        if self.held_here:  # alone and started: what waits is held in memory too
            return self._take_here(limit)
        async with self.sessionmaker() as session:
            now = utcnow()
            if not self.shared:  # alone: our busy set is the claim, and a stop leaves rows pending
                return await inbox.peek(session, now, frozenset(self.busy), limit)
            ids = await inbox.due(session, now, frozenset(self.busy), limit)
            if not ids:
                return []

            async def take() -> None:
                nonlocal claimed
                claimed = await inbox.take(session, ids, now)
                await session.commit()

            claimed: list[inbox.Claimed] = []
            await write(session, take)
            return claimed

    async def _handle(self, bot: Bot, claimed: inbox.Claimed) -> None:
        outcome: dict[str, Any] = {}
        error: BaseException | None = None
        try:
            update = claimed.parsed or Update.model_validate(claimed.payload, context={"bot": bot})
            await self.dp.feed_update(bot, update, inbox_attempt=claimed.attempts, inbox_outcome=outcome)
            error = outcome.get("error")
        except Exception as exc:  # noqa: BLE001 - recorded below, the worker goes on
            error = exc
        if outcome.get("committed") and error is None:
            return  # marked done in the update's own transaction
        async with self.sessionmaker() as session:
            async def finish() -> None:
                nonlocal status
                if error is None or isinstance(error, TelegramForbiddenError):
                    # a duplicate dropped, nothing to do, or the person blocked the bot meanwhile:
                    # nobody to answer, nothing to retry
                    await inbox.done(session, claimed.update_id)
                    status = InboxStatus.done
                else:
                    status = await inbox.retry_or_park(session, claimed.update_id, f"{type(error).__name__}: {error}",
                                                       transient=is_transient(error), attempt=claimed.attempts)
                await session.commit()

            status: InboxStatus | None = None
            await write(session, finish)
        if status == InboxStatus.pending and self.held_here:
            self._retry_here(claimed, 2 ** claimed.attempts)  # the back-off retry_or_park wrote
        if error is not None and status != InboxStatus.done:
            self._note_pool(error)
            if status == InboxStatus.dead:
                log.error("update %s failed for good after %d attempts: %s: %s", claimed.update_id,
                          claimed.attempts, type(error).__name__, str(error).splitlines()[0][:300] if str(error) else "")
            else:
                log.warning("update %s failed (%s), will be tried again", claimed.update_id, type(error).__name__)

    def _note_pool(self, exc: BaseException) -> None:
        if isinstance(exc, PoolTimeout) and not self._pool_warned:
            self._pool_warned = True
            log.warning("the database connection pool ran dry (DB_POOL_SIZE=%s, INBOX_WORKERS=%s): raise "
                        "DB_POOL_SIZE or lower INBOX_WORKERS", self.pool_size, self.workers)


async def poll(bot: Bot, intake: Inbox, allowed_updates: list[str]) -> None:
    """getUpdates -> inbox -> next offset (the acknowledgement). Network trouble waits with back-off."""
    offset: int | None = None
    delay = 1.0
    while True:
        try:
            updates = await bot.get_updates(offset=offset, timeout=25, allowed_updates=allowed_updates,
                                            request_timeout=35)
        except (TelegramNetworkError, TelegramServerError) as exc:
            log.warning("getUpdates failed (%s); again in %.0f s", type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30)
            continue
        except TelegramRetryAfter as exc:
            await asyncio.sleep(exc.retry_after)
            continue
        delay = 1.0
        if not updates:
            continue
        stored = [u.model_dump(mode="json", exclude_none=True, by_alias=True) for u in updates]
        while True:
            try:
                await intake.receive(stored, updates)
                break
            except Exception as exc:  # noqa: BLE001 - the database is away: keep the batch, try again
                log.warning("inbox: could not store %d updates (%s); trying again", len(stored), type(exc).__name__)
                await asyncio.sleep(1)
        offset = updates[-1].update_id + 1
