"""Review rounds against a real database (bot/services/rounds.py, bot/services/reviewers.py): who is
assigned when a submission is submitted (fields, load, conflicts of interest, no repeats), the
queue of rounds waiting for reviewers, declining and reassigning, the operators' and reviewers'
queues, and the audit row every status change leaves."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.campaign import CampaignError, load_campaign
from bot.services import reviewers, rounds, submissions
from bot.services.rounds import Declined, Reassigned
from bot.services.transitions import IllegalTransition, allowed, transition
from bot.services.users import Person, Role, grant_role, upsert_user
from storage.db import make_engine
from storage.models import (
    AuditEntry,
    Registration,
    Review,
    ReviewAssignment,
    ReviewerProfile,
    ReviewRound,
    Submission,
)
from storage.statuses import AssignmentStatus, RegistrationStatus, RoundStatus, SubmissionStatus, Verdict

Asg, Rnd, Sub = AssignmentStatus, RoundStatus, SubmissionStatus
CAMPAIGN = load_campaign(Path("content/campaign.toml"))
NOW = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)
CREATOR = 1001
OTHER_CREATOR = 1002
CREATOR_UNIT = "甲大学"
RECOMMENDER = "北京市科协"
STAFF = Person(9001, "Admin", frozenset({Role.creator, Role.admin}))
IDS = itertools.count(1)


@pytest.fixture
async def session(db_url):
    engine = make_engine(db_url)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session:
        for uid, name in ((CREATOR, "Alice"), (OTHER_CREATOR, "Bob"), (STAFF.id, "Admin")):
            await upsert_user(session, uid, first_name=name)
        await session.flush()
        session.add(_registration(CREATOR, unit=CREATOR_UNIT, field="临床医学", recommender=RECOMMENDER))
        session.add(_registration(OTHER_CREATOR, unit="乙研究所", field="物理", recommender="上海市科协"))
        await session.flush()
        yield session
        await session.rollback()
    await engine.dispose()


def _registration(user_id: int, *, unit: str, field: str, recommender: str) -> Registration:
    n = next(IDS)
    text = {name: "x" for name in ("subject_type", "subject_name", "person_name", "position", "title", "phone",
                                   "email", "experience")}
    return Registration(user_id=user_id, account_name=f"号{n}", account_key=f"key-{n}", unit=unit, field=field,
                        recommender=recommender, status=RegistrationStatus.approved, **text)


def person(uid: int, *roles: Role) -> Person:
    return Person(uid, f"R{uid}", frozenset({Role.creator, *roles}))


async def reviewer(session, uid: int, *, fields: tuple[str, ...] = (), other: str = "", unit: str = "") -> Person:
    """A user holding the reviewer role, with a profile when fields, other fields or a unit are given."""
    await upsert_user(session, uid, first_name=f"R{uid}")
    await session.flush()
    await grant_role(session, uid, Role.reviewer, STAFF.id)
    who = person(uid, Role.reviewer)
    if fields or other or unit:
        await reviewers.save_profile(session, CAMPAIGN, who, fields=list(fields), other_fields=other, unit=unit)
    await session.flush()
    return who


async def submitted(session, user_id: int = CREATOR, *, direction: str | None = "frontier_tech",
                    title: str = "光的故事") -> Submission:
    """An application taken through draft -> submitted (with its audit rows), as submit() leaves it."""
    answers = {"kind": "work", "category": "article", "title": title, "declaration": True}
    if direction is not None:
        answers["direction"] = direction
    sub = Submission(user_id=user_id, kind="work", category="article", title=title,
                     answers=json.dumps(answers, ensure_ascii=False), created_at=NOW, updated_at=NOW)
    await transition(session, sub, Sub.draft, actor_id=user_id, now=NOW)
    sub.submitted_at = NOW
    await transition(session, sub, Sub.submitted, actor_id=user_id, now=NOW)
    await session.flush()
    return sub


async def load(session, reviewer_id: int, n: int) -> None:
    """Give a reviewer n open assignments on other people's rounds (their open load)."""
    for _ in range(n):
        sub = await submitted(session, OTHER_CREATOR, title="别的")
        await transition(session, sub, Sub.under_review, actor_id=None, now=NOW)
        rnd = ReviewRound(submission_id=sub.id, number=1, opened_at=NOW)
        await transition(session, rnd, Rnd.reviewing, actor_id=None, now=NOW)
        asg = ReviewAssignment(round_id=rnd.id, reviewer_id=reviewer_id, assigned_at=NOW,
                               due_at=NOW + timedelta(days=7))
        await transition(session, asg, Asg.assigned, actor_id=None, now=NOW)
    await session.flush()


async def rows_of(session, round_id: int) -> dict[int, ReviewAssignment]:
    """reviewer id -> their assignment on the round, as the database holds it."""
    query = select(ReviewAssignment).where(ReviewAssignment.round_id == round_id).execution_options(
        populate_existing=True)
    return {a.reviewer_id: a for a in (await session.execute(query)).scalars()}


async def fresh(session, obj):
    await session.flush()
    await session.refresh(obj)
    return obj


async def audit(session, entity: str, entity_id: int) -> list[tuple[str | None, str, int | None, str | None]]:
    query = (select(AuditEntry).where(AuditEntry.entity == entity, AuditEntry.entity_id == entity_id)
             .order_by(AuditEntry.id))
    return [(e.from_status, e.to_status, e.actor_id, e.reason) for e in (await session.execute(query)).scalars()]


async def assert_audited(session) -> None:
    """Every round, assignment and submission's status is where its audit trail ends, and each
    audit row starts where the previous one ended: no status changed without its row."""
    await session.flush()
    for model, entity in ((ReviewRound, "review_rounds"), (ReviewAssignment, "review_assignments"),
                          (Submission, "submissions")):
        for obj in (await session.execute(select(model).execution_options(populate_existing=True))).scalars():
            trail = await audit(session, entity, obj.id)
            assert trail, f"{entity} {obj.id} has no audit row"
            assert trail[0][0] is None
            for (_, to, _, _), (frm, _, _, _) in itertools.pairwise(trail):
                assert frm == to, f"{entity} {obj.id}: a change without its audit row: {trail}"
            assert trail[-1][1] == obj.status.value, f"{entity} {obj.id}: {obj.status} but audit says {trail}"


# ---------------------------------------------------------------- campaign settings


def test_review_settings_default_and_from_the_campaign_file(tmp_path):
    assert CAMPAIGN.review.reviewers == 2 and CAMPAIGN.review.due_days == 7 and CAMPAIGN.review.scale == (1, 5)
    assert CAMPAIGN.review.disagreement == 2 and CAMPAIGN.review.revise_days == 14 and CAMPAIGN.review.anonymous
    text = Path("content/campaign.toml").read_text(encoding="utf-8")
    start = text.index("[review]")
    end = text.index("[requirements]")
    without = text[:start] + text[end:]
    path = tmp_path / "campaign.toml"
    path.write_text(without, encoding="utf-8")
    defaults = load_campaign(path).review
    assert (defaults.reviewers, defaults.due_days, defaults.scale, defaults.disagreement, defaults.revise_days,
            defaults.anonymous) == (2, 7, (1, 5), 2, 14, True)
    path.write_text(without.replace("[requirements]", "[review]\nreviewers = 3\nscale = [0, 10]\n\n[requirements]", 1),
                    encoding="utf-8")
    custom = load_campaign(path).review
    assert (custom.reviewers, custom.scale, custom.due_days) == (3, (0, 10), 7)
    for bad in ("scale = [5, 1]", "reviewers = 0", "disagreement = 9", "anonymus = false"):
        path.write_text(without.replace("[requirements]", f"[review]\n{bad}\n\n[requirements]", 1), encoding="utf-8")
        with pytest.raises(CampaignError, match="review"):
            load_campaign(path)


# ---------------------------------------------------------------- profiles and the pool


async def test_a_profile_keeps_known_fields_and_refuses_unknown_ones(session):
    who = await reviewer(session, 2001)
    profile = await reviewers.save_profile(session, CAMPAIGN, who, fields=["rumours", "frontier_tech", "rumours"],
                                           other_fields=" 临床医学 ", unit=" 乙大学 ")
    stored = await fresh(session, await reviewers.profile_of(session, 2001))
    assert stored is profile
    assert (reviewers.fields_of(stored), stored.other_fields, stored.unit) == (
        ["frontier_tech", "rumours"], "临床医学", "乙大学")  # campaign order, once each, stripped
    with pytest.raises(ValueError, match="astrology"):
        await reviewers.save_profile(session, CAMPAIGN, who, fields=["astrology"], other_fields="", unit="")
    assert reviewers.fields_of(await fresh(session, stored)) == ["frontier_tech", "rumours"]  # unchanged
    with pytest.raises(PermissionError):
        await reviewers.save_profile(session, CAMPAIGN, person(CREATOR), fields=[], other_fields="", unit="")
    assert await session.get(ReviewerProfile, CREATOR) is None


async def test_the_pool_is_every_reviewer_with_profile_and_open_load(session):
    await reviewer(session, 2001, fields=("rumours",), other="医学", unit="乙大学")
    await reviewer(session, 2002)  # no profile yet
    await upsert_user(session, 2003, first_name="Tutor")
    await session.flush()
    await grant_role(session, 2003, Role.tutor, STAFF.id)
    await load(session, 2001, 2)
    pool = await reviewers.candidates(session)
    assert [(c.user_id, c.fields, c.other_fields, c.unit, c.open_load) for c in pool] == [
        (2001, frozenset({"rumours"}), "医学", "乙大学", 2), (2002, frozenset(), "", "", 0)]
    assert await rounds.open_load(session, 2001) == 2


# ---------------------------------------------------------------- assignment on submit


async def test_submit_assigns_by_fields_then_load_never_a_conflict(session):
    match = ("frontier_tech",)
    await reviewer(session, 2001, fields=match, unit="丙大学")  # matches, load 2
    await reviewer(session, 2002, fields=match, unit="丁大学")  # matches, load 0
    await reviewer(session, 2003, other="临床医学", unit="戊大学")  # matches the creator's 专业领域, load 1
    await reviewer(session, 2004, unit="己大学")  # no match, load 0
    await reviewer(session, 2005, fields=match, unit="甲 大学")  # the creator's unit (normalised)
    await reviewer(session, 2006, fields=match, unit=RECOMMENDER)  # the recommending unit
    await grant_role(session, CREATOR, Role.reviewer, STAFF.id)  # the creator is a reviewer too
    await load(session, 2001, 2)
    await load(session, 2003, 1)
    sub = await submitted(session)

    opened = await rounds.open_round(session, CAMPAIGN, sub, now=NOW, actor_id=CREATOR)

    assert (opened.assigned, opened.missing) == ([2002, 2003], 0)
    rnd = await fresh(session, opened.round)
    assert (rnd.submission_id, rnd.number, rnd.status, rnd.opened_at) == (sub.id, 1, Rnd.reviewing, NOW)
    rows = await rows_of(session, rnd.id)
    assert sorted(rows) == [2002, 2003]
    assert {(a.status, a.assigned_at, a.due_at) for a in rows.values()} == {(Asg.assigned, NOW, NOW + timedelta(days=7))}
    assert (await fresh(session, sub)).status == Sub.under_review
    assert await audit(session, "review_rounds", rnd.id) == [(None, "reviewing", CREATOR, None)]
    assert await audit(session, "review_assignments", rows[2002].id) == [(None, "assigned", CREATOR, None)]
    assert (await audit(session, "submissions", sub.id))[-1] == ("submitted", "under_review", CREATOR, None)
    await assert_audited(session)


async def test_the_next_submission_goes_to_the_least_loaded(session):
    for uid in (2001, 2002, 2003):
        await reviewer(session, uid, fields=("frontier_tech",))
    first = await rounds.open_round(session, CAMPAIGN, await submitted(session), now=NOW, actor_id=CREATOR)
    second = await rounds.open_round(session, CAMPAIGN, await submitted(session, title="二"), now=NOW, actor_id=CREATOR)
    assert first.assigned == [2001, 2002]
    assert second.assigned == [2003, 2001]  # 2003 had nothing; then the tie of 1 goes to the lower id
    assert [await rounds.open_load(session, uid) for uid in (2001, 2002, 2003)] == [2, 1, 1]


async def test_a_submission_under_review_can_not_be_withdrawn(session):
    await reviewer(session, 2001)
    sub = await submitted(session)
    assert allowed(sub, Sub.withdrawn)  # before review: still possible
    await rounds.open_round(session, CAMPAIGN, sub, now=NOW, actor_id=CREATOR)
    assert sub.status == Sub.under_review
    assert await submissions.withdraw(session, sub) is False
    with pytest.raises(IllegalTransition):
        await transition(session, sub, Sub.withdrawn, actor_id=CREATOR)
    assert (await fresh(session, sub)).status == Sub.under_review
    assert (await audit(session, "submissions", sub.id))[-1][1] == "under_review"


async def test_open_round_refuses_a_submission_that_is_not_submitted(session):
    sub = await submitted(session)
    sub.status = Sub.draft
    with pytest.raises(ValueError, match="not submitted"):
        await rounds.open_round(session, CAMPAIGN, sub, now=NOW, actor_id=CREATOR)


# ---------------------------------------------------------------- waiting for reviewers


async def test_no_reviewer_waits_then_whoever_joins_is_assigned_once(session):
    sub = await submitted(session)
    opened = await rounds.open_round(session, CAMPAIGN, sub, now=NOW, actor_id=CREATOR)
    assert (opened.assigned, opened.missing) == ([], 2)
    rnd = await fresh(session, opened.round)
    assert rnd.status == Rnd.waiting
    assert (await fresh(session, sub)).status == Sub.submitted and allowed(sub, Sub.withdrawn)
    assert await audit(session, "review_rounds", rnd.id) == [(None, "waiting", CREATOR, "no reviewer available")]
    assert await rounds.assign_waiting(session, CAMPAIGN, now=NOW) == []  # still nobody

    later = NOW + timedelta(days=2)
    q = await rounds.queue(session, CAMPAIGN, now=later)
    [short] = q.short
    assert (short.round_id, short.status, short.missing, short.since, short.age) == (
        rnd.id, Rnd.waiting, 2, NOW, timedelta(days=2))

    await reviewer(session, 2001, unit=CREATOR_UNIT)  # conflicted: not for this one
    assert await rounds.assign_waiting(session, CAMPAIGN, now=later) == []
    await reviewer(session, 2002)
    assert await rounds.assign_waiting(session, CAMPAIGN, now=later) == [(rnd.id, 2002)]
    assert (await fresh(session, rnd)).status == Rnd.reviewing
    assert (await fresh(session, sub)).status == Sub.under_review
    assert (await rows_of(session, rnd.id))[2002].due_at == later + timedelta(days=7)
    assert await rounds.assign_waiting(session, CAMPAIGN, now=later) == []  # 2002 is never put on it twice
    await reviewer(session, 2003)
    assert await rounds.assign_waiting(session, CAMPAIGN, now=later) == [(rnd.id, 2003)]
    await reviewer(session, 2004)
    assert await rounds.assign_waiting(session, CAMPAIGN, now=later) == []  # the round is complete
    assert sorted(await rows_of(session, rnd.id)) == [2002, 2003]
    assert (await rounds.queue(session, CAMPAIGN, now=later)).short == []
    audit_rnd = await audit(session, "review_rounds", rnd.id)
    assert audit_rnd[-1] == ("waiting", "reviewing", None, None)  # the bot assigned it
    await assert_audited(session)


async def test_a_returned_submission_gets_no_reviewers_and_its_round_is_reused(session):
    sub = await submitted(session)
    opened = await rounds.open_round(session, CAMPAIGN, sub, now=NOW, actor_id=CREATOR)
    await transition(session, sub, Sub.returned, actor_id=STAFF.id, reason="文件损坏")
    await reviewer(session, 2001)
    assert await rounds.assign_waiting(session, CAMPAIGN, now=NOW) == []
    assert (await rounds.queue(session, CAMPAIGN, now=NOW)).short == []
    await transition(session, sub, Sub.submitted, actor_id=CREATOR)
    again = await rounds.open_round(session, CAMPAIGN, sub, now=NOW, actor_id=CREATOR)
    assert again.round.id == opened.round.id and again.assigned == [2001] and again.missing == 1
    assert (await fresh(session, again.round)).status == Rnd.reviewing
    await assert_audited(session)


# ---------------------------------------------------------------- declining


async def test_a_decline_finds_a_replacement_and_then_the_round_waits(session):
    people = {uid: await reviewer(session, uid) for uid in (2001, 2002, 2003)}
    sub = await submitted(session)
    opened = await rounds.open_round(session, CAMPAIGN, sub, now=NOW, actor_id=CREATOR)
    rnd = opened.round
    assert opened.assigned == [2001, 2002]
    rows = await rows_of(session, rnd.id)
    later = NOW + timedelta(hours=5)

    out = await rounds.decline(session, CAMPAIGN, rows[2002].id, people[2002], "  出差两周 ", now=later)
    assert (out.result, out.replacement, out.round_waiting) == (Declined.done, 2003, False)
    rows = await rows_of(session, rnd.id)
    assert (rows[2002].status, rows[2002].decline_reason, rows[2002].closed_at) == (Asg.declined, "出差两周", later)
    assert rows[2003].status == Asg.assigned and rows[2003].due_at == later + timedelta(days=7)
    assert await audit(session, "review_assignments", rows[2002].id) == [
        (None, "assigned", CREATOR, None), ("assigned", "declined", 2002, "出差两周")]

    out = await rounds.decline(session, CAMPAIGN, rows[2003].id, people[2003], "不熟悉", now=later)
    assert (out.result, out.replacement, out.round_waiting) == (Declined.done, None, False)  # 2001 is still on it
    out = await rounds.decline(session, CAMPAIGN, rows[2001].id, people[2001], "利益相关", now=later)
    assert (out.result, out.replacement, out.round_waiting) == (Declined.done, None, True)
    assert (await fresh(session, rnd)).status == Rnd.waiting
    assert (await fresh(session, sub)).status == Sub.under_review  # review has started: no withdrawing
    assert (await audit(session, "review_rounds", rnd.id))[-1] == ("reviewing", "waiting", 2001, "no reviewer left")
    assert await rounds.assign_waiting(session, CAMPAIGN, now=later) == []  # all three were on it
    [short] = (await rounds.queue(session, CAMPAIGN, now=later + timedelta(hours=1))).short
    assert (short.missing, short.since, short.age) == (2, later, timedelta(hours=1))

    await reviewer(session, 2004)
    assert await rounds.assign_waiting(session, CAMPAIGN, now=later) == [(rnd.id, 2004)]
    assert (await fresh(session, rnd)).status == Rnd.reviewing
    await assert_audited(session)


async def test_a_decline_needs_a_reason_and_the_reviewers_own_open_assignment(session):
    a = await reviewer(session, 2001)
    b = await reviewer(session, 2002)
    opened = await rounds.open_round(session, CAMPAIGN, await submitted(session), now=NOW, actor_id=CREATOR)
    rows = await rows_of(session, opened.round.id)
    mine = rows[2001].id

    assert (await rounds.decline(session, CAMPAIGN, mine, a, "   ", now=NOW)).result == Declined.no_reason
    assert (await rounds.decline(session, CAMPAIGN, mine, b, "我来拒", now=NOW)).result == Declined.forbidden
    assert (await rounds.decline(session, CAMPAIGN, mine, person(CREATOR), "我来拒", now=NOW)).result == Declined.forbidden
    assert (await rounds.decline(session, CAMPAIGN, mine, STAFF, "我来拒", now=NOW)).result == Declined.forbidden
    demoted = person(2001)  # the role taken away meanwhile
    assert (await rounds.decline(session, CAMPAIGN, mine, demoted, "忙", now=NOW)).result == Declined.forbidden
    assert (await rounds.decline(session, CAMPAIGN, 999999, a, "忙", now=NOW)).result == Declined.missing
    assert {r.status for r in (await rows_of(session, opened.round.id)).values()} == {Asg.assigned}
    assert len(await audit(session, "review_assignments", mine)) == 1  # nothing written

    assert (await rounds.decline(session, CAMPAIGN, mine, a, "忙", now=NOW)).result == Declined.done
    assert (await rounds.decline(session, CAMPAIGN, mine, a, "忙", now=NOW)).result == Declined.closed
    await assert_audited(session)


# ---------------------------------------------------------------- reassigning


async def test_reassign_refuses_a_conflicted_a_repeated_or_a_non_reviewer(session):
    for uid in (2001, 2002):
        await reviewer(session, uid, fields=("frontier_tech",))
    await reviewer(session, 2003, unit="甲大学")  # the creator's unit
    await reviewer(session, 2004, unit=RECOMMENDER)
    await reviewer(session, 2005)
    opened = await rounds.open_round(session, CAMPAIGN, await submitted(session), now=NOW, actor_id=CREATOR)
    rows = await rows_of(session, opened.round.id)
    target = rows[2001].id

    async def refused(to, who=STAFF):
        return await rounds.reassign(session, CAMPAIGN, target, who, to=to, now=NOW)

    out = await refused(2003)
    assert (out.result, out.conflict) == (Reassigned.conflict, "same_unit")
    assert (await refused(2004)).conflict == "recommender"
    await grant_role(session, CREATOR, Role.reviewer, STAFF.id)
    assert (await refused(CREATOR)).conflict == "creator"
    assert (await refused(2002)).result == Reassigned.on_round
    assert (await refused(2001)).result == Reassigned.on_round
    assert (await refused(OTHER_CREATOR)).result == Reassigned.not_reviewer
    assert (await refused(2005, who=person(2002, Role.reviewer))).result == Reassigned.forbidden
    assert {r.status for r in (await rows_of(session, opened.round.id)).values()} == {Asg.assigned}
    assert len(await audit(session, "review_assignments", target)) == 1  # nothing changed

    out = await rounds.reassign(session, CAMPAIGN, target, STAFF, to=2005, now=NOW, reason="换人")
    assert (out.result, out.new_reviewer, out.round_waiting) == (Reassigned.done, 2005, False)
    rows = await rows_of(session, opened.round.id)
    assert (rows[2001].status, rows[2001].closed_at, rows[2005].status) == (Asg.reassigned, NOW, Asg.assigned)
    assert (await audit(session, "review_assignments", target))[-1] == ("assigned", "reassigned", STAFF.id, "换人")
    assert (await audit(session, "review_assignments", rows[2005].id)) == [(None, "assigned", STAFF.id, None)]
    assert (await rounds.reassign(session, CAMPAIGN, target, STAFF, to=None, now=NOW)).result == Reassigned.closed
    await assert_audited(session)


async def test_reassign_without_a_name_takes_the_next_or_leaves_the_round_waiting(session):
    await reviewer(session, 2001)
    await reviewer(session, 2002)
    opened = await rounds.open_round(session, CAMPAIGN, await submitted(session), now=NOW, actor_id=CREATOR)
    rows = await rows_of(session, opened.round.id)
    await reviewer(session, 2003)
    out = await rounds.reassign(session, CAMPAIGN, rows[2001].id, STAFF, to=None, now=NOW)
    assert (out.result, out.new_reviewer) == (Reassigned.done, 2003)
    out = await rounds.reassign(session, CAMPAIGN, rows[2002].id, STAFF, to=None, now=NOW)
    assert (out.result, out.new_reviewer, out.round_waiting) == (Reassigned.done, None, False)
    third = (await rows_of(session, opened.round.id))[2003].id
    out = await rounds.reassign(session, CAMPAIGN, third, STAFF, to=None, now=NOW)
    assert (out.result, out.new_reviewer, out.round_waiting) == (Reassigned.done, None, True)
    assert (await fresh(session, opened.round)).status == Rnd.waiting
    await assert_audited(session)


# ---------------------------------------------------------------- queues


async def test_the_queues_show_overdue_reviews_and_rounds_to_decide(session):
    a = await reviewer(session, 2001)
    await reviewer(session, 2002)
    first = await rounds.open_round(session, CAMPAIGN, await submitted(session), now=NOW, actor_id=CREATOR)
    second_at = NOW + timedelta(days=3)
    second = await rounds.open_round(session, CAMPAIGN, await submitted(session, title="二"), now=second_at,
                                     actor_id=CREATOR)
    assert first.assigned == [2001, 2002] and second.assigned == [2001, 2002]

    now = NOW + timedelta(days=8)  # the first round's reviews were due yesterday
    mine = await rounds.queue_of(session, 2001, now=now)
    assert [(o.round_id, o.due_at, o.overdue, o.title) for o in mine] == [
        (first.round.id, NOW + timedelta(days=7), True, "光的故事"), (second.round.id, second_at + timedelta(days=7), False, "二")]
    assert mine[0].reviewer_name == "R2001" and mine[0].age == timedelta(days=8)
    assert await rounds.queue_of(session, a.id + 100, now=now) == []

    reviewed = NOW + timedelta(days=6)
    for row in (await rows_of(session, first.round.id)).values():  # both reviews of the first round come in
        await transition(session, row, Asg.submitted, actor_id=row.reviewer_id, now=reviewed)
        row.closed_at = reviewed
        session.add(Review(assignment_id=row.id, scores="{}", comment="好", recommendation=Verdict.accept,
                           submitted_at=reviewed))
    q = await rounds.queue(session, CAMPAIGN, now=now)
    assert q.short == []
    assert [(o.round_id, o.reviewer_id, o.overdue) for o in q.open] == [
        (second.round.id, 2001, False), (second.round.id, 2002, False)]
    [ready] = q.to_decide
    assert (ready.round_id, ready.reviews_in, ready.since, ready.age) == (
        first.round.id, 2, reviewed, timedelta(days=2))
    assert await rounds.queue_of(session, 2001, now=now) == [o for o in q.open if o.reviewer_id == 2001]
    await assert_audited(session)
