"""Review rounds and who reviews them (issue 10): a round opened when a submission is submitted,
its reviewers assigned by `bot.services.assignment.choose`, a reviewer declining, an operator
reassigning, the rounds waiting for reviewers, and the operators' and reviewers' queues.
No aiogram here; nothing commits.

    opened = await open_round(session, campaign, sub, now=now, actor_id=sub.user_id)  # right after submit
    pairs = await assign_waiting(session, campaign, now=now)       # a reviewer joined / set a profile / job
    outcome = await decline(session, campaign, assignment_id, person, "出差两周", now=now)
    outcome = await reassign(session, campaign, assignment_id, staff, to=None, now=now)
    q = await queue(session, campaign, now=now)                    # /review_queue
    mine = await queue_of(session, reviewer_id, now=now)           # /reviews

Every status change goes through `transition()` (an audit row each), attributed to the person
whose action caused it (`actor_id`; None: the bot, e.g. the job assigning waiting rounds).
A round counts its *active* assignments (assigned or submitted): it is short of reviewers while
they are fewer than `campaign.review.reviewers`. Nobody is ever put on a round twice, in any status
(a reviewer who declined or was reassigned is not asked again for that round).
Locks: a round row (SELECT … FOR UPDATE) before its assignments, so two operators, a decline and
the job can't give one round more reviewers than it needs (SQLite serialises writers anyway).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, case, func, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaign import Campaign
from bot.services.assignment import Candidate, Conflict, Item, choose, conflict, field_names
from bot.services.policy import Action, can
from bot.services.reviewers import candidates, open_load
from bot.services.submissions import OTHER_DIRECTION, answers_of
from bot.services.transitions import transition
from bot.services.users import Person
from storage.models import Registration, ReviewAssignment, ReviewRound, Submission, User, UTCDateTime
from storage.statuses import AssignmentStatus, RegistrationStatus, RoundStatus, SubmissionStatus

__all__ = [
    "ACTIVE",
    "AwaitingDecision",
    "DeclineOutcome",
    "Declined",
    "OpenAssignment",
    "ReassignOutcome",
    "Reassigned",
    "ReviewQueue",
    "RoundOpened",
    "ShortRound",
    "assign_waiting",
    "add_reviewer",
    "assignments_of",
    "decline",
    "item_of",
    "open_load",
    "open_round",
    "queue",
    "queue_of",
    "reassign",
    "round_of",
]

Asg, Rnd, Sub = AssignmentStatus, RoundStatus, SubmissionStatus
ACTIVE = frozenset({Asg.assigned, Asg.submitted})  # what counts towards a round's reviewers
OPEN_ROUND = (Rnd.waiting, Rnd.reviewing)
# a round of a submission in another status (returned to its creator, withdrawn, disqualified)
# gets no reviewers
REVIEWABLE = (Sub.submitted, Sub.under_review)


# What the operators' queue lists, from the round's own counters (count_assignment). /review_queue's
# parts and the count on the operators' /start and in their digest share these, so that they agree.
def in_review():
    """A round still open, of a submission still in review (join Submission)."""
    return and_(ReviewRound.status.in_(OPEN_ROUND), Submission.status.in_(REVIEWABLE))


def short_of_reviewers(wanted: int):
    """Fewer reviewers on it than the campaign wants (none yet, or one declined or was taken off)."""
    return ReviewRound.active_count < wanted


def all_reviews_in(wanted: int):
    """Reviewers enough, every one of them done: the operators decide."""
    R = ReviewRound
    return and_(R.active_count >= wanted, R.assigned_count == 0, R.done_count > 0)


# ---------------------------------------------------------------- the item to review


def _item(campaign: Campaign, sub: Submission, reg: Registration | None) -> Item:
    """The assignment record of a submission: the creator's 单位, 专业领域 and recommending unit
    from their registration, the topic direction from the answers (a direction typed in the
    creator's own words is matched as a field, like their 专业领域)."""
    direction = answers_of(sub).get("direction")
    known = {d.id for d in campaign.topics.directions}
    field = reg.field if reg else ""
    if isinstance(direction, str) and direction not in known:
        if direction and direction != OTHER_DIRECTION:
            field = "、".join(part for part in (field, direction) if part)
        direction = None
    return Item(submission_id=sub.id, creator_id=sub.user_id, creator_field=field or "",
                direction=direction if isinstance(direction, str) else None,
                creator_unit=reg.unit if reg else "", recommender=reg.recommender if reg else "")


async def _registrations(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, Registration]:
    """Each person's live registration (not erased; the newest), in one query."""
    ids = set(user_ids)
    if not ids:
        return {}
    query = (select(Registration).where(Registration.user_id.in_(ids), Registration.status != RegistrationStatus.erased)
             .order_by(Registration.id))
    return {reg.user_id: reg for reg in (await session.execute(query)).scalars()}  # the newest wins


async def item_of(session: AsyncSession, campaign: Campaign, sub: Submission) -> Item:
    regs = await _registrations(session, [sub.user_id])
    return _item(campaign, sub, regs.get(sub.user_id))


# ---------------------------------------------------------------- assigning


async def round_of(session: AsyncSession, submission_id: int, number: int, *, lock: bool = False) -> ReviewRound | None:
    query = select(ReviewRound).where(ReviewRound.submission_id == submission_id, ReviewRound.number == number)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar()


async def assignments_of(session: AsyncSession, round_id: int) -> list[ReviewAssignment]:
    """Every assignment of a round, in any status, oldest first."""
    query = select(ReviewAssignment).where(ReviewAssignment.round_id == round_id).order_by(ReviewAssignment.id)
    return list((await session.execute(query)).scalars())


def _pick(campaign: Campaign, item: Item, pool: list[Candidate], rows: list[ReviewAssignment]) -> list[int]:
    """Reviewers to add to a round whose assignments are `rows`: as many as it is short, never
    anyone already on it in any status."""
    short = campaign.review.reviewers - sum(1 for a in rows if a.status in ACTIVE)
    if short <= 0:
        return []
    exclude = frozenset(a.reviewer_id for a in rows)
    return choose(item, pool, short, exclude=exclude, names=field_names(campaign))


async def _assign(session: AsyncSession, campaign: Campaign, rnd: ReviewRound, sub: Submission, chosen: list[int],
                  pool: list[Candidate], rows: list[ReviewAssignment], *, now: datetime,
                  actor_id: int | None) -> None:
    """An assignment per chosen reviewer (None -> assigned, due in due_days); the round reviewing
    and the submission under review once someone is on it. The pool's loads and `rows` follow."""
    due = now + timedelta(days=campaign.review.due_days)
    for reviewer_id in chosen:
        asg = ReviewAssignment(round_id=rnd.id, reviewer_id=reviewer_id, assigned_at=now, due_at=due)
        await transition(session, asg, Asg.assigned, actor_id=actor_id, now=now)
        rows.append(asg)
        for i, cand in enumerate(pool):
            if cand.user_id == reviewer_id:
                pool[i] = dataclasses.replace(cand, open_load=cand.open_load + 1)
    if chosen and rnd.status == Rnd.waiting:
        await transition(session, rnd, Rnd.reviewing, actor_id=actor_id, now=now)
    if chosen and sub.status == Sub.submitted:
        sub.updated_at = now
        await transition(session, sub, Sub.under_review, actor_id=actor_id, now=now)


def _missing(campaign: Campaign, rows: list[ReviewAssignment]) -> int:
    return max(0, campaign.review.reviewers - sum(1 for a in rows if a.status in ACTIVE))


def open_for_review(rnd: ReviewRound, sub: Submission) -> bool:
    """The round is open and its submission still in review (`in_review()` says it in SQL)."""
    return rnd.status in OPEN_ROUND and sub.status in REVIEWABLE


def still_wanted(campaign: Campaign, rnd: ReviewRound, sub: Submission, rows: list[ReviewAssignment]) -> int:
    """How many more reviewers round `rnd` (its assignments `rows`) wants: 0 when it has them all, or
    it is closed, or its submission is no longer in review."""
    if not open_for_review(rnd, sub):
        return 0
    return _missing(campaign, rows)


@dataclass(frozen=True)
class RoundOpened:
    round: ReviewRound
    assigned: list[int]  # reviewer ids given the round now
    missing: int  # reviewers still wanted (0: complete); the round waits in the queue for them


async def open_round(session: AsyncSession, campaign: Campaign, sub: Submission, *, now: datetime,
                     actor_id: int | None) -> RoundOpened:
    """Called right after the submission went to `submitted` (the first time, after a return by
    staff, or after 修改后再审 with `sub.round` already the next number): its round `sub.round`
    gets its reviewers. With at least one the round is `reviewing` and the submission
    `under_review` (no withdrawing from then on); with none the round is `waiting` (in the
    operators' queue) and the submission stays `submitted`. A round of that number still waiting
    (the submission was returned before anyone was found) is reused. ValueError when the
    submission is not submitted, or its round `sub.round` is already decided or stopped."""
    if sub.status != Sub.submitted:
        raise ValueError(f"submission {sub.id} is {sub.status}, not submitted")
    rnd = await round_of(session, sub.id, sub.round, lock=True)
    if rnd is not None and rnd.status not in OPEN_ROUND:
        raise ValueError(f"submission {sub.id}: round {sub.round} is {rnd.status}")
    rows = await assignments_of(session, rnd.id) if rnd is not None else []
    pool = await candidates(session)
    chosen = _pick(campaign, await item_of(session, campaign, sub), pool, rows)
    if rnd is None:
        rnd = ReviewRound(submission_id=sub.id, number=sub.round, opened_at=now)
        await transition(session, rnd, Rnd.reviewing if chosen else Rnd.waiting, actor_id=actor_id, now=now,
                         reason=None if chosen else "no reviewer available")
    await _assign(session, campaign, rnd, sub, chosen, pool, rows, now=now, actor_id=actor_id)
    return RoundOpened(round=rnd, assigned=chosen, missing=_missing(campaign, rows))


async def assign_waiting(session: AsyncSession, campaign: Campaign, *, now: datetime,
                         actor_id: int | None = None) -> list[tuple[int, int]]:
    """Every open round short of reviewers (waiting, or reviewing with fewer active assignments
    than the campaign wants) gets them where someone eligible exists, oldest round first (the
    loads count what this call assigns). Returns (round id, reviewer id) of each new assignment.
    Called when a reviewer joins or saves a profile, and by a job."""
    short = (select(ReviewRound.id).join(Submission, Submission.id == ReviewRound.submission_id)
             .where(in_review(), short_of_reviewers(campaign.review.reviewers)))  # the round's counters
    ids = list((await session.execute(short)).scalars())
    if not ids:
        return []
    pool = await candidates(session)
    if not pool:
        return []
    locked = (select(ReviewRound).where(ReviewRound.id.in_(ids)).order_by(ReviewRound.id)
              .with_for_update().execution_options(populate_existing=True))
    rounds = sorted((await session.execute(locked)).scalars(), key=lambda r: (r.opened_at, r.id))
    subs = {s.id: s for s in (await session.execute(
        select(Submission).where(Submission.id.in_({r.submission_id for r in rounds})))).scalars()}
    regs = await _registrations(session, {s.user_id for s in subs.values()})
    rows_of: dict[int, list[ReviewAssignment]] = defaultdict(list)
    for asg in (await session.execute(select(ReviewAssignment).where(ReviewAssignment.round_id.in_(ids))
                                      .order_by(ReviewAssignment.id))).scalars():
        rows_of[asg.round_id].append(asg)
    made: list[tuple[int, int]] = []
    for rnd in rounds:
        sub = subs[rnd.submission_id]
        if not open_for_review(rnd, sub):
            continue  # changed while we looked
        rows = rows_of[rnd.id]
        chosen = _pick(campaign, _item(campaign, sub, regs.get(sub.user_id)), pool, rows)
        await _assign(session, campaign, rnd, sub, chosen, pool, rows, now=now, actor_id=actor_id)
        made += [(rnd.id, reviewer_id) for reviewer_id in chosen]
    return made


async def _refill(session: AsyncSession, campaign: Campaign, rnd: ReviewRound, *, now: datetime,
                  actor_id: int | None, only: int | None = None) -> tuple[int | None, bool]:
    """After an assignment of the round closed: its replacement (`only` when given, else the next
    by `choose`), and the round back to waiting when nobody is left on it. Returns (the new
    reviewer or None, whether the round is waiting now)."""
    sub = await session.get(Submission, rnd.submission_id)
    rows = await assignments_of(session, rnd.id)
    new: int | None = None
    if sub is not None and sub.status in REVIEWABLE and rnd.status in OPEN_ROUND:
        pool = await candidates(session)
        chosen = [only] if only is not None else _pick(campaign, await item_of(session, campaign, sub), pool, rows)
        await _assign(session, campaign, rnd, sub, chosen, pool, rows, now=now, actor_id=actor_id)
        new = chosen[0] if chosen else None
    if rnd.status == Rnd.reviewing and not any(a.status in ACTIVE for a in rows):
        await transition(session, rnd, Rnd.waiting, actor_id=actor_id, now=now, reason="no reviewer left")
    return new, rnd.status == Rnd.waiting


async def _locked(session: AsyncSession, assignment_id: int) -> tuple[ReviewAssignment, ReviewRound] | None:
    """The assignment and its round, both locked (the round first, as everywhere) and re-read."""
    asg = await session.get(ReviewAssignment, assignment_id)
    if asg is None:
        return None
    rnd = await session.get(ReviewRound, asg.round_id, with_for_update=True, populate_existing=True)
    asg = await session.get(ReviewAssignment, assignment_id, with_for_update=True, populate_existing=True)
    if asg is None or rnd is None:
        return None
    return asg, rnd


class Declined(StrEnum):
    done = "done"
    missing = "missing"  # no such assignment
    forbidden = "forbidden"  # not this person's (or they are no reviewer any more)
    closed = "closed"  # theirs, but no longer open (reviewed, declined, reassigned, stopped)
    no_reason = "no_reason"


@dataclass(frozen=True)
class DeclineOutcome:
    result: Declined
    assignment: ReviewAssignment | None = None
    replacement: int | None = None  # the reviewer who got it instead
    round_waiting: bool = False  # nobody is left on the round: it waits in the operators' queue


async def decline(session: AsyncSession, campaign: Campaign, assignment_id: int, person: Person, reason: str, *,
                  now: datetime) -> DeclineOutcome:
    """The reviewer gives their open assignment back with a reason (policy decline_assignment):
    it is declined, a replacement is sought at once (never anyone who was ever on the round), and
    a round left with nobody active or reviewed goes back to waiting."""
    found = await _locked(session, assignment_id)
    if found is None:
        return DeclineOutcome(Declined.missing)
    asg, rnd = found
    if not can(person, Action.decline_assignment, asg):
        mine = asg.reviewer_id == person.id and can(person, Action.decline_assignment)
        return DeclineOutcome(Declined.closed if mine else Declined.forbidden, asg if mine else None)
    reason = (reason or "").strip()
    if not reason:
        return DeclineOutcome(Declined.no_reason, asg)
    await transition(session, asg, Asg.declined, actor_id=person.id, reason=reason, now=now)
    asg.decline_reason, asg.closed_at = reason, now
    new, waiting = await _refill(session, campaign, rnd, now=now, actor_id=person.id)
    return DeclineOutcome(Declined.done, asg, replacement=new, round_waiting=waiting)


class Reassigned(StrEnum):
    done = "done"
    missing = "missing"
    forbidden = "forbidden"  # not an operator
    closed = "closed"  # the assignment is no longer open
    not_reviewer = "not_reviewer"  # `to` does not hold the reviewer role
    conflict = "conflict"  # `to` may not review this work (see ReassignOutcome.conflict)
    on_round = "on_round"  # `to` is or was on this round already
    full = "full"  # add_reviewer: the round has all the reviewers it wants
    nobody = "nobody"  # add_reviewer without `to`: nobody eligible was found


@dataclass(frozen=True)
class ReassignOutcome:
    result: Reassigned
    assignment: ReviewAssignment | None = None  # the old one
    new_reviewer: int | None = None
    conflict: Conflict | None = None  # creator | same_unit | recommender, with Reassigned.conflict
    round_waiting: bool = False


async def reassign(session: AsyncSession, campaign: Campaign, assignment_id: int, staff: Person, *,
                   to: int | None, now: datetime, reason: str | None = None) -> ReassignOutcome:
    """An operator takes an open assignment from its reviewer (-> reassigned) and gives the round
    to `to` (who must hold the reviewer role, have no conflict of interest and never have been on
    the round: else refused, nothing changed) or, without `to`, to the next reviewer `choose`
    finds (none: the round may go back to waiting)."""
    if not can(staff, Action.assign_reviewers):
        return ReassignOutcome(Reassigned.forbidden)
    found = await _locked(session, assignment_id)
    if found is None:
        return ReassignOutcome(Reassigned.missing)
    asg, rnd = found
    if asg.status != Asg.assigned:
        return ReassignOutcome(Reassigned.closed, asg)
    if to is not None:
        target = next((c for c in await candidates(session) if c.user_id == to), None)
        if target is None:
            return ReassignOutcome(Reassigned.not_reviewer, asg)
        if any(a.reviewer_id == to for a in await assignments_of(session, rnd.id)):
            return ReassignOutcome(Reassigned.on_round, asg)
        sub = await session.get(Submission, rnd.submission_id)
        why = conflict(await item_of(session, campaign, sub), target)
        if why is not None:
            return ReassignOutcome(Reassigned.conflict, asg, conflict=why)
    await transition(session, asg, Asg.reassigned, actor_id=staff.id, reason=reason, now=now)
    asg.closed_at = now
    new, waiting = await _refill(session, campaign, rnd, now=now, actor_id=staff.id, only=to)
    return ReassignOutcome(Reassigned.done, asg, new_reviewer=new, round_waiting=waiting)


async def add_reviewer(session: AsyncSession, campaign: Campaign, round_id: int, staff: Person, *,
                       to: int | None, now: datetime) -> tuple[Reassigned, list[int], Conflict | None]:
    """An operator gives a round short of reviewers (waiting, or one left it and nobody eligible was
    found) `to`, checked as `reassign` checks it, or, without `to`, as many as it is short of by
    `choose`. Returns the result, the reviewers now on it, and the conflict that refused `to`."""
    if not can(staff, Action.assign_reviewers):
        return Reassigned.forbidden, [], None
    rnd = await session.get(ReviewRound, round_id, with_for_update=True, populate_existing=True)
    if rnd is None:
        return Reassigned.missing, [], None
    sub = await session.get(Submission, rnd.submission_id)
    if sub is None or not open_for_review(rnd, sub):
        return Reassigned.closed, [], None
    rows = await assignments_of(session, rnd.id)
    if not still_wanted(campaign, rnd, sub, rows):
        return Reassigned.full, [], None
    pool = await candidates(session)
    item = await item_of(session, campaign, sub)
    if to is None:
        chosen = _pick(campaign, item, pool, rows)
        if not chosen:
            return Reassigned.nobody, [], None
    else:
        target = next((c for c in pool if c.user_id == to), None)
        if target is None:
            return Reassigned.not_reviewer, [], None
        if any(a.reviewer_id == to for a in rows):
            return Reassigned.on_round, [], None
        why = conflict(item, target)
        if why is not None:
            return Reassigned.conflict, [], why
        chosen = [to]
    await _assign(session, campaign, rnd, sub, chosen, pool, rows, now=now, actor_id=staff.id)
    return Reassigned.done, chosen, None


# ---------------------------------------------------------------- queues


@dataclass(frozen=True)
class ShortRound:
    """A round short of reviewers: nobody eligible was found (yet)."""

    round_id: int
    submission_id: int
    number: int
    title: str
    status: RoundStatus  # waiting (nobody on it) or reviewing (fewer than wanted)
    missing: int
    reviews_in: int  # reviews already submitted (operators may decide on them: policy decide_round)
    since: datetime  # the last time a reviewer left it (declined, reassigned), else when it opened
    age: timedelta


@dataclass(frozen=True)
class OpenAssignment:
    assignment_id: int
    round_id: int
    submission_id: int
    number: int  # the round
    title: str
    reviewer_id: int
    reviewer_name: str  # "" when the reviewer's user row is gone
    assigned_at: datetime
    due_at: datetime
    overdue: bool
    age: timedelta  # since assigned


@dataclass(frozen=True)
class AwaitingDecision:
    """A round with every reviewer's review in: the operators decide."""

    round_id: int
    submission_id: int
    number: int
    title: str
    reviews_in: int
    since: datetime  # the last review came in
    age: timedelta


@dataclass(frozen=True)
class ReviewQueue:
    short: list[ShortRound]  # oldest first
    open: list[OpenAssignment]  # soonest due first
    to_decide: list[AwaitingDecision]  # oldest first
    short_total: int = 0  # how many there are in all (the lists may hold the first few)
    open_total: int = 0
    to_decide_total: int = 0


def _name(user: User | None) -> str:
    return " ".join(p for p in (user.first_name, user.last_name) if p) if user else ""


def _open(asg: ReviewAssignment, rnd: ReviewRound, sub: Submission, user: User | None, now: datetime) -> OpenAssignment:
    return OpenAssignment(assignment_id=asg.id, round_id=rnd.id, submission_id=sub.id, number=rnd.number,
                          title=sub.title, reviewer_id=asg.reviewer_id, reviewer_name=_name(user),
                          assigned_at=asg.assigned_at, due_at=asg.due_at, overdue=asg.due_at < now,
                          age=now - asg.assigned_at)


async def count_assignment(session: AsyncSession, asg: ReviewAssignment, was: Asg | None, to: Asg,
                           at: datetime) -> None:
    """An assignment's status changed (transitions.transition calls this): its round's counters
    follow, in one UPDATE that adds to what the row holds (two reviews in at once both count).
    `left_at` and `reviewed_at` are the change's time: the callers close the assignment then."""
    def later(column):  # the later of the column and `at` (NULL: not yet)
        return case((column.is_(None) | (column < at), at), else_=column)

    values = {"active_count": ReviewRound.active_count + (int(to in ACTIVE) - int(was in ACTIVE)),
              "assigned_count": ReviewRound.assigned_count + (int(to == Asg.assigned) - int(was == Asg.assigned)),
              "done_count": ReviewRound.done_count + (int(to == Asg.submitted) - int(was == Asg.submitted))}
    if to not in ACTIVE:
        values["left_at"] = later(ReviewRound.left_at)
    if to == Asg.submitted:
        values["reviewed_at"] = later(ReviewRound.reviewed_at)
    await session.execute(update(ReviewRound).where(ReviewRound.id == asg.round_id).values(**values)
                          .execution_options(synchronize_session="fetch"))


async def queue(session: AsyncSession, campaign: Campaign, *, now: datetime, limit: int | None = None) -> ReviewQueue:
    """What the operators see (policy assign_reviewers is the caller's to ask): rounds short of
    reviewers, open assignments (overdue flagged), rounds whose reviews are all in. Ages from `now`.
    Only rounds of submissions still in review (submitted, under_review). Each part is its first
    `limit` items (all with None) and its count: the database counts and sorts, and only what is
    shown is loaded (at 100,000 creators the whole queue took seconds and hundreds of MB)."""
    A, R, S = ReviewAssignment, ReviewRound, Submission
    wanted = campaign.review.reviewers
    when = UTCDateTime()
    rounds = select(R, S.title).join(S, S.id == R.submission_id).where(in_review())

    async def part(query, order):
        """The part's count, and its first `limit` rows in `order`."""
        total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        query = query.order_by(*order)
        return (await session.execute(query if limit is None else query.limit(limit))).all(), total

    # the round's own counters (count_assignment): grouping every open round's assignments took
    # 0.6-1 s at 25,846 open rounds (bench/bench_scale.py)
    left = type_coerce(func.coalesce(R.left_at, R.opened_at), when)
    short_q = rounds.add_columns(R.active_count, R.done_count, left).where(short_of_reviewers(wanted))
    short_rows, short_total = await part(short_q, (left, R.id))
    short = [ShortRound(rnd.id, rnd.submission_id, rnd.number, title, rnd.status, max(0, wanted - act), dn, since,
                        now - since) for rnd, title, act, dn, since in short_rows]
    last_review = type_coerce(func.coalesce(R.reviewed_at, R.opened_at), when)
    decide_q = rounds.add_columns(R.done_count, last_review).where(all_reviews_in(wanted))
    decide_rows, decide_total = await part(decide_q, (last_review, R.id))
    to_decide = [AwaitingDecision(rnd.id, rnd.submission_id, rnd.number, title, dn, since, now - since)
                 for rnd, title, dn, since in decide_rows]
    open_q = (select(A, R, S, User).join(R, R.id == A.round_id).join(S, S.id == R.submission_id)
              .outerjoin(User, User.id == A.reviewer_id).where(in_review(), A.status == Asg.assigned))
    open_rows, open_total = await part(open_q, (A.due_at, A.id))
    open_ = [_open(asg, rnd, sub, user, now) for asg, rnd, sub, user in open_rows]
    return ReviewQueue(short=short, open=open_, to_decide=to_decide, short_total=short_total, open_total=open_total,
                       to_decide_total=decide_total)


async def queue_of(session: AsyncSession, reviewer_id: int, *, now: datetime) -> list[OpenAssignment]:
    """A reviewer's open assignments (for /reviews), soonest due first. One query."""
    rows = (await session.execute(
        select(ReviewAssignment, ReviewRound, Submission, User)
        .join(ReviewRound, ReviewRound.id == ReviewAssignment.round_id)
        .join(Submission, Submission.id == ReviewRound.submission_id)
        .outerjoin(User, User.id == ReviewAssignment.reviewer_id)
        .where(ReviewAssignment.reviewer_id == reviewer_id, ReviewAssignment.status == Asg.assigned)
        .order_by(ReviewAssignment.due_at, ReviewAssignment.id))).all()
    return [_open(asg, rnd, sub, user, now) for asg, rnd, sub, user in rows]


# ---------------------------------------------------------------- reassigning: whom to offer


@dataclass(frozen=True)
class ReassignChoice:
    """A reviewer an operator could give a round to instead (`conflict` None: `reassign` would take
    them; else it would refuse them for that reason)."""

    user_id: int
    name: str  # "" when the user row is gone
    open_load: int
    conflict: Conflict | None


async def reassign_choices(session: AsyncSession, campaign: Campaign, round_id: int) -> list[ReassignChoice]:
    """Every reviewer never on the round (in any status), least open load first then by id; each
    with the conflict of interest that would refuse them, if any. Read-only."""
    rnd = await session.get(ReviewRound, round_id)
    if rnd is None:
        return []
    sub = await session.get(Submission, rnd.submission_id)
    if sub is None:
        return []
    on_round = {a.reviewer_id for a in await assignments_of(session, rnd.id)}
    pool = [c for c in await candidates(session) if c.user_id not in on_round]
    item = await item_of(session, campaign, sub)
    users = {u.id: u for u in (await session.execute(
        select(User).where(User.id.in_([c.user_id for c in pool])))).scalars()} if pool else {}
    choices = [ReassignChoice(c.user_id, _name(users.get(c.user_id)), c.open_load, conflict(item, c)) for c in pool]
    return sorted(choices, key=lambda c: (c.conflict is not None, c.open_load, c.user_id))


async def rounds_of(session: AsyncSession, submission_id: int) -> list[ReviewRound]:
    """Every review round of an application, the first first."""
    query = select(ReviewRound).where(ReviewRound.submission_id == submission_id).order_by(ReviewRound.number)
    return list((await session.execute(query)).scalars())


@dataclass(frozen=True)
class Released:
    assignment: ReviewAssignment  # now reassigned
    replacement: int | None  # who got the round instead
    round_waiting: bool  # nobody is left on the round: it waits in the operators' queue


async def release_reviewer(session: AsyncSession, campaign: Campaign, reviewer_id: int, *, now: datetime,
                           actor_id: int | None, reason: str) -> list[Released]:
    """A reviewer who lost the role or deleted their data: each of their open assignments goes to
    someone else (-> reassigned, a replacement sought as after a decline; reviews already in stay)."""
    ids = (await session.execute(select(ReviewAssignment.id).where(
        ReviewAssignment.reviewer_id == reviewer_id, ReviewAssignment.status == Asg.assigned)
        .order_by(ReviewAssignment.id))).scalars().all()
    released: list[Released] = []
    for assignment_id in ids:
        found = await _locked(session, assignment_id)
        if found is None or found[0].status != Asg.assigned:
            continue
        asg, rnd = found
        await transition(session, asg, Asg.reassigned, actor_id=actor_id, reason=reason, now=now)
        asg.closed_at = now
        new, waiting = await _refill(session, campaign, rnd, now=now, actor_id=actor_id)
        released.append(Released(asg, new, waiting))
    return released
