"""A review round counts its assignments as they change (rounds.count_assignment, called by
transitions.transition): what the operators' /review_queue and /start read instead of grouping every
open round's assignments. The counters must equal what the assignments say, after any changes, and
migration 0020 must fill them the same way for rounds that existed before it."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select, text

from bot.services import rounds as rounds_service
from bot.services import staff
from bot.services.rounds import ACTIVE
from bot.services.transitions import transition
from storage.db import make_engine
from storage.migrate import downgrade_async, upgrade_async
from storage.models import Review, ReviewAssignment, ReviewRound
from storage.statuses import AssignmentStatus, RoundStatus, SubmissionStatus, Verdict
from tests.test_rounds import CAMPAIGN, NOW, session, submitted  # noqa: F401 - the session fixture

Asg = AssignmentStatus
ENDS = (Asg.submitted, Asg.declined, Asg.reassigned, Asg.stopped)


async def expected(db, round_id: int) -> tuple:
    """(active, assigned, done, left_at, reviewed_at) as the round's assignments say."""
    rows = (await db.execute(select(ReviewAssignment).where(ReviewAssignment.round_id == round_id)
                                  .execution_options(populate_existing=True))).scalars().all()
    reviews = {r.assignment_id: r for r in (await db.execute(
        select(Review).where(Review.assignment_id.in_([a.id for a in rows])))).scalars()}
    left = [a.closed_at for a in rows if a.status not in ACTIVE and a.closed_at is not None]
    reviewed = [(reviews[a.id].submitted_at if a.id in reviews else None) or a.closed_at
                for a in rows if a.status == Asg.submitted]
    return (sum(a.status in ACTIVE for a in rows), sum(a.status == Asg.assigned for a in rows),
            sum(a.status == Asg.submitted for a in rows), max(left, default=None), max(reviewed, default=None))


async def stored(db, round_id: int) -> tuple:
    rnd = (await db.execute(select(ReviewRound).where(ReviewRound.id == round_id)
                                 .execution_options(populate_existing=True))).scalar_one()
    return rnd.active_count, rnd.assigned_count, rnd.done_count, rnd.left_at, rnd.reviewed_at


async def close(db, asg: ReviewAssignment, to: Asg, at) -> None:
    """As the services do: the status through transition(), then the assignment closed at that time
    (and a review in, for submitted)."""
    await transition(db, asg, to, actor_id=None, now=at)
    asg.closed_at = at
    if to == Asg.submitted:
        db.add(Review(assignment_id=asg.id, scores="{}", comment="好", recommendation=Verdict.accept,
                           submitted_at=at))
    await db.flush()


async def reviewing_rounds(db, n: int) -> list[int]:
    """`n` submissions under review, each with its first round open (the ids of the rounds)."""
    ids = []
    for k in range(n):
        sub = await submitted(db, title=f"作品{k}")
        await transition(db, sub, SubmissionStatus.under_review, actor_id=None, now=NOW)
        rnd = ReviewRound(submission_id=sub.id, number=1, opened_at=NOW)
        await transition(db, rnd, RoundStatus.reviewing, actor_id=None, now=NOW)
        ids.append(rnd.id)
    return ids


async def test_the_counters_follow_every_assignment_change(session):  # noqa: F811 - the fixture
    rng = random.Random(13)
    rounds, open_ = await reviewing_rounds(session, 6), []
    reviewer = iter(range(5000, 6000))
    for step in range(60):
        at = NOW + timedelta(hours=step, minutes=rng.randrange(60))
        if open_ and rng.random() < 0.6:  # an open assignment ends (reviewed, declined, reassigned, stopped)
            asg = open_.pop(rng.randrange(len(open_)))
            await close(session, asg, rng.choice(ENDS), at)
        else:  # someone new on a round
            asg = ReviewAssignment(round_id=rng.choice(rounds), reviewer_id=next(reviewer), assigned_at=at,
                                   due_at=at + timedelta(days=7))
            await transition(session, asg, Asg.assigned, actor_id=None, now=at)
            open_.append(asg)
        await session.flush()
        assert await stored(session, asg.round_id) == await expected(session, asg.round_id), step
    for round_id in rounds:
        assert await stored(session, round_id) == await expected(session, round_id)
    assert {(await stored(session, r))[2] for r in rounds} != {0}  # reviews did come in


async def operators_todo(db, round_ids: list[int], wanted: int) -> int:
    """How many rounds wait for an operator, as the assignments say: short of reviewers (fewer than
    `wanted` assigned or reviewed), or with every reviewer done."""
    todo = 0
    for round_id in round_ids:
        active, assigned, done, _, _ = await expected(db, round_id)
        todo += active < wanted or (assigned == 0 and done > 0)
    return todo


async def test_start_counts_what_the_review_queue_lists(session):  # noqa: F811 - the fixture
    """The operators' /start (and their digest) count the rounds /review_queue lists as short of
    reviewers or to decide, after any change: also a reviewing round one reviewer declined."""
    wanted = CAMPAIGN.review.reviewers
    rng = random.Random(29)
    rounds, open_ = await reviewing_rounds(session, 5), []
    reviewer = iter(range(7000, 8000))
    declined_short = 0
    for step in range(50):
        at = NOW + timedelta(hours=step)
        if open_ and rng.random() < 0.5:
            asg = open_.pop(rng.randrange(len(open_)))
            await close(session, asg, rng.choice(ENDS), at)
        else:
            asg = ReviewAssignment(round_id=rng.choice(rounds), reviewer_id=next(reviewer), assigned_at=at,
                                   due_at=at + timedelta(days=7))
            await transition(session, asg, Asg.assigned, actor_id=None, now=at)
            open_.append(asg)
        await session.flush()
        todo = await operators_todo(session, rounds, wanted)
        assert (await staff.waiting(session, wanted)).reviews == todo, step
        listed = await rounds_service.queue(session, CAMPAIGN, now=at)
        assert listed.short_total + listed.to_decide_total == todo, step
        for round_id in rounds:
            active, _, done, left_at, _ = await expected(session, round_id)
            declined_short += active < wanted and left_at is not None
    assert declined_short  # the walk did leave reviewing rounds short after someone left


async def test_migration_0020_counts_what_the_rounds_hold(db_url):
    await downgrade_async(db_url, "0019")
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO users (id, first_name, created_at, last_seen_at) "
                                    "VALUES (5, 'A', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
            await conn.execute(text(
                "INSERT INTO submissions (id, user_id, kind, category, title, answers, status, created_at, updated_at, "
                "round, status_at) VALUES (1, 5, 'work', 'video', 't', '{}', 'under_review', '2026-03-01 00:00:00', "
                "'2026-03-01 00:00:00', 1, '2026-03-01 00:00:00')"))
            for rid in (1, 2):
                await conn.execute(text("INSERT INTO review_rounds (id, submission_id, number, status, opened_at) "
                                        f"VALUES ({rid}, 1, {rid}, 'reviewing', '2026-03-01 00:00:00')"))
            for aid, rid, status, closed in ((1, 1, "submitted", "2026-03-05 10:00:00"),
                                             (2, 1, "submitted", "2026-03-06 10:00:00"),
                                             (3, 1, "declined", "2026-03-02 10:00:00"),
                                             (4, 1, "assigned", None),
                                             (5, 2, "reassigned", "2026-03-03 10:00:00")):
                closed_sql = f"'{closed}'" if closed else "NULL"
                await conn.execute(text(
                    "INSERT INTO review_assignments (id, round_id, reviewer_id, status, assigned_at, due_at, closed_at) "
                    f"VALUES ({aid}, {rid}, {100 + aid}, '{status}', '2026-03-01 00:00:00', '2026-03-20 00:00:00', "
                    f"{closed_sql})"))
            await conn.execute(text("INSERT INTO reviews (assignment_id, scores, comment, recommendation, submitted_at) "
                                    "VALUES (1, '{}', 'x', 'accept', '2026-03-07 09:00:00')"))
        await upgrade_async(db_url)
        async with engine.connect() as conn:
            rows = {r[0]: r[1:] for r in (await conn.execute(text(
                "SELECT id, active_count, assigned_count, done_count, left_at, reviewed_at FROM review_rounds "
                "ORDER BY id"))).all()}
    finally:
        await engine.dispose()
    one, two = rows[1], rows[2]
    assert one[:3] == (3, 1, 2) and str(one[3])[:16] == "2026-03-02 10:00"
    assert str(one[4])[:16] == "2026-03-07 09:00"  # the review's own time (assignment 2 closed 03-06)
    assert two[:3] == (0, 0, 0) and str(two[3])[:16] == "2026-03-03 10:00" and two[4] is None
