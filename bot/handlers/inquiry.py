"""咨询: anyone asks the staff a question; an admin answers it from the notification or from the
list of open questions (/questions, or the count on the operators' /start)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import InquiryCB, MenuCB, Section
from bot.config import Settings
from bot.filters import HasRole
from bot.flows.engine import start_form
from bot.flows.inquiry import ANSWER, QUESTION
from bot.keyboards import questions_list
from bot.render import Texts
from bot.services import inquiries
from bot.services.policy import Action, can
from bot.services.users import Person, Role
from bot.ui import show


async def questions_view(texts: Texts, session: AsyncSession) -> tuple[str, InlineKeyboardMarkup]:
    """Operators' list of open questions, oldest first, each with a 回复 button."""
    waiting, total = await inquiries.open_questions(session)
    return texts.render("inquiry/open_list", questions=waiting, total=total), questions_list(texts, waiting)


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

    @router.message(Command("questions"), HasRole(Role.admin))
    async def questions_command(message: Message, texts: Texts, session: AsyncSession) -> None:
        """/questions (operators): the questions waiting for an answer."""
        text, markup = await questions_view(texts, session)
        await message.answer(text, reply_markup=markup)

    @router.callback_query(MenuCB.filter(F.section == Section.questions))
    async def questions_button(callback: CallbackQuery, texts: Texts, person: Person, session: AsyncSession) -> None:
        if not can(person, Action.list_inquiries):
            await callback.answer(texts.render("not_allowed"), show_alert=True)
            return
        await show(callback, *await questions_view(texts, session))

    @router.callback_query(InquiryCB.filter())
    async def reply_button(callback: CallbackQuery, callback_data: InquiryCB, bot: Bot, state: FSMContext,
                           texts: Texts, person: Person, session: AsyncSession) -> None:
        """An admin's 回复 on a notification: re-checks the role and that the question is still open."""
        if not can(person, Action.answer_inquiry):
            await callback.answer(texts.render("not_allowed"), show_alert=True)
            return
        view = await inquiries.get(session, callback_data.id)
        if view is None or view.status != "open":
            await callback.answer(texts.render("inquiry/not_open", found=view is not None), show_alert=True)
            return
        await callback.answer()
        await start_form(ANSWER, callback.from_user.id, bot, state, texts,
                         extra={"inquiry_id": view.id, "asker": view.asker, "question": view.question,
                                "about": view.user_id})  # erasing the asker's data drops this draft

    return router
