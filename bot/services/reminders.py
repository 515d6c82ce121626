"""Reminders the bot sends on its own (issue 12): the kinds, each person's settings, quiet hours,
and the one way a reminder is queued: once per logical occasion. No aiogram here.

    due = Reminder(user_id=1001, kind=Kind.deadline, key="deadline:1001:window:7d",
                   text=texts.render("reminders/deadline", ...), markup=None, urgent=False)
    sent = await send_once(session, campaign, due, now=now)   # False: sent before, or turned off

A reminder's `key` names the person, kind, subject and occasion ("draft_idle:1001:sub42:2026-11-29"):
`send_once` records it in `reminders_sent` in the caller's transaction together with its outbox
row, so a scan that runs twice, two bot processes or a restart never send it twice (the second
insert of the key loses). Non-urgent reminders wait out the campaign's quiet hours (held in the
outbox until they end); urgent ones (decisions, feedback) never wait. Times are computed in the
campaign's timezone and stored in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaign import Campaign
from bot.outbox import queue
from bot.outbox.payloads import MESSAGE
from storage.models import ReminderPref, ReminderSent, Submission
from storage.statuses import SubmissionStatus

__all__ = ["ALWAYS_ON", "Kind", "Reminder", "enabled", "in_quiet_hours", "quiet_until", "send_once", "set_enabled",
           "settings_of"]


class Kind(StrEnum):
    """Every kind of reminder; the settings' labels are `reminders.kinds.<value>` in labels.toml."""

    deadline = "deadline"  # the application window closes in 30 / 7 / 1 days (drafts named)
    draft_idle = "draft_idle"  # a draft untouched for days
    seal_waiting = "seal_waiting"  # a registration waiting for its sealed scan
    sent_back = "sent_back"  # a registration sent back and not corrected
    revise_pending = "revise_pending"  # 修改后再审 not resubmitted yet
    review_due = "review_due"  # a reviewer's review due in 2 days or overdue
    lesson = "lesson"  # the next 创作学院 lesson on its schedule
    branding = "branding"  # the branding rules for an accepted work, weekly until the label is confirmed
    digest = "digest"  # operators: the morning digest of what waits for them


# what a person cannot turn off: none of the reminder kinds above is a decision, a review's
# feedback or an answer to their question (those are notifications, never held, never optional)
ALWAYS_ON: frozenset[Kind] = frozenset()


@dataclass(frozen=True)
class Reminder:
    user_id: int
    kind: Kind
    key: str  # unique per (person, kind, subject, occasion); at most 200 characters
    text: str
    markup: Any = None  # an InlineKeyboardMarkup, or None
    urgent: bool = False  # never held for quiet hours


async def settings_of(session: AsyncSession, user_id: int) -> dict[Kind, bool]:
    """Each kind, on or off for this person (no row: on)."""
    rows = (await session.execute(select(ReminderPref).where(ReminderPref.user_id == user_id))).scalars()
    chosen = {r.kind: r.enabled for r in rows}
    return {kind: chosen.get(kind.value, True) or kind in ALWAYS_ON for kind in Kind}


async def enabled(session: AsyncSession, user_id: int, kind: Kind) -> bool:
    if kind in ALWAYS_ON:
        return True
    row = await session.get(ReminderPref, (user_id, kind.value))
    return True if row is None else row.enabled


async def set_enabled(session: AsyncSession, user_id: int, kind: Kind, on: bool, *, now: datetime) -> bool:
    """Turn a kind on or off for the person; returns what it is now (ALWAYS_ON kinds stay on)."""
    if kind in ALWAYS_ON:
        return True
    row = await session.get(ReminderPref, (user_id, kind.value))
    if row is None:
        row = ReminderPref(user_id=user_id, kind=kind.value)
        session.add(row)
    row.enabled, row.updated_at = on, now
    await session.flush()
    return on


def _hm(value: str) -> time:
    hh, _, mm = value.partition(":")
    return time(int(hh), int(mm))


def in_quiet_hours(campaign: Campaign, now: datetime) -> bool:
    """Is `now` (UTC) inside the campaign's quiet hours, in its timezone?"""
    start, end = (_hm(v) for v in campaign.reminders.quiet_hours)
    local = now.astimezone(ZoneInfo(campaign.timezone)).time()
    return start <= local < end if start < end else (local >= start or local < end)


def quiet_until(campaign: Campaign, now: datetime) -> datetime | None:
    """When the quiet hours `now` falls in end (UTC), or None outside them."""
    if not in_quiet_hours(campaign, now):
        return None
    zone = ZoneInfo(campaign.timezone)
    local = now.astimezone(zone)
    end = _hm(campaign.reminders.quiet_hours[1])
    until = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if until <= local:
        until += timedelta(days=1)
    return until.astimezone(now.tzinfo)


async def send_once(session: AsyncSession, campaign: Campaign, reminder: Reminder, *, now: datetime) -> bool:
    """Queue the reminder unless its key was sent before or the person turned its kind off; a
    non-urgent one in quiet hours is held until they end. Returns whether it was queued."""
    if not await enabled(session, reminder.user_id, reminder.kind):
        return False
    if len(reminder.key) > 200:
        raise ValueError(f"reminder key longer than 200 characters: {reminder.key[:40]}…")
    try:
        async with session.begin_nested():  # the key's row first: a second scan's insert loses here
            session.add(ReminderSent(key=reminder.key, user_id=reminder.user_id, kind=reminder.kind.value,
                                     sent_at=now))
            await session.flush()
    except IntegrityError:
        return False
    hold = None if reminder.urgent else quiet_until(campaign, now)
    # queued as `notify` would, but held against the scan's `now` (not the wall clock's): a scan run
    # with a fixed clock (tests, a late start-up scan) holds exactly what falls in quiet hours
    payload = {"kind": MESSAGE, "text": reminder.text, "attachments": [],
               "reply_markup": reminder.markup.model_dump(mode="json", exclude_none=True) if reminder.markup else None}
    # bulk: a scan queues reminders for everyone at once; the notifications of people's own actions go first
    await queue.enqueue_many(session, [(reminder.user_id, payload)], about=reminder.user_id, hold_until=hold, now=now,
                             bulk=True)
    return True


# ---------------------------------------------------------------- 已标注: the branding label confirmed


def confirmed_key(submission_id: int) -> str:
    """The reminders_sent key that records a creator's 已标注 (no more branding reminders for the work)."""
    return f"branding_confirmed:{submission_id}"


class Confirmed(StrEnum):
    confirmed = "confirmed"
    already = "already"
    unknown = "unknown"  # not theirs, not accepted, not there


async def confirm_branding(session: AsyncSession, user_id: int, submission_id: int, *, now: datetime) -> Confirmed:
    """The creator confirms the label is shown on their accepted work: no more branding reminders."""
    sub = await session.get(Submission, submission_id)
    if sub is None or sub.user_id != user_id or sub.status != SubmissionStatus.accepted:
        return Confirmed.unknown
    key = confirmed_key(submission_id)
    if await session.get(ReminderSent, key) is not None:
        return Confirmed.already
    try:
        async with session.begin_nested():
            session.add(ReminderSent(key=key, user_id=user_id, kind=Kind.branding.value, sent_at=now))
            await session.flush()
    except IntegrityError:  # pressed twice at once
        return Confirmed.already
    return Confirmed.confirmed
