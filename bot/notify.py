"""Sending to people other than the one who wrote: the one place that knows a chat may be closed."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup

log = logging.getLogger(__name__)


async def notify(bot: Bot, chat_ids: Iterable[int], text: str, markup: InlineKeyboardMarkup | None = None) -> int:
    """Send to each chat; a person who blocked the bot or never opened it is logged, not fatal.
    Returns how many were reached."""
    reached = 0
    for chat_id in chat_ids:
        try:
            await bot.send_message(chat_id, text, reply_markup=markup, disable_web_page_preview=True)
            reached += 1
        except (TelegramForbiddenError, TelegramBadRequest) as exc:
            log.warning("could not notify %s: %s", chat_id, exc)
    return reached
