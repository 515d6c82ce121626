"""Reviewers: /reviews (their queue), a review card, the review form, declining, their profile
(/myfields). Every button names an assignment by id: `reviews.assignment_for` finds it only when it
is the pressing reviewer's, and the forms' services check again when they are submitted."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import Pressed, ReviewAction, ReviewCB
from bot.campaign import Campaign
from bot.filters import Can
from bot.flows import engine
from bot.flows.draft import Draft
from bot.flows.engine import Forms, Turn, start_form, turn_of
from bot.flows.review import own_review
from bot.handlers.applications.common import (
    answer_rows,
    file_view,
    page_of,
    pager,
    send_files,
)
from bot.render import Texts
from bot.services import reviewers, reviews, rounds
from bot.services.policy import Action
from bot.services.reviews import AssignmentView
from bot.services.users import Person
from bot.ui import not_allowed, show
from storage.statuses import AssignmentStatus, RoundStatus, SubmissionStatus

QUEUE_PER_PAGE = 10  # /reviews: one button per item
# the card's files, a page at a time: with the answers (each cut to 200 characters), the previous
# round's message (300) and each file's unmet requirements (3 shown) it stays under 4096 characters
CARD_FILES_PER_PAGE = 4
TITLE_CHARS = 24  # of a title on a button


def _button(texts: Texts, key: str, cb: ReviewCB, **fmt: Any) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=texts.label(f"reviewer.{key}", **fmt), callback_data=cb.pack())


# ---------------------------------------------------------------- /reviews


async def queue_view(session: AsyncSession, texts: Texts, person: Person, page: int,
                     now) -> tuple[str, InlineKeyboardMarkup]:
    items = await rounds.queue_of(session, person.id, now=now)
    profile = await reviewers.profile_of(session, person.id)
    shown, page, pages = page_of(items, page, QUEUE_PER_PAGE)
    text = texts.render("review/queue", items=shown, total=len(items), page=page, pages=pages,
                        first=page * QUEUE_PER_PAGE, has_profile=profile is not None)
    rows = [[_button(texts, "item", ReviewCB(id=item.assignment_id, action=ReviewAction.open),
                     overdue="⏰ " if item.overdue else "", title=item.title[:TITLE_CHARS], round=item.number)]
            for item in shown]
    rows += pager(texts, page, pages, lambda to: ReviewCB(id=0, action=ReviewAction.queue, arg=str(to)).pack())
    rows.append([_button(texts, "set_profile" if profile is None else "edit_profile",
                         ReviewCB(id=0, action=ReviewAction.profile))])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def my_reviews(message: Message, texts: Texts, session: AsyncSession, person: Person,
                     **data: Any) -> None:
    """/reviews: the reviewer's open items, soonest due first, a button each."""
    text, markup = await queue_view(session, texts, person, 0, data["clock"]())
    await message.answer(text, reply_markup=markup, disable_web_page_preview=True)


async def queue_page(callback: CallbackQuery, callback_data: ReviewCB, texts: Texts, session: AsyncSession,
                     person: Person, **data: Any) -> None:
    """Another page of /reviews (or the list again, from a card or a finished review)."""
    page = int(callback_data.arg) if callback_data.arg.isdigit() else 0
    text, markup = await queue_view(session, texts, person, page, data["clock"]())
    if callback_data.arg:
        await show(callback, text, markup)
    else:  # from a card or a result: the list as a new message, below
        await callback.answer()
        await callback.bot.send_message(person.id, text, reply_markup=markup, disable_web_page_preview=True)


# ---------------------------------------------------------------- the profile


async def my_fields(event: Message | CallbackQuery, session: AsyncSession, person: Person,
                    **data: Any) -> None:
    """/myfields (or its button on /reviews): the profile form, pre-filled from the profile saved;
    a complete one opens at its summary, to change what needs changing."""
    if isinstance(event, CallbackQuery):
        await event.answer()
    profile = await reviewers.profile_of(session, person.id)
    turn = turn_of(person.id, session=session, person=person, **data)
    if profile is None:
        await start_form(turn, "reviewer_profile")
        return
    values = {"fields": reviewers.fields_of(profile), "other_fields": profile.other_fields or None,
              "unit": profile.unit or None}
    await start_form(turn, "reviewer_profile", values=values, at_summary=bool(profile.unit))


# ---------------------------------------------------------------- the card


def state_of(view: AssignmentView) -> str:
    """What the card says of the assignment: open, submitted (their review is in), declined,
    reassigned, stopped, disqualified, or closed (the round is no longer being reviewed)."""
    if view.submission.status == SubmissionStatus.disqualified:
        return "disqualified"
    status = view.assignment.status
    if status != AssignmentStatus.assigned:
        return str(status)
    return "open" if view.round.status == RoundStatus.reviewing else "closed"


def draft_for(turn: Turn, assignment_id: int) -> Draft | None:
    """The reviewer's unfinished review of this assignment (open or parked), if any."""
    for draft in ([turn.draft] if turn.draft else []) + turn.parked:
        if draft.form == "review" and int(draft.refs.get("assignment_id", 0)) == assignment_id:
            return draft
    return None


async def card_view(session: AsyncSession, texts: Texts, campaign: Campaign, forms: Forms, person: Person,
                    view: AssignmentView, page: int, now, *, has_draft: bool) -> tuple[str, InlineKeyboardMarkup]:
    state = state_of(view)
    asg, sub = view.assignment, view.submission
    own = None
    if asg.status == AssignmentStatus.submitted:
        mine = [v for v in await reviews.reviews_visible_to(session, person, view.round.id) if v.mine]
        own = own_review(campaign, mine[0]) if mine else None
    shown, page, pages = page_of(view.files, page, CARD_FILES_PER_PAGE)
    text = texts.render(
        "review/card", state=state, sub=sub, round=view.round, assignment=asg, category=campaign.category(sub.category),
        previous=view.previous, overdue=asg.due_at < now, own=own,
        rows=answer_rows(texts, forms, sub) if state == "open" else [],
        files=[file_view(f) for f in shown] if state == "open" else [], total=len(view.files), page=page,
        pages=pages, first=page * CARD_FILES_PER_PAGE)
    rows: list[list[InlineKeyboardButton]] = []
    if state == "open":
        rows += pager(texts, page, pages, lambda to: ReviewCB(id=asg.id, action=ReviewAction.page, arg=str(to)).pack())
        if view.files:
            rows.append([_button(texts, "files", ReviewCB(id=asg.id, action=ReviewAction.files), n=len(view.files))])
        rows.append([_button(texts, "resume" if has_draft else "start", ReviewCB(id=asg.id, action=ReviewAction.start))])
        rows.append([_button(texts, "decline", ReviewCB(id=asg.id, action=ReviewAction.decline))])
    rows.append([_button(texts, "to_queue", ReviewCB(id=0, action=ReviewAction.queue))])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def _found(callback: CallbackQuery, texts: Texts, session: AsyncSession, person: Person,
                 assignment_id: int) -> AssignmentView | None:
    """The assignment the button names if it is this reviewer's; else they are told (nothing shown)."""
    view = await reviews.assignment_for(session, person, assignment_id)
    if view is None:
        await callback.answer(texts.render("review/not_yours"), show_alert=True)
    return view


async def open_card(callback: CallbackQuery, callback_data: ReviewCB, texts: Texts, session: AsyncSession,
                    person: Person, campaign: Campaign, forms: Forms, raw_state: str | None = None,
                    **data: Any) -> None:
    """The review card (a new message): the application's answers and files with their check report,
    or what became of the item (reviewed, declined, taken away, disqualified)."""
    view = await _found(callback, texts, session, person, callback_data.id)
    if view is None:
        return
    page = int(callback_data.arg) if callback_data.arg.isdigit() else 0
    turn = turn_of(person.id, texts=texts, session=session, person=person, campaign=campaign, forms=forms, **data)
    await engine.load(turn, raw_state)
    text, markup = await card_view(session, texts, campaign, forms, person, view, page, data["clock"](),
                                   has_draft=draft_for(turn, view.assignment.id) is not None)
    if callback_data.action == ReviewAction.page:
        await show(callback, text, markup)
        return
    await callback.answer()
    await callback.bot.send_message(person.id, text, reply_markup=markup, disable_web_page_preview=True)


async def _open_only(callback: CallbackQuery, texts: Texts, session: AsyncSession, person: Person,
                     assignment_id: int) -> AssignmentView | None:
    """The assignment if it is this reviewer's and still open; else they are told why not."""
    view = await _found(callback, texts, session, person, assignment_id)
    if view is None:
        return None
    if not view.open:
        await callback.answer(texts.render("review/not_open", state=state_of(view), sub=view.submission),
                              show_alert=True)
        return None
    return view


async def send_work_files(callback: CallbackQuery, callback_data: ReviewCB, bot: Bot, texts: Texts,
                          session: AsyncSession, person: Person) -> None:
    """查看作品文件: the files the round is reviewed on, by their Telegram file ids, each with its check summary."""
    view = await _open_only(callback, texts, session, person, callback_data.id)
    if view is None:
        return
    await callback.answer()
    await send_files(bot, person.id, texts, view.files)


async def start_review(callback: CallbackQuery, callback_data: ReviewCB, texts: Texts, session: AsyncSession,
                       person: Person, raw_state: str | None = None, **data: Any) -> None:
    """开始评审 / 继续评审: the review form for this item (its unfinished draft, when there is one)."""
    view = await _open_only(callback, texts, session, person, callback_data.id)
    if view is None:
        return
    await callback.answer()
    turn = turn_of(person.id, texts=texts, session=session, person=person, **data)
    await engine.load(turn, raw_state)
    draft = draft_for(turn, view.assignment.id)
    if draft is None:
        await start_form(turn, "review", refs={"assignment_id": view.assignment.id})
        return
    if draft is not turn.draft:  # parked: it becomes the open one, the open one is parked
        turn.parked.remove(draft)
        if turn.draft is not None:
            turn.parked.insert(0, turn.draft)
        turn.draft = draft
        await engine.save(turn)
    await engine.resume(turn)


async def decline_review(callback: CallbackQuery, callback_data: ReviewCB, texts: Texts, session: AsyncSession,
                         person: Person, **data: Any) -> None:
    """无法评审: the reviewer gives the item back, with a reason (the decline_review form)."""
    view = await _open_only(callback, texts, session, person, callback_data.id)
    if view is None:
        return
    await callback.answer()
    await start_form(turn_of(person.id, texts=texts, session=session, person=person, **data), "decline_review",
                     refs={"assignment_id": view.assignment.id})


def build() -> Router:
    router = Router(name="reviews.reviewer")
    reviewer = Can(Action.review_assignment)
    # others typing these get the fallback's "unknown command"
    router.message.register(my_reviews, Command("reviews"), Can(Action.list_reviews))
    router.message.register(my_fields, Command("myfields"), Can(Action.set_reviewer_profile))
    on = router.callback_query.register
    on(queue_page, ReviewCB.filter(F.action == ReviewAction.queue), Can(Action.list_reviews))
    on(my_fields, ReviewCB.filter(F.action == ReviewAction.profile), Can(Action.set_reviewer_profile))
    on(open_card, ReviewCB.filter(F.action.in_({ReviewAction.open, ReviewAction.page})), reviewer)
    on(send_work_files, ReviewCB.filter(F.action == ReviewAction.files), reviewer)
    on(start_review, ReviewCB.filter(F.action == ReviewAction.start), reviewer)
    on(decline_review, ReviewCB.filter(F.action == ReviewAction.decline), Can(Action.decline_assignment))
    # a reviewer's button pressed by someone who is none (a creator, forged data, a role taken away)
    on(not_allowed, Pressed(ReviewCB))
    return router

