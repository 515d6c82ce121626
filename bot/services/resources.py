"""资源对接 (notice 三(三)): a creator files a resource request (an expert to consult, a place to
shoot, data or materials, channel promotion, other); operators assign it to a tutor or a staff
member, whoever handles it answers and closes it; the creator may follow up on an answer.

Every change of status goes through `transition` (its audit row in the same transaction); every
operation loads the row under a lock and asks the policy about it, never trusting the id a button
carried. Outcomes are codes (`Result`); the handlers and forms turn them into words.

A follow-up on an answered request goes back to whoever handles it (`assigned`): the request's
assignee, who is the person who answered when nobody was assigned (answering an unassigned request
makes its answerer the one handling it). The creator's follow-ups and the earlier answers are kept
in the request's `description`, as a thread the caller composes (`join`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.policy import Action, can
from bot.services.transitions import allowed, transition
from bot.services.users import Person, Role
from storage.models import AuditEntry, Registration, ResourceRequest, User, UserRole, utcnow
from storage.statuses import RegistrationStatus, ResourceStatus

Status = ResourceStatus

KINDS = ("expert", "venue", "data", "promotion", "other")  # 专家咨询 / 拍摄场地 / 数据与素材 / 渠道推广 / 其他
MIN_DESCRIPTION, MAX_DESCRIPTION = 10, 1000
MIN_ANSWER, MAX_ANSWER = 2, 2000
MIN_FOLLOW_UP, MAX_FOLLOW_UP = 2, 1000
ENTITY = "resource_requests"
ASSIGNEE = "assignee="  # the audit reason of an assignment names whom it went to (an id, no words)
HANDLER_ROLES = (Role.tutor, Role.admin)  # whom a request can be given to

# operators' filters of /requests: code -> the statuses shown ("act": what still needs someone)
FILTERS: dict[str, tuple[Status, ...]] = {
    "act": (Status.open, Status.assigned),
    "open": (Status.open,),
    "asg": (Status.assigned,),
    "ans": (Status.answered,),
    "cls": (Status.closed,),
    "all": tuple(Status),
}
DEFAULT_FILTER = "act"
NOBODY_YET = "open"  # what the operators' /start counts: requests nobody has taken


class Result(StrEnum):
    done = "done"
    missing = "missing"  # no such request (or not the person's own: a creator never learns which)
    forbidden = "forbidden"  # the policy refuses (not staff; a tutor on a request not theirs)
    closed = "closed"  # the request is closed: read-only
    not_answered = "not_answered"  # a follow-up on a request with no answer to follow up
    not_handler = "not_handler"  # the person picked holds neither the tutor nor the admin role
    same = "same"  # already assigned to that person


@dataclass(frozen=True)
class Outcome:
    result: Result
    request: ResourceRequest | None = None
    previous_assignee: int | None = None


@dataclass(frozen=True)
class RequestView:
    """A request as its cards and lists show it."""

    id: int
    user_id: int
    kind: str
    description: str
    status: Status
    assignee_id: int | None
    answer: str | None
    created_at: datetime
    updated_at: datetime
    creator: str = ""  # the creator's name (registration, else Telegram)
    account_name: str | None = None  # their 科普号 (the newest registration not erased)
    assignee: str | None = None  # the name of whoever handles it


@dataclass(frozen=True)
class Page:
    items: list[RequestView]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class TrailLine:
    at: datetime
    from_status: str | None
    to_status: str
    actor_id: int | None
    actor: str
    reason: str | None  # a code: "follow_up", "by_creator", "assignee=<id>"
    assignee: str | None = None  # for "assignee=<id>": that person's name


@dataclass(frozen=True)
class Handler:
    """Someone a request can be given to: a tutor or a staff member, and how many requests they hold."""

    user_id: int
    name: str
    role: Role  # tutor, or admin
    load: int  # requests assigned to them and not answered yet


# ---------------------------------------------------------------- reading


async def _names(session: AsyncSession, ids: Iterable[int], *, registered: bool = False) -> dict[int, str]:
    from bot.services.listing import names_of

    return await names_of(session, set(ids), registered=registered)


async def account_names(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, str]:
    """Each person's 科普号 (the account name of their newest registration not erased)."""
    ids = set(user_ids)
    if not ids:
        return {}
    rows = await session.execute(select(Registration.user_id, Registration.account_name)
                                 .where(Registration.user_id.in_(ids), Registration.status != RegistrationStatus.erased)
                                 .order_by(Registration.id))
    return {uid: name for uid, name in rows.all()}


async def _views(session: AsyncSession, rows: list[ResourceRequest]) -> list[RequestView]:
    from bot.services.listing import names_of

    creators = await names_of(session, {r.user_id for r in rows})
    handlers = await _names(session, {r.assignee_id for r in rows if r.assignee_id is not None})
    accounts = await account_names(session, {r.user_id for r in rows})
    return [RequestView(r.id, r.user_id, r.kind, r.description, r.status, r.assignee_id, r.answer, r.created_at,
                        r.updated_at, creators.get(r.user_id, ""), accounts.get(r.user_id),
                        handlers.get(r.assignee_id) if r.assignee_id is not None else None) for r in rows]


async def view(session: AsyncSession, request: ResourceRequest) -> RequestView:
    return (await _views(session, [request]))[0]


async def own(session: AsyncSession, person: Person, request_id: int) -> ResourceRequest | None:
    """The creator's own request (None: missing, or someone else's: the same answer)."""
    request = await session.get(ResourceRequest, request_id)
    return request if request is not None and request.user_id == person.id else None


async def for_handler(session: AsyncSession, person: Person, request_id: int) -> ResourceRequest | None:
    """A request as its handlers see it: any for staff, a tutor's own assigned ones (closed ones too:
    read-only). None: missing or not theirs."""
    request = await session.get(ResourceRequest, request_id)
    if request is None:
        return None
    return request if handles(person, request) else None


def handles(person: Person, request: ResourceRequest) -> bool:
    """Does the person handle the request, whatever its status (staff: any; a tutor: those given to them)?"""
    return can(person, Action.list_resources) or (person.has(Role.tutor) and request.assignee_id == person.id)


def _page(total: int, page: int, size: int) -> tuple[int, int]:
    pages = max(1, -(-total // size))
    return min(max(page, 0), pages - 1), pages


async def mine(session: AsyncSession, person: Person, *, page: int, size: int) -> Page:
    """The creator's requests, newest first."""
    where = ResourceRequest.user_id == person.id
    total = (await session.execute(select(func.count()).select_from(ResourceRequest).where(where))).scalar_one()
    page, pages = _page(total, page, size)
    rows = list((await session.execute(select(ResourceRequest).where(where)
                                       .order_by(ResourceRequest.created_at.desc(), ResourceRequest.id.desc())
                                       .offset(page * size).limit(size))).scalars())
    return Page(await _views(session, rows), total, page, pages)


async def queue(session: AsyncSession, person: Person, flt: str, *, page: int, size: int) -> Page | None:
    """/requests: the requests of a filter (FILTERS), oldest first. Staff see all; a tutor those
    assigned to them. None: the person handles no requests."""
    if not can(person, Action.handle_resource):
        return None
    statuses = FILTERS.get(flt, FILTERS[DEFAULT_FILTER])
    where = [ResourceRequest.status.in_(statuses)]
    if not can(person, Action.list_resources):
        where.append(ResourceRequest.assignee_id == person.id)
    total = (await session.execute(select(func.count()).select_from(ResourceRequest).where(*where))).scalar_one()
    page, pages = _page(total, page, size)
    rows = list((await session.execute(select(ResourceRequest).where(*where)
                                       .order_by(ResourceRequest.created_at, ResourceRequest.id)
                                       .offset(page * size).limit(size))).scalars())
    return Page(await _views(session, rows), total, page, pages)




async def trail(session: AsyncSession, request_id: int, *, limit: int = 12) -> tuple[list[TrailLine], int]:
    """The request's audit rows, the newest `limit` in order (oldest first), and how many there are."""
    where = (AuditEntry.entity == ENTITY, AuditEntry.entity_id == request_id)
    total = (await session.execute(select(func.count()).select_from(AuditEntry).where(*where))).scalar_one()
    entries = list((await session.execute(select(AuditEntry).where(*where)
                                          .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                                          .limit(limit))).scalars())
    entries.reverse()
    given = {e.id: int(e.reason.removeprefix(ASSIGNEE)) for e in entries
             if e.reason and e.reason.startswith(ASSIGNEE) and e.reason.removeprefix(ASSIGNEE).isdigit()}
    # the creator by their registration's name, as the request's card names them
    names = await _names(session, {e.actor_id for e in entries if e.actor_id is not None} | set(given.values()),
                         registered=True)
    return [TrailLine(e.at, e.from_status, e.to_status, e.actor_id,
                      names.get(e.actor_id, "") if e.actor_id is not None else "", e.reason,
                      names.get(given[e.id], str(given[e.id])) if e.id in given else None)
            for e in entries], total


async def handlers(session: AsyncSession, admin_ids: Iterable[int]) -> list[Handler]:
    """Everyone a request can be given to (the tutor or admin role; the admins of the settings),
    staff first, then the least loaded."""
    granted = (await session.execute(select(UserRole.user_id, UserRole.role)
                                     .where(UserRole.role.in_([r.value for r in HANDLER_ROLES])))).all()
    roles: dict[int, Role] = {uid: Role.admin for uid in admin_ids}
    for uid, role in granted:
        if roles.get(uid) != Role.admin:
            roles[uid] = Role(role)
    if not roles:
        return []
    known = set((await session.execute(select(User.id).where(User.id.in_(roles)))).scalars())
    loads = dict((await session.execute(
        select(ResourceRequest.assignee_id, func.count()).where(ResourceRequest.status == Status.assigned,
                                                                 ResourceRequest.assignee_id.in_(roles))
        .group_by(ResourceRequest.assignee_id))).all())
    names = await _names(session, known)
    found = [Handler(uid, names.get(uid, "") or str(uid), role, loads.get(uid, 0)) for uid, role in roles.items()
             if uid in known]  # an admin of the settings who never wrote to the bot cannot be told
    return sorted(found, key=lambda h: (h.role != Role.admin, h.load, h.name, h.user_id))


async def is_handler(session: AsyncSession, user_id: int, admin_ids: Iterable[int]) -> bool:
    if user_id in set(admin_ids):
        return True
    role = (await session.execute(select(UserRole.role).where(
        UserRole.user_id == user_id, UserRole.role.in_([r.value for r in HANDLER_ROLES])))).first()
    return role is not None


# ---------------------------------------------------------------- changing


async def file(session: AsyncSession, person: Person, kind: str, description: str, *,
               now: datetime | None = None) -> Outcome:
    """The creator files a request: it is open, for the operators to see."""
    if not can(person, Action.request_resource):
        return Outcome(Result.forbidden)
    if kind not in KINDS or not MIN_DESCRIPTION <= len(description) <= MAX_DESCRIPTION:
        raise ValueError("kind or description out of range: the form checks them")
    now = now or utcnow()
    request = ResourceRequest(user_id=person.id, kind=kind, description=description, created_at=now, updated_at=now)
    await transition(session, request, Status.open, actor_id=person.id, now=now)
    return Outcome(Result.done, request)


async def _locked(session: AsyncSession, request_id: int) -> ResourceRequest | None:
    return await session.get(ResourceRequest, request_id, with_for_update=True, populate_existing=True)


async def assign(session: AsyncSession, person: Person, request_id: int, to: int, admin_ids: Iterable[int], *,
                 now: datetime | None = None) -> Outcome:
    """An operator gives the request to a tutor or a staff member (again: to someone else)."""
    if not can(person, Action.list_resources):
        return Outcome(Result.forbidden)
    request = await _locked(session, request_id)
    if request is None:
        return Outcome(Result.missing)
    if request.status == Status.closed:
        return Outcome(Result.closed, request)
    if not await is_handler(session, to, admin_ids) or await session.get(User, to) is None:
        return Outcome(Result.not_handler, request)
    if request.assignee_id == to and request.status == Status.assigned:
        return Outcome(Result.same, request)
    now = now or utcnow()
    previous = request.assignee_id
    await transition(session, request, Status.assigned, actor_id=person.id, reason=f"{ASSIGNEE}{to}", now=now)
    request.assignee_id, request.updated_at = to, now
    return Outcome(Result.done, request, previous)


async def answer(session: AsyncSession, person: Person, request_id: int, text: str, *,
                 now: datetime | None = None) -> Outcome:
    """Staff (any request) or the tutor it is assigned to answers; the answer goes to the creator.
    Answering a request nobody was given makes the answerer the one who handles it (follow-ups go to them)."""
    request = await _locked(session, request_id)
    if request is None:
        return Outcome(Result.missing)
    if request.status == Status.closed:
        return Outcome(Result.closed, request)
    if not can(person, Action.handle_resource, request):
        return Outcome(Result.forbidden, request)
    now = now or utcnow()
    await transition(session, request, Status.answered, actor_id=person.id, now=now)
    request.answer, request.updated_at = text, now
    if request.assignee_id is None:
        request.assignee_id = person.id
    return Outcome(Result.done, request)


async def close(session: AsyncSession, person: Person, request_id: int, *, now: datetime | None = None) -> Outcome:
    """Whoever handles the request (policy handle_resource), or the creator themselves (已解决 /
    不再需要), closes it: read-only from then on."""
    request = await _locked(session, request_id)
    if request is None:
        return Outcome(Result.missing)
    owner = request.user_id == person.id
    if not owner and not handles(person, request):
        # a tutor on a request not theirs is told so; anyone else learns nothing of it
        return Outcome(Result.forbidden if can(person, Action.handle_resource) else Result.missing)
    if request.status == Status.closed:
        return Outcome(Result.closed, request)
    now = now or utcnow()
    await transition(session, request, Status.closed, actor_id=person.id, reason="by_creator" if owner else None,
                     now=now)
    request.updated_at = now
    return Outcome(Result.done, request)


async def follow_up(session: AsyncSession, person: Person, request_id: int, text: str,
                    join: Callable[[str | None, str], str], *, now: datetime | None = None) -> Outcome:
    """The creator adds to an answered request: it goes back to whoever handles it (assigned). The
    answer and the follow-up join the request's thread: `description` gains `join(answer, text)`."""
    request = await _locked(session, request_id)
    if request is None or request.user_id != person.id:
        return Outcome(Result.missing)
    if request.status == Status.closed:
        return Outcome(Result.closed, request)
    if request.status != Status.answered or request.assignee_id is None or not allowed(request, Status.assigned):
        return Outcome(Result.not_answered, request)
    now = now or utcnow()
    await transition(session, request, Status.assigned, actor_id=person.id, reason="follow_up", now=now)
    request.description = f"{request.description}\n\n{join(request.answer, text)}"
    request.answer, request.updated_at = None, now
    return Outcome(Result.done, request)


async def release_handler(session: AsyncSession, user_id: int, *, now: datetime, actor_id: int | None) -> list[ResourceRequest]:
    """Someone who handled requests lost the role (a tutor removed): their requests not closed go
    back to the operators' queue (open, nobody assigned). Returns them."""
    query = (select(ResourceRequest).where(ResourceRequest.assignee_id == user_id,
                                           ResourceRequest.status != ResourceStatus.closed)
             .order_by(ResourceRequest.id).with_for_update())
    released = list((await session.execute(query)).scalars())
    for request in released:
        await transition(session, request, ResourceStatus.open, actor_id=actor_id, reason="handler_left", now=now)
        request.assignee_id, request.updated_at = None, now
    return released
