"""Expert review of a round (issue 10, parts 3–6): a reviewer's review, what each person may see of
a round's reviews, the operators' summary and decision, the creator's feedback, and disqualifying
an application. No aiogram here; nothing commits (the caller's transaction does).

    out = await record_review(session, campaign, assignment_id, reviewer, scores={...}, comment="…",
                              staff_note=None, recommendation=Verdict.revise, now=now)
    out.result is ReviewResult.recorded; out.round_complete        # notify the operators
    summary = await round_summary(session, campaign, round_id)    # reviews, aggregate, progress
    out = await decide(session, campaign, round_id, operator, Verdict.revise, "请补充…", now=now)
    fb = await feedback(session, campaign, round_id)              # what the creator is told
    out = await disqualify(session, sub_id, operator, "已在其他平台发表", now=now)

A round's reviews are "in" (`Progress.complete`) when none of its assignments is still `assigned`
and at least `review.reviewers` (campaign setting, default 2) are `submitted`: a declined or
reassigned reviewer is replaced (bot/services/rounds.py), so a round short of reviewers waits for
its replacement rather than being decided on fewer reviews. `decide` asks the same.

Locks, always in this order: submission, round, assignment. disqualify takes all three; decide
the submission and then the round; record_review the round and then the assignment (it reads the
submission without locking it). Two reviews of one round are serialised on the round's lock, so
the second sees the first and exactly one of them reports the round complete; of two decisions the
second waits and then sees the first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaign import Campaign, ReviewSettings
from bot.services import submissions
from bot.services.policy import Action, can
from bot.services.scores import (
    Aggregate,
    ReviewScores,
    ScoreError,
    aggregate,
    validate_score,
)
from bot.services.transitions import allowed, transition
from bot.services.users import Person
from storage.models import Review, ReviewAssignment, ReviewRound, Submission, SubmissionFile, User
from storage.statuses import AssignmentStatus, RoundStatus, SubmissionStatus, Verdict

__all__ = [
    "CriterionFeedback",
    "DecideOutcome",
    "DecideResult",
    "DisqualifyOutcome",
    "DisqualifyResult",
    "Feedback",
    "FeedbackComment",
    "Progress",
    "ReviewOutcome",
    "ReviewResult",
    "ReviewView",
    "RoundSummary",
    "decide",
    "disqualify",
    "feedback",
    "progress",
    "record_review",
    "reviews_visible_to",
    "round_summary",
]

COMMENT_MAX = 3000
NOTE_MAX = 3000
SUBMISSION_AFTER = {Verdict.accept: SubmissionStatus.accepted, Verdict.revise: SubmissionStatus.revise,
                    Verdict.reject: SubmissionStatus.rejected}


# --------------------------------------------------------------------------- settings


# --------------------------------------------------------------------------- progress


@dataclass(frozen=True)
class Progress:
    """Where a round's reviews stand: assignments still open, reviews in, reviews needed."""

    assigned: int
    submitted: int
    needed: int

    @property
    def complete(self) -> bool:
        return self.assigned == 0 and self.submitted >= self.needed


async def _assignments(session: AsyncSession, round_id: int) -> list[ReviewAssignment]:
    query = select(ReviewAssignment).where(ReviewAssignment.round_id == round_id).order_by(ReviewAssignment.id)
    return list((await session.execute(query.execution_options(populate_existing=True))).scalars())


async def progress(session: AsyncSession, campaign: Campaign, round_id: int) -> Progress:
    rows = await _assignments(session, round_id)
    return Progress(assigned=sum(a.status == AssignmentStatus.assigned for a in rows),
                    submitted=sum(a.status == AssignmentStatus.submitted for a in rows),
                    needed=campaign.review.reviewers)


# --------------------------------------------------------------------------- recording a review


class ReviewResult(StrEnum):
    recorded = "recorded"
    missing = "missing"  # no such assignment
    forbidden = "forbidden"  # not a reviewer (any more), or not their assignment (a forged id)
    already_submitted = "already_submitted"  # their review of it is in already (final)
    not_assigned = "not_assigned"  # declined, reassigned to someone else or stopped meanwhile
    round_closed = "round_closed"  # the round is not being reviewed (decided, stopped, waiting)
    disqualified = "disqualified"  # the application was disqualified meanwhile
    invalid = "invalid"  # `problems` names what to correct; nothing written


@dataclass(frozen=True)
class ReviewOutcome:
    """`problems`: criterion id (or "comment", "staff_note", "recommendation") -> a Problem (template, values), for
    `invalid`. `round_complete`: with `recorded`, this review was the one that completed the round
    (the operators are to be told)."""

    result: ReviewResult
    assignment: ReviewAssignment | None = None
    review: Review | None = None
    round_complete: bool = False
    progress: Progress | None = None
    problems: dict[str, Problem] = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    """What is wrong with one answer of a review, for the form's error template
    (`template` under content/templates/forms/errors/, with `context`)."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)


def _check_review(campaign: Campaign, settings: ReviewSettings, scores: dict[str, int | str], comment: str,
                  staff_note: str | None, recommendation: Verdict | str) -> tuple[dict[str, int], dict[str, Problem]]:
    valid: dict[str, int] = {}
    problems: dict[str, Problem] = {}
    for crit in campaign.criteria:
        if crit.id not in scores or scores[crit.id] is None:
            problems[crit.id] = Problem("score_missing", {"criterion": crit.name})
            continue
        try:
            valid[crit.id] = validate_score(scores[crit.id], settings.scale)
        except ScoreError as exc:
            problems[crit.id] = Problem("score_invalid", {"criterion": crit.name, "lo": exc.lo, "hi": exc.hi})
    known = {c.id for c in campaign.criteria}
    for unknown in sorted(set(scores) - known):
        problems[unknown] = Problem("unknown_criterion", {"id": unknown})
    text = (comment or "").strip()
    if not text:
        problems["comment"] = Problem("comment_required")
    elif len(text) > COMMENT_MAX:
        problems["comment"] = Problem("too_long", {"limit": COMMENT_MAX})
    if staff_note is not None and len(staff_note.strip()) > NOTE_MAX:
        problems["staff_note"] = Problem("too_long", {"limit": NOTE_MAX})
    if str(recommendation) not in {v.value for v in Verdict}:
        problems["recommendation"] = Problem("recommendation_required")
    return valid, problems


async def record_review(session: AsyncSession, campaign: Campaign, assignment_id: int, person: Person, *,
                        scores: dict[str, int | str], comment: str, staff_note: str | None,
                        recommendation: Verdict | str, now: datetime) -> ReviewOutcome:
    """The reviewer's review of the assignment, final: a Review row and the assignment -> submitted.
    Refused (nothing written) when the assignment is not theirs or no longer open, the round is not
    being reviewed, the application was disqualified, or a score / the comment is missing or wrong."""
    found = await session.get(ReviewAssignment, assignment_id)
    if found is None:
        return ReviewOutcome(ReviewResult.missing)
    # reviewer_id never changes: whose it is can be asked before taking locks
    if not can(person, Action.review_assignment) or found.reviewer_id != person.id:
        return ReviewOutcome(ReviewResult.forbidden)
    rnd = await session.get(ReviewRound, found.round_id, with_for_update=True, populate_existing=True)
    asg = await session.get(ReviewAssignment, assignment_id, with_for_update=True, populate_existing=True)
    sub = await session.get(Submission, rnd.submission_id, populate_existing=True)
    if sub is None or sub.status == SubmissionStatus.disqualified:
        return ReviewOutcome(ReviewResult.disqualified, asg)
    if asg.status == AssignmentStatus.submitted:
        return ReviewOutcome(ReviewResult.already_submitted, asg)
    if asg.status != AssignmentStatus.assigned:
        return ReviewOutcome(ReviewResult.not_assigned, asg)
    if rnd.status != RoundStatus.reviewing:
        return ReviewOutcome(ReviewResult.round_closed, asg)
    if not can(person, Action.review_assignment, asg):  # the policy's object rule, on the locked row
        return ReviewOutcome(ReviewResult.forbidden)
    settings = campaign.review
    valid, problems = _check_review(campaign, settings, scores, comment, staff_note, recommendation)
    if problems:
        return ReviewOutcome(ReviewResult.invalid, asg, problems=problems)
    note = (staff_note or "").strip() or None
    review = Review(assignment_id=asg.id, scores=json.dumps(valid, ensure_ascii=False), comment=comment.strip(),
                    staff_note=note, recommendation=Verdict(str(recommendation)), submitted_at=now)
    session.add(review)
    await transition(session, asg, AssignmentStatus.submitted, actor_id=person.id, now=now)
    asg.closed_at = now
    await session.flush()
    state = await progress(session, campaign, rnd.id)
    return ReviewOutcome(ReviewResult.recorded, asg, review, round_complete=state.complete, progress=state)


# --------------------------------------------------------------------------- seeing reviews


@dataclass(frozen=True)
class ReviewView:
    """A submitted review as the viewer may see it. For a reviewer looking at the others' reviews
    `reviewer_id` and `staff_note` are None (`mine` tells their own). `number`: 1, 2, … in
    assignment order (templates show 评审专家1, 2, …)."""

    assignment_id: int
    number: int
    reviewer_id: int | None
    mine: bool
    scores: dict[str, int]
    recommendation: Verdict
    comment: str
    staff_note: str | None
    submitted_at: datetime


async def _submitted(session: AsyncSession, round_id: int) -> list[tuple[ReviewAssignment, Review]]:
    query = (select(ReviewAssignment, Review).join(Review, Review.assignment_id == ReviewAssignment.id)
             .where(ReviewAssignment.round_id == round_id, ReviewAssignment.status == AssignmentStatus.submitted)
             .order_by(ReviewAssignment.id))
    return [(a, r) for a, r in (await session.execute(query)).all()]


def _view(n: int, asg: ReviewAssignment, review: Review, viewer: int | None, full: bool) -> ReviewView:
    mine = asg.reviewer_id == viewer
    return ReviewView(assignment_id=asg.id, number=n,
                      reviewer_id=asg.reviewer_id if full or mine else None, mine=mine,
                      scores=json.loads(review.scores), recommendation=Verdict(review.recommendation),
                      comment=review.comment, staff_note=review.staff_note if full or mine else None,
                      submitted_at=review.submitted_at)


async def reviews_visible_to(session: AsyncSession, person: Person, round_id: int) -> list[ReviewView]:
    """The round's submitted reviews this person may read: staff (who decide rounds) all of them,
    with reviewer ids and staff notes; a reviewer of the round all of them once their own is in
    (the others' scores, recommendations and comments, without ids or staff notes), nothing before;
    anyone else nothing."""
    rows = await _submitted(session, round_id)
    if can(person, Action.decide_round):
        return [_view(n, a, r, person.id, True) for n, (a, r) in enumerate(rows, start=1)]
    if not can(person, Action.review_assignment) or not any(a.reviewer_id == person.id for a, _ in rows):
        return []
    return [_view(n, a, r, person.id, False) for n, (a, r) in enumerate(rows, start=1)]


# --------------------------------------------------------------------------- the operators' summary


@dataclass(frozen=True)
class RoundSummary:
    submission: Submission
    round: ReviewRound
    assignments: list[ReviewAssignment]  # every assignment of the round, in order (who still owes one)
    reviews: list[ReviewView]  # submitted, with reviewer ids and staff notes
    aggregate: Aggregate
    progress: Progress


def _scores_of(views: list[ReviewView]) -> list[ReviewScores]:
    return [ReviewScores(v.reviewer_id or 0, v.scores, str(v.recommendation), v.comment) for v in views]


def _aggregate(campaign: Campaign, settings: ReviewSettings, views: list[ReviewView]) -> Aggregate:
    return aggregate(campaign.criteria, _scores_of(views), scale=settings.scale, disagreement=settings.disagreement)


async def round_summary(session: AsyncSession, campaign: Campaign, round_id: int) -> RoundSummary | None:
    """What the operators decide on (None: no such round). Staff-only: the caller checks
    `can(person, Action.decide_round)` (or list_submissions) before showing it."""
    rnd = await session.get(ReviewRound, round_id, populate_existing=True)
    if rnd is None:
        return None
    sub = await session.get(Submission, rnd.submission_id)
    settings = campaign.review
    views = [_view(n, a, r, None, True) for n, (a, r) in enumerate(await _submitted(session, round_id), start=1)]
    assignments = await _assignments(session, round_id)
    state = Progress(assigned=sum(a.status == AssignmentStatus.assigned for a in assignments),
                     submitted=sum(a.status == AssignmentStatus.submitted for a in assignments),
                     needed=settings.reviewers)
    return RoundSummary(submission=sub, round=rnd, assignments=assignments, reviews=views,
                        aggregate=_aggregate(campaign, settings, views), progress=state)


# --------------------------------------------------------------------------- the decision


class DecideResult(StrEnum):
    decided = "decided"
    missing = "missing"  # no such round
    forbidden = "forbidden"  # not staff (any more)
    already_decided = "already_decided"  # another operator was first: `round.decision`, `decided_by`
    not_reviewing = "not_reviewing"  # waiting for reviewers, or stopped
    reviews_pending = "reviews_pending"  # reviews still to come (`progress`)
    disqualified = "disqualified"
    message_required = "message_required"  # the message to the creator is empty


@dataclass(frozen=True)
class DecideOutcome:
    result: DecideResult
    round: ReviewRound | None = None
    submission: Submission | None = None
    progress: Progress | None = None


async def decide(session: AsyncSession, campaign: Campaign, round_id: int, staff: Person, verdict: Verdict | str,
                 message: str, *, now: datetime) -> DecideOutcome:
    """An operator's decision on a round whose reviews are in: the round -> decided (decision,
    message, who, when; for 修改后再审 the deadline of the next round) and the submission
    under_review -> accepted / revise / rejected, the message as the reason. 修改后再审 begins the
    next round's files (`submissions.start_next_round`: `sub.round` + 1); the round itself is opened
    by the creator's resubmission. Of two operators deciding at once the
    second waits for the locks and is told `already_decided`, naming the first decision."""
    found = await session.get(ReviewRound, round_id)
    if found is None:
        return DecideOutcome(DecideResult.missing)
    if not can(staff, Action.decide_round):
        return DecideOutcome(DecideResult.forbidden)
    sub = await session.get(Submission, found.submission_id, with_for_update=True, populate_existing=True)
    rnd = await session.get(ReviewRound, round_id, with_for_update=True, populate_existing=True)
    if rnd.status == RoundStatus.decided:
        return DecideOutcome(DecideResult.already_decided, rnd, sub)
    if sub.status == SubmissionStatus.disqualified:
        return DecideOutcome(DecideResult.disqualified, rnd, sub)
    if not can(staff, Action.decide_round, rnd):  # the object rule: the round is being reviewed
        return DecideOutcome(DecideResult.not_reviewing, rnd, sub)
    state = await progress(session, campaign, rnd.id)
    if not state.complete:
        return DecideOutcome(DecideResult.reviews_pending, rnd, sub, state)
    text = (message or "").strip()
    if not text:
        return DecideOutcome(DecideResult.message_required, rnd, sub, state)
    verdict = Verdict(str(verdict))
    target = SUBMISSION_AFTER[verdict]
    if not allowed(sub, target):  # e.g. not under_review: the round and its submission disagree
        return DecideOutcome(DecideResult.not_reviewing, rnd, sub, state)
    await transition(session, rnd, RoundStatus.decided, actor_id=staff.id, reason=text, now=now)
    rnd.decision, rnd.decision_message = verdict, text
    rnd.decided_by, rnd.decided_at = staff.id, now
    if verdict is Verdict.revise:
        rnd.revise_until = now + timedelta(days=campaign.review.revise_days)
    await transition(session, sub, target, actor_id=staff.id, reason=text, now=now)
    sub.updated_at = now
    if verdict is Verdict.revise:  # the next round's files start as a copy of this round's
        await submissions.start_next_round(session, sub, now=now, actor_id=staff.id)
    await session.flush()
    return DecideOutcome(DecideResult.decided, rnd, sub, state)


# --------------------------------------------------------------------------- the creator's feedback


@dataclass(frozen=True)
class CriterionFeedback:
    name: str
    mean_text: str  # "4.5"


@dataclass(frozen=True)
class FeedbackComment:
    number: int  # 1, 2, … (templates show 评审专家1, 2, …)
    name: str | None  # the reviewer's name when the campaign is not anonymous, else None
    text: str


@dataclass(frozen=True)
class Feedback:
    """What the creator is told of a decided round: no reviewer ids, no staff notes."""

    submission_id: int
    title: str
    round: int
    verdict: Verdict
    message: str
    criteria: list[CriterionFeedback]
    comments: list[FeedbackComment]
    weakest: str | None  # the name of the criterion with the lowest mean
    revise_until: datetime | None  # 修改后再审: the deadline of the next round


async def _name(session: AsyncSession, user_id: int) -> str | None:
    user = await session.get(User, user_id)
    return " ".join(p for p in (user.first_name, user.last_name) if p) or None if user else None


async def feedback(session: AsyncSession, campaign: Campaign, round_id: int) -> Feedback | None:
    """The feedback of a decided round (None: no such round, or not decided)."""
    rnd = await session.get(ReviewRound, round_id, populate_existing=True)
    if rnd is None or rnd.status != RoundStatus.decided or rnd.decision is None:
        return None
    sub = await session.get(Submission, rnd.submission_id)
    settings = campaign.review
    rows = await _submitted(session, round_id)
    views = [_view(n, a, r, None, True) for n, (a, r) in enumerate(rows, start=1)]
    agg = _aggregate(campaign, settings, views)
    comments = []
    for view in views:
        name = None if settings.anonymous else await _name(session, view.reviewer_id or 0)
        comments.append(FeedbackComment(view.number, name, view.comment))
    verdict = Verdict(rnd.decision)
    return Feedback(submission_id=sub.id, title=sub.title, round=rnd.number, verdict=verdict,
                    message=rnd.decision_message or "",
                    criteria=[CriterionFeedback(c.name, c.mean_text) for c in agg.criteria],
                    comments=comments, weakest=agg.weakest.name if agg.weakest else None,
                    revise_until=rnd.revise_until if verdict is Verdict.revise else None)


# --------------------------------------------------------------------------- disqualification


class DisqualifyResult(StrEnum):
    disqualified = "disqualified"
    missing = "missing"
    forbidden = "forbidden"
    reason_required = "reason_required"
    already = "already"  # disqualified before
    not_allowed = "not_allowed"  # a draft or a withdrawn application: nothing to disqualify


@dataclass(frozen=True)
class DisqualifyOutcome:
    result: DisqualifyResult
    submission: Submission | None = None
    rounds_stopped: list[ReviewRound] = field(default_factory=list)
    assignments_stopped: list[ReviewAssignment] = field(default_factory=list)  # reviewers to tell


async def disqualify(session: AsyncSession, sub_id: int, staff: Person, reason: str, *,
                     now: datetime) -> DisqualifyOutcome:
    """取消资格 (通知七(一)) at any stage after submitting: the submission -> disqualified with the
    reason in its audit row, its open rounds (waiting, reviewing) -> stopped and their open
    assignments -> stopped. Reviews already in are kept for the record."""
    sub = await session.get(Submission, sub_id, with_for_update=True, populate_existing=True)
    if sub is None:
        return DisqualifyOutcome(DisqualifyResult.missing)
    if not can(staff, Action.disqualify_submission):
        return DisqualifyOutcome(DisqualifyResult.forbidden)
    if sub.status == SubmissionStatus.disqualified:
        return DisqualifyOutcome(DisqualifyResult.already, sub)
    if not can(staff, Action.disqualify_submission, sub):
        return DisqualifyOutcome(DisqualifyResult.not_allowed, sub)
    text = (reason or "").strip()
    if not text:
        return DisqualifyOutcome(DisqualifyResult.reason_required, sub)
    await transition(session, sub, SubmissionStatus.disqualified, actor_id=staff.id, reason=text, now=now)
    sub.updated_at = now
    query = (select(ReviewRound).where(ReviewRound.submission_id == sub.id,
                                       ReviewRound.status.in_([RoundStatus.waiting, RoundStatus.reviewing]))
             .order_by(ReviewRound.id).with_for_update().execution_options(populate_existing=True))
    rounds = list((await session.execute(query)).scalars())
    stopped: list[ReviewAssignment] = []
    for rnd in rounds:
        await transition(session, rnd, RoundStatus.stopped, actor_id=staff.id, reason=text, now=now)
        query = (select(ReviewAssignment).where(ReviewAssignment.round_id == rnd.id,
                                                ReviewAssignment.status == AssignmentStatus.assigned)
                 .order_by(ReviewAssignment.id).with_for_update().execution_options(populate_existing=True))
        for asg in (await session.execute(query)).scalars():
            await transition(session, asg, AssignmentStatus.stopped, actor_id=staff.id, reason=text, now=now)
            asg.closed_at = now
            stopped.append(asg)
    await session.flush()
    return DisqualifyOutcome(DisqualifyResult.disqualified, sub, rounds, stopped)


# --------------------------------------------------------------------------- a reviewer's own assignment


@dataclass(frozen=True)
class AssignmentView:
    """One assignment as its reviewer sees it (the review card): the round, the application, the
    files the round is reviewed on, and for round 2 onwards the decision that asked for it."""

    assignment: ReviewAssignment
    round: ReviewRound
    submission: Submission
    files: list[SubmissionFile]
    previous: ReviewRound | None  # the decided round before this one (its message to the creator)

    @property
    def open(self) -> bool:
        """The reviewer may still review or decline it: theirs, assigned, the round being reviewed and
        the application not disqualified."""
        return (self.assignment.status == AssignmentStatus.assigned and self.round.status == RoundStatus.reviewing
                and self.submission.status != SubmissionStatus.disqualified)


async def assignment_for(session: AsyncSession, person: Person, assignment_id: int) -> AssignmentView | None:
    """The assignment if it is this reviewer's (policy review_assignment's role, and the reviewer it
    was given to, in any status), else None: a forged id, someone else's, or no reviewer any more."""
    asg = await session.get(ReviewAssignment, assignment_id, populate_existing=True)
    if asg is None or asg.reviewer_id != person.id or not can(person, Action.review_assignment):
        return None
    rnd = await session.get(ReviewRound, asg.round_id, populate_existing=True)
    sub = await session.get(Submission, rnd.submission_id, populate_existing=True) if rnd is not None else None
    if rnd is None or sub is None:
        return None
    files = list((await session.execute(
        select(SubmissionFile).where(SubmissionFile.submission_id == sub.id, SubmissionFile.round == rnd.number)
        .order_by(SubmissionFile.id))).scalars())
    previous = None
    if rnd.number > 1:
        previous = (await session.execute(select(ReviewRound).where(
            ReviewRound.submission_id == sub.id, ReviewRound.number == rnd.number - 1))).scalar()
    return AssignmentView(asg, rnd, sub, files, previous)
