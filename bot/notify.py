"""Sending to people other than the one who wrote: the one place that knows a chat may be closed."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardMarkup, InputFile

log = logging.getLogger(__name__)

# an attachment sent before the text: ("document" | "photo", a file_id or an InputFile)
Attachment = tuple[str, str | InputFile]


async def notify(bot: Bot, chat_ids: Iterable[int], text: str, markup: InlineKeyboardMarkup | None = None,
                 attachments: Sequence[Attachment] = ()) -> int:
    """Send to each chat (attachments first, then the text with its buttons); a person who blocked
    the bot or never opened it is logged, not fatal. Returns how many were reached."""
    reached = 0
    for chat_id in chat_ids:
        try:
            for kind, file in attachments:
                if kind == "photo":
                    await bot.send_photo(chat_id, file)
                else:
                    await bot.send_document(chat_id, file)
            await bot.send_message(chat_id, text, reply_markup=markup, disable_web_page_preview=True)
            reached += 1
        except (TelegramForbiddenError, TelegramBadRequest) as exc:
            log.warning("could not notify %s: %s", chat_id, exc)
    return reached
