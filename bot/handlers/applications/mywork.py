"""/mywork: a person's applications, each one's card and what its buttons do (edit, correct one
answer, submit, withdraw, delete, reopen a withdrawn one), and each file of the card."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot import notices
from bot.callbacks import FileAction, FileCB, MenuCB, MyWorkCB, Section, SubAction, SubCB, fresh, minute_stamp
from bot.campaign import Campaign
from bot.config import Settings
from bot.flows.application import UploadSG
from bot.flows.engine import Forms, leave_open, move_to, start_form, turn_of
from bot.handlers.applications.common import (
    FILES_PER_PAGE,
    MYWORK_PER_PAGE,
    May,
    Own,
    OwnFile,
    button,
    card,
    card_keyboard,
    confirm_keyboard,
    draft_keyboard,
    expired,
    file_view,
    not_draft,
    page_of,
    pager,
    show_card,
    staff_button,
)
from bot.keyboards import back_to_menu
from bot.outbox import notify
from bot.render import Texts
from bot.services import reviews, rounds, submissions
from bot.services.policy import Action, can
from bot.services.submissions import Status, SubmitOutcome
from bot.services.users import Person
from bot.ui import show, stale_button
from storage.models import Submission, SubmissionFile
from storage.statuses import RoundStatus

# ---------------------------------------------------------------- the list


async def mywork_view(session: AsyncSession, texts: Texts, person: Person,
                      page: int = 0) -> tuple[str, InlineKeyboardMarkup]:
    """How many applications, and a button for each of one page (newest first)."""
    subs = await submissions.mine(session, person.id)
    shown, page, pages = page_of(subs, page, MYWORK_PER_PAGE)
    rows = [[InlineKeyboardButton(text=texts.label("application.item", id=s.id, title=s.title[:20],
                                                   status=texts.label(f"application.status.{s.status}")),
                                  callback_data=SubCB(id=s.id, action=SubAction.open).pack())] for s in shown]
    rows += pager(texts, page, pages, lambda to: MyWorkCB(page=to).pack())
    new = InlineKeyboardButton(text=texts.label("application.new"), callback_data=MenuCB(section=Section.apply).pack())
    return (texts.render("application/mywork", subs=subs, page=page, pages=pages),
            back_to_menu(texts, rows=[*rows, [new]]))


async def mywork(event: Message | CallbackQuery, texts: Texts, session: AsyncSession, person: Person) -> None:
    """/mywork or 我的作品 on the menu: every application of this person with its status."""
    if isinstance(event, CallbackQuery):
        await show(event, *await mywork_view(session, texts, person))
    else:
        text, markup = await mywork_view(session, texts, person)
        await event.answer(text, reply_markup=markup)


async def mywork_page(callback: CallbackQuery, callback_data: MyWorkCB, texts: Texts, session: AsyncSession,
                      person: Person) -> None:
    """Another page of /mywork (the list is the pressing person's own)."""
    await show(callback, *await mywork_view(session, texts, person, callback_data.page))


# ---------------------------------------------------------------- an application's card


async def open_card(callback: CallbackQuery, texts: Texts, session: AsyncSession, campaign: Campaign,
                    sub: Submission) -> None:
    await show_card(callback, texts, session, campaign, sub)


async def open_card_below(callback: CallbackQuery, bot: Bot, texts: Texts, session: AsyncSession,
                          campaign: Campaign, sub: Submission) -> None:
    """A notification's button: the card comes as a new message, so the notification (the review's
    feedback, a check by hand) stays readable above it."""
    await callback.answer()
    text, markup = await card(session, texts, campaign, sub)
    await bot.send_message(callback.from_user.id, text, reply_markup=markup, disable_web_page_preview=True)


async def feedback(callback: CallbackQuery, callback_data: SubCB, bot: Bot, texts: Texts, session: AsyncSession,
                   campaign: Campaign, sub: Submission) -> None:
    """第 N 轮评审意见: a decided round's feedback in full (what the creator was sent), again."""
    rnd = await rounds.round_of(session, sub.id, int(callback_data.arg)) if callback_data.arg.isdigit() else None
    fb = await reviews.feedback(session, campaign, rnd.id) if rnd is not None else None
    if fb is None:
        await stale_button(callback, texts)
        return
    await callback.answer()
    await bot.send_message(callback.from_user.id, texts.render("review/notice_feedback", fb=fb))


async def card_page(callback: CallbackQuery, callback_data: SubCB, texts: Texts, session: AsyncSession,
                    campaign: Campaign, sub: Submission) -> None:
    """Another page of the card's files."""
    if not callback_data.arg.isdigit():
        await stale_button(callback, texts)
        return
    await show_card(callback, texts, session, campaign, sub, int(callback_data.arg))


async def later(callback: CallbackQuery, state: FSMContext, texts: Texts, sub: Submission) -> None:
    """稍后: the upload step closes; the draft waits in /mywork."""
    await leave_open(state)
    await show(callback, texts.render("application/later", sub=sub), back_to_menu(texts))


async def edit(callback: CallbackQuery, sub: Submission, person: Person, **data: Any) -> None:
    """修改: the form at its summary with this draft's answers, to change any of them."""
    await callback.answer()
    await start_form(turn_of(person.id, person=person, **data), "application", values=submissions.answers_of(sub),
                     refs={"submission_id": sub.id}, at_summary=True)


async def fix(callback: CallbackQuery, callback_data: SubCB, sub: Submission, person: Person, texts: Texts,
              forms: Forms, **data: Any) -> None:
    """修改「…」: the form at one answer that breaks a rule (the card's fix buttons)."""
    name, answers = callback_data.arg, submissions.answers_of(sub)
    if not any(fld.name == name and fld.applies(answers) for fld in forms["application"].fields):
        await stale_button(callback, texts)
        return
    await callback.answer()
    await start_form(turn_of(person.id, person=person, texts=texts, forms=forms, **data), "application",
                     values=answers, refs={"submission_id": sub.id}, edit_only=[name])


async def submit(callback: CallbackQuery, bot: Bot, texts: Texts, session: AsyncSession, person: Person,
                 campaign: Campaign, clock: Callable[[], datetime], sub: Submission) -> None:
    """提交: not ready (or closed): say why at once; ready: ask to confirm first."""
    outcome, ready = await submissions.can_submit(session, campaign, sub, clock())
    await callback.answer()
    if outcome is SubmitOutcome.submitted:
        await bot.send_message(person.id, texts.render("application/submit_confirm", sub=sub, ready=ready),
                               reply_markup=confirm_keyboard(texts, sub, "submit_yes", SubAction.submit_yes))
    else:
        await send_submit_result(bot, person.id, texts, session, sub, outcome, ready)


async def submit_yes(callback: CallbackQuery, bot: Bot, state: FSMContext, texts: Texts, session: AsyncSession,
                     person: Person, campaign: Campaign, settings: Settings, clock: Callable[[], datetime],
                     sub: Submission) -> None:
    """确认提交: submitted (the operators are told) and its review round opened (its reviewers are
    told; with none available it waits in the operators' queue), or why not."""
    was_returned = sub.status == Status.returned
    outcome, ready = await submissions.submit(session, campaign, sub, clock())
    opened = None
    if outcome is SubmitOutcome.submitted:
        opened = await rounds.open_round(session, campaign, sub, now=clock(), actor_id=person.id)
        await notices.assigned(session, texts, [(opened.round.id, r) for r in opened.assigned])
    await send_submit_result(bot, person.id, texts, session, sub, outcome, ready, callback=callback)
    if opened is not None:
        if (await state.get_data()).get("submission_id") == sub.id:
            await leave_open(state)
        # the operators' notice says when the round is short of reviewers, with a button to it
        await notify(session, await notices.operator_ids(session, settings.admin_ids), texts.render(
            "application/for_staff", sub=sub, category=campaign.category(sub.category), person=person,
            pending=len(ready.pending_files) if ready else 0, resubmitted=was_returned,
            waiting=opened.round.status == RoundStatus.waiting, missing=opened.missing),
            staff_button(texts, sub, opened.round.id if opened.missing else None), about=sub.user_id)


async def send_submit_result(bot: Bot, chat_id: int, texts: Texts, session: AsyncSession, sub: Submission,
                             outcome: SubmitOutcome, ready: submissions.Readiness | None,
                             callback: CallbackQuery | None = None) -> None:
    errors = ready.form_errors if ready else []
    shown, page, pages = page_of(await submissions.files_of(session, sub.id), 0, FILES_PER_PAGE)
    markup = card_keyboard(texts, sub, failed=bool(ready and ready.failed_files), files=shown, errors=errors,
                           page=page, pages=pages)
    text = texts.render("application/submit_result", outcome=outcome.value, sub=sub, ready=ready)
    if callback is not None:  # the confirmation turns into the result
        await show(callback, text, markup)
    else:
        await bot.send_message(chat_id, text, reply_markup=markup)


async def withdraw(callback: CallbackQuery, texts: Texts, clock: Callable[[], datetime], sub: Submission) -> None:
    """撤回: asks first; the confirmation works for CONFIRM_MINUTES."""
    await show(callback, texts.render("application/withdraw_confirm", sub=sub),
               confirm_keyboard(texts, sub, "withdraw_yes", SubAction.withdraw_yes, minute_stamp(clock())))


async def withdraw_yes(callback: CallbackQuery, callback_data: SubCB, texts: Texts, session: AsyncSession,
                       campaign: Campaign, clock: Callable[[], datetime], sub: Submission) -> None:
    if not fresh(callback_data.arg, clock()):  # a confirmation pressed long after
        await show_card(callback, texts, session, campaign, sub, before=expired(texts))
        return
    done = await submissions.withdraw(session, sub)
    await show(callback, texts.render("application/withdrawn", done=done, sub=sub), card_keyboard(texts, sub))


async def delete(callback: CallbackQuery, texts: Texts, clock: Callable[[], datetime], sub: Submission) -> None:
    """删除 (a draft): asks first; the confirmation works for CONFIRM_MINUTES."""
    await show(callback, texts.render("application/delete_confirm", sub=sub),
               confirm_keyboard(texts, sub, "delete_yes", SubAction.delete_yes, minute_stamp(clock())))


async def delete_yes(callback: CallbackQuery, callback_data: SubCB, state: FSMContext, texts: Texts,
                     session: AsyncSession, campaign: Campaign, clock: Callable[[], datetime], sub: Submission) -> None:
    if not fresh(callback_data.arg, clock()):  # a confirmation pressed long after
        await show_card(callback, texts, session, campaign, sub, before=expired(texts))
        return
    await submissions.delete_draft(session, sub)
    if (await state.get_data()).get("submission_id") == sub.id:
        await leave_open(state)
    await show(callback, texts.render("application/deleted", sub=sub), back_to_menu(texts))


async def copy(callback: CallbackQuery, state: FSMContext, texts: Texts, session: AsyncSession, campaign: Campaign,
               sub: Submission) -> None:
    """重新申报 (a withdrawn one): a new draft with its answers and the files that passed."""
    try:
        new = await submissions.copy_as_draft(session, sub)
    except submissions.TooManyDrafts:
        await callback.answer(texts.render("application/too_many_drafts", limit=submissions.MAX_OPEN_DRAFTS),
                              show_alert=True)
        return
    if new is None:
        await callback.answer(texts.render("application/not_withdrawn", sub=sub), show_alert=True)
        return
    await move_to(state, UploadSG.files, {"submission_id": new.id})
    files = await submissions.files_of(session, new.id)
    await show(callback, texts.render("application/copied", sub=new, source=sub, files=files,
                                      category=campaign.category(new.category)),
               draft_keyboard(texts, new))


# ---------------------------------------------------------------- each file of an application


async def open_file(callback: CallbackQuery, texts: Texts, person: Person, row: SubmissionFile,
                    sub: Submission) -> None:
    """A file of one's own application: its report again, and removing it (drafts and returned)."""
    rows = [[InlineKeyboardButton(text=texts.label("application.remove_file"),
                                  callback_data=FileCB(file=row.id, action=FileAction.remove).pack())]] \
        if can(person, Action.change_files, sub) else []
    back = [button(texts, "back", sub.id, SubAction.open)]
    await show(callback, texts.render("application/file_report", row=row, sub=sub, view=file_view(row)),
               back_to_menu(texts, rows=[*rows, back]))


async def remove_file(callback: CallbackQuery, texts: Texts, clock: Callable[[], datetime], row: SubmissionFile,
                      sub: Submission) -> None:
    confirm = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=texts.label("application.remove_file_yes"),
        callback_data=FileCB(file=row.id, action=FileAction.remove_yes, arg=minute_stamp(clock())).pack())],
        [button(texts, "back", sub.id, SubAction.open)]])
    await show(callback, texts.render("application/remove_file_confirm", row=row, sub=sub), confirm)


async def remove_file_yes(callback: CallbackQuery, callback_data: FileCB, texts: Texts, session: AsyncSession,
                          campaign: Campaign, clock: Callable[[], datetime], row: SubmissionFile,
                          sub: Submission) -> None:
    if not fresh(callback_data.arg, clock()):  # a confirmation pressed long after
        await show_card(callback, texts, session, campaign, sub, before=expired(texts))
        return
    await submissions.remove_file(session, sub, row)
    text, markup = await card(session, texts, campaign, sub)
    await show(callback, texts.render("application/file_removed", row=row) + "\n\n" + text, markup)


def build() -> Router:
    router = Router(name="applications.mywork")
    router.message.register(mywork, Command("mywork"))
    router.callback_query.register(mywork, MenuCB.filter(F.section == Section.mywork))
    router.callback_query.register(mywork_page, MyWorkCB.filter())
    on = router.callback_query.register
    own = Own()
    on(open_card, SubCB.filter(F.action == SubAction.open), own)
    on(open_card_below, SubCB.filter(F.action == SubAction.show), own)
    on(card_page, SubCB.filter(F.action == SubAction.page), own)
    on(feedback, SubCB.filter(F.action == SubAction.feedback), own)
    on(later, SubCB.filter(F.action == SubAction.later), own)
    on(edit, SubCB.filter(F.action == SubAction.edit), own, May(Action.edit_submission))
    on(fix, SubCB.filter(F.action == SubAction.fix), own, May(Action.edit_submission))
    on(submit, SubCB.filter(F.action == SubAction.submit), own, May(Action.submit_submission))
    on(submit_yes, SubCB.filter(F.action == SubAction.submit_yes), own, May(Action.submit_submission))
    on(withdraw, SubCB.filter(F.action == SubAction.withdraw), own)
    on(withdraw_yes, SubCB.filter(F.action == SubAction.withdraw_yes), own)
    on(delete, SubCB.filter(F.action == SubAction.delete), own, May(Action.delete_submission))
    on(delete_yes, SubCB.filter(F.action == SubAction.delete_yes), own, May(Action.delete_submission))
    on(copy, SubCB.filter(F.action == SubAction.copy), own)
    own_file = OwnFile()
    on(open_file, FileCB.filter(F.action == FileAction.open), own_file)
    on(remove_file, FileCB.filter(F.action == FileAction.remove), own_file, May(Action.change_files))
    on(remove_file_yes, FileCB.filter(F.action == FileAction.remove_yes), own_file, May(Action.change_files))
    # the last of the applications' buttons: an action its application's status no longer allows
    on(not_draft, SubCB.filter(), own)
    on(not_draft, FileCB.filter(), own_file)
    return router
