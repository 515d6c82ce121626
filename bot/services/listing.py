"""What operators see of every application (issue 10, part 6): the /submissions list with its
filters and paging, and for one application its review rounds (reviewers, decision, message) and
its audit trail (the submission's own rows, its rounds' and its assignments'). No aiogram here;
read-only (nothing is written, nothing commits).

    f = Filters.unpack(callback_data.q)                       # "s=ur.c=3.w=7" -> Filters
    page = await submissions_page(session, campaign, f, page=0, size=8, now=now)
    rounds = await rounds_of(session, sub_id)                 # the card's rounds, oldest first
    trail = await audit_trail(session, sub_id, page=0, size=10)

Filters travel in button data (`SubListCB.q`, 64 bytes for everything): each is a short code,
`pack()` writes them `key=value` joined by "." ("-" when none is set) and `unpack()` reads back only
what it knows, so a forged or garbled `q` lists everything rather than failing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaign import Campaign
from storage.models import (
    AuditEntry,
    Registration,
    ReviewAssignment,
    ReviewRound,
    Submission,
    User,
)
from storage.statuses import RegistrationStatus, SubmissionStatus

__all__ = [
    "STATUS_CODES",
    "WAITING_DAYS",
    "AuditLine",
    "Filters",
    "ListedSubmission",
    "RoundReviewer",
    "RoundView",
    "SubmissionsPage",
    "TrailPage",
    "audit_trail",
    "names_of",
    "rounds_of",
    "submissions_page",
]

Sub = SubmissionStatus
# status filter codes (two letters each) -> status; a draft is private and never listed
STATUS_CODES: dict[str, SubmissionStatus] = {
    "su": Sub.submitted, "ur": Sub.under_review, "rt": Sub.returned, "rv": Sub.revise,
    "ac": Sub.accepted, "rj": Sub.rejected, "wd": Sub.withdrawn, "dq": Sub.disqualified,
}
WAITING_DAYS = (7, 14, 30)  # the "waiting since" filter's choices
ROUND_CHOICES = (1, 2, 3)  # 3 means the third round or later
# an application in one of these waits for nobody: the "waiting since" filter leaves it out
SETTLED = (Sub.accepted, Sub.rejected, Sub.withdrawn, Sub.disqualified)


@dataclass(frozen=True)
class Filters:
    status: str | None = None  # a STATUS_CODES key
    category: int | None = None  # an index into campaign.categories (short, unlike its id)
    round: int | None = None  # ROUND_CHOICES: the application's current round (3: 3 or more)
    waiting: int | None = None  # WAITING_DAYS: in its current status for more than this many days

    def pack(self) -> str:
        parts = [f"{key}={value}" for key, value in
                 (("s", self.status), ("c", self.category), ("r", self.round), ("w", self.waiting))
                 if value is not None]
        return ".".join(parts) or "-"

    @classmethod
    def unpack(cls, q: str) -> Filters:
        """The filters a button carried; anything unknown or garbled is dropped."""
        found: dict[str, object] = {}
        for part in (q or "").split("."):
            key, _, value = part.partition("=")
            if key == "s" and value in STATUS_CODES:
                found["status"] = value
            elif key == "c" and value.isdigit() and len(value) <= 3:
                found["category"] = int(value)
            elif key == "r" and value.isdigit() and int(value) in ROUND_CHOICES:
                found["round"] = int(value)
            elif key == "w" and value.isdigit() and int(value) in WAITING_DAYS:
                found["waiting"] = int(value)
        return cls(**found)  # type: ignore[arg-type]

    def set(self, **changes: object) -> Filters:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.status, self.category, self.round, self.waiting))


@dataclass(frozen=True)
class ListedSubmission:
    id: int
    title: str
    applicant: str  # the person named in the live registration, else the Telegram name
    category: str  # the category's name
    kind: str
    status: SubmissionStatus
    round: int
    since: datetime  # in its current status since (its last status change)
    age: timedelta


@dataclass(frozen=True)
class SubmissionsPage:
    items: list[ListedSubmission]
    total: int
    page: int
    pages: int


async def names_of(session: AsyncSession, user_ids: set[int] | list[int], *, registered: bool = True) -> dict[int, str]:
    """Each person's name: from their live 科普号 registration when `registered` (the newest), else
    (and as the fallback) their Telegram first and last name. Missing users are left out."""
    ids = set(user_ids)
    if not ids:
        return {}
    names: dict[int, str] = {}
    for user in (await session.execute(select(User).where(User.id.in_(ids)))).scalars():
        names[user.id] = " ".join(p for p in (user.first_name, user.last_name) if p)
    if registered:
        query = (select(Registration).where(Registration.user_id.in_(ids),
                                            Registration.status != RegistrationStatus.erased)
                 .order_by(Registration.id))
        for reg in (await session.execute(query)).scalars():
            if reg.person_name:
                names[reg.user_id] = reg.person_name
    return names


def _category_index(campaign: Campaign, category_id: str) -> int | None:
    return next((i for i, c in enumerate(campaign.categories) if c.id == category_id), None)


def _category_name(campaign: Campaign, category_id: str) -> str:
    i = _category_index(campaign, category_id)
    return campaign.categories[i].name if i is not None else category_id


async def submissions_page(session: AsyncSession, campaign: Campaign, filters: Filters, *, page: int, size: int,
                           now: datetime) -> SubmissionsPage:
    """One page of every application but drafts, newest activity (its last status change) first,
    with the filters applied. The page number is clamped to the pages there are."""
    since = Submission.status_at  # kept by every transition; indexed with the id, so a page reads a page
    query = select(Submission, since).where(Submission.status != Sub.draft)
    if filters.status is not None:
        query = query.where(Submission.status == STATUS_CODES[filters.status])
    if filters.category is not None:
        cats = campaign.categories
        cat_id = cats[filters.category].id if filters.category < len(cats) else "\x00"
        query = query.where(Submission.category == cat_id)
    if filters.round is not None:
        query = query.where(Submission.round >= filters.round if filters.round == ROUND_CHOICES[-1]
                            else Submission.round == filters.round)
    if filters.waiting is not None:
        cutoff = now - timedelta(days=filters.waiting)
        query = query.where(Submission.status.not_in(SETTLED), since <= cutoff)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    pages = max(1, -(-total // size))
    page = min(max(page, 0), pages - 1)
    rows = (await session.execute(query.order_by(since.desc(), Submission.id.desc())
                                  .offset(page * size).limit(size))).all()
    names = await names_of(session, {sub.user_id for sub, _ in rows})
    items = []
    for sub, at in rows:
        items.append(ListedSubmission(id=sub.id, title=sub.title, applicant=names.get(sub.user_id, ""),
                                      category=_category_name(campaign, sub.category), kind=sub.kind,
                                      status=SubmissionStatus(sub.status), round=sub.round, since=at,
                                      age=now - at))
    return SubmissionsPage(items=items, total=total, page=page, pages=pages)


# ---------------------------------------------------------------- one application's rounds


@dataclass(frozen=True)
class RoundReviewer:
    assignment_id: int
    reviewer_id: int
    name: str  # "" when the user row is gone
    status: str  # AssignmentStatus
    due_at: datetime


@dataclass(frozen=True)
class RoundView:
    id: int
    number: int
    status: str  # RoundStatus
    opened_at: datetime
    reviewers: list[RoundReviewer] = field(default_factory=list)
    decision: str | None = None  # Verdict
    message: str | None = None
    decided_by: str | None = None  # the operator's name
    decided_at: datetime | None = None
    revise_until: datetime | None = None


async def rounds_of(session: AsyncSession, submission_id: int) -> list[RoundView]:
    """The application's review rounds, oldest first, each with its reviewers (every assignment, in
    order, with its status) and its decision. Three queries."""
    rounds = list((await session.execute(select(ReviewRound).where(ReviewRound.submission_id == submission_id)
                                         .order_by(ReviewRound.number, ReviewRound.id))).scalars())
    if not rounds:
        return []
    asgs: dict[int, list[ReviewAssignment]] = defaultdict(list)
    for asg in (await session.execute(select(ReviewAssignment).where(
            ReviewAssignment.round_id.in_([r.id for r in rounds])).order_by(ReviewAssignment.id))).scalars():
        asgs[asg.round_id].append(asg)
    people = {a.reviewer_id for rows in asgs.values() for a in rows} | {r.decided_by for r in rounds if r.decided_by}
    names = await names_of(session, people, registered=False)
    return [RoundView(id=r.id, number=r.number, status=str(r.status), opened_at=r.opened_at,
                      reviewers=[RoundReviewer(a.id, a.reviewer_id, names.get(a.reviewer_id, ""), str(a.status),
                                               a.due_at) for a in asgs[r.id]],
                      decision=str(r.decision) if r.decision else None, message=r.decision_message,
                      decided_by=names.get(r.decided_by) if r.decided_by else None, decided_at=r.decided_at,
                      revise_until=r.revise_until)
            for r in rounds]


# ---------------------------------------------------------------- one application's audit trail


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    entity: str  # submissions | review_rounds | review_assignments
    entity_id: int
    from_status: str | None  # None: the row was made
    to_status: str
    actor_id: int | None  # None: the bot itself
    actor: str  # the actor's name ("" for the bot, or a user since gone)
    reason: str | None


@dataclass(frozen=True)
class TrailPage:
    lines: list[AuditLine]  # newest first
    total: int
    page: int
    pages: int


async def audit_trail(session: AsyncSession, submission_id: int, *, page: int, size: int) -> TrailPage:
    """The application's audit rows with its rounds' and their assignments', newest first, a page."""
    round_ids = select(ReviewRound.id).where(ReviewRound.submission_id == submission_id)
    asg_ids = select(ReviewAssignment.id).where(ReviewAssignment.round_id.in_(round_ids))
    where = or_(and_(AuditEntry.entity == "submissions", AuditEntry.entity_id == submission_id),
                and_(AuditEntry.entity == "review_rounds", AuditEntry.entity_id.in_(round_ids)),
                and_(AuditEntry.entity == "review_assignments", AuditEntry.entity_id.in_(asg_ids)))
    total = (await session.execute(select(func.count()).select_from(AuditEntry).where(where))).scalar_one()
    pages = max(1, -(-total // size))
    page = min(max(page, 0), pages - 1)
    entries = list((await session.execute(select(AuditEntry).where(where)
                                          .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                                          .offset(page * size).limit(size))).scalars())
    names = await names_of(session, {e.actor_id for e in entries if e.actor_id is not None}, registered=False)
    lines = [AuditLine(at=e.at, entity=e.entity, entity_id=e.entity_id, from_status=e.from_status,
                       to_status=e.to_status, actor_id=e.actor_id,
                       actor=names.get(e.actor_id, "") if e.actor_id is not None else "", reason=e.reason)
             for e in entries]
    return TrailPage(lines=lines, total=total, page=page, pages=pages)
