"""The last router: whatever nobody else took gets a short hint instead of silence."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.types import CallbackQuery, ErrorEvent, Message

from bot.flows.engine import FormSG
from bot.keyboards import main_menu
from bot.render import Texts
from bot.services.users import Person
from bot.ui import kind_of

log = logging.getLogger(__name__)


def build() -> Router:
    router = Router(name="fallback")

    @router.message()
    async def unexpected(message: Message, texts: Texts, raw_state: str | None = None,
                         person: Person | None = None) -> None:
        in_form = raw_state in (FormSG.asking.state, FormSG.reviewing.state)
        await message.answer(texts.render("unexpected", kind=kind_of(message), in_form=in_form),
                             reply_markup=None if in_form else main_menu(texts, person))

    @router.callback_query()
    async def stale(callback: CallbackQuery, texts: Texts) -> None:
        """A button from an old message, of a finished form, or with forged data."""
        await callback.answer(texts.render("stale_button"), show_alert=True)

    @router.error()
    async def on_error(event: ErrorEvent, texts: Texts) -> None:
        log.exception("update %s failed", event.update.update_id, exc_info=event.exception)
        update = event.update
        try:
            if update.callback_query:
                await update.callback_query.answer(texts.render("error"), show_alert=True)
            elif update.message:
                await update.message.answer(texts.render("error"))
        except Exception:  # the apology itself failed (network): the log has the cause
            log.warning("could not tell the user about the failure of update %s", update.update_id)

    return router
