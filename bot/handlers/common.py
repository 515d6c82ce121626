"""/cancel works in every state; it comes first so no form can swallow it."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, ReplyKeyboardRemove

from bot.keyboards import main_menu
from bot.render import Texts
from bot.services.users import Person


def build() -> Router:
    router = Router(name="common")

    @router.message(Command("cancel"))
    async def cancel(message: Message, state: FSMContext, texts: Texts, person: Person) -> None:
        """Drop whatever form is open and return to the main menu."""
        had_state = await state.get_state() is not None
        await state.clear()
        # after a form: close any "share my phone" keyboard it left; otherwise offer the menu
        markup = ReplyKeyboardRemove() if had_state else main_menu(texts, person)
        await message.answer(texts.render("cancelled", had_state=had_state), reply_markup=markup)

    return router
