"""The last router: whatever nobody else took gets a short hint instead of silence."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Router
from aiogram.exceptions import TelegramForbiddenError
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, ErrorEvent, InlineKeyboardMarkup, Message
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import TypedQuestionCB
from bot.flows.engine import FormSG, start_form, turn_of
from bot.flows.fields import TEXT, Answer, Invalid
from bot.flows.inquiry import QUESTION
from bot.inbox import is_transient
from bot.keyboards import button, main_menu
from bot.render import Texts
from bot.services import inbox, registration
from bot.services.users import Person
from bot.ui import kind_of, stale_button

log = logging.getLogger(__name__)
FILES = ("document", "photo", "video", "audio")
TYPED = "typed_question"  # FSM data key: free text typed on the main menu, for 发给工作人员


async def unexpected(message: Message, texts: Texts, state: FSMContext, session: AsyncSession,
                     raw_state: str | None = None, person: Person | None = None) -> None:
    in_form = raw_state in (FormSG.asking.state, FormSG.reviewing.state)
    kind = kind_of(message)
    markup = None if in_form else main_menu(texts, person)
    registered, offer = None, False
    if not in_form and kind in FILES and person is not None:
        # only a file costs a query: its hint depends on whether the person may apply yet
        reg = await registration.for_user(session, person.id)
        registered = reg.status if reg else "none"
    elif raw_state is None and kind == "text" and message.text and markup is not None:
        # free text on the main menu may be a question: offer to pass it on to the staff; the
        # text waits in the person's FSM data (never in button data) until they press
        await state.set_data({TYPED: {"n": message.message_id, "text": message.text}})
        ask = button(texts, "registration.ask_typed", TypedQuestionCB(n=message.message_id).pack())
        markup = InlineKeyboardMarkup(inline_keyboard=[[ask], *markup.inline_keyboard])
        offer = True
    await message.answer(texts.render("unexpected", kind=kind, in_form=in_form, registered=registered,
                                       offer=offer),
                         reply_markup=markup)


async def ask_typed(callback: CallbackQuery, callback_data: TypedQuestionCB, state: FSMContext, texts: Texts,
                    raw_state: str | None = None, **data: Any) -> None:
    """「把这个问题发给工作人员」 under the hint: the 咨询 form with the typed text as the question,
    asking only its category; the form from the start when the text is gone or can't be used."""
    typed = (await state.get_data()).get(TYPED) if raw_state is None else None
    values = None
    if typed and typed.get("n") == callback_data.n:
        try:
            values = {"question": QUESTION.field("question").parse(Answer(TEXT, text=typed["text"]), {})}
        except Invalid:
            values = None
    await callback.answer()
    turn = turn_of(callback.from_user.id, state=state, texts=texts, **data)
    if values:
        await start_form(turn, QUESTION.name, values=values, edit_only=["topic"])
    else:
        await start_form(turn, QUESTION.name)


async def on_error(event: ErrorEvent, texts: Texts, inbox_attempt: int | None = None,
                   inbox_outcome: dict | None = None) -> None:
    update = event.update
    if isinstance(event.exception, TelegramForbiddenError):  # blocked the bot meanwhile: nobody to tell
        log.info("update %s: the chat blocked the bot (%s)", update.update_id, event.exception.message)
        return
    if (inbox_outcome is not None and inbox_attempt is not None and inbox_attempt < inbox.MAX_ATTEMPTS
            and is_transient(event.exception)):
        # the inbox tries it again in a moment: nothing to tell the person yet
        log.warning("update %s: %s on attempt %d; it will be tried again", update.update_id,
                    type(event.exception).__name__, inbox_attempt)
        return
    log.exception("update %s failed", update.update_id, exc_info=event.exception)
    # the database could not take the update's changes (another process holds SQLite's lock):
    # nothing of it was saved, and the person was told nothing else (replies wait for the write)
    busy = isinstance(event.exception, OperationalError) and "locked" in str(event.exception)
    text = texts.render("error", busy=busy)
    try:
        if update.callback_query:
            await update.callback_query.answer(text, show_alert=True)
        elif update.message:
            await update.message.answer(text)
    except Exception:  # the apology itself failed (network): the log has the cause
        log.warning("could not tell the user about the failure of update %s", update.update_id)


def build() -> Router:
    router = Router(name="fallback")
    router.message.register(unexpected)
    router.callback_query.register(ask_typed, TypedQuestionCB.filter())
    router.callback_query.register(stale_button)  # a button from an old message, of a finished form, or forged
    router.error.register(on_error)
    return router
