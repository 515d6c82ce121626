"""/apply: opening the application form (for approved 科普号, within the campaign's window), and
the step after a draft is saved: its files come next."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import MenuCB, Section
from bot.campaign import Campaign
from bot.flows.application import UploadSG
from bot.flows.engine import Done, Turn, start_form, turn_of
from bot.handlers.applications.common import all_applications, draft_keyboard, fix_buttons
from bot.keyboards import back_to_menu, button
from bot.render import Texts
from bot.services import registration, submissions
from bot.services.users import Person
from storage.models import Submission


async def on_saved(turn: Turn, sub: Submission) -> Done:
    """The application form saved its draft: the files come next (the upload step), and the files
    already uploaded are judged again, since the answers may have changed (no re-upload)."""
    assert turn.session is not None and turn.campaign is not None
    campaign, texts = turn.campaign, turn.texts
    rejudged = await submissions.rejudge_draft(turn.session, campaign, sub)
    errors = submissions.form_errors(campaign, sub)
    markup = back_to_menu(texts, rows=[*fix_buttons(texts, sub, errors),
                                       *draft_keyboard(texts, sub).inline_keyboard[:-1]])
    files = await submissions.files_of(turn.session, sub.id)
    text = texts.render("application/saved", sub=sub, category=campaign.category(sub.category), files=len(files),
                        local_api=bool(turn.settings and turn.settings.bot_api_local), rejudged=rejudged,
                        errors=errors)
    return Done(text, markup, then_state=UploadSG.files, then_data={"submission_id": sub.id})


async def apply(event: Message | CallbackQuery, texts: Texts, session: AsyncSession, person: Person,
                campaign: Campaign, clock: Callable[[], datetime], **data: Any) -> None:
    """/apply or 申报作品 on the menu: a new application (work or topic), for approved 科普号 within
    the campaign's window, with room for another draft."""
    if isinstance(event, CallbackQuery):
        await event.answer()
    chat_id, bot = person.id, data["bot"]
    if not await registration.is_approved(session, person.id):
        reg = await registration.for_user(session, person.id)
        await bot.send_message(chat_id, texts.render("application/need_registration", reg=reg),  # where to go next
                               reply_markup=back_to_menu(texts, [button(texts, "menu.reg", MenuCB(section=Section.register).pack())]))
        return
    if not campaign.is_open(clock()):
        await bot.send_message(chat_id, texts.render("application/closed"))
        return
    if not await submissions.room_for_draft(session, person.id):
        await bot.send_message(chat_id, texts.render("application/too_many_drafts", limit=submissions.MAX_OPEN_DRAFTS),
                               reply_markup=back_to_menu(texts, rows=[[all_applications(texts)]]))
        return
    await start_form(turn_of(chat_id, texts=texts, session=session, person=person, campaign=campaign, clock=clock,
                             **data), "application")


def build() -> Router:
    router = Router(name="applications.apply")
    router.message.register(apply, Command("apply"))
    router.callback_query.register(apply, MenuCB.filter(F.section == Section.apply))
    return router
