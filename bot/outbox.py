"""The sender: delivers the outbox's notifications after their update committed, within Telegram's
limits (about 30 messages/s overall, 1/s per chat), retrying on 429 and network or server errors.
A notification to someone who never opened the bot is held, not failed, until they do."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from datetime import timedelta
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

from bot.services import outbox
from storage.models import OutboxMessage, utcnow

log = logging.getLogger(__name__)


def never_opened(exc: TelegramBadRequest | TelegramForbiddenError) -> bool:
    """Telegram's answers for a person who has no chat with the bot (not one who blocked it):
    400 "chat not found" and 403 "bot can't initiate conversation with a user"."""
    text = exc.message.lower()
    return "chat not found" in text or "can't initiate conversation" in text


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
            if released := await outbox.release_stuck(session):
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
                rows = await outbox.due(session, utcnow())
            if not rows:
                return handled
            for row in rows:
                await self._deliver(bot, row)
                handled += 1

    async def _deliver(self, bot: Bot, row: OutboxMessage) -> None:
        async with self.sessionmaker.begin() as session:
            if not await outbox.claim(session, row.id):
                return
        payload = json.loads(row.payload)
        parts = payload.get("attachments", [])
        done = row.parts_sent
        error, retry_after, final, held = "", None, False, False
        try:
            await self._pace(row.chat_id)
            while done < len(parts):
                await self._send_attachment(bot, row.chat_id, parts[done])
                done += 1
            markup = payload.get("reply_markup")
            await bot.send_message(row.chat_id, payload["text"], disable_web_page_preview=True,
                                   reply_markup=InlineKeyboardMarkup.model_validate(markup) if markup else None)
        except TelegramRetryAfter as exc:
            error, retry_after = str(exc), timedelta(seconds=exc.retry_after)
        except (TelegramForbiddenError, TelegramBadRequest) as exc:
            error = str(exc)
            if never_opened(exc):  # kept until the person opens the bot (see release_held)
                log.warning("outbox: notification %s held: chat %s has not opened the bot yet", row.id, row.chat_id)
                held = True
            else:  # blocked by the person, or a message Telegram refuses: trying again would not help
                log.warning("outbox: notification %s to %s failed: %s", row.id, row.chat_id, exc)
                final = True
        except (TelegramNetworkError, TelegramServerError) as exc:
            error = str(exc)
        async with self.sessionmaker.begin() as session:
            await outbox.progress(session, row.id, done)
            if not error:
                await outbox.sent(session, row.id)
            elif held:
                await outbox.hold(session, row.id, error)
            elif final:
                await outbox.failed(session, row.id, error)
            else:
                await outbox.retry(session, row, error, retry_after)

    async def _pace(self, chat_id: int) -> None:
        now = time.monotonic()
        wait = max(self.last_send + self.gap - now, self.last_to_chat.get(chat_id, -1e9) + self.per_chat_interval - now)
        if wait > 0:
            await asyncio.sleep(wait)
        self.last_send = self.last_to_chat[chat_id] = time.monotonic()

    @staticmethod
    async def _send_attachment(bot: Bot, chat_id: int, part: dict[str, Any]) -> None:
        file: Any = part.get("file_id")
        if file is None:
            file = BufferedInputFile(base64.b64decode(part["data"]), filename=part["filename"])
        if part["kind"] == "photo":
            await bot.send_photo(chat_id, file)
        elif part["kind"] == "video":
            await bot.send_video(chat_id, file)
        else:
            await bot.send_document(chat_id, file)
