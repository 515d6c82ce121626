"""Operators' broadcasts (群发消息): /broadcast (and 📣 on the staff menu) opens the form
(bot/flows/broadcast.py); /broadcasts (and 📨) lists the recent ones. A broadcast's report shows
sent, blocked, failed and waiting copies, with 刷新 and 停止发送 while it runs; its author gets the
final report when it is over (bot/jobs/broadcasts.py).

Every button's id is looked up again and the policy asked on the server: a forged id, or someone no
longer an operator, gets a kind alert and nothing changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import CONFIRM_MINUTES, BroadcastAction, BroadcastCB, Pressed, fresh, minute_stamp
from bot.filters import Can
from bot.flows.broadcast import report_markup
from bot.flows.engine import start_form, turn_of
from bot.keyboards import back_to_menu
from bot.render import Texts
from bot.services import broadcasts
from bot.services.policy import Action
from bot.services.users import Person
from bot.ui import not_allowed, show, stale_button
from storage.models import Broadcast

LIST_SIZE = 10


async def compose(event: Message | CallbackQuery, person: Person, **data: Any) -> None:
    """/broadcast or 📣 群发消息: the form (it asks before replacing an unfinished one)."""
    if isinstance(event, CallbackQuery):
        await event.answer()
    await start_form(turn_of(person.id, person=person, **data), "broadcast")


def _list_view(texts: Texts, rows: list[Broadcast]) -> tuple[str, InlineKeyboardMarkup]:
    buttons = [InlineKeyboardButton(text=texts.label("broadcasts.item", id=r.id, status=texts.label(
        f"broadcasts.status.{r.status}"), total=r.total), callback_data=BroadcastCB(
        id=r.id, action=BroadcastAction.report).pack()) for r in rows]
    buttons.append(InlineKeyboardButton(text=texts.label("broadcasts.new"),
                                        callback_data=BroadcastCB(id=0, action=BroadcastAction.new).pack()))
    return texts.render("broadcasts/list", rows=rows), back_to_menu(texts, buttons)


async def list_recent(event: Message | CallbackQuery, bot: Bot, texts: Texts, session: AsyncSession,
                      person: Person) -> None:
    """/broadcasts: the recent broadcasts, each opening its report."""
    text, markup = _list_view(texts, await broadcasts.recent(session, LIST_SIZE))
    if isinstance(event, CallbackQuery):
        await show(event, text, markup)
    else:
        await bot.send_message(person.id, text, reply_markup=markup)


async def _report_view(texts: Texts, session: AsyncSession, row: Broadcast) -> tuple[str, InlineKeyboardMarkup]:
    report = await broadcasts.report(session, row)
    final = report.status != broadcasts.Status.sending
    return texts.render("broadcasts/report", r=report, final=final), report_markup(texts, row.id, final=final)


async def _show_report(callback: CallbackQuery, texts: Texts, session: AsyncSession, row: Broadcast,
                       note: str) -> None:
    """The report in place, with a line on top saying what just happened."""
    text, markup = await _report_view(texts, session, row)
    await show(callback, f"{note}\n\n{text}", markup)


async def open_report(callback: CallbackQuery, callback_data: BroadcastCB, texts: Texts,
                      session: AsyncSession) -> None:
    """A broadcast's report in place (刷新 while it runs)."""
    row = await session.get(Broadcast, callback_data.id)
    if row is None:
        await stale_button(callback, texts)
        return
    await show(callback, *await _report_view(texts, session, row))


async def ask_cancel(callback: CallbackQuery, callback_data: BroadcastCB, texts: Texts, session: AsyncSession,
                     clock: Callable[[], datetime]) -> None:
    row = await session.get(Broadcast, callback_data.id)
    if row is None:
        await stale_button(callback, texts)
        return
    if row.status != broadcasts.Status.sending:
        await _show_report(callback, texts, session, row, texts.render("broadcasts/already_over", status=str(row.status)))
        return
    yes = BroadcastCB(id=row.id, action=BroadcastAction.cancel_yes, arg=minute_stamp(clock())).pack()
    markup = InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=texts.label("broadcasts.cancel_yes"), callback_data=yes)],
        [InlineKeyboardButton(text=texts.label("broadcasts.cancel_no"),
                              callback_data=BroadcastCB(id=row.id, action=BroadcastAction.report).pack())]])
    report = await broadcasts.report(session, row)
    await show(callback, texts.render("broadcasts/cancel_ask", r=report), markup)


async def cancel(callback: CallbackQuery, callback_data: BroadcastCB, texts: Texts, session: AsyncSession,
                 person: Person, clock: Callable[[], datetime]) -> None:
    """停止发送 confirmed (within CONFIRM_MINUTES): copies not yet sent are dropped. An old button
    of a broadcast already over says so."""
    now = clock()
    row = await session.get(Broadcast, callback_data.id)
    if row is None:
        await stale_button(callback, texts)
        return
    if row.status == broadcasts.Status.sending and not fresh(callback_data.arg, now):
        await callback.answer(texts.render("forms/errors/confirm_expired", minutes=CONFIRM_MINUTES), show_alert=True)
        return
    outcome, row = await broadcasts.cancel(session, row.id, person.id, now)
    assert row is not None
    note = (texts.render("broadcasts/already_over", status=str(row.status))
            if outcome is broadcasts.Outcome.already_over else texts.render("broadcasts/cancelled"))
    await _show_report(callback, texts, session, row, note)


def build() -> Router:
    router = Router(name="broadcast")
    staff = Can(Action.broadcast)
    router.message.register(compose, Command("broadcast"), staff)  # others: "unknown command"
    router.message.register(list_recent, Command("broadcasts"), staff)
    on = router.callback_query.register
    on(compose, BroadcastCB.filter(F.action == BroadcastAction.new), staff)
    on(list_recent, BroadcastCB.filter(F.action == BroadcastAction.list), staff)
    on(open_report, BroadcastCB.filter(F.action == BroadcastAction.report), staff)
    on(ask_cancel, BroadcastCB.filter(F.action == BroadcastAction.cancel), staff)
    on(cancel, BroadcastCB.filter(F.action == BroadcastAction.cancel_yes), staff)
    on(not_allowed, Pressed(BroadcastCB), ~staff)
    on(stale_button, Pressed(BroadcastCB))
    return router
