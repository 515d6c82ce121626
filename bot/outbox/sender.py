"""The sender: delivers the outbox's rows after their update committed, within Telegram's limits
(about 30 messages/s overall, 1/s per chat), retrying on 429 and network or server errors.
A notification to someone who never opened the bot is held, not failed, until they do.

Each payload kind (bot/outbox/payloads.py) has an entry in `KINDS`: a function that turns the payload
into the Bot API calls that deliver it, in order. The row records how many went (`parts_sent`), so a
retry repeats none of them, and the id of the message its last part made (`result_message_id`), so a
reply to a relayed message leads back to its row. A row that fails for good and carries
"on_failure" queues that notice (the sender of a relay hears that it did not arrive)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
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

from bot.outbox import queue
from bot.outbox.payloads import COPY, MESSAGE
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


def copy_parts(payload: dict[str, Any]) -> list[Part]:
    async def copy(bot: Bot, chat_id: int) -> Any:
        return await bot.copy_message(chat_id, payload["from_chat_id"], payload["message_id"], reply_markup=_markup(payload))

    return [copy]


KINDS: dict[str, Callable[[dict[str, Any]], list[Part]]] = {MESSAGE: message_parts, COPY: copy_parts}


async def _tell_failure(session: AsyncSession, payload: dict[str, Any]) -> None:
    """A row given up for good: the notice it carries for that case goes out (once: the notice
    itself carries none)."""
    notice = payload.get("on_failure") if isinstance(payload, dict) else None
    if not isinstance(notice, dict) or not notice.get("chat_id") or not notice.get("text"):
        return
    await queue.enqueue(session, int(notice["chat_id"]), {"kind": MESSAGE, "text": str(notice["text"]),
                                                          "reply_markup": None, "attachments": []})


class OutboxSender:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, per_chat_interval: float = 1.0,
                 per_second: float = 25.0) -> None:
        self.sessionmaker = sessionmaker
        self.per_chat_interval = per_chat_interval
        self.gap = 1.0 / per_second if per_second else 0.0
        self.last_to_chat: dict[int, float] = {}
        self.last_send = 0.0
        self.woken = asyncio.Event()

    def wake(self) -> None:
        self.woken.set()

    async def run(self, bot: Bot) -> None:
        """Forever: deliver what is due, then sleep until woken by a commit or for a second."""
        async with self.sessionmaker.begin() as session:
            if released := await queue.release_stuck(session):
                log.info("outbox: %d notifications left by a stopped sender go out again", released)
        while True:
            try:
                await self.drain(bot)
            except Exception:  # a database hiccup must not stop deliveries for good
                log.exception("outbox sender failed; retrying")
            self.woken.clear()
            try:
                await asyncio.wait_for(self.woken.wait(), timeout=1.0)
            except TimeoutError:
                pass

    async def drain(self, bot: Bot) -> int:
        """Deliver every notification due now; returns how many were handled."""
        handled = 0
        while True:
            async with self.sessionmaker() as session:
                rows = await queue.due(session, utcnow())
            if not rows:
                return handled
            for row in rows:
                await self._deliver(bot, row)
                handled += 1

    async def _deliver(self, bot: Bot, row: OutboxMessage) -> None:
        async with self.sessionmaker.begin() as session:
            if not await queue.claim(session, row.id):
                return
        payload = json.loads(row.payload)
        kind = payload.get("kind", MESSAGE)  # rows queued before kinds existed are messages
        done = row.parts_sent
        error, retry_after, final, held = "", None, False, False
        result_id: int | None = None
        try:
            if kind not in KINDS:
                raise ValueError(f"unknown outbox payload kind {kind!r}")
            parts = KINDS[kind](payload)
            await self._pace(row.chat_id)
            while done < len(parts):
                result = await parts[done](bot, row.chat_id)
                result_id = getattr(result, "message_id", None)
                done += 1
        except TelegramRetryAfter as exc:
            error, retry_after = str(exc), timedelta(seconds=exc.retry_after)
        except (TelegramForbiddenError, TelegramBadRequest) as exc:
            error = str(exc)
            if never_opened(exc):  # kept until the person opens the bot (see queue.release_held)
                log.warning("outbox: notification %s held: chat %s has not opened the bot yet", row.id, row.chat_id)
                held = True
            else:  # blocked by the person, or a message Telegram refuses: trying again would not help
                log.warning("outbox: notification %s to %s failed: %s", row.id, row.chat_id, exc)
                final = True
        except (ValueError, KeyError) as exc:  # a payload this version cannot send: never will
            error, final = f"bad payload: {exc}", True
            log.error("outbox: notification %s has a bad payload: %s", row.id, exc)
        except (TelegramNetworkError, TelegramServerError) as exc:
            error = str(exc)
        async with self.sessionmaker.begin() as session:
            await queue.progress(session, row.id, done)
            if not error:
                await queue.sent(session, row.id, result_id)
            elif held:
                await queue.hold(session, row.id, error)
            elif final:
                await queue.failed(session, row.id, error)
                await _tell_failure(session, payload)
            elif await queue.retry(session, row, error, retry_after) is OutboxStatus.failed:
                await _tell_failure(session, payload)

    async def _pace(self, chat_id: int) -> None:
        now = time.monotonic()
        wait = max(self.last_send + self.gap - now, self.last_to_chat.get(chat_id, -1e9) + self.per_chat_interval - now)
        if wait > 0:
            await asyncio.sleep(wait)
        self.last_send = self.last_to_chat[chat_id] = time.monotonic()
