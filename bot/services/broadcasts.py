"""Broadcasts: an operator's message to a segment of people (notice: the operators reach everyone).

A broadcast is one row. It never becomes thousands of rows inside the operator's update: the job
`bot.jobs.broadcasts.fan_out` queues its copies in batches, in the order of the recipients' ids,
moving the row's `cursor` in the same transaction with a conditional UPDATE (two processes, or a
restart, never queue anyone twice). The copies go through the outbox with every other message:
one sender, the same pacing, notifications first. A person who blocked the bot is marked
unreachable by the sender and skipped by later broadcasts; who never opened the bot is not waited
for. When every copy is delivered or given up the broadcast is done and its author gets the report
(sent, blocked, failed). Status changes go through the transition table with an audit row.
No aiogram here."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.outbox import queue
from bot.services.transitions import transition
from bot.services.users import Role
from storage.models import Broadcast, OutboxMessage, Registration, Submission, User, UserRole
from storage.statuses import BroadcastStatus, OutboxStatus, RegistrationStatus, SubmissionStatus

Status = BroadcastStatus

BATCH = 400  # copies queued at a time (about 16 s of sending at 25 a second)
LOW_WATER = 200  # a broadcast gets its next batch when fewer copies than this wait to be sent
MAX_IDS = 500  # ids an operator may list by hand
CAPTION_LIMIT = 1024  # Telegram's limit of a caption, in characters
TEXT_LIMIT = 4096
CANCELLED = "cancelled by an operator"  # the last_error of copies dropped when a broadcast is stopped


class SegmentKind(StrEnum):
    all = "all"  # every creator: everyone who wrote to the bot, except staff
    approved = "approved"  # creators whose 科普号 registration is approved
    drafts = "drafts"  # creators with an application still a draft
    category = "category"  # applicants of a category: an application submitted in it (not withdrawn)
    reviewers = "reviewers"
    tutors = "tutors"
    ids = "ids"  # a list of ids typed by the operator


@dataclass(frozen=True)
class Segment:
    kind: SegmentKind
    category: str | None = None
    ids: tuple[int, ...] = ()

    def arg(self) -> str | None:
        if self.kind is SegmentKind.category:
            return json.dumps(self.category)
        if self.kind is SegmentKind.ids:
            return json.dumps(sorted(set(self.ids)))
        return None

    @classmethod
    def of(cls, row: Broadcast) -> Segment:
        kind = SegmentKind(row.segment)
        arg = json.loads(row.segment_arg) if row.segment_arg else None
        if kind is SegmentKind.category:
            return cls(kind, category=str(arg))
        if kind is SegmentKind.ids:
            return cls(kind, ids=tuple(int(i) for i in arg or ()))
        return cls(kind)


STAFF_ROLES = (Role.reviewer.value, Role.tutor.value, Role.admin.value)
APPLIED = (SubmissionStatus.draft, SubmissionStatus.withdrawn)  # not (or no longer) an application


def _members(segment: Segment, admin_ids: frozenset[int] | tuple[int, ...]) -> Any:
    """The condition on User.id that makes someone a member of the segment."""
    kind = segment.kind
    if kind is SegmentKind.all:
        staff = exists().where(UserRole.user_id == User.id, UserRole.role.in_(STAFF_ROLES))
        return and_(~staff, User.id.not_in(list(admin_ids) or [0]))
    if kind is SegmentKind.approved:
        return exists().where(Registration.user_id == User.id, Registration.status == RegistrationStatus.approved)
    if kind is SegmentKind.drafts:
        return exists().where(Submission.user_id == User.id, Submission.status == SubmissionStatus.draft)
    if kind is SegmentKind.category:
        return exists().where(Submission.user_id == User.id, Submission.category == segment.category,
                              Submission.status.not_in(APPLIED))
    if kind in (SegmentKind.reviewers, SegmentKind.tutors):
        role = Role.reviewer if kind is SegmentKind.reviewers else Role.tutor
        return exists().where(UserRole.user_id == User.id, UserRole.role == role.value)
    return User.id.in_(list(segment.ids) or [0])


def recipients(segment: Segment, admin_ids: frozenset[int] | tuple[int, ...], *, after: int = 0) -> Select:
    """The ids of the segment's reachable people above `after`, in order."""
    return (select(User.id).where(_members(segment, admin_ids), User.unreachable_at.is_(None), User.id > after)
            .order_by(User.id))


async def count(session: AsyncSession, segment: Segment, admin_ids: frozenset[int] | tuple[int, ...]) -> int:
    """How many people the segment reaches now (those who blocked the bot left out)."""
    query = select(func.count()).select_from(User).where(_members(segment, admin_ids), User.unreachable_at.is_(None))
    return int((await session.execute(query)).scalar() or 0)


async def unreachable_in(session: AsyncSession, segment: Segment,
                         admin_ids: frozenset[int] | tuple[int, ...]) -> int:
    """How many of the segment are left out because they blocked the bot."""
    query = select(func.count()).select_from(User).where(_members(segment, admin_ids), User.unreachable_at.is_not(None))
    return int((await session.execute(query)).scalar() or 0)


async def unknown_ids(session: AsyncSession, ids: tuple[int, ...]) -> list[int]:
    """The listed ids of nobody who ever wrote to the bot (Telegram lets a bot write to no one else)."""
    known = set((await session.execute(select(User.id).where(User.id.in_(list(ids) or [0])))).scalars())
    return sorted(set(ids) - known)


_ID = re.compile(r"\d{1,15}")


def parse_ids(text: str) -> tuple[list[int], list[str]]:
    """Ids typed by an operator, separated by spaces, commas (also full-width) or lines: (the ids in
    order without repeats, the words that are not ids)."""
    ids: list[int] = []
    bad: list[str] = []
    for word in re.split(r"[\s,，、;；]+", text.strip()):
        if not word:
            continue
        if _ID.fullmatch(word):
            if int(word) not in ids:
                ids.append(int(word))
        else:
            bad.append(word)
    return ids, bad


def payload(text_html: str, media: str | None = None, file_id: str | None = None) -> dict[str, Any]:
    """What every recipient gets: a text, or a photo/document with the text as its caption."""
    if media is None:
        return {"kind": "message", "text": text_html, "reply_markup": None, "attachments": []}
    return {"kind": "media", "media": media, "file_id": file_id, "caption": text_html, "reply_markup": None}


async def create(session: AsyncSession, author_id: int, segment: Segment, content: dict[str, Any], total: int,
                 now: datetime) -> Broadcast:
    """A confirmed broadcast, sending from now (the job queues its copies). Never commits."""
    row = Broadcast(author_id=author_id, segment=segment.kind.value, segment_arg=segment.arg(),
                    payload=json.dumps(content, ensure_ascii=False), total=total, cursor=0, queued=0,
                    fanned_out=False, created_at=now)
    await transition(session, row, Status.sending, actor_id=author_id, now=now)
    return row


_WAITING = (OutboxStatus.pending, OutboxStatus.sending, OutboxStatus.held)


async def waiting(session: AsyncSession, broadcast_id: int) -> int:
    """Copies queued and not yet delivered or given up."""
    query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.broadcast_id == broadcast_id,
                                                                  OutboxMessage.status.in_(_WAITING))
    return int((await session.execute(query)).scalar() or 0)


async def queue_next(session: AsyncSession, row: Broadcast, admin_ids: frozenset[int] | tuple[int, ...],
                     now: datetime, batch: int = BATCH) -> int:
    """Queue the next batch of copies (the recipients after the cursor). The cursor moves with a
    conditional UPDATE in the same transaction: when another process moved it first, nothing is
    queued here. Returns how many were queued."""
    segment = Segment.of(row)
    ids = list((await session.execute(recipients(segment, admin_ids, after=row.cursor).limit(batch))).scalars())
    last = ids[-1] if ids else row.cursor
    done = len(ids) < batch
    moved = await session.execute(update(Broadcast).where(Broadcast.id == row.id, Broadcast.cursor == row.cursor,
                                                          Broadcast.fanned_out.is_(False))
                                  .values(cursor=last, queued=Broadcast.queued + len(ids), fanned_out=done))
    if moved.rowcount != 1:
        return 0
    content = json.loads(row.payload)
    return await queue.enqueue_many(session, ((chat_id, content) for chat_id in ids), now=now, broadcast=row.id)


@dataclass(frozen=True)
class Report:
    id: int
    status: Status
    segment: Segment
    total: int  # counted at confirmation
    queued: int
    sent: int
    blocked: int
    failed: int
    cancelled: int  # dropped when an operator stopped the broadcast
    waiting: int
    created_at: datetime
    finished_at: datetime | None
    author_id: int

    @property
    def remaining(self) -> int:
        """Copies still to go: those waiting in the outbox and the recipients not yet queued."""
        return max(self.total - self.sent - self.blocked - self.failed - self.cancelled, self.waiting)


async def report(session: AsyncSession, row: Broadcast) -> Report:
    """Where a broadcast stands: copies sent, blocked (the person blocked the bot), failed, waiting."""
    blocked_case = OutboxMessage.last_error.like(queue.BLOCKED + "%")
    cancelled_case = OutboxMessage.last_error == CANCELLED
    rows = (await session.execute(
        select(OutboxMessage.status, blocked_case, cancelled_case, func.count())
        .where(OutboxMessage.broadcast_id == row.id)
        .group_by(OutboxMessage.status, blocked_case, cancelled_case))).all()
    sent = blocked = failed = cancelled = pending = 0
    for status, is_blocked, is_cancelled, n in rows:
        if status == OutboxStatus.sent:
            sent += n
        elif status == OutboxStatus.failed and is_blocked:
            blocked += n
        elif status == OutboxStatus.failed and is_cancelled:
            cancelled += n
        elif status == OutboxStatus.failed:
            failed += n
        else:
            pending += n
    return Report(row.id, Status(row.status), Segment.of(row), row.total, row.queued, sent, blocked, failed,
                  cancelled, pending, row.created_at, row.finished_at, row.author_id)


async def finish(session: AsyncSession, row: Broadcast, now: datetime) -> bool:
    """Done once every copy is queued and none waits: True when it became done now."""
    if row.status != Status.sending or not row.fanned_out or await waiting(session, row.id):
        return False
    if not await _close(session, row, now):  # another process finished it, or an operator stopped it
        return False
    await transition(session, row, Status.done, actor_id=None, now=now)
    return True


async def _close(session: AsyncSession, row: Broadcast, now: datetime) -> bool:
    """Mark the broadcast over, once: of two processes (or a job and an operator's 停止) at the
    same moment, one conditional UPDATE wins; the other gets False and changes nothing."""
    result = await session.execute(update(Broadcast).where(Broadcast.id == row.id, Broadcast.finished_at.is_(None))
                                   .values(finished_at=now, fanned_out=True)
                                   .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    row.finished_at, row.fanned_out = now, True
    return True


class Outcome(StrEnum):
    cancelled = "cancelled"
    not_found = "not_found"
    already_over = "already_over"


async def cancel(session: AsyncSession, broadcast_id: int, actor_id: int, now: datetime) -> tuple[Outcome, Broadcast | None]:
    """Stop a broadcast: copies not yet sent are dropped (failed, "cancelled"); what went stays."""
    row = await session.get(Broadcast, broadcast_id, with_for_update=True)
    if row is None:
        return Outcome.not_found, None
    if row.status != Status.sending or not await _close(session, row, now):
        await session.refresh(row)
        return Outcome.already_over, row
    await session.execute(update(OutboxMessage).where(OutboxMessage.broadcast_id == row.id,
                                                      OutboxMessage.status.in_((OutboxStatus.pending, OutboxStatus.held)))
                          .values(status=OutboxStatus.failed, last_error=CANCELLED))
    await transition(session, row, Status.cancelled, actor_id=actor_id, now=now)
    return Outcome.cancelled, row


async def sending(session: AsyncSession) -> list[Broadcast]:
    return list((await session.execute(select(Broadcast).where(Broadcast.status == Status.sending)
                                       .order_by(Broadcast.id))).scalars())


async def recent(session: AsyncSession, limit: int = 10) -> list[Broadcast]:
    return list((await session.execute(select(Broadcast).order_by(Broadcast.id.desc()).limit(limit))).scalars())
