"""The reminder scans (issue 12): one job reads what is due from the database and queues each
reminder with `send_once`, whose key names the person, kind, subject and occasion, so a scan that
runs twice, two processes or a restart that missed several runs send each reminder once. Times are
the campaign's local time (its timezone); what is stored is UTC.

- deadline: 30 / 7 / 1 days before the application window closes (campaign.reminders.deadline_days),
  to approved creators, naming their unsubmitted drafts; on the last day only to those with drafts.
  Only the latest occasion that has come is sent (a bot down for weeks does not send the 30-day one
  a week before the end). A closed window: nothing.
- draft_idle: a draft untouched for idle_days (once per idle stretch: the key carries the date of
  its last change);
- seal_waiting / sent_back: a registration waiting for its sealed scan, or sent back and not
  corrected, for idle_days;
- revise_pending: 修改后再审 not resubmitted, 3 days and 1 day before the round's revise_until;
- review_due: an open assignment due within 2 days, and once overdue (overdue ones also go into the
  operators' digest);
- branding: the branding rules when a work is accepted, then weekly until the creator presses
  已标注 (recorded as the ReminderSent row "branding_confirmed:<submission id>");
- digest: operators, once a day from 09:00 local: what waits for them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import notices
from bot.callbacks import BrandingCB
from bot.campaign import Campaign
from bot.render import Texts
from bot.services import resources, staff, tutoring
from bot.services.reminders import Kind, Reminder, confirmed_key, in_quiet_hours, send_once
from storage.models import Registration, ReminderSent, ReviewAssignment, ReviewRound, Submission
from storage.statuses import AssignmentStatus, RegistrationStatus, RoundStatus, SubmissionStatus, Verdict

log = logging.getLogger(__name__)

UNSUBMITTED = (SubmissionStatus.draft, SubmissionStatus.returned)  # drafts the deadline reminder names
REVISE_DAYS = (3, 1)  # 修改后再审: reminded this many days before revise_until
REVIEW_SOON = timedelta(days=2)  # a review due within this is reminded of
BRANDING_EVERY = timedelta(days=7)
DIGEST_AT = time(9, 0)  # operators' digest, local time
TEMPLATE = "reminders/{}"


def _kinds_of(kind: Kind) -> str:
    return TEMPLATE.format(kind.value)


def _date(value: datetime, campaign: Campaign) -> str:
    return value.astimezone(campaign.tz).strftime("%Y%m%d")


def _latest_occasion(end: datetime, days: Iterable[int], now: datetime) -> int | None:
    """Of the moments `end - d days`, the latest that has come (its d), while `end` has not passed."""
    if now > end:
        return None
    come = [d for d in days if end - timedelta(days=d) <= now]
    return min(come) if come else None


# ---------------------------------------------------------------- the kinds


async def deadline(session: AsyncSession, campaign: Campaign, texts: Texts, now: datetime) -> list[Reminder]:
    if not campaign.is_open(now):
        return []
    end = campaign.window.end
    days = _latest_occasion(end, campaign.reminders.deadline_days, now)
    if days is None:
        return []
    creators = (await session.execute(
        select(Registration.user_id).where(Registration.status == RegistrationStatus.approved)
        .distinct())).scalars().all()
    drafts: dict[int, list[Submission]] = {}
    for sub in (await session.execute(select(Submission).where(Submission.status.in_(UNSUBMITTED))
                                      .order_by(Submission.id))).scalars():
        drafts.setdefault(sub.user_id, []).append(sub)
    last_day = days <= 1
    due = []
    for user_id in creators:
        mine = drafts.get(user_id, [])
        if last_day and not mine:
            continue
        text = texts.render(_kinds_of(Kind.deadline), days=days, end=end, drafts=mine, last_day=last_day)
        due.append(Reminder(user_id, Kind.deadline, f"deadline:{user_id}:{_date(end, campaign)}:{days}d", text))
    return due


async def draft_idle(session: AsyncSession, campaign: Campaign, texts: Texts, now: datetime) -> list[Reminder]:
    if not campaign.is_open(now):  # nothing to submit it to any more
        return []
    idle = timedelta(days=campaign.reminders.idle_days)
    rows = (await session.execute(select(Submission).where(Submission.status == SubmissionStatus.draft,
                                                           Submission.updated_at <= now - idle)
                                  .order_by(Submission.id))).scalars()
    return [Reminder(sub.user_id, Kind.draft_idle,
                     f"draft_idle:{sub.user_id}:sub{sub.id}:{_date(sub.updated_at, campaign)}",
                     texts.render(_kinds_of(Kind.draft_idle), draft=sub, days=(now - sub.updated_at).days,
                                  end=campaign.window.end))
            for sub in rows]


async def registrations(session: AsyncSession, campaign: Campaign, texts: Texts, now: datetime) -> list[Reminder]:
    """seal_waiting and sent_back."""
    idle = timedelta(days=campaign.reminders.idle_days)
    due = []
    waiting = (await session.execute(select(Registration).where(
        Registration.status == RegistrationStatus.awaiting_seal, Registration.updated_at <= now - idle)
        .order_by(Registration.id))).scalars()
    for reg in waiting:
        due.append(Reminder(reg.user_id, Kind.seal_waiting,
                            f"seal_waiting:{reg.user_id}:reg{reg.id}:r{reg.round or 1}:{_date(reg.updated_at, campaign)}",
                            texts.render(_kinds_of(Kind.seal_waiting), registration=reg,
                                         days=(now - reg.updated_at).days)))
    sent_back = (await session.execute(select(Registration).where(
        Registration.status == RegistrationStatus.rejected, Registration.reviewed_at.is_not(None),
        Registration.reviewed_at <= now - idle).order_by(Registration.id))).scalars()
    for reg in sent_back:
        stamp = reg.reviewed_at.strftime("%Y%m%d%H%M")
        due.append(Reminder(reg.user_id, Kind.sent_back, f"sent_back:{reg.user_id}:reg{reg.id}:{stamp}",
                            texts.render(_kinds_of(Kind.sent_back), registration=reg, reason=reg.decision_reason,
                                         days=(now - reg.reviewed_at).days)))
    return due


async def revise_pending(session: AsyncSession, campaign: Campaign, texts: Texts, now: datetime) -> list[Reminder]:
    rows = (await session.execute(
        select(Submission, ReviewRound).join(ReviewRound, ReviewRound.submission_id == Submission.id)
        .where(Submission.status == SubmissionStatus.revise, ReviewRound.status == RoundStatus.decided,
               ReviewRound.decision == Verdict.revise, ReviewRound.revise_until.is_not(None),
               ReviewRound.revise_until > now)
        .order_by(Submission.id, ReviewRound.number))).all()
    latest = {sub.id: (sub, rnd) for sub, rnd in rows}  # each submission's last revise round
    due = []
    for sub, rnd in latest.values():
        days = _latest_occasion(rnd.revise_until, REVISE_DAYS, now)
        if days is None:
            continue
        due.append(Reminder(sub.user_id, Kind.revise_pending,
                            f"revise_pending:{sub.user_id}:sub{sub.id}:r{rnd.number}:{days}d",
                            texts.render(_kinds_of(Kind.revise_pending), submission=sub, until=rnd.revise_until,
                                         days=days)))
    return due


async def _open_assignments(session: AsyncSession, *, until: datetime) -> list[tuple[ReviewAssignment, Submission]]:
    return [tuple(row) for row in (await session.execute(
        select(ReviewAssignment, Submission)
        .join(ReviewRound, ReviewRound.id == ReviewAssignment.round_id)
        .join(Submission, Submission.id == ReviewRound.submission_id)
        .where(ReviewAssignment.status == AssignmentStatus.assigned, ReviewAssignment.due_at <= until)
        .order_by(ReviewAssignment.due_at, ReviewAssignment.id))).all()]


async def review_due(session: AsyncSession, campaign: Campaign, texts: Texts, now: datetime) -> list[Reminder]:
    due = []
    for asg, sub in await _open_assignments(session, until=now + REVIEW_SOON):
        overdue = asg.due_at <= now
        due.append(Reminder(asg.reviewer_id, Kind.review_due,
                            f"review_due:{asg.reviewer_id}:asg{asg.id}:{'overdue' if overdue else 'soon'}",
                            texts.render(_kinds_of(Kind.review_due), submission=sub, due_at=asg.due_at,
                                         overdue=overdue)))
    return due


def branding_markup(texts: Texts, submission_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=texts.label("reminders.branding_shown"), callback_data=BrandingCB(sub=submission_id).pack())]])


async def branding(session: AsyncSession, campaign: Campaign, texts: Texts, now: datetime) -> list[Reminder]:
    accepted_at = (select(ReviewRound.submission_id, func.max(ReviewRound.decided_at).label("at"))
                   .where(ReviewRound.decision == Verdict.accept).group_by(ReviewRound.submission_id).subquery())
    rows = (await session.execute(
        select(Submission, accepted_at.c.at).outerjoin(accepted_at, accepted_at.c.submission_id == Submission.id)
        .where(Submission.status == SubmissionStatus.accepted).order_by(Submission.id))).all()
    if not rows:
        return []
    confirmed = set((await session.execute(select(ReminderSent.key).where(
        ReminderSent.key.in_([confirmed_key(sub.id) for sub, _ in rows])))).scalars())
    due = []
    for sub, at in rows:
        if confirmed_key(sub.id) in confirmed:
            continue
        since = at or sub.updated_at
        week = max(0, (now - since) // BRANDING_EVERY)
        due.append(Reminder(sub.user_id, Kind.branding, f"branding:{sub.user_id}:sub{sub.id}:w{week}",
                            texts.render(_kinds_of(Kind.branding), submission=sub, first=week == 0,
                                         rules=campaign.requirements.branding),
                            branding_markup(texts, sub.id), urgent=False))
    return due


@dataclass(frozen=True)
class Digest:
    registrations: int  # scans waiting for a decision
    big_files: int  # files waiting for a check by hand
    questions: int  # open questions
    reviews: int  # rounds waiting for reviewers or for a decision
    tutoring: int  # creators waiting for a tutor
    requests: int  # resource requests nobody handles yet
    overdue: list[tuple[ReviewAssignment, Submission]]  # reviews past their due time

    @property
    def total(self) -> int:
        return (self.registrations + self.big_files + self.questions + self.reviews + self.tutoring + self.requests
                + len(self.overdue))


async def digest_of(session: AsyncSession, campaign: Campaign, now: datetime) -> Digest:
    waiting = await staff.waiting(session, campaign.review.reviewers)
    return Digest(waiting.registrations, waiting.big_files, waiting.questions, waiting.reviews,
                  await tutoring.count_waiting(session), await resources.count_waiting(session),
                  await _open_assignments(session, until=now))


async def digest(session: AsyncSession, campaign: Campaign, texts: Texts, now: datetime, *,
                 admin_ids: Iterable[int] = ()) -> list[Reminder]:
    """Each operator, once a local day from 09:00 (not in quiet hours): what waits, when anything does."""
    local = now.astimezone(campaign.tz)
    if local.time() < DIGEST_AT or in_quiet_hours(campaign, now):
        return []
    operators = await notices.operator_ids(session, admin_ids)
    if not operators:
        return []
    found = await digest_of(session, campaign, now)
    if not found.total:
        return []
    text = texts.render(_kinds_of(Kind.digest), digest=found, day=local)
    day = local.strftime("%Y%m%d")
    return [Reminder(op, Kind.digest, f"digest:{op}:{day}", text) for op in operators]


SENT_BATCH = 500  # reminder keys looked up at once
SCANS = (deadline, draft_idle, registrations, revise_pending, review_due, branding)


# ---------------------------------------------------------------- the job


async def scan(sessionmaker: async_sessionmaker[AsyncSession], now: datetime, *, campaign: Campaign, texts: Texts,
               admin_ids: Iterable[int] = ()) -> int:
    """Every kind's due reminders queued once (each in its own savepoint: one that fails leaves the
    others). Returns how many were queued now."""
    queued = 0
    async with sessionmaker.begin() as session:
        due: list[Reminder] = []
        for find in SCANS:
            due += await find(session, campaign, texts, now)
        due += await digest(session, campaign, texts, now, admin_ids=admin_ids)
        for start in range(0, len(due), SENT_BATCH):
            batch = due[start:start + SENT_BATCH]
            # the keys sent before, in one query per batch: most of a scan's reminders went out at an
            # earlier scan, and trying each (a savepoint and a refused insert) held SQLite's write
            # lock for minutes at 100,000 creators (bench/bench_scale.py)
            sent = set((await session.execute(select(ReminderSent.key).where(
                ReminderSent.key.in_([r.key for r in batch])))).scalars())
            for reminder in batch:
                if reminder.key in sent:
                    continue
                try:
                    async with session.begin_nested():
                        queued += await send_once(session, campaign, reminder, now=now)
                except Exception:  # one bad row (a template error, a key too long) must not stop the others
                    log.exception("reminders: could not queue %s", reminder.key)
    if queued:
        log.info("reminders: %d queued", queued)
    return queued


# ---------------------------------------------------------------- 已标注
