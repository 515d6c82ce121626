"""Operators and applications: files too big for the checks (/bigfiles, passed or failed by hand)
and opening someone's submitted application with its files, review rounds and audit trail, and
取消资格 (the disqualify form: bot/flows/decision.py)."""

from __future__ import annotations

import json
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import (
    ManualCheckCB,
    MenuCB,
    Pressed,
    RoundAction,
    RoundCB,
    Section,
    StaffAction,
    StaffSubCB,
)
from bot.campaign import Campaign
from bot.filters import Can
from bot.flows.engine import Forms, start_form, turn_of
from bot.handlers.applications.common import (
    STAFF_FILES_PER_PAGE,
    answer_rows,
    file_view,
    page_of,
    pager,
    send_files,
)
from bot.outbox import notify
from bot.render import Texts
from bot.services import listing, submissions
from bot.services.policy import Action, can
from bot.services.users import Person
from bot.ui import not_allowed, show, stale_button
from storage.models import Submission, SubmissionFile
from storage.statuses import SubmissionStatus

CARD_LIMIT = 4096
AUDIT_PER_PAGE = 10

# ---------------------------------------------------------------- files too big for the checks


async def big_files(event: Message | CallbackQuery, bot: Bot, texts: Texts, session: AsyncSession,
                    person: Person, campaign: Campaign) -> None:
    """/bigfiles, or its count on an operator's /start: files over the Bot API's download limit,
    sent to them to check by hand (for example with `kepubot check` on their computer), each with
    通过 / 不通过."""
    if isinstance(event, CallbackQuery):
        await event.answer()
    chat_id = person.id
    waiting, total = await submissions.awaiting_manual_check(session)
    await bot.send_message(chat_id, texts.render("application/big_files", shown=len(waiting), total=total))
    for row, sub in waiting:
        verdict = InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text=texts.label("application.manual_pass"),
                                 callback_data=ManualCheckCB(file=row.id, passed=True).pack()),
            InlineKeyboardButton(text=texts.label("application.manual_fail"),
                                 callback_data=ManualCheckCB(file=row.id, passed=False).pack())]])
        await notify(session, [chat_id], texts.render(
            "application/big_file", row=row, sub=sub, category=campaign.category(sub.category),
            first=json.loads(row.report) if row.report else None), verdict,
            attachments=[("video" if row.sent_as == "video" else "document", row.file_id)], about=sub.user_id)


async def manual_pass(callback: CallbackQuery, callback_data: ManualCheckCB, texts: Texts, session: AsyncSession,
                      person: Person) -> None:
    """通过 is recorded at once; the creator is told."""
    result = await submissions.record_manual_check(session, callback_data.file, True, by=person)
    if result is None:
        await callback.answer(texts.render("application/manual_done_already"), show_alert=True)
        return
    await show(callback, texts.render("application/manual_recorded", row=result.row, passed=True,
                                      reason=None, returned=False))
    await notify(session, [result.sub.user_id], texts.render("application/manual_result", row=result.row,
                                                             sub=result.sub, passed=True, reason=None,
                                                             returned=False), about=result.sub.user_id)


async def manual_fail(callback: CallbackQuery, callback_data: ManualCheckCB, texts: Texts, session: AsyncSession,
                      person: Person, **data: Any) -> None:
    """不通过 asks the operator why (the rule and their words) first (the manual_fail form)."""
    waiting = await submissions.waiting_file(session, callback_data.file)
    if waiting is None:
        await callback.answer(texts.render("application/manual_done_already"), show_alert=True)
        return
    row, sub = waiting
    await callback.answer()
    await start_form(turn_of(person.id, texts=texts, session=session, person=person, **data), "manual_fail",
                     refs={"file_id": row.id, "submission_id": sub.id, "about": sub.user_id})


# ---------------------------------------------------------------- someone's submitted application


def staff_card(texts: Texts, campaign: Campaign, forms: Forms, sub: Submission, files: list[SubmissionFile],
               page: int, rounds: list[listing.RoundView] | None = None, *,
               may_disqualify: bool = False) -> tuple[str, InlineKeyboardMarkup | None]:
    """The operators' card: the answers, one page of the files with their unmet requirements, the
    review rounds (reviewers, decision, message); buttons to each round, the audit trail and 取消资格."""
    rows = answer_rows(texts, forms, sub)
    shown, page, pages = page_of(files, page, STAFF_FILES_PER_PAGE)
    text = texts.render("application/staff_card", sub=sub, rows=rows, category=campaign.category(sub.category),
                        note=submissions.staff_note_of(sub), files=[file_view(f) for f in shown],
                        total=len(files), page=page, pages=pages, first=page * STAFF_FILES_PER_PAGE,
                        rounds=rounds or [])
    if len(text) > CARD_LIMIT:  # long answers and many rounds: the rounds' messages shortened
        text = texts.render("application/staff_card", sub=sub, rows=rows, category=campaign.category(sub.category),
                            note=submissions.staff_note_of(sub), files=[file_view(f) for f in shown],
                            total=len(files), page=page, pages=pages, first=page * STAFF_FILES_PER_PAGE,
                            rounds=(rounds or [])[-3:])[:CARD_LIMIT]
    buttons = pager(texts, page, pages, lambda to: StaffSubCB(id=sub.id, action=StaffAction.page, arg=str(to)).pack())
    round_buttons = [InlineKeyboardButton(
        text=texts.label("review_staff.round_button", number=r.number,
                         status=texts.label(f"review_staff.round_status.{r.status}")),
        callback_data=RoundCB(id=r.id, action=RoundAction.open).pack()) for r in (rounds or [])]
    buttons += [round_buttons[i:i + 2] for i in range(0, len(round_buttons), 2)]
    actions = [InlineKeyboardButton(text=texts.label("review_staff.audit"),
                                    callback_data=StaffSubCB(id=sub.id, action=StaffAction.audit, arg="0").pack())]
    if may_disqualify:
        actions.append(InlineKeyboardButton(text=texts.label("review_staff.disqualify"),
                                            callback_data=StaffSubCB(id=sub.id, action=StaffAction.disqualify).pack()))
    buttons.append(actions)
    return text, InlineKeyboardMarkup(inline_keyboard=buttons)


async def _card(texts: Texts, session: AsyncSession, person: Person, campaign: Campaign, forms: Forms,
                sub: Submission, page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    files = await submissions.files_of(session, sub.id)
    return staff_card(texts, campaign, forms, sub, files, page, await listing.rounds_of(session, sub.id),
                      may_disqualify=can(person, Action.disqualify_submission, sub))


async def staff_open(callback: CallbackQuery, callback_data: StaffSubCB, bot: Bot, texts: Texts,
                     session: AsyncSession, person: Person, campaign: Campaign, forms: Forms) -> None:
    """Operators open someone's application: the files themselves (by their Telegram file ids),
    each with its check summary, then the card with the answers and its review rounds."""
    sub = await submissions.for_staff(session, callback_data.id, person)
    if sub is None:  # a draft (private), or gone
        await stale_button(callback, texts)
        return
    files = await submissions.files_of(session, sub.id)
    await callback.answer()
    chat_id = person.id
    await send_files(bot, chat_id, texts, files)
    text, markup = await _card(texts, session, person, campaign, forms, sub, 0)
    await bot.send_message(chat_id, text, reply_markup=markup, disable_web_page_preview=True)


async def staff_page(callback: CallbackQuery, callback_data: StaffSubCB, texts: Texts, session: AsyncSession,
                     person: Person, campaign: Campaign, forms: Forms) -> None:
    """Another page of the operators' card's file list (also: back to the card from its audit trail)."""
    sub = await submissions.for_staff(session, callback_data.id, person)
    if sub is None or not callback_data.arg.isdigit():
        await stale_button(callback, texts)
        return
    await show(callback, *await _card(texts, session, person, campaign, forms, sub, int(callback_data.arg)))


async def staff_audit(callback: CallbackQuery, callback_data: StaffSubCB, texts: Texts, session: AsyncSession,
                      person: Person) -> None:
    """A page of the application's audit trail (its own, its rounds' and assignments' changes):
    who, when, from -> to, why; newest first."""
    sub = await submissions.for_staff(session, callback_data.id, person)
    if sub is None or not callback_data.arg.isdigit():
        await stale_button(callback, texts)
        return
    trail = await listing.audit_trail(session, sub.id, page=int(callback_data.arg), size=AUDIT_PER_PAGE)
    text = texts.render("review_staff/audit", sub=sub, trail=trail)[:CARD_LIMIT]
    rows = pager(texts, trail.page, trail.pages,
                 lambda to: StaffSubCB(id=sub.id, action=StaffAction.audit, arg=str(to)).pack())
    rows.append([InlineKeyboardButton(text=texts.label("review_staff.audit_back"),
                                      callback_data=StaffSubCB(id=sub.id, action=StaffAction.page, arg="0").pack())])
    await show(callback, text, InlineKeyboardMarkup(inline_keyboard=rows))


async def staff_disqualify(callback: CallbackQuery, callback_data: StaffSubCB, bot: Bot, texts: Texts,
                           session: AsyncSession, person: Person, **data: Any) -> None:
    """取消资格: the disqualify form (reason, words, confirm), for an application submitted or later
    and not disqualified yet; the form's confirmation asks `reviews.disqualify` again."""
    sub = await submissions.for_staff(session, callback_data.id, person)
    if sub is None:
        await stale_button(callback, texts)
        return
    await callback.answer()
    if not can(person, Action.disqualify_submission, sub):
        result = "already" if sub.status == SubmissionStatus.disqualified else "not_allowed"
        await bot.send_message(person.id, texts.render("review_staff/disqualify_result", result=result, sub=sub,
                                                       stopped=0))
        return
    await bot.send_message(person.id, texts.render("review_staff/disqualify_context", sub=sub))
    await start_form(turn_of(person.id, bot=bot, texts=texts, session=session, person=person, **data), "disqualify",
                     refs={"submission_id": sub.id})


def build() -> Router:
    router = Router(name="applications.staff")
    check_files, open_applications = Can(Action.check_file_by_hand), Can(Action.open_application)
    router.message.register(big_files, Command("bigfiles"), check_files)  # others: the fallback's "unknown command"
    on = router.callback_query.register
    on(big_files, MenuCB.filter(F.section == Section.bigfiles), check_files)
    on(manual_pass, ManualCheckCB.filter(F.passed), check_files)
    on(manual_fail, ManualCheckCB.filter(~F.passed), check_files)
    on(staff_open, StaffSubCB.filter(F.action == StaffAction.open), open_applications)
    on(staff_page, StaffSubCB.filter(F.action == StaffAction.page), open_applications)
    on(staff_audit, StaffSubCB.filter(F.action == StaffAction.audit), open_applications)
    on(staff_disqualify, StaffSubCB.filter(F.action == StaffAction.disqualify), Can(Action.disqualify_submission))
    # the same buttons pressed by someone the policy does not allow (forged, or no longer staff)
    on(not_allowed, MenuCB.filter(F.section == Section.bigfiles))
    on(not_allowed, Pressed(ManualCheckCB), ~check_files)
    on(not_allowed, Pressed(StaffSubCB), ~open_applications)
    on(not_allowed, StaffSubCB.filter(F.action == StaffAction.disqualify))  # staff who may not disqualify
    return router
