"""咨询: anyone asks the staff a question; an admin answers it from the notification."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import InquiryCB, MenuCB, Section
from bot.config import Settings
from bot.flows.engine import start_form
from bot.flows.inquiry import ANSWER, QUESTION
from bot.render import Texts
from bot.services import inquiries
from bot.services.users import Person, Role


def build() -> Router:
    router = Router(name="inquiry")

    async def open_question(chat_id: int, bot: Bot, state: FSMContext, texts: Texts, settings: Settings) -> None:
        await start_form(QUESTION, chat_id, bot, state, texts, extra={"admin_ids": sorted(settings.admin_ids)})

    @router.message(Command("ask"))
    async def ask_command(message: Message, bot: Bot, state: FSMContext, texts: Texts, settings: Settings) -> None:
        """/ask opens the question form (it replaces any unfinished form, as /cancel would)."""
        await open_question(message.chat.id, bot, state, texts, settings)

    @router.callback_query(MenuCB.filter(F.section == Section.ask))
    async def ask_button(callback: CallbackQuery, bot: Bot, state: FSMContext, texts: Texts, settings: Settings) -> None:
        await callback.answer()
        await open_question(callback.from_user.id, bot, state, texts, settings)

    @router.callback_query(InquiryCB.filter())
    async def reply_button(callback: CallbackQuery, callback_data: InquiryCB, bot: Bot, state: FSMContext,
                           texts: Texts, person: Person, session: AsyncSession) -> None:
        """An admin's 回复 on a notification: re-checks the role and that the question is still open."""
        if not person.has(Role.admin):
            await callback.answer(texts.render("not_allowed"), show_alert=True)
            return
        view = await inquiries.get(session, callback_data.id)
        if view is None or view.status != "open":
            await callback.answer(texts.render("inquiry/not_open", found=view is not None), show_alert=True)
            return
        await callback.answer()
        await start_form(ANSWER, callback.from_user.id, bot, state, texts,
                         extra={"inquiry_id": view.id, "asker": view.asker, "question": view.question})

    return router
