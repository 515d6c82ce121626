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
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cache, partial
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy import Row, Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import notices
from bot.callbacks import BrandingCB
from bot.campaign import Campaign
from bot.render import Texts
from bot.services import staff
from bot.services.reminders import Kind, Reminder, confirmed_key, in_quiet_hours, send_once
from storage.models import Registration, ReminderSent, ReviewAssignment, ReviewRound, Submission
from storage.statuses import AssignmentStatus, RegistrationStatus, RoundStatus, SubmissionStatus, Verdict

log = logging.getLogger(__name__)

UNSUBMITTED = (SubmissionStatus.draft, SubmissionStatus.returned)  # drafts the deadline reminder names
REVISE_DAYS = (3, 1)  # 修改后再审: reminded this many days before revise_until
REVIEW_SOON = timedelta(days=2)  # a review due within this is reminded of
BRANDING_EVERY = timedelta(days=7)
DIGEST_AT = time(9, 0)  # operators' digest, local time
DIGEST_SHOWN = 10  # overdue reviews the digest names (it counts them all)
TEMPLATE = "reminders/{}"
PAGE = 500  # rows a finder reads at a time: a scan holds one page and one batch, whatever the tables' size
SENT_BATCH = 500  # reminder keys looked up at once (and queued in one transaction)


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


@dataclass(frozen=True)
class Due:
    """A reminder found due, its text not rendered yet: the scan renders only those whose key was
    not sent before (at 100,000 creators most were, at an earlier scan)."""

    user_id: int
    kind: Kind
    key: str
    text: Callable[[], str]  # renders the text
    markup: Callable[[], InlineKeyboardMarkup] | None = None
    urgent: bool = False

    def reminder(self) -> Reminder:
        return Reminder(self.user_id, self.kind, self.key, self.text(), self.markup() if self.markup else None,
                        self.urgent)


Finder = Callable[[AsyncSession, Campaign, Texts, datetime], AsyncIterator[Due]]


def _render(texts: Texts, kind: Kind, **values: Any) -> Callable[[], str]:
    return partial(texts.render, _kinds_of(kind), **values)


async def _pages(session: AsyncSession, query: Select, *keys: Any) -> AsyncIterator[Sequence[Row]]:
    """The rows of `query` in the order of `keys` (columns it selects, together unique), PAGE at a
    time: each page is a query of its own starting after the last row of the one before (no cursor
    is held open while the scan writes, and each page may be read in a new transaction)."""
    after: tuple | None = None
    while True:
        page = query
        if after is not None:
            page = page.where(keys[0] > after[0] if len(keys) == 1 else tuple_(*keys) > after)
        rows = (await session.execute(page.order_by(*keys).limit(PAGE))).all()
        if rows:
            yield rows
        if len(rows) < PAGE:
            return
        after = tuple(rows[-1]._mapping[key] for key in keys)


# ---------------------------------------------------------------- the kinds
# Each finder yields the reminders due now (Due: key first, text later), reading PAGE rows at a
# time and only the columns the keys and texts need.


async def deadline(session: AsyncSession, campaign: Campaign, texts: Texts, now: datetime) -> AsyncIterator[Due]:
    if not campaign.is_open(now):
        return
    end = campaign.window.end
    days = _latest_occasion(end, campaign.reminders.deadline_days, now)
    if days is None:
        return
    last_day = days <= 1
    creators = (select(Registration.user_id).where(Registration.status == RegistrationStatus.approved)
                .distinct())
    async for page in _pages(session, creators, Registration.user_id):
        users = [row.user_id for row in page]
        drafts: dict[int, list[Row]] = {}  # this page's creators' drafts, in id order
        for row in (await session.execute(
                select(Submission.id, Submission.user_id, Submission.title)
                .where(Submission.user_id.in_(users), Submission.status.in_(UNSUBMITTED))
                .order_by(Submission.id))).all():
            drafts.setdefault(row.user_id, []).append(row)
        for user_id in users:
            mine = drafts.get(user_id, [])
            if last_day and not mine:
                continue
            yield Due(user_id, Kind.deadline, f"deadline:{user_id}:{_date(end, campaign)}:{days}d",
                      _render(texts, Kind.deadline, days=days, end=end, drafts=mine, last_day=last_day))


async def draft_idle(session: AsyncSession, campaign: Campaign, texts: Texts, now: datetime) -> AsyncIterator[Due]:
    if not campaign.is_open(now):  # nothing to submit it to any more
        return
    idle = timedelta(days=campaign.reminders.idle_days)
    query = (select(Submission.id, Submission.user_id, Submission.title, Submission.updated_at)
             .where(Submission.status == SubmissionStatus.draft, Submission.updated_at <= now - idle))
    async for page in _pages(session, query, Submission.id):
        for sub in page:
            yield Due(sub.user_id, Kind.draft_idle,
                      f"draft_idle:{sub.user_id}:sub{sub.id}:{_date(sub.updated_at, campaign)}",
                      _render(texts, Kind.draft_idle, draft=sub, days=(now - sub.updated_at).days,
                              end=campaign.window.end))


async def registrations(session: AsyncSession, campaign: Campaign, texts: Texts, now: datetime) -> AsyncIterator[Due]:
    """seal_waiting and sent_back."""
    idle = timedelta(days=campaign.reminders.idle_days)
    waiting = (select(Registration.id, Registration.user_id, Registration.account_name, Registration.round,
                      Registration.updated_at)
               .where(Registration.status == RegistrationStatus.awaiting_seal, Registration.updated_at <= now - idle))
    async for page in _pages(session, waiting, Registration.id):
        for reg in page:
            yield Due(reg.user_id, Kind.seal_waiting,
                      f"seal_waiting:{reg.user_id}:reg{reg.id}:r{reg.round or 1}:{_date(reg.updated_at, campaign)}",
                      _render(texts, Kind.seal_waiting, registration=reg, days=(now - reg.updated_at).days))
    sent_back = (select(Registration.id, Registration.user_id, Registration.account_name, Registration.reviewed_at,
                        Registration.decision_reason)
                 .where(Registration.status == RegistrationStatus.rejected, Registration.reviewed_at.is_not(None),
                        Registration.reviewed_at <= now - idle))
    async for page in _pages(session, sent_back, Registration.id):
        for reg in page:
            stamp = reg.reviewed_at.strftime("%Y%m%d%H%M")
            yield Due(reg.user_id, Kind.sent_back, f"sent_back:{reg.user_id}:reg{reg.id}:{stamp}",
                      _render(texts, Kind.sent_back, registration=reg, reason=reg.decision_reason,
                              days=(now - reg.reviewed_at).days))


async def revise_pending(session: AsyncSession, campaign: Campaign, texts: Texts, now: datetime) -> AsyncIterator[Due]:
    query = (select(Submission.id, Submission.user_id, Submission.title, ReviewRound.number, ReviewRound.revise_until)
             .join(ReviewRound, ReviewRound.submission_id == Submission.id)
             .where(Submission.status == SubmissionStatus.revise, ReviewRound.status == RoundStatus.decided,
                    ReviewRound.decision == Verdict.revise, ReviewRound.revise_until.is_not(None),
                    ReviewRound.revise_until > now))

    def due(sub: Row) -> Due | None:  # a submission's last revise round (the rows come in round order)
        days = _latest_occasion(sub.revise_until, REVISE_DAYS, now)
        if days is None:
            return None
        return Due(sub.user_id, Kind.revise_pending, f"revise_pending:{sub.user_id}:sub{sub.id}:r{sub.number}:{days}d",
                   _render(texts, Kind.revise_pending, submission=sub, until=sub.revise_until, days=days))

    last: Row | None = None  # the row before: its submission's last round once the next submission's come
    async for page in _pages(session, query, Submission.id, ReviewRound.number):
        for row in page:
            if last is not None and last.id != row.id and (found := due(last)):
                yield found
            last = row
    if last is not None and (found := due(last)):
        yield found


def _open_assignments(*, until: datetime) -> Select:
    """Open assignments due by `until`, with their work's title; order by (due_at, id)."""
    return (select(ReviewAssignment.id, ReviewAssignment.reviewer_id, ReviewAssignment.due_at, Submission.title)
            .join(ReviewRound, ReviewRound.id == ReviewAssignment.round_id)
            .join(Submission, Submission.id == ReviewRound.submission_id)
            .where(ReviewAssignment.status == AssignmentStatus.assigned, ReviewAssignment.due_at <= until))


async def review_due(session: AsyncSession, campaign: Campaign, texts: Texts, now: datetime) -> AsyncIterator[Due]:
    query = _open_assignments(until=now + REVIEW_SOON)
    async for page in _pages(session, query, ReviewAssignment.due_at, ReviewAssignment.id):
        for asg in page:
            overdue = asg.due_at <= now
            yield Due(asg.reviewer_id, Kind.review_due,
                      f"review_due:{asg.reviewer_id}:asg{asg.id}:{'overdue' if overdue else 'soon'}",
                      _render(texts, Kind.review_due, submission=asg, due_at=asg.due_at, overdue=overdue))


def branding_markup(texts: Texts, submission_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=texts.label("reminders.branding_shown"), callback_data=BrandingCB(sub=submission_id).pack())]])


async def branding(session: AsyncSession, campaign: Campaign, texts: Texts, now: datetime) -> AsyncIterator[Due]:
    accepted = (select(Submission.id, Submission.user_id, Submission.title, Submission.updated_at)
                .where(Submission.status == SubmissionStatus.accepted))
    async for page in _pages(session, accepted, Submission.id):
        ids = [sub.id for sub in page]
        accepted_at = dict((await session.execute(
            select(ReviewRound.submission_id, func.max(ReviewRound.decided_at))
            .where(ReviewRound.decision == Verdict.accept, ReviewRound.submission_id.in_(ids))
            .group_by(ReviewRound.submission_id))).all())
        confirmed = set((await session.execute(select(ReminderSent.key).where(
            ReminderSent.key.in_([confirmed_key(i) for i in ids])))).scalars())
        for sub in page:
            if confirmed_key(sub.id) in confirmed:
                continue
            since = accepted_at.get(sub.id) or sub.updated_at
            week = max(0, (now - since) // BRANDING_EVERY)
            yield Due(sub.user_id, Kind.branding, f"branding:{sub.user_id}:sub{sub.id}:w{week}",
                      _render(texts, Kind.branding, submission=sub, first=week == 0,
                              rules=campaign.requirements.branding),
                      partial(branding_markup, texts, sub.id), urgent=False)


@dataclass(frozen=True)
class Overdue(Sequence):
    """The overdue reviews as the digest shows them: len() counts them all, the rows are the first
    DIGEST_SHOWN (due_at order), each (assignment, submission) with .due_at and .title."""

    how_many: int
    first: list[tuple[Row, Row]]

    def __len__(self) -> int:
        return self.how_many

    def __getitem__(self, index):  # noqa: ANN001 - an int or a slice, as a list takes
        return self.first[index]

    def __iter__(self):  # noqa: ANN204
        return iter(self.first)


@dataclass(frozen=True)
class Digest:
    registrations: int  # scans waiting for a decision
    big_files: int  # files waiting for a check by hand
    questions: int  # open questions
    reviews: int  # rounds waiting for reviewers or for a decision
    tutoring: int  # creators waiting for a tutor
    requests: int  # resource requests nobody handles yet
    overdue: Overdue  # reviews past their due time

    @property
    def total(self) -> int:
        return (self.registrations + self.big_files + self.questions + self.reviews + self.tutoring + self.requests
                + len(self.overdue))


async def overdue_of(session: AsyncSession, now: datetime) -> Overdue:
    query = _open_assignments(until=now)
    count = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    first = (await session.execute(query.order_by(ReviewAssignment.due_at, ReviewAssignment.id)
                                   .limit(DIGEST_SHOWN))).all() if count else []
    return Overdue(count, [(row, row) for row in first])


async def digest_of(session: AsyncSession, campaign: Campaign, now: datetime) -> Digest:
    waiting = await staff.waiting(session, campaign.review.reviewers)
    return Digest(waiting.registrations, waiting.big_files, waiting.questions, waiting.reviews,
                  waiting.tutoring, waiting.requests, await overdue_of(session, now))


async def digest(session: AsyncSession, campaign: Campaign, texts: Texts, now: datetime, *,
                 admin_ids: Iterable[int] = ()) -> AsyncIterator[Due]:
    """Each operator, once a local day from 09:00 (not in quiet hours): what waits, when anything does."""
    local = now.astimezone(campaign.tz)
    if local.time() < DIGEST_AT or in_quiet_hours(campaign, now):
        return
    operators = await notices.operator_ids(session, admin_ids)
    if not operators:
        return
    found = await digest_of(session, campaign, now)
    if not found.total:
        return
    text = cache(_render(texts, Kind.digest, digest=found, day=local))  # one text for all, rendered at most once
    day = local.strftime("%Y%m%d")
    for op in operators:
        yield Due(op, Kind.digest, f"digest:{op}:{day}", text)


SCANS: tuple[Finder, ...] = (deadline, draft_idle, registrations, revise_pending, review_due, branding)


# ---------------------------------------------------------------- the job


async def _batches(found: AsyncIterator[Due], size: int) -> AsyncIterator[list[Due]]:
    batch: list[Due] = []
    async for due in found:
        batch.append(due)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def _queue_new(session: AsyncSession, campaign: Campaign, batch: list[Due], now: datetime) -> int:
    """The batch's reminders whose keys were not sent before, rendered and queued; how many."""
    # the keys sent before, in one query per batch: most of a scan's reminders went out at an
    # earlier scan, and trying each (a savepoint and a refused insert) held SQLite's write lock for
    # minutes at 100,000 creators (bench/bench_scale.py); and only the new ones are rendered, each
    # just before it is queued (the event loop serves the handlers between two)
    sent = set((await session.execute(select(ReminderSent.key).where(
        ReminderSent.key.in_([due.key for due in batch])))).scalars())
    queued = 0
    for due in batch:
        if due.key in sent:
            continue
        try:
            reminder = due.reminder()
            async with session.begin_nested():
                queued += await send_once(session, campaign, reminder, now=now)
        except Exception:  # one bad row (a template error, a key too long) must not stop the others
            log.exception("reminders: could not queue %s", due.key)
    return queued


async def scan(sessionmaker: async_sessionmaker[AsyncSession], now: datetime, *, campaign: Campaign, texts: Texts,
               admin_ids: Iterable[int] = ()) -> int:
    """Every kind's due reminders queued once (each in its own savepoint: one that fails leaves the
    others). Returns how many were queued now.

    The finders read PAGE rows at a time and the scan queues SENT_BATCH reminders at a time, each
    batch in a transaction of its own: its memory stays that of a batch (not of 100,000 rows), and
    SQLite's write lock is held for one batch, not the whole scan. Each reminder is still sent once:
    its key's row and its outbox row are committed together (send_once), and a scan stopped halfway
    leaves the rest to the next one."""
    queued = 0
    async with sessionmaker() as session:
        finders = [find(session, campaign, texts, now) for find in SCANS]
        finders.append(digest(session, campaign, texts, now, admin_ids=admin_ids))
        for found in finders:
            async for batch in _batches(found, SENT_BATCH):
                queued += await _queue_new(session, campaign, batch, now)
                await session.commit()
    if queued:
        log.info("reminders: %d queued", queued)
    return queued


# ---------------------------------------------------------------- 已标注
