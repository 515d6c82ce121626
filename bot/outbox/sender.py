"""The sender: delivers the outbox's rows after their update committed, within Telegram's limits
(about 30 messages/s overall, 1/s per chat), retrying on 429 and network or server errors.
A notification to someone who never opened the bot is held, not failed, until they do.

Each payload kind (bot/outbox/payloads.py) has an entry in `KINDS`: a function that turns the payload
into the Bot API calls that deliver it, in order. The row records how many went (`parts_sent`), so a
retry repeats none of them, and the id of the message its last part made (`result_message_id`), so a
reply to a relayed message leads back to its row. A row that fails for good and carries
"on_failure" queues that notice (the sender of a relay hears that it did not arrive).

One sender at a time: with several bot processes on one database (webhook workers), each runs a
sender, but only the holder of the lease "outbox" (bot/outbox/lease.py) sends; the others wait to
take it over if it dies. One process paces Telegram's per-bot limits, keeps each chat's order, and
claims rows without racing anyone. Who blocked the bot is marked unreachable (broadcasts skip them).
A broadcast's copy is never held for someone who never opened the bot: it fails (the report says so).

Chats take turns (`OutboxSender.drain`): one message at a time overall, but the next one is for the
chat whose second has come, not necessarily the next row, so one person's ten cards (a document, a
scan and the text each: 30 messages at one a second) do not hold up the messages due to everyone
else. Each chat still gets its rows in order, one row at a time, and a row's parts in order."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.outbox import lease, queue
from bot.outbox.payloads import COPY, MEDIA, MESSAGE
from bot.waiting import within
from storage.models import OutboxMessage, utcnow
from storage.statuses import OutboxStatus

log = logging.getLogger(__name__)

Part = Callable[[Bot, int], Awaitable[Any]]  # one Bot API call to a chat: its result (a Message, a MessageId)


def never_opened(exc: TelegramBadRequest | TelegramForbiddenError) -> bool:
    """Telegram's answers for a person who has no chat with the bot (not one who blocked it):
    400 "chat not found" and 403 "bot can't initiate conversation with a user"."""
    text = exc.message.lower()
    return "chat not found" in text or "can't initiate conversation" in text


def _markup(payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    markup = payload.get("reply_markup")
    return InlineKeyboardMarkup.model_validate(markup) if markup else None


async def _send_attachment(part: dict[str, Any], bot: Bot, chat_id: int) -> Any:
    file: Any = part.get("file_id")
    if file is None:
        file = BufferedInputFile(base64.b64decode(part["data"]), filename=part["filename"])
    if part["kind"] == "photo":
        return await bot.send_photo(chat_id, file)
    if part["kind"] == "video":
        return await bot.send_video(chat_id, file)
    return await bot.send_document(chat_id, file)


async def _send_text(payload: dict[str, Any], bot: Bot, chat_id: int) -> Any:
    return await bot.send_message(chat_id, payload["text"], disable_web_page_preview=True,
                                  reply_markup=_markup(payload))


def message_parts(payload: dict[str, Any]) -> list[Part]:
    """Attachments first, then the text with its buttons."""
    return [*(partial(_send_attachment, a) for a in payload.get("attachments", [])), partial(_send_text, payload)]


def media_parts(payload: dict[str, Any]) -> list[Part]:
    """A photo, document or video (by file_id) with its caption: one message."""
    async def send(bot: Bot, chat_id: int) -> Any:
        method = {"photo": bot.send_photo, "video": bot.send_video}.get(payload["media"], bot.send_document)
        return await method(chat_id, payload["file_id"], caption=payload.get("caption") or None,
                            reply_markup=_markup(payload))

    return [send]


def copy_parts(payload: dict[str, Any]) -> list[Part]:
    async def copy(bot: Bot, chat_id: int) -> Any:
        return await bot.copy_message(chat_id, payload["from_chat_id"], payload["message_id"], reply_markup=_markup(payload))

    return [copy]


KINDS: dict[str, Callable[[dict[str, Any]], list[Part]]] = {MESSAGE: message_parts, COPY: copy_parts,
                                                            MEDIA: media_parts}


async def send_payload(bot: Bot, chat_id: int, payload: dict[str, Any]) -> Any:
    """Send a payload at once, outside the queue (an operator's preview of a broadcast)."""
    result = None
    for part in KINDS[payload.get("kind", MESSAGE)](payload):
        result = await part(bot, chat_id)
    return result


async def _tell_failure(session: AsyncSession, payload: dict[str, Any]) -> None:
    """A row given up for good: the notice it carries for that case goes out (once: the notice
    itself carries none)."""
    notice = payload.get("on_failure") if isinstance(payload, dict) else None
    if not isinstance(notice, dict) or not notice.get("chat_id") or not notice.get("text"):
        return
    await queue.enqueue(session, int(notice["chat_id"]), {"kind": MESSAGE, "text": str(notice["text"]),
                                                          "reply_markup": None, "attachments": []})


MAX_CHATS = 1000  # chats with rows at hand: no more are fetched while every one of them waits its turn


@dataclass(eq=False)
class _Delivery:
    """A claimed row on its way: its parts, how many went (`parts_sent` at first), the message the
    last one made."""

    row: OutboxMessage
    payload: Any = None
    parts: list[Part] = field(default_factory=list)
    result_id: int | None = None
    done: int = field(init=False)
    retrying: bool = False  # it failed and waits for a later try: the chat's next rows wait for it

    def __post_init__(self) -> None:
        self.done = self.row.parts_sent


@dataclass
class _Chat:
    """A chat's rows at hand, in order: the one on its way, then those not started."""

    rows: deque[OutboxMessage] = field(default_factory=deque)
    delivery: _Delivery | None = None

    @property
    def order(self) -> tuple[bool, bool, int]:
        """Its next row's place in the queue (as `queue.due`: notifications, reminders, broadcasts)."""
        return queue.lane(self.delivery.row if self.delivery is not None else self.rows[0])


@dataclass(frozen=True)
class _Failure:
    error: str
    retry_after: timedelta | None = None
    final: bool = False
    held: bool = False


class OutboxSender:
    LEASE = "outbox"

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, per_chat_interval: float = 1.0,
                 per_second: float = 25.0, shared: bool = False, holder: str | None = None,
                 clock: Callable[[], datetime] = utcnow, lease_ttl: timedelta = lease.TTL,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        """`shared`: other processes may send from the same database, so wait for the lease; alone,
        the sender takes it at once, even from a predecessor killed while holding it. `monotonic`
        and `sleep`: the pacing's clock (a test's own makes the waits between messages instant)."""
        self.sessionmaker = sessionmaker
        self.per_chat_interval = per_chat_interval
        self.gap = 1.0 / per_second if per_second else 0.0
        self.monotonic = monotonic
        self.sleep = sleep
        self.last_to_chat: dict[int, float] = {}  # pacing: self.monotonic's time of each chat's last answer
        self.last_send = -1e9
        self.woken = asyncio.Event()
        self.shared = shared
        self.holder = holder or lease.new_holder()
        self.clock = clock
        self.lease_ttl = lease_ttl
        self.holding = False
        self.tried = False
        self.renew_at = 0.0  # monotonic: when to renew the lease
        self.valid_until = 0.0  # monotonic: after this the lease may be someone else's

    def wake(self) -> None:
        self.woken.set()

    async def hold_lease(self) -> bool:
        """True while this process holds the sender's lease: renews it (every third of its length)
        or takes it when free. On taking it, the rows a previous holder left in 'sending' go out
        again (it stopped before recording them: at least once)."""
        mono = time.monotonic()
        if self.holding and mono < self.renew_at:
            return True
        force, self.tried = not self.shared and not self.tried, True
        async with self.sessionmaker.begin() as session:
            held = await lease.take(session, self.LEASE, self.holder, self.clock(), ttl=self.lease_ttl, force=force)
            if held and not self.holding and (released := await queue.release_stuck(session)):
                log.info("outbox: %d notifications left by a stopped sender go out again", released)
        if held != self.holding:
            log.info("outbox: this process %s the sender's lease (%s)", "took" if held else "lost", self.holder)
        ttl = self.lease_ttl.total_seconds()
        self.holding, self.renew_at, self.valid_until = held, mono + ttl / 3, mono + ttl * 2 / 3
        return held

    async def _keep_lease(self) -> None:
        """Renew the lease on time while this process lives, even while one send hangs (a slow
        answer, retries): only a dead or frozen process loses it, so no row is sent by two."""
        while True:
            await asyncio.sleep(self.lease_ttl.total_seconds() / 6)
            if self.holding:
                try:
                    await self.hold_lease()
                except Exception:  # the database is away: the sending loop meets the same and retries
                    log.warning("outbox: could not renew the sender's lease", exc_info=True)

    async def give_up_lease(self) -> None:
        """A clean stop: the next process need not wait for the lease to expire."""
        if self.holding:
            self.holding = False
            async with self.sessionmaker.begin() as session:
                await lease.give_up(session, self.LEASE, self.holder)

    async def run(self, bot: Bot) -> None:
        """Forever: while holding the lease, deliver what is due, then sleep until woken by a commit
        or for a second. A clean stop frees the lease."""
        keeper = asyncio.create_task(self._keep_lease(), name="outbox-lease")
        try:
            while True:
                try:
                    if await self.hold_lease():
                        await self.drain(bot)
                except Exception:  # a database hiccup must not stop deliveries for good
                    log.exception("outbox sender failed; retrying")
                self.woken.clear()
                await within(1.0, self.woken.wait())
        finally:
            keeper.cancel()
            try:
                await asyncio.shield(self.give_up_lease())
            except Exception:  # stopping anyway: the lease expires by itself
                log.warning("outbox: could not free the sender's lease; it expires within %s", self.lease_ttl)

    async def drain(self, bot: Bot) -> int:
        """Deliver every notification due now; returns how many rows were handled.

        Chats take turns: each chat gets its rows in order, one row at a time and a row's parts in
        order, but while a chat waits for its interval the messages due to other chats go out (one
        chat's long queue does not hold up everyone behind it). The next message is for the chat
        whose turn comes first; of those whose turn has come, the one whose row is first in the
        queue (notifications before broadcasts' copies). While every chat at hand waits, the rows
        of other chats are fetched. Sending stays one message at a time, so the overall gap, a wait
        a 429 asks for and the lease cover all of them."""
        handled = 0
        chats: dict[int, _Chat] = {}  # the rows at hand, by chat
        claiming, fetched_since_send = True, False
        stepping: _Delivery | None = None  # the row whose part is on its way
        stopped = False
        try:
            while True:
                if not chats:
                    if not claiming or not await self.hold_lease() or not await self._fetch(chats):
                        return handled
                now = self.monotonic()
                chat_id, turn = min(((c, max(now, self._turn(c))) for c in chats),
                                    key=lambda item: (item[1], chats[item[0]].order))
                if turn - now > self.gap and claiming and not fetched_since_send and len(chats) < MAX_CHATS:
                    fetched_since_send = True  # once per wait: rows for other chats may go meanwhile
                    if await self._fetch(chats):
                        continue
                state = chats[chat_id]
                if state.delivery is None:
                    if time.monotonic() > self.valid_until and not await self.hold_lease():
                        claiming = False  # lost it (hung for longer than the lease): another sends now
                        for c in [c for c, s in chats.items() if s.delivery is None]:  # the rest stay pending
                            del chats[c]
                        continue
                    handled += 1
                    state.delivery = await self._start(state.rows.popleft())
                if state.delivery is not None:
                    fetched_since_send, stepping = False, state.delivery
                    if await self._step(bot, state.delivery):
                        if state.delivery.retrying:  # its later rows wait for it (queue.due skips the chat)
                            state.rows.clear()
                        state.delivery = None
                    stepping = None
                if state.delivery is None and not state.rows:
                    del chats[chat_id]
        except asyncio.CancelledError:
            stopped = True
            raise
        finally:
            # stopped in the middle of rows (a stop, the database away): what went is kept, the rest
            # goes later; not the row whose part failed unexpectedly (it may have arrived): it waits
            # in 'sending' for the next holder of the lease, as before
            started = [s.delivery for s in chats.values()
                       if s.delivery is not None and (stopped or s.delivery is not stepping)]
            if started:
                await asyncio.shield(self._put_back(started))

    def _turn(self, chat_id: int) -> float:
        return self.last_to_chat.get(chat_id, -1e9) + self.per_chat_interval

    async def _fetch(self, chats: dict[int, _Chat]) -> int:
        """Add the next due rows of chats not at hand (those at hand come back once theirs are done:
        each chat's rows in order); returns how many."""
        async with self.sessionmaker() as session:
            rows = await queue.due(session, utcnow(), skip_chats=list(chats))
        for row in rows:
            chats.setdefault(row.chat_id, _Chat()).rows.append(row)
        return len(rows)

    async def _start(self, row: OutboxMessage) -> _Delivery | None:
        """Claim a row and make its parts: None when someone else has it, or it failed at once (a
        payload this version cannot send)."""
        async with self.sessionmaker.begin() as session:
            if not await queue.claim(session, row.id, lease=(self.LEASE, self.holder, self.clock())):
                return None
        delivery = _Delivery(row)
        try:
            delivery.payload = json.loads(row.payload)
            kind = delivery.payload.get("kind", MESSAGE) if isinstance(delivery.payload, dict) else None
            if kind not in KINDS:  # (rows queued before kinds existed are messages)
                raise ValueError(f"unknown outbox payload kind {kind!r}")
            delivery.parts = KINDS[kind](delivery.payload)
        except (ValueError, KeyError) as exc:
            await self._finish(delivery, self._failure(delivery.row, exc))
            return None
        if delivery.done >= len(delivery.parts):  # every part went before (a retry of the record only)
            await self._finish(delivery, None)
            return None
        return delivery

    async def _step(self, bot: Bot, delivery: _Delivery) -> bool:
        """Send the row's next part when its turn comes; True when the row is done with (sent, or
        recorded for a retry, held or failed)."""
        chat_id = delivery.row.chat_id
        try:
            await self._pace(chat_id)  # each part is a message: the limits count each
            try:
                result = await delivery.parts[delivery.done](bot, chat_id)
            finally:  # a chat's second is counted from the answer: the request reached Telegram by then
                self.last_to_chat[chat_id] = self.monotonic()
        except (TelegramRetryAfter, TelegramForbiddenError, TelegramBadRequest, ValueError, KeyError,
                TelegramNetworkError, TelegramServerError) as exc:
            await self._finish(delivery, self._failure(delivery.row, exc))
            return True
        delivery.result_id = getattr(result, "message_id", None)
        delivery.done += 1
        if delivery.done < len(delivery.parts):
            # recorded now (a short write between a card's parts, a second apart): a process killed
            # before the next part leaves the row in 'sending' with this, and the next start sends only
            # the rest instead of the whole card again
            try:
                async with self.sessionmaker.begin() as session:
                    await queue.progress(session, delivery.row.id, delivery.done)
            except Exception:  # the database is away: the row's end records it (only a kill repeats it)
                log.warning("outbox: could not record a part of notification %s", delivery.row.id, exc_info=True)
            return False
        await self._finish(delivery, None)
        return True

    @staticmethod
    def _failure(row: OutboxMessage, exc: Exception) -> _Failure:
        """What a failed part means for its row."""
        if isinstance(exc, TelegramRetryAfter):
            return _Failure(str(exc), retry_after=timedelta(seconds=exc.retry_after))
        if isinstance(exc, TelegramForbiddenError | TelegramBadRequest):
            error = str(exc)
            if isinstance(exc, TelegramForbiddenError) and not never_opened(exc):
                error = queue.BLOCKED + error  # the person blocked the bot (or left Telegram)
            if never_opened(exc) and row.broadcast_id is not None:  # a broadcast waits for nobody
                return _Failure(error, final=True)
            if never_opened(exc):  # kept until the person opens the bot (see queue.release_held)
                log.warning("outbox: notification %s held: chat %s has not opened the bot yet", row.id, row.chat_id)
                return _Failure(error, held=True)
            # blocked by the person, or a message Telegram refuses: trying again would not help
            log.warning("outbox: notification %s to %s failed: %s", row.id, row.chat_id, exc)
            return _Failure(error, final=True)
        if isinstance(exc, ValueError | KeyError):  # a payload this version cannot send: never will
            log.error("outbox: notification %s has a bad payload: %s", row.id, exc)
            return _Failure(f"bad payload: {exc}", final=True)
        return _Failure(str(exc))  # network or server: tried again later

    async def _finish(self, delivery: _Delivery, failure: _Failure | None) -> None:
        row = delivery.row
        async with self.sessionmaker.begin() as session:
            await queue.progress(session, row.id, delivery.done)
            if failure is None:
                await queue.sent(session, row.id, delivery.result_id)
            elif failure.held:
                await queue.hold(session, row.id, failure.error)
            elif failure.final:
                await queue.failed(session, row.id, failure.error)
                if failure.error.startswith(queue.BLOCKED):
                    await queue.mark_unreachable(session, row.chat_id, utcnow())
                await _tell_failure(session, delivery.payload)
            elif await queue.retry(session, row, failure.error, failure.retry_after) is OutboxStatus.failed:
                await _tell_failure(session, delivery.payload)
            else:
                delivery.retrying = True

    async def _put_back(self, deliveries: list[_Delivery]) -> None:
        """Rows left half-sent by a stop go back to pending with the parts that went recorded, while
        this process still holds the lease (after that, the next holder sends them again)."""
        if not self.holding or time.monotonic() > self.valid_until:
            return
        try:
            async with self.sessionmaker.begin() as session:
                for delivery in deliveries:
                    await queue.put_back(session, delivery.row.id, delivery.done)
        except Exception:  # the database is away: the next holder sends them again (at least once)
            log.warning("outbox: could not put %d half-sent notifications back", len(deliveries), exc_info=True)

    async def _pace(self, chat_id: int) -> None:
        """Wait for the next send's turn: `gap` after the previous one overall (counted from when
        that one was due, so oversleeping does not slow the rate down), and `per_chat_interval`
        after the answer to the previous one to this chat."""
        now = self.monotonic()
        turn = max(now, self.last_send + self.gap, self._turn(chat_id))
        if turn > now:
            await self.sleep(turn - now)
        self.last_send = turn
        if len(self.last_to_chat) > 10_000:  # a broadcast's chats: only the recent ones still matter
            gone = turn - self.per_chat_interval
            self.last_to_chat = {c: t for c, t in self.last_to_chat.items() if t > gone}
