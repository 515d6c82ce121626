"""Small answering helpers shared by handlers."""

from __future__ import annotations

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.render import Texts


async def show(callback: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Turn the message a button sits on into `text`; a fresh message if it can't be edited."""
    message = callback.message
    if isinstance(message, Message):
        try:
            await message.edit_text(text, reply_markup=markup, disable_web_page_preview=True)
        except TelegramBadRequest as exc:
            if "not modified" not in exc.message:
                await message.answer(text, reply_markup=markup, disable_web_page_preview=True)
    elif callback.from_user:
        await callback.bot.send_message(callback.from_user.id, text, reply_markup=markup, disable_web_page_preview=True)
    await callback.answer()


async def stale_button(callback: CallbackQuery, texts: Texts) -> None:
    """A button from an old message, of a finished form, or with forged data."""
    await callback.answer(texts.render("stale_button"), show_alert=True)


async def not_allowed(callback: CallbackQuery, texts: Texts) -> None:
    """A staff button pressed by someone the policy does not allow (forged, or their role taken away)."""
    await callback.answer(texts.render("not_allowed"), show_alert=True)


def kind_of(message: Message) -> str:
    """What the person sent, in one word the hint template understands."""
    for kind in ("sticker", "voice", "video_note", "audio", "photo", "video", "document", "contact",
                 "location", "animation", "poll", "dice"):
        if getattr(message, kind, None):
            return kind
    if message.text and message.text.startswith("/"):
        return "command"
    return "text" if message.text else "other"
