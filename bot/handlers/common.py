"""/cancel works in every state; it comes first so no form can swallow it."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, ReplyKeyboardRemove

from bot.flows.engine import leave_open
from bot.handlers.tutoring import TutorSG
from bot.keyboards import main_menu
from bot.render import Texts
from bot.services.users import Person


async def cancel(message: Message, state: FSMContext, texts: Texts, person: Person, raw_state: str | None = None) -> None:
    """Drop whatever form is open (parked drafts stay) and return to the main menu. In the tutoring
    conversation it only leaves the mode, as 退出对话模式 does: nothing was being filled in."""
    if raw_state == TutorSG.chatting.state:
        await leave_open(state)
        await message.answer(texts.render("tutoring/left_mode"), reply_markup=main_menu(texts, person))
        return
    had_state = await leave_open(state)
    # after a form: close any "share my phone" keyboard it left; otherwise offer the menu
    markup = ReplyKeyboardRemove() if had_state else main_menu(texts, person)
    await message.answer(texts.render("cancelled", had_state=had_state), reply_markup=markup)


def build() -> Router:
    router = Router(name="common")
    router.message.register(cancel, Command("cancel"))
    return router
