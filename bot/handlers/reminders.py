"""The buttons of reminders (issue 12): 已标注 under a branding reminder records that the creator
shows the label on their accepted work, which stops the weekly branding reminder. The reminders
themselves are queued by bot/jobs/reminders.py."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import BrandingCB, Pressed
from bot.render import Texts
from bot.services.reminders import Confirmed, confirm_branding


async def branding_shown(callback: CallbackQuery, callback_data: BrandingCB, texts: Texts, session: AsyncSession,
                         **data: Any) -> None:
    outcome = await confirm_branding(session, callback.from_user.id, callback_data.sub, now=data["clock"]())
    if outcome is Confirmed.unknown:
        await stale(callback, texts)
        return
    await callback.answer(texts.render(f"reminders/branding_{outcome.value}"), show_alert=True)
    if outcome is Confirmed.confirmed and isinstance(callback.message, Message):
        with suppress(TelegramAPIError):  # too old to edit: the button then just answers "already"
            await callback.message.edit_reply_markup(reply_markup=None)


async def stale(callback: CallbackQuery, texts: Texts) -> None:
    """Forged or garbled data, or a work that is not the presser's accepted one."""
    await callback.answer(texts.render("reminders/branding_unknown"), show_alert=True)


def build() -> Router:
    router = Router(name="reminders")
    router.callback_query.register(branding_shown, BrandingCB.filter(F.sub > 0))
    router.callback_query.register(stale, Pressed(BrandingCB))
    return router
