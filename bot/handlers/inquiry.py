"""咨询: anyone asks the staff a question; an admin answers it from the notification or from the
list of open questions (/questions, or the count on the operators' /start)."""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import InquiryCB, MenuCB, Pressed, Section
from bot.filters import Can
from bot.flows.engine import start_form, turn_of
from bot.flows.inquiry import ANSWER, QUESTION
from bot.keyboards import questions_list
from bot.render import Texts
from bot.services import inquiries
from bot.services.policy import Action
from bot.services.users import Person
from bot.ui import not_allowed, show
from storage.statuses import InquiryStatus


async def ask(event: Message | CallbackQuery, person: Person, **data: Any) -> None:
    """/ask or 咨询 on the menu opens the question form (it replaces any unfinished form, as /cancel
    would)."""
    if isinstance(event, CallbackQuery):
        await event.answer()
    await start_form(turn_of(person.id, person=person, **data), QUESTION.name)


async def questions(event: Message | CallbackQuery, texts: Texts, session: AsyncSession) -> None:
    """/questions, or its count on an operator's /start: the open questions, oldest first, each with
    a 回复 button."""
    waiting, total = await inquiries.open_questions(session)
    text, markup = texts.render("inquiry/open_list", questions=waiting, total=total), questions_list(texts, waiting)
    if isinstance(event, CallbackQuery):
        await show(event, text, markup)
    else:
        await event.answer(text, reply_markup=markup)


async def reply_button(callback: CallbackQuery, callback_data: InquiryCB, texts: Texts, person: Person,
                       session: AsyncSession, **data: Any) -> None:
    """An operator's 回复 on a notification or the list: the question must still be open."""
    view = await inquiries.get(session, callback_data.id)
    if view is None or view.status != InquiryStatus.open:
        await callback.answer(texts.render("inquiry/not_open", found=view is not None), show_alert=True)
        return
    await callback.answer()
    await start_form(turn_of(person.id, texts=texts, person=person, session=session, **data), ANSWER.name,
                     refs={"inquiry_id": view.id, "about": view.user_id})  # erasing the asker's data drops this draft


def build() -> Router:
    router = Router(name="inquiry")
    router.message.register(ask, Command("ask"))
    router.callback_query.register(ask, MenuCB.filter(F.section == Section.ask))
    # operators only; a command from anyone else gets the fallback's "unknown command"
    router.message.register(questions, Command("questions"), Can(Action.list_inquiries))
    router.callback_query.register(questions, MenuCB.filter(F.section == Section.questions),
                                   Can(Action.list_inquiries))
    router.callback_query.register(reply_button, InquiryCB.filter(), Can(Action.answer_inquiry))
    # the same buttons pressed by someone the policy does not allow (forged, or no longer staff)
    router.callback_query.register(not_allowed, MenuCB.filter(F.section == Section.questions))
    router.callback_query.register(not_allowed, Pressed(InquiryCB), ~Can(Action.answer_inquiry))
    return router
