"""One-on-one tutoring (通知三(三), issue 11): tutors' profiles, matching creators to tutors,
the operators' queue, the relayed conversation's history and its end. No aiogram here.

    profile = await save_profile(session, campaign, tutor, fields=["frontier_tech"], other_fields="物理",
                                 capacity=5, now=now)
    asked = await ask(session, campaign, creator, "想请老师看看视频脚本", now=now)   # matched or waiting
    route = await route(session, sender, tutorship_id)   # where a message of the conversation goes
    await record(session, route, incoming, outbox_id=row_id, now=now)

Matching (`match`): among the people holding the tutor role with room (active tutorships below
their capacity; a tutor without a profile takes DEFAULT_CAPACITY), those whose fields match the
creator's 专业领域 (registration `field`) or the direction of their latest application come first
(`bot.services.assignment.fields_match`), then any other; the fewest active creators first, ties by
id. Never the creator themselves. Nobody: the tutorship waits in the operators' queue.

A tutorship's status changes only through `transition` (the audit trail); the policy decides who
may write in it (`ask_tutor`: its creator while active; `tutor_creators`: its tutor while active)
and who may end it (`end_tutorship`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaign import Campaign
from bot.outbox import queue
from bot.services import assignment
from bot.services.assignment import Candidate, Item
from bot.services.policy import Action, can
from bot.services.submissions import answers_of
from bot.services.transitions import transition
from bot.services.users import Person, Role
from storage.models import (
    OutboxMessage,
    Registration,
    Submission,
    TutorMessage,
    TutorProfile,
    Tutorship,
    User,
    UserRole,
    utcnow,
)
from storage.statuses import OutboxStatus, RegistrationStatus, SubmissionStatus, TutorshipStatus

__all__ = [
    "DEFAULT_CAPACITY", "HEADER_GAP", "MAX_CAPACITY", "MAX_OTHER_FIELDS", "MAX_REQUEST", "MIN_REQUEST",
    "Asked", "Assigned", "Ended", "Incoming", "Route", "TutorLoad", "CreatorView", "HistoryItem",
    "ask", "assign", "assign_waiting", "creators_of", "current", "end", "fields_of", "history", "match",
    "people", "profile_of", "record", "release_tutor", "resolve_reply", "route", "save_profile", "tutors",
    "waiting_queue",
]

Tut = TutorshipStatus
OPEN = (Tut.waiting, Tut.active)
DEFAULT_CAPACITY = 5  # a tutor who has not set a profile yet
MIN_CAPACITY, MAX_CAPACITY = 1, 50
MAX_OTHER_FIELDS = 500
MIN_REQUEST, MAX_REQUEST = 2, 2000
# a message to someone gets a header naming its sender unless the last one they got in the
# conversation came from the same side less than this ago (an album, a burst of messages)
HEADER_GAP = timedelta(minutes=10)
REF_PREFIX = "tutorship:"


def ref_of(tutorship_id: int) -> str:
    """The outbox `ref` of every message relayed in a tutorship (a reply to it is about that tutorship)."""
    return f"{REF_PREFIX}{tutorship_id}"


# ---------------------------------------------------------------- tutors' profiles


def fields_of(profile: TutorProfile | None) -> list[str]:
    if profile is None:
        return []
    try:
        fields = json.loads(profile.fields or "[]")
    except ValueError:
        return []
    return [f for f in fields if isinstance(f, str)] if isinstance(fields, list) else []


async def profile_of(session: AsyncSession, user_id: int) -> TutorProfile | None:
    return await session.get(TutorProfile, user_id)


async def save_profile(session: AsyncSession, campaign: Campaign, person: Person, *, fields: list[str],
                       other_fields: str, capacity: int, now: datetime | None = None) -> TutorProfile:
    """Create or replace the tutor's profile. PermissionError when they are not a tutor; ValueError
    for an unknown field id, other fields too long, or a capacity outside 1–50. Never commits."""
    if not can(person, Action.set_tutor_profile):
        raise PermissionError(f"person {person.id} may not set a tutor profile")
    order = [d.id for d in campaign.topics.directions]
    unknown = sorted(set(fields) - set(order))
    if unknown:
        raise ValueError(f"unknown field ids: {', '.join(unknown)}")
    other_fields = other_fields.strip()
    if len(other_fields) > MAX_OTHER_FIELDS:
        raise ValueError(f"other fields longer than {MAX_OTHER_FIELDS} characters")
    if not MIN_CAPACITY <= capacity <= MAX_CAPACITY:
        raise ValueError(f"capacity {capacity} outside {MIN_CAPACITY}-{MAX_CAPACITY}")
    profile = await session.get(TutorProfile, person.id, with_for_update=True)
    if profile is None:
        profile = TutorProfile(user_id=person.id)
        session.add(profile)
    profile.fields = json.dumps([f for f in order if f in set(fields)])
    profile.other_fields = other_fields
    profile.capacity = capacity
    profile.updated_at = now or utcnow()
    await session.flush()
    return profile


@dataclass(frozen=True)
class TutorLoad:
    """A tutor with their declared fields, how many creators they take and how many they have."""

    user_id: int
    name: str
    fields: frozenset[str]
    other_fields: str
    capacity: int
    active: int
    has_profile: bool

    @property
    def room(self) -> bool:
        return self.active < self.capacity


async def tutors(session: AsyncSession) -> list[TutorLoad]:
    """Everyone holding the tutor role, with profile and load, in user id order (one query)."""
    load = (select(Tutorship.tutor_id, func.count().label("n")).where(Tutorship.status == Tut.active)
            .group_by(Tutorship.tutor_id).subquery())
    query = (select(UserRole.user_id, User, TutorProfile, func.coalesce(load.c.n, 0))
             .outerjoin(User, User.id == UserRole.user_id)
             .outerjoin(TutorProfile, TutorProfile.user_id == UserRole.user_id)
             .outerjoin(load, load.c.tutor_id == UserRole.user_id)
             .where(UserRole.role == Role.tutor.value).order_by(UserRole.user_id))
    out = []
    for user_id, user, profile, n in (await session.execute(query)).all():
        name = " ".join(p for p in (user.first_name, user.last_name) if p) if user else str(user_id)
        out.append(TutorLoad(user_id=user_id, name=name or str(user_id), fields=frozenset(fields_of(profile)),
                             other_fields=profile.other_fields if profile else "",
                             capacity=profile.capacity if profile else DEFAULT_CAPACITY, active=int(n),
                             has_profile=profile is not None))
    return out


async def is_tutor(session: AsyncSession, user_id: int) -> bool:
    return await session.get(UserRole, (user_id, Role.tutor.value)) is not None


# ---------------------------------------------------------------- matching


async def _registration(session: AsyncSession, user_id: int) -> Registration | None:
    query = (select(Registration).where(Registration.user_id == user_id, Registration.status != RegistrationStatus.erased)
             .order_by(Registration.id.desc()).limit(1))
    return (await session.execute(query)).scalar()


async def _item(session: AsyncSession, campaign: Campaign, creator_id: int) -> Item:
    """What matching knows of the creator: their 专业领域 and their latest application's direction
    (one typed in their own words counts as a field, as in review assignment)."""
    reg = await _registration(session, creator_id)
    sub = (await session.execute(select(Submission).where(Submission.user_id == creator_id)
                                 .order_by(Submission.id.desc()).limit(1))).scalar()
    field = reg.field if reg else ""
    direction = answers_of(sub).get("direction") if sub is not None else None
    known = {d.id for d in campaign.topics.directions}
    if isinstance(direction, str) and direction not in known:
        field = "、".join(p for p in (field, direction) if p)
        direction = None
    return Item(submission_id=0, creator_id=creator_id, creator_field=field or "",
                direction=direction if isinstance(direction, str) else None, creator_unit="", recommender="")


async def match(session: AsyncSession, campaign: Campaign, creator_id: int, *,
                pool: list[TutorLoad] | None = None) -> int | None:
    """The tutor for this creator (see the module's rules), or None when no tutor has room."""
    pool = await tutors(session) if pool is None else pool
    room = [Candidate(user_id=t.user_id, fields=t.fields, other_fields=t.other_fields, unit="", open_load=t.active)
            for t in pool if t.room and t.user_id != creator_id]
    chosen = assignment.choose(await _item(session, campaign, creator_id), room, 1,
                               names=assignment.field_names(campaign))
    return chosen[0] if chosen else None


# ---------------------------------------------------------------- asking for a tutor


async def current(session: AsyncSession, creator_id: int, *, lock: bool = False) -> Tutorship | None:
    """The creator's open tutorship (waiting or active), if any."""
    query = (select(Tutorship).where(Tutorship.creator_id == creator_id, Tutorship.status.in_(OPEN))
             .order_by(Tutorship.id.desc()).limit(1))
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar()


class AskResult(StrEnum):
    matched = "matched"  # a tutor was found: active
    waiting = "waiting"  # nobody has room: the operators' queue
    exists = "exists"  # the creator already has an open tutorship (nothing changed)


@dataclass(frozen=True)
class Asked:
    result: AskResult
    tutorship: Tutorship


async def ask(session: AsyncSession, campaign: Campaign, person: Person, request: str, *,
              now: datetime) -> Asked:
    """The creator asks for a tutor with `request` (what they want help with): a tutorship, matched
    at once or waiting. PermissionError when the policy refuses; ValueError for a request too short
    or too long. Never commits."""
    if not can(person, Action.ask_tutor):
        raise PermissionError(f"person {person.id} may not ask for a tutor")
    request = request.strip()
    if not MIN_REQUEST <= len(request) <= MAX_REQUEST:
        raise ValueError(f"request of {len(request)} characters")
    existing = await current(session, person.id, lock=True)
    if existing is not None:
        return Asked(AskResult.exists, existing)
    tutorship = Tutorship(creator_id=person.id, request=request, created_at=now)
    tutor_id = await match(session, campaign, person.id)
    if tutor_id is None:
        await transition(session, tutorship, Tut.waiting, actor_id=person.id, reason="no tutor with room", now=now)
        return Asked(AskResult.waiting, tutorship)
    tutorship.tutor_id, tutorship.started_at = tutor_id, now
    await transition(session, tutorship, Tut.active, actor_id=person.id, reason=f"matched: tutor {tutor_id}", now=now)
    return Asked(AskResult.matched, tutorship)


# ---------------------------------------------------------------- operators assign


class AssignResult(StrEnum):
    done = "done"
    not_tutor = "not_tutor"  # the person named does not hold the tutor role
    no_creator = "no_creator"  # nobody with that id has used the bot
    self = "self"  # a tutor can't tutor themselves
    same = "same"  # they are the creator's tutor already
    stale = "stale"  # the tutorship a button named is no longer waiting or active


@dataclass(frozen=True)
class Assigned:
    result: AssignResult
    tutorship: Tutorship | None = None
    previous_tutor: int | None = None  # an active tutorship moved from this tutor
    over_capacity: bool = False  # the tutor now has more creators than they said they take


async def assign(session: AsyncSession, person: Person, creator_id: int, tutor_id: int, *, now: datetime,
                 tutorship_id: int | None = None) -> Assigned:
    """An operator gives the creator this tutor: their waiting tutorship becomes active, an active
    one changes tutor (active -> active, recorded), and a creator who never asked gets a new active
    one. `tutorship_id` (a queue button): only that tutorship, if it is still open. PermissionError
    when the policy refuses. Never commits."""
    if not can(person, Action.assign_tutor):
        raise PermissionError(f"person {person.id} may not assign tutors")
    if not await is_tutor(session, tutor_id):
        return Assigned(AssignResult.not_tutor)
    if tutor_id == creator_id:
        return Assigned(AssignResult.self)
    if await session.get(User, creator_id) is None:
        return Assigned(AssignResult.no_creator)
    tutorship = await current(session, creator_id, lock=True)
    if tutorship_id is not None and (tutorship is None or tutorship.id != tutorship_id):
        return Assigned(AssignResult.stale)
    if tutorship is not None and tutorship.status == Tut.active and tutorship.tutor_id == tutor_id:
        return Assigned(AssignResult.same, tutorship)
    load = next((t for t in await tutors(session) if t.user_id == tutor_id), None)
    over = load is not None and load.active + 1 > load.capacity
    previous = tutorship.tutor_id if tutorship is not None and tutorship.status == Tut.active else None
    if tutorship is None:
        tutorship = Tutorship(creator_id=creator_id, created_at=now)
    tutorship.tutor_id, tutorship.assigned_by, tutorship.started_at = tutor_id, person.id, now
    reason = f"tutor {tutor_id}" + (f" instead of {previous}" if previous else "") + f" by {person.id}"
    await transition(session, tutorship, Tut.active, actor_id=person.id, reason=reason, now=now)
    return Assigned(AssignResult.done, tutorship, previous, over)


async def assign_waiting(session: AsyncSession, campaign: Campaign, *, now: datetime) -> list[Tutorship]:
    """Waiting tutorships, oldest first, each given a tutor who has room now (after a tutor saved
    their profile). Returns those that became active."""
    waiting = (await session.execute(select(Tutorship).where(Tutorship.status == Tut.waiting)
                                     .order_by(Tutorship.created_at, Tutorship.id))).scalars().all()
    done = []
    for tutorship in waiting:
        pool = await tutors(session)
        tutor_id = await match(session, campaign, tutorship.creator_id, pool=pool)
        if tutor_id is None:
            if not any(t.room for t in pool):
                break
            continue
        tutorship.tutor_id, tutorship.started_at = tutor_id, now
        await transition(session, tutorship, Tut.active, actor_id=None, reason=f"matched: tutor {tutor_id}", now=now)
        done.append(tutorship)
    return done


async def release_tutor(session: AsyncSession, tutor_id: int, *, now: datetime, actor_id: int | None) -> list[Tutorship]:
    """A tutor leaves (role taken away, data erased): their active tutorships go back to waiting
    (the operators' queue), each with an audit row. Returns them. Never commits."""
    rows = (await session.execute(select(Tutorship).where(Tutorship.tutor_id == tutor_id, Tutorship.status == Tut.active)
                                  .order_by(Tutorship.id).with_for_update())).scalars().all()
    for tutorship in rows:
        tutorship.tutor_id, tutorship.started_at = None, None
        await transition(session, tutorship, Tut.waiting, actor_id=actor_id, reason=f"tutor {tutor_id} left", now=now)
    return list(rows)


# ---------------------------------------------------------------- ending


class EndResult(StrEnum):
    done = "done"
    not_allowed = "not_allowed"  # not theirs (forged), or unknown
    already = "already"  # ended before


@dataclass(frozen=True)
class Ended:
    result: EndResult
    tutorship: Tutorship | None = None
    tutor_id: int | None = None  # the tutor it had (told, with the creator)


async def end(session: AsyncSession, person: Person, tutorship_id: int, *, now: datetime) -> Ended:
    """Either side (or an operator) ends the tutorship. Never commits."""
    tutorship = await session.get(Tutorship, tutorship_id, with_for_update=True)
    if tutorship is None or not (person.id in (tutorship.creator_id, tutorship.tutor_id) or person.has(Role.admin)):
        return Ended(EndResult.not_allowed)
    if tutorship.status == Tut.ended:
        return Ended(EndResult.already, tutorship)
    if not can(person, Action.end_tutorship, tutorship):
        return Ended(EndResult.not_allowed)
    tutor_id = tutorship.tutor_id
    tutorship.ended_at = now
    await transition(session, tutorship, Tut.ended, actor_id=person.id, reason="ended", now=now)
    return Ended(EndResult.done, tutorship, tutor_id)


# ---------------------------------------------------------------- the conversation


@dataclass(frozen=True)
class Incoming:
    """A message someone sent into the conversation, as Telegram's types say it (read by the handler)."""

    kind: str  # text | photo | document | video | voice | audio | sticker | animation | video_note | …
    text: str | None  # the text or caption
    file_id: str | None
    message_id: int  # in the sender's chat


@dataclass(frozen=True)
class Route:
    """Where a message of a tutorship goes, and whether it needs a header naming its sender."""

    tutorship: Tutorship
    sender_id: int
    recipient_id: int
    from_tutor: bool
    header: bool

    def without_header(self) -> Route:
        return replace(self, header=False)


async def _needs_header(session: AsyncSession, tutorship: Tutorship, sender_id: int, recipient_id: int,
                        now: datetime) -> bool:
    last = (await session.execute(select(TutorMessage).where(TutorMessage.recipient_id == recipient_id)
                                  .order_by(TutorMessage.id.desc()).limit(1))).scalar()
    return (last is None or last.tutorship_id != tutorship.id or last.sender_id != sender_id
            or now - last.created_at > HEADER_GAP)


async def route(session: AsyncSession, person: Person, tutorship: Tutorship | int, *, now: datetime) -> Route | None:
    """The way a message from `person` in this tutorship goes: to the tutor when they are its
    creator (policy ask_tutor), to the creator when they are its tutor (tutor_creators). None when
    they may not write in it (not theirs, not active, a forged id)."""
    if isinstance(tutorship, int):
        found = await session.get(Tutorship, tutorship)
        if found is None:
            return None
        tutorship = found
    if tutorship.tutor_id == person.id and can(person, Action.tutor_creators, tutorship):
        sender, recipient, from_tutor = person.id, tutorship.creator_id, True
    elif tutorship.creator_id == person.id and can(person, Action.ask_tutor, tutorship):
        assert tutorship.tutor_id is not None
        sender, recipient, from_tutor = person.id, tutorship.tutor_id, False
    else:
        return None
    return Route(tutorship, sender, recipient, from_tutor,
                 await _needs_header(session, tutorship, sender, recipient, now))


async def record(session: AsyncSession, way: Route, message: Incoming, *, outbox_id: int | None,
                 now: datetime) -> TutorMessage:
    """Keep a relayed message in the conversation's history. Never commits."""
    row = TutorMessage(tutorship_id=way.tutorship.id, sender_id=way.sender_id, recipient_id=way.recipient_id,
                       kind=message.kind[:16], text=message.text, file_id=message.file_id,
                       source_message_id=message.message_id, outbox_id=outbox_id, created_at=now)
    session.add(row)
    await session.flush()
    return row


async def resolve_reply(session: AsyncSession, chat_id: int, replied_message_id: int) -> Tutorship | None:
    """The tutorship a message in `chat_id` belongs to, when the bot relayed it there (or its
    header): the outbox row Telegram's message id was recorded on -> its relayed message -> the
    tutorship (a header carries the tutorship as its ref). None for anything else."""
    row = await queue.by_result(session, chat_id, replied_message_id)
    if row is None:
        return None
    message = (await session.execute(select(TutorMessage).where(TutorMessage.outbox_id == row.id).limit(1))).scalar()
    if message is not None:
        return await session.get(Tutorship, message.tutorship_id)
    ref = queue.payload_of(row).get("ref")
    if isinstance(ref, str) and ref.startswith(REF_PREFIX) and ref[len(REF_PREFIX):].isdigit():
        return await session.get(Tutorship, int(ref[len(REF_PREFIX):]))
    return None


# ---------------------------------------------------------------- what people see


@dataclass(frozen=True)
class PersonView:
    user_id: int
    name: str
    account_name: str | None  # the 科普号 registered (None: no registration)
    reg_status: str | None
    field: str


async def people(session: AsyncSession, user_ids: set[int] | list[int]) -> dict[int, PersonView]:
    """Each person's name (their registration's 负责人, else their Telegram name), 科普号 and its status."""
    ids = set(user_ids)
    if not ids:
        return {}
    users = {u.id: u for u in (await session.execute(select(User).where(User.id.in_(ids)))).scalars()}
    regs: dict[int, Registration] = {}
    query = (select(Registration).where(Registration.user_id.in_(ids), Registration.status != RegistrationStatus.erased)
             .order_by(Registration.id))
    for reg in (await session.execute(query)).scalars():
        regs[reg.user_id] = reg  # the newest wins
    out = {}
    for user_id in ids:
        user, reg = users.get(user_id), regs.get(user_id)
        name = (reg.person_name if reg and reg.person_name else
                " ".join(p for p in ((user.first_name, user.last_name) if user else ()) if p)) or str(user_id)
        out[user_id] = PersonView(user_id, name, reg.account_name if reg else None,
                                  str(reg.status) if reg else None, reg.field if reg else "")
    return out


@dataclass(frozen=True)
class CreatorView:
    tutorship: Tutorship
    person: PersonView
    submissions: list[tuple[str, str]]  # (title, status) of their applications, newest first
    messages: int


async def creators_of(session: AsyncSession, person: Person) -> list[CreatorView]:
    """The tutor's active creators, oldest tutorship first, with their registration and applications."""
    if not can(person, Action.tutor_creators):
        return []
    rows = (await session.execute(select(Tutorship).where(Tutorship.tutor_id == person.id, Tutorship.status == Tut.active)
                                  .order_by(Tutorship.started_at, Tutorship.id))).scalars().all()
    views = await people(session, [t.creator_id for t in rows])
    counts = dict((await session.execute(
        select(TutorMessage.tutorship_id, func.count()).where(TutorMessage.tutorship_id.in_([t.id for t in rows]))
        .group_by(TutorMessage.tutorship_id))).all()) if rows else {}
    subs: dict[int, list[tuple[str, str]]] = {}
    if rows:
        query = (select(Submission).where(Submission.user_id.in_([t.creator_id for t in rows]),
                                          Submission.status != SubmissionStatus.draft)
                 .order_by(Submission.id.desc()))
        for sub in (await session.execute(query)).scalars():
            subs.setdefault(sub.user_id, []).append((sub.title, str(sub.status)))
    return [CreatorView(t, views[t.creator_id], subs.get(t.creator_id, []), int(counts.get(t.id, 0))) for t in rows]


async def active_count(session: AsyncSession, tutor_id: int) -> int:
    """How many creators the tutor has now."""
    return (await session.execute(select(func.count()).select_from(Tutorship)
                                  .where(Tutorship.tutor_id == tutor_id, Tutorship.status == Tut.active))).scalar_one()


async def visible(session: AsyncSession, person: Person, tutorship_id: int) -> Tutorship | None:
    """The tutorship if this person may read its history: its tutor while active (policy
    tutor_creators), or its creator. A forged id, or another tutor's creator: None."""
    tutorship = await session.get(Tutorship, tutorship_id)
    if tutorship is None:
        return None
    if tutorship.creator_id == person.id or can(person, Action.tutor_creators, tutorship):
        return tutorship
    return None


@dataclass(frozen=True)
class HistoryItem:
    at: datetime
    from_tutor: bool
    kind: str
    text: str | None
    file_id: str | None
    delivered: str  # sent | failed | pending


async def history(session: AsyncSession, tutorship: Tutorship) -> list[HistoryItem]:
    """Every message relayed in the tutorship, oldest first, with whether it arrived."""
    query = (select(TutorMessage, OutboxMessage.status).outerjoin(OutboxMessage, OutboxMessage.id == TutorMessage.outbox_id)
             .where(TutorMessage.tutorship_id == tutorship.id).order_by(TutorMessage.id))
    out = []
    for msg, status in (await session.execute(query)).all():
        delivered = "sent" if status == OutboxStatus.sent else "failed" if status == OutboxStatus.failed else "pending"
        out.append(HistoryItem(msg.created_at, msg.sender_id != tutorship.creator_id,
                               msg.kind, msg.text, msg.file_id, delivered))
    return out


@dataclass(frozen=True)
class WaitingItem:
    tutorship: Tutorship
    person: PersonView
    waited: timedelta


async def waiting_queue(session: AsyncSession, *, now: datetime) -> list[WaitingItem]:
    """The operators' queue: waiting tutorships, oldest first, with how long each has waited."""
    rows = (await session.execute(select(Tutorship).where(Tutorship.status == Tut.waiting)
                                  .order_by(Tutorship.created_at, Tutorship.id))).scalars().all()
    views = await people(session, [t.creator_id for t in rows])
    return [WaitingItem(t, views[t.creator_id], now - t.created_at) for t in rows]


