"""Notifications about expert review (issue 10), queued in the outbox in the caller's transaction:
who is told what when a round gets reviewers, its reviews are in, it is decided, an assignment is
taken away, an application is disqualified. One place, used by the handlers, the forms and the jobs.
Templates: content/templates/review/notice_*.j2."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import ReviewAction, ReviewCB, RoundAction, RoundCB, SubAction, SubCB
from bot.campaign import Campaign
from bot.outbox import notify
from bot.render import Texts
from bot.services import reviews, rounds
from bot.services.academy import Curriculum
from bot.services.users import Role
from storage.models import ReviewAssignment, ReviewRound, Submission, UserRole
from storage.statuses import Verdict


def _button(text: str, data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=data)]])


async def operator_ids(session: AsyncSession, admin_ids: Iterable[int]) -> list[int]:
    """Everyone who runs the programme: the admins of the settings and those granted the role."""
    granted = (await session.execute(select(UserRole.user_id).where(UserRole.role == Role.admin.value))).scalars()
    return sorted(set(admin_ids) | set(granted))


async def assigned(session: AsyncSession, texts: Texts, pairs: Iterable[tuple[int, int]]) -> int:
    """Each reviewer given a round ((round id, reviewer id) as `open_round`/`assign_waiting` return
    them) is told what and by when, with a button to its card. Returns how many were queued."""
    sent = 0
    for round_id, reviewer_id in pairs:
        row = (await session.execute(
            select(ReviewAssignment, ReviewRound, Submission)
            .join(ReviewRound, ReviewRound.id == ReviewAssignment.round_id)
            .join(Submission, Submission.id == ReviewRound.submission_id)
            .where(ReviewAssignment.round_id == round_id, ReviewAssignment.reviewer_id == reviewer_id))).first()
        if row is None:
            continue
        asg, rnd, sub = row
        markup = _button(texts.label("review.open_card"), ReviewCB(id=asg.id, action=ReviewAction.open).pack())
        sent += await notify(session, [reviewer_id], texts.render("review/notice_assigned", sub=sub, round=rnd,
                                                                  due_at=asg.due_at), markup)
    return sent


async def round_waiting(session: AsyncSession, texts: Texts, admin_ids: Iterable[int], rnd: ReviewRound) -> int:
    """Nobody could be given the round (no reviewer, or all have a conflict): the operators are told,
    with a button to the round (增派评审专家, or an invitation for a new reviewer, is there)."""
    sub = await session.get(Submission, rnd.submission_id)
    markup = _button(texts.label("review.open_round"), RoundCB(id=rnd.id, action=RoundAction.open).pack())
    return await notify(session, await operator_ids(session, admin_ids),
                        texts.render("review/notice_round_waiting", sub=sub, round=rnd), markup)


async def reviews_in(session: AsyncSession, texts: Texts, admin_ids: Iterable[int], round_id: int) -> int:
    """A round's reviews are all in: the operators are told, with a button to its summary."""
    rnd = await session.get(ReviewRound, round_id)
    sub = await session.get(Submission, rnd.submission_id)
    markup = _button(texts.label("review.open_round"), RoundCB(id=rnd.id, action=RoundAction.open).pack())
    return await notify(session, await operator_ids(session, admin_ids),
                        texts.render("review/notice_reviews_in", sub=sub, round=rnd), markup)


async def decided(session: AsyncSession, texts: Texts, campaign: Campaign, round_id: int, *,
                  curriculum: Curriculum | None = None, now: datetime | None = None) -> int:
    """The creator's feedback on a decided round: the decision and its message, the mean score of
    each criterion, the reviewers' comments, the weakest criterion, and what to do next (修改后再审:
    the button to start the next round, and its deadline), with the 创作学院 lessons that strengthen
    the weakest criterion (推荐学习, a button each; recorded as offered). `curriculum`: the lessons the
    app loaded (None: content/academy/ as shipped). A creator who blocked the bot: the outbox records
    the failure."""
    from bot.callbacks import LessonAction, LessonCB
    from bot.services import lessons

    fb = await reviews.feedback(session, campaign, round_id)
    if fb is None:
        return 0
    sub = await session.get(Submission, fb.submission_id)
    label = "review.start_next_round" if fb.verdict is Verdict.revise else "review.open_application"
    markup = _button(texts.label(label, round=fb.round + 1), SubCB(id=sub.id, action=SubAction.show).pack())
    recommended = await lessons.recommend_for_review(
        session, campaign, curriculum if curriculum is not None else lessons.shipped(campaign), sub.user_id,
        fb.weakest, now=now)
    markup.inline_keyboard += [[InlineKeyboardButton(
        text=texts.label("academy.open_recommended", title=lesson.title),
        callback_data=LessonCB(slug=lesson.slug, action=LessonAction.show).pack())] for lesson in recommended]
    return await notify(session, [sub.user_id], texts.render("review/notice_feedback", fb=fb,
                                                             recommended=recommended), markup,
                        about=sub.user_id)


async def taken_away(session: AsyncSession, texts: Texts, assignments: Iterable[ReviewAssignment], *,
                     why: str) -> int:
    """Reviewers whose open assignment was stopped or reassigned are told not to go on with it.
    `why`: "disqualified", "withdrawn", "reassigned", "not_reviewer"."""
    sent = 0
    for asg in assignments:
        rnd = await session.get(ReviewRound, asg.round_id)
        sub = await session.get(Submission, rnd.submission_id)
        sent += await notify(session, [asg.reviewer_id], texts.render("review/notice_taken_away", sub=sub,
                                                                      round=rnd, why=why))
    return sent


async def reviewer_left(session: AsyncSession, texts: Texts, campaign: Campaign, admin_ids: Iterable[int],
                        reviewer_id: int, *, now: datetime, actor_id: int | None, why: str) -> list[rounds.Released]:
    """A reviewer lost the role (`why` "not_reviewer") or erased their data ("erased"): their open
    assignments go to others (`rounds.release_reviewer`); the new reviewers are told, the one who
    left is told to stop (not after erasing: nothing is sent to them then), and the operators
    hear of rounds left without anyone."""
    released = await rounds.release_reviewer(session, campaign, reviewer_id, now=now, actor_id=actor_id, reason=why)
    await assigned(session, texts, [(r.assignment.round_id, r.replacement) for r in released
                                    if r.replacement is not None])
    if why != "erased":
        await taken_away(session, texts, [r.assignment for r in released], why=why)
    for r in released:
        if r.round_waiting:
            await round_waiting(session, texts, admin_ids, await session.get(ReviewRound, r.assignment.round_id))
    return released


async def disqualified(session: AsyncSession, texts: Texts, sub: Submission, reason: str) -> int:
    """The creator is told their application was disqualified, and why."""
    return await notify(session, [sub.user_id], texts.render("review/notice_disqualified", sub=sub, reason=reason),
                        about=sub.user_id)
