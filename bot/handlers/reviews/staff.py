"""Operators: /review_queue, a round's summary and decision, reassigning, /submissions, /export.
(The operators' application card, its audit trail and 取消资格 are bot/handlers/applications/staff.py;
the decision and disqualify forms bot/flows/decision.py.)

Every id a button carries is looked up again here and re-checked by the service that acts on it: a
round or an assignment that is gone, or an assignment of another round, is a stale button; a
decision already made, an assignment no longer open, a conflict of interest are explained.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from sqlalchemy.ext.asyncio import AsyncSession

from bot import notices
from bot.callbacks import (
    InviteCB,
    ListAction,
    MenuCB,
    Pressed,
    RoundAction,
    RoundCB,
    Section,
    StaffAction,
    StaffSubCB,
    SubListCB,
)
from bot.campaign import Campaign, CampaignError
from bot.config import Settings
from bot.filters import Can
from bot.flows.engine import start_form, turn_of
from bot.handlers.applications.common import pager
from bot.render import Texts
from bot.services import export, listing, reviews, rounds
from bot.services.listing import Filters
from bot.services.policy import Action
from bot.services.rounds import Reassigned
from bot.services.users import Person, Role
from bot.ui import not_allowed, show, stale_button
from storage.models import ReviewAssignment, ReviewRound, Submission
from storage.statuses import AssignmentStatus, RoundStatus, SubmissionStatus

QUEUE_CAP = 8  # items shown of each part of /review_queue (the rest counted)
LIST_SIZE = 8  # applications per page of /submissions
PICK_CAP = 20  # reviewers offered when reassigning (least loaded first)
MESSAGE_LIMIT = 4096


def _markup(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup | None:
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def _category(campaign: Campaign, category_id: str) -> str:
    try:
        return campaign.category(category_id).name
    except CampaignError:
        return category_id


# ---------------------------------------------------------------- /review_queue


async def review_queue(event: Message | CallbackQuery, bot: Bot, texts: Texts, session: AsyncSession,
                       campaign: Campaign, person: Person, clock: Callable[[], datetime]) -> None:
    """/review_queue, or its count on an operator's /start: what waits for reviewers, for reviews and
    for a decision, with ages; a button per round."""
    if isinstance(event, CallbackQuery):
        await event.answer()
    q = await rounds.queue(session, campaign, now=clock(), limit=QUEUE_CAP)
    short, open_, to_decide = q.short, q.open, q.to_decide
    text = texts.render("review_staff/queue", q=q, short=short, open=open_, to_decide=to_decide)
    seen: set[int] = set()
    rows = []
    for item in (*short, *open_, *to_decide):
        if item.round_id in seen:
            continue
        seen.add(item.round_id)
        rows.append([InlineKeyboardButton(
            text=texts.label("review_staff.open_round", title=item.title[:24], number=item.number),
            callback_data=RoundCB(id=item.round_id, action=RoundAction.open).pack())])
    await bot.send_message(person.id, text, reply_markup=_markup(rows), disable_web_page_preview=True)


# ---------------------------------------------------------------- a round's summary


async def round_view(texts: Texts, session: AsyncSession, campaign: Campaign, round_id: int,
                     now: datetime) -> tuple[str, InlineKeyboardMarkup | None] | None:
    """The round's summary for operators (None: no such round): per criterion mean, spread and ⚠️,
    recommendations, each review with the reviewer's name and staff note, who still owes one."""
    summary = await reviews.round_summary(session, campaign, round_id)
    if summary is None or summary.submission is None:
        return None
    sub, rnd = summary.submission, summary.round
    owing = [a for a in summary.assignments if a.status == AssignmentStatus.assigned]
    people = {a.reviewer_id for a in summary.assignments} | ({rnd.decided_by} if rnd.decided_by else set())
    names = await listing.names_of(session, people, registered=False)
    short = rounds.still_wanted(campaign, rnd, sub, summary.assignments)  # 增派评审专家 when > 0
    values = dict(sub=sub, rnd=rnd, category=_category(campaign, sub.category), progress=summary.progress, short=short,
                  agg=summary.aggregate, reviews=summary.reviews, criteria=campaign.criteria, names=names,
                  owing=owing, now=now, decided_by=names.get(rnd.decided_by) if rnd.decided_by else None)
    limit = max(80, 2400 // max(1, len(summary.reviews)))
    text = texts.render("review_staff/round", limit=limit, **values)
    if len(text) > MESSAGE_LIMIT:  # many long reviews: shorter excerpts
        text = texts.render("review_staff/round", limit=40, **values)[:MESSAGE_LIMIT]
    rows = []
    if short:
        rows.append([InlineKeyboardButton(text=texts.label("review_staff.add_reviewer", n=short),
                                          callback_data=RoundCB(id=rnd.id, action=RoundAction.add).pack())])
    if (summary.progress.complete and rnd.status == RoundStatus.reviewing
            and sub.status != SubmissionStatus.disqualified):
        rows.append([InlineKeyboardButton(text=texts.label("review_staff.decide"),
                                          callback_data=RoundCB(id=rnd.id, action=RoundAction.decide).pack())])
    for asg in owing:
        name = names.get(asg.reviewer_id) or texts.label("review_staff.reviewer_unknown")
        rows.append([InlineKeyboardButton(
            text=texts.label("review_staff.reassign", name=name[:20]),
            callback_data=RoundCB(id=rnd.id, action=RoundAction.reassign, arg=str(asg.id)).pack())])
    rows.append([InlineKeyboardButton(text=texts.label("review_staff.open_application"),
                                      callback_data=StaffSubCB(id=sub.id, action=StaffAction.open).pack())])
    return text, _markup(rows)


async def round_open(callback: CallbackQuery, callback_data: RoundCB, bot: Bot, texts: Texts,
                     session: AsyncSession, person: Person, campaign: Campaign, clock: Callable[[], datetime]) -> None:
    """A round's summary, as a new message (the list it was opened from stays)."""
    view = await round_view(texts, session, campaign, callback_data.id, clock())
    if view is None:
        await stale_button(callback, texts)
        return
    await callback.answer()
    await bot.send_message(person.id, view[0], reply_markup=view[1], disable_web_page_preview=True)


async def round_back(callback: CallbackQuery, callback_data: RoundCB, texts: Texts, session: AsyncSession,
                     campaign: Campaign, clock: Callable[[], datetime]) -> None:
    """« 返回评审轮次: the summary in place of the message the button sits on."""
    view = await round_view(texts, session, campaign, callback_data.id, clock())
    if view is None:
        await stale_button(callback, texts)
        return
    await show(callback, *view)


# ---------------------------------------------------------------- deciding


async def round_decide(callback: CallbackQuery, callback_data: RoundCB, bot: Bot, texts: Texts,
                       session: AsyncSession, person: Person, campaign: Campaign, **data: Any) -> None:
    """做出决定: the decision form, once the round's reviews are in and nobody has decided yet (the
    form's confirmation asks `reviews.decide` again, under its locks)."""
    summary = await reviews.round_summary(session, campaign, callback_data.id)
    if summary is None or summary.submission is None:
        await stale_button(callback, texts)
        return
    sub, rnd = summary.submission, summary.round
    refused = None
    if rnd.status == RoundStatus.decided:
        refused = "already_decided"
    elif sub.status == SubmissionStatus.disqualified:
        refused = "disqualified"
    elif rnd.status != RoundStatus.reviewing:
        refused = "not_reviewing"
    elif not summary.progress.complete:
        refused = "reviews_pending"
    await callback.answer()
    if refused is not None:
        by = None
        if rnd.decided_by:
            by = (await listing.names_of(session, [rnd.decided_by], registered=False)).get(rnd.decided_by)
        await bot.send_message(person.id, texts.render(
            "review_staff/decide_refused", result=refused, decision=str(rnd.decision) if rnd.decision else None,
            by=by, progress=summary.progress))
        return
    await bot.send_message(person.id, texts.render("review_staff/decide_context", sub=sub, rnd=rnd,
                                                   agg=summary.aggregate))
    await start_form(turn_of(person.id, bot=bot, texts=texts, session=session, person=person, campaign=campaign,
                             **data), "decision", refs={"round_id": rnd.id})


# ---------------------------------------------------------------- reassigning


async def _open_assignment(session: AsyncSession, round_id: int, arg: str) -> ReviewAssignment | None:
    """The assignment a button names, if it is of that round."""
    if not arg.isdigit():
        return None
    asg = await session.get(ReviewAssignment, int(arg))
    return asg if asg is not None and asg.round_id == round_id else None


def _back(texts: Texts, round_id: int) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=texts.label("review_staff.back_to_round"),
                                 callback_data=RoundCB(id=round_id, action=RoundAction.open, arg="back").pack())]


async def round_reassign(callback: CallbackQuery, callback_data: RoundCB, texts: Texts, session: AsyncSession,
                         campaign: Campaign) -> None:
    """改派: the reviewers who could take the assignment instead (least loaded first), 自动分配, and
    those who may not (a conflict of interest, named)."""
    asg = await _open_assignment(session, callback_data.id, callback_data.arg)
    rnd = await session.get(ReviewRound, callback_data.id)
    if asg is None or rnd is None:
        await stale_button(callback, texts)
        return
    if asg.status != AssignmentStatus.assigned:
        await show(callback, texts.render("review_staff/reassign_result", result="closed", adding=False),
                   _markup([_back(texts, rnd.id)]))
        return
    sub = await session.get(Submission, rnd.submission_id)
    choices = await rounds.reassign_choices(session, campaign, rnd.id)
    eligible = [c for c in choices if c.conflict is None][:PICK_CAP]
    conflicted = [c for c in choices if c.conflict is not None][:PICK_CAP]
    current = (await listing.names_of(session, [asg.reviewer_id], registered=False)).get(asg.reviewer_id)
    text = texts.render("review_staff/reassign_pick", sub=sub, rnd=rnd, current=current, adding=0, eligible=eligible,
                        conflicted=conflicted)
    rows = [[InlineKeyboardButton(
        text=texts.label("review_staff.pick", name=(c.name or str(c.user_id))[:20], load=c.open_load),
        callback_data=RoundCB(id=rnd.id, action=RoundAction.pick, arg=f"{asg.id}-{c.user_id}").pack())]
        for c in eligible]
    rows.append([InlineKeyboardButton(text=texts.label("review_staff.reassign_auto"), callback_data=RoundCB(
        id=rnd.id, action=RoundAction.pick, arg=f"{asg.id}-0").pack())])
    rows.append(_back(texts, rnd.id))
    await show(callback, text, _markup(rows))


async def round_pick(callback: CallbackQuery, callback_data: RoundCB, texts: Texts, session: AsyncSession,
                     person: Person, campaign: Campaign, settings: Settings, clock: Callable[[], datetime]) -> None:
    """A reviewer picked (or 自动分配): rounds.reassign; the old reviewer is told it was taken away,
    the new one that it is theirs; a refusal (conflict, already on the round, not a reviewer, closed)
    is explained and nothing changes."""
    head, _, tail = callback_data.arg.partition("-")
    asg = await _open_assignment(session, callback_data.id, head)
    if asg is None or not tail.isdigit():
        await stale_button(callback, texts)
        return
    to = int(tail) or None
    out = await rounds.reassign(session, campaign, asg.id, person, to=to, now=clock())
    rnd = await session.get(ReviewRound, callback_data.id)
    names = await listing.names_of(session, {asg.reviewer_id} | ({to} if to else set())
                                   | ({out.new_reviewer} if out.new_reviewer else set()), registered=False)
    if out.result is Reassigned.done:
        assert out.assignment is not None
        await notices.taken_away(session, texts, [out.assignment], why="reassigned")
        if out.new_reviewer is not None:
            await notices.assigned(session, texts, [(rnd.id, out.new_reviewer)])
        elif out.round_waiting:
            await notices.round_waiting(session, texts, settings.admin_ids, rnd)
    new = names.get(out.new_reviewer or to or 0)
    text = texts.render("review_staff/reassign_result", result=str(out.result), adding=False, old=names.get(asg.reviewer_id),
                        new=new, conflict=out.conflict, sub_id=rnd.submission_id, number=rnd.number)
    await show(callback, text, _markup([_back(texts, rnd.id)]))


async def round_add(callback: CallbackQuery, callback_data: RoundCB, texts: Texts, session: AsyncSession,
                    campaign: Campaign) -> None:
    """增派评审专家 on a round short of reviewers: who could join it (least loaded first), 自动分配,
    those who may not (a conflict of interest, named), and an invitation for a new reviewer."""
    rnd = await session.get(ReviewRound, callback_data.id)
    sub = await session.get(Submission, rnd.submission_id) if rnd is not None else None
    if rnd is None or sub is None:
        await stale_button(callback, texts)
        return
    short = rounds.still_wanted(campaign, rnd, sub, await rounds.assignments_of(session, rnd.id))
    if not short:
        result = "full" if rounds.open_for_review(rnd, sub) else "closed"
        await show(callback, texts.render("review_staff/reassign_result", result=result, adding=True,
                                          sub_id=sub.id, number=rnd.number),
                   _markup([_back(texts, rnd.id)]))
        return
    choices = await rounds.reassign_choices(session, campaign, rnd.id)
    eligible = [c for c in choices if c.conflict is None][:PICK_CAP]
    conflicted = [c for c in choices if c.conflict is not None][:PICK_CAP]
    text = texts.render("review_staff/reassign_pick", sub=sub, rnd=rnd, adding=short, eligible=eligible,
                        conflicted=conflicted)
    rows = [[InlineKeyboardButton(
        text=texts.label("review_staff.pick", name=(c.name or str(c.user_id))[:20], load=c.open_load),
        callback_data=RoundCB(id=rnd.id, action=RoundAction.add_pick, arg=str(c.user_id)).pack())]
        for c in eligible]
    if eligible:
        rows.append([InlineKeyboardButton(text=texts.label("review_staff.reassign_auto"), callback_data=RoundCB(
            id=rnd.id, action=RoundAction.add_pick, arg="0").pack())])
    rows.append([InlineKeyboardButton(text=texts.label("review_staff.invite_reviewer"),
                                      callback_data=InviteCB(role=Role.reviewer.value).pack())])
    rows.append(_back(texts, rnd.id))
    await show(callback, text, _markup(rows))


async def round_add_pick(callback: CallbackQuery, callback_data: RoundCB, texts: Texts, session: AsyncSession,
                         person: Person, campaign: Campaign, clock: Callable[[], datetime]) -> None:
    """A reviewer picked (or 自动分配) for a round short of reviewers: rounds.add_reviewer; whoever
    joins is told; a refusal (conflict, already on the round, not a reviewer, the round full or
    closed) is explained and nothing changes."""
    rnd = await session.get(ReviewRound, callback_data.id)
    if rnd is None or not callback_data.arg.isdigit():
        await stale_button(callback, texts)
        return
    to = int(callback_data.arg) or None
    result, added, why = await rounds.add_reviewer(session, campaign, rnd.id, person, to=to, now=clock())
    if result is Reassigned.done:
        await notices.assigned(session, texts, [(rnd.id, reviewer_id) for reviewer_id in added])
    names = await listing.names_of(session, {*added, *([to] if to else [])}, registered=False)
    text = texts.render("review_staff/reassign_result", result=str(result), adding=True,
                        added=[names.get(r) or str(r) for r in added], new=names.get(to or 0), conflict=why,
                        sub_id=rnd.submission_id, number=rnd.number)
    await show(callback, text, _markup([_back(texts, rnd.id)]))


# ---------------------------------------------------------------- /submissions


def _filter_value(texts: Texts, campaign: Campaign, dimension: str, value: Any) -> str:
    if value is None:
        return texts.label("review_staff.any")
    if dimension == "s":
        return texts.label(f"review_staff.sub_status.{listing.STATUS_CODES[value]}")
    if dimension == "c":
        cats = campaign.categories
        return cats[value].name if value < len(cats) else "?"
    if dimension == "r":
        key = "round_more" if value == listing.ROUND_CHOICES[-1] else "round_n"
        return texts.label(f"review_staff.{key}", n=value)
    return texts.label("review_staff.waiting_days", n=value)


DIMENSIONS = (("s", "status", "filter_status"), ("c", "category", "filter_category"),
              ("r", "round", "filter_round"), ("w", "waiting", "filter_waiting"))


async def submissions_view(texts: Texts, session: AsyncSession, campaign: Campaign, filters: Filters, page: int,
                           now: datetime) -> tuple[str, InlineKeyboardMarkup]:
    found = await listing.submissions_page(session, campaign, filters, page=page, size=LIST_SIZE, now=now)
    text = texts.render("review_staff/submissions", page=found, filtered=filters.any)
    q = filters.pack()
    rows = [[InlineKeyboardButton(text=texts.label("review_staff.item", id=s.id, title=s.title[:30]),
                                  callback_data=StaffSubCB(id=s.id, action=StaffAction.open).pack())]
            for s in found.items]
    rows += pager(texts, found.page, found.pages,
                  lambda to: SubListCB(q=q, action=ListAction.page, arg=str(to)).pack())
    buttons = [InlineKeyboardButton(
        text=texts.label(f"review_staff.{key}", value=_filter_value(texts, campaign, code, getattr(filters, name))),
        callback_data=SubListCB(q=q, action=ListAction.filter, arg=code).pack()) for code, name, key in DIMENSIONS]
    rows += [buttons[:2], buttons[2:]]
    if filters.any:
        rows.append([InlineKeyboardButton(text=texts.label("review_staff.clear_filters"),
                                          callback_data=SubListCB(q="-", action=ListAction.page, arg="0").pack())])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def submissions_list(message: Message, texts: Texts, session: AsyncSession, campaign: Campaign,
                           clock: Callable[[], datetime]) -> None:
    """/submissions: every application but drafts, newest activity first, with filter buttons."""
    text, markup = await submissions_view(texts, session, campaign, Filters(), 0, clock())
    await message.answer(text, reply_markup=markup, disable_web_page_preview=True)


async def submissions_page(callback: CallbackQuery, callback_data: SubListCB, texts: Texts, session: AsyncSession,
                           campaign: Campaign, clock: Callable[[], datetime]) -> None:
    """Another page, or the list with other filters (a garbled page or filter: the first page, all)."""
    page = int(callback_data.arg) if callback_data.arg.isdigit() else 0
    await show(callback, *await submissions_view(texts, session, campaign, Filters.unpack(callback_data.q), page,
                                                 clock()))


async def submissions_filter(callback: CallbackQuery, callback_data: SubListCB, texts: Texts,
                             campaign: Campaign) -> None:
    """A filter's choices (each a button to the first page with it set), 全部, and back to the list."""
    filters = Filters.unpack(callback_data.q)
    found = next((d for d in DIMENSIONS if d[0] == callback_data.arg), None)
    if found is None:
        await stale_button(callback, texts)
        return
    code, name, _ = found
    options: tuple[Any, ...] = {
        "s": tuple(listing.STATUS_CODES), "c": tuple(range(len(campaign.categories))),
        "r": listing.ROUND_CHOICES, "w": listing.WAITING_DAYS}[code]
    current = getattr(filters, name)

    def button(value: Any) -> InlineKeyboardButton:
        words = _filter_value(texts, campaign, code, value)
        mark = "✅ " if value == current else ""
        return InlineKeyboardButton(text=texts.label("review_staff.filter_pick", mark=mark, text=words),
                                    callback_data=SubListCB(q=filters.set(**{name: value}).pack(),
                                                            action=ListAction.page, arg="0").pack())

    buttons = [button(None), *(button(v) for v in options)]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    rows.append([InlineKeyboardButton(text=texts.label("review_staff.back_to_list"), callback_data=SubListCB(
        q=filters.pack(), action=ListAction.page, arg="0").pack())])
    await show(callback, texts.render("review_staff/filter_pick", dimension=code), InlineKeyboardMarkup(
        inline_keyboard=rows))


# ---------------------------------------------------------------- /export


async def export_all(message: Message, bot: Bot, texts: Texts, session: AsyncSession, person: Person,
                     campaign: Campaign, clock: Callable[[], datetime]) -> None:
    """/export: the .xlsx of every application's rounds and reviews, and the audit log."""
    now = clock()
    rows, audit = await export.load_export(session, campaign)
    words = export.ExportWords.of(texts.labels["export"])
    data = export.export_xlsx(rows, audit, campaign.criteria, words, timezone=campaign.timezone,
                              scale=campaign.review.scale, disagreement=campaign.review.disagreement)
    name = texts.label("export.filename", date=now.astimezone(texts.tz).strftime("%Y%m%d-%H%M"))
    await bot.send_document(person.id, BufferedInputFile(data, filename=name),
                            caption=texts.render("review_staff/export_caption", now=now, rows=len(rows),
                                                 audit=len(audit)))


def build() -> Router:
    router = Router(name="reviews.staff")
    assign, decide = Can(Action.assign_reviewers), Can(Action.decide_round)
    listed, exporting = Can(Action.list_submissions), Can(Action.export_submissions)
    # others typing these: the fallback's "unknown command"
    router.message.register(review_queue, Command("review_queue"), assign)
    router.message.register(submissions_list, Command("submissions"), listed)
    router.message.register(export_all, Command("export"), exporting)
    on = router.callback_query.register
    on(review_queue, MenuCB.filter(F.section == Section.review_queue), assign)
    on(not_allowed, MenuCB.filter(F.section == Section.review_queue))
    on(round_back, RoundCB.filter((F.action == RoundAction.open) & (F.arg == "back")), decide)
    on(round_open, RoundCB.filter(F.action == RoundAction.open), decide)
    on(round_decide, RoundCB.filter(F.action == RoundAction.decide), decide)
    on(round_reassign, RoundCB.filter(F.action == RoundAction.reassign), assign)
    on(round_pick, RoundCB.filter(F.action == RoundAction.pick), assign)
    on(round_add, RoundCB.filter(F.action == RoundAction.add), assign)
    on(round_add_pick, RoundCB.filter(F.action == RoundAction.add_pick), assign)
    on(submissions_page, SubListCB.filter(F.action == ListAction.page), listed)
    on(submissions_filter, SubListCB.filter(F.action == ListAction.filter), listed)
    # the same buttons pressed by someone the policy does not allow (forged, or no longer staff)
    on(not_allowed, Pressed(RoundCB), ~decide)
    on(not_allowed, Pressed(SubListCB), ~listed)
    on(stale_button, Pressed(RoundCB, SubListCB))  # staff, with data no handler above reads (garbled)
    return router
