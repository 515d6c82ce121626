"""bot/services/reviews.py against a real database: recording reviews, who sees which reviews, the
operators' summary and decision, the creator's feedback, disqualification. Rounds and assignments
are made here directly (rows + transition()), not through bot/services/rounds.py."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.campaign import ReviewSettings, load_campaign
from bot.services import reviews, submissions
from bot.services.reviews import DecideResult, DisqualifyResult, ReviewResult
from bot.services.transitions import transition
from bot.services.users import Person, Role, upsert_user
from storage.db import make_engine
from storage.models import AuditEntry, Review, ReviewAssignment, ReviewRound, Submission, SubmissionFile
from storage.statuses import AssignmentStatus, FileStatus, RoundStatus, SubmissionStatus, Verdict

CAMPAIGN = load_campaign(Path("content/campaign.toml"))
IDS = [c.id for c in CAMPAIGN.criteria]
NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)

CREATOR = Person(770001, "Alice", frozenset({Role.creator}))
R1 = Person(770011, "评审甲", frozenset({Role.creator, Role.reviewer}))
R2 = Person(770012, "评审乙", frozenset({Role.creator, Role.reviewer}))
R3 = Person(770013, "评审丙", frozenset({Role.creator, Role.reviewer}))
ADMIN = Person(9001, "Admin", frozenset({Role.creator, Role.admin}))
ADMIN2 = Person(9002, "Admin2", frozenset({Role.creator, Role.admin}))


def scores(*values: int | str) -> dict[str, int | str]:
    return dict(zip(IDS, values, strict=True))


GOOD = scores(4, 5, 4, 3, 4, 5)


async def _people(session) -> None:
    for p in (CREATOR, R1, R2, R3):
        await upsert_user(session, p.id, first_name=p.first_name)
    await session.flush()


@pytest.fixture
async def maker(db_url):
    engine = make_engine(db_url)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


@pytest.fixture
async def session(maker):
    async with maker() as session:
        await _people(session)
        yield session
        await session.rollback()


async def make_round(session, reviewers=(R1, R2)) -> tuple[Submission, ReviewRound, list[ReviewAssignment]]:
    """A submitted application under review, its round 1 being reviewed by `reviewers`."""
    sub = Submission(user_id=CREATOR.id, kind="work", category="video", title="黑洞是怎样形成的",
                     answers=json.dumps({"direction": "frontier"}), status=None)
    await transition(session, sub, SubmissionStatus.draft, actor_id=CREATOR.id, now=NOW)
    video = SubmissionFile(submission_id=sub.id, file_id="vid-1", file_unique_id="u-vid-1", file_name="黑洞.mp4",
                           file_size=1000, sent_as="document", created_at=NOW)
    await transition(session, video, FileStatus.passed, actor_id=CREATOR.id, now=NOW)
    await transition(session, sub, SubmissionStatus.submitted, actor_id=CREATOR.id, now=NOW)
    await transition(session, sub, SubmissionStatus.under_review, actor_id=None, now=NOW)
    rnd = ReviewRound(submission_id=sub.id, number=1, opened_at=NOW)
    await transition(session, rnd, RoundStatus.reviewing, actor_id=None, now=NOW)
    assignments = []
    for person in reviewers:
        asg = ReviewAssignment(round_id=rnd.id, reviewer_id=person.id, assigned_at=NOW, due_at=NOW + timedelta(days=7))
        await transition(session, asg, AssignmentStatus.assigned, actor_id=None, now=NOW)
        assignments.append(asg)
    await session.flush()
    return sub, rnd, assignments


async def review(session, asg, person, values=GOOD, *, comment="结构清楚，建议补充参考文献。", note=None,
                 rec=Verdict.revise, campaign=CAMPAIGN):
    return await reviews.record_review(session, campaign, asg.id, person, scores=values, comment=comment,
                                       staff_note=note, recommendation=rec, now=NOW + timedelta(days=1))


async def count(session, model, *where) -> int:
    return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def audit_of(session, entity: str, entity_id: int) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.entity == entity, AuditEntry.entity_id == entity_id)
    return list((await session.execute(query.order_by(AuditEntry.id))).scalars())


async def stored(session, model, row_id):
    return (await session.execute(select(model).where(model.id == row_id)
                                  .execution_options(populate_existing=True))).scalar_one()


# --------------------------------------------------------------------------- a full round


async def test_a_full_round_two_reviews_then_revise_then_feedback(session):
    sub, rnd, (a1, a2) = await make_round(session)

    first = await review(session, a1, R1, scores(4, 5, 4, 2, 4, 5), note="疑似搬运片段，请核查", rec=Verdict.revise)
    assert first.result is ReviewResult.recorded and not first.round_complete
    assert first.progress == reviews.Progress(assigned=1, submitted=1, needed=2)
    # R2 has not reviewed yet: sees nothing of R1's
    assert await reviews.reviews_visible_to(session, R2, rnd.id) == []
    # R1 sees their own; the creator nothing
    assert [v.mine for v in await reviews.reviews_visible_to(session, R1, rnd.id)] == [True]
    assert await reviews.reviews_visible_to(session, CREATOR, rnd.id) == []

    # decide before every review is in: refused
    early = await reviews.decide(session, CAMPAIGN, rnd.id, ADMIN, Verdict.revise, "请修改", now=NOW)
    assert early.result is DecideResult.reviews_pending

    second = await review(session, a2, R2, scores(5, 4, 3, 5, 3, 4), comment="结尾仓促。", rec=Verdict.accept)
    assert second.result is ReviewResult.recorded and second.round_complete

    stored_reviews = list((await session.execute(select(Review).order_by(Review.id))).scalars())
    assert [json.loads(r.scores) for r in stored_reviews] == [scores(4, 5, 4, 2, 4, 5), scores(5, 4, 3, 5, 3, 4)]
    assert stored_reviews[0].staff_note == "疑似搬运片段，请核查" and stored_reviews[1].staff_note is None
    assert (await stored(session, ReviewAssignment, a1.id)).status == AssignmentStatus.submitted
    assert [(e.from_status, e.to_status, e.actor_id) for e in await audit_of(session, "review_assignments", a2.id)] \
        == [(None, "assigned", None), ("assigned", "submitted", R2.id)]

    # now R2 sees R1's scores, without R1's id or staff note; staff see everything
    seen = await reviews.reviews_visible_to(session, R2, rnd.id)
    assert [(v.number, v.mine, v.reviewer_id, v.staff_note) for v in seen] == [
        (1, False, None, None), (2, True, R2.id, None)]
    assert seen[0].scores == scores(4, 5, 4, 2, 4, 5)
    staff_view = await reviews.reviews_visible_to(session, ADMIN, rnd.id)
    assert [(v.reviewer_id, v.staff_note) for v in staff_view] == [(R1.id, "疑似搬运片段，请核查"), (R2.id, None)]

    summary = await reviews.round_summary(session, CAMPAIGN, rnd.id)
    assert summary.submission.id == sub.id and summary.round.id == rnd.id and summary.progress.complete
    assert [v.reviewer_id for v in summary.reviews] == [R1.id, R2.id]
    agg = summary.aggregate
    assert [c.mean_text for c in agg.criteria] == ["4.5", "4.5", "3.5", "3.5", "3.5", "4.5"]
    assert [c.name for c in agg.flagged] == ["艺术性"]  # 2 vs 5: more than 2 points apart
    assert agg.recommendations == {"accept": 1, "revise": 1, "reject": 0} and agg.disagree

    out = await reviews.decide(session, CAMPAIGN, rnd.id, ADMIN, Verdict.revise, "请补充参考文献后再提交。",
                               now=NOW + timedelta(days=2))
    assert out.result is DecideResult.decided
    row = await stored(session, ReviewRound, rnd.id)
    assert (row.status, row.decision, row.decision_message, row.decided_by) == (
        RoundStatus.decided, Verdict.revise, "请补充参考文献后再提交。", ADMIN.id)
    assert row.decided_at == NOW + timedelta(days=2)
    assert row.revise_until == NOW + timedelta(days=16)  # revise_days 14 by default
    saved = await stored(session, Submission, sub.id)
    # the next round's files begin as a copy of round 1's; the round itself opens when the creator resubmits
    assert saved.status == SubmissionStatus.revise and saved.round == 2
    assert await count(session, ReviewRound, ReviewRound.submission_id == sub.id) == 1
    first_files = await submissions.files_of_round(session, sub.id, 1)
    current = await submissions.files_of(session, sub.id)
    assert [(f.file_id, f.check_status, f.round) for f in first_files] == [("vid-1", FileStatus.passed, 1)]
    assert [(f.file_id, f.check_status, f.round) for f in current] == [("vid-1", FileStatus.passed, 2)]
    assert [(e.from_status, e.to_status, e.actor_id, e.reason) for e in await audit_of(session, "submissions", sub.id)][-1] \
        == ("under_review", "revise", ADMIN.id, "请补充参考文献后再提交。")
    assert [(e.from_status, e.to_status, e.reason) for e in await audit_of(session, "review_rounds", rnd.id)][-1] \
        == ("reviewing", "decided", "请补充参考文献后再提交。")

    fb = await reviews.feedback(session, CAMPAIGN, rnd.id)
    assert (fb.verdict, fb.message, fb.round) == (Verdict.revise, "请补充参考文献后再提交。", 1)
    assert [(c.name, c.mean_text) for c in fb.criteria] == [
        ("科学性", "4.5"), ("原创性", "4.5"), ("思想性", "3.5"), ("艺术性", "3.5"), ("通俗性", "3.5"),
        ("适于互联网传播", "4.5")]
    assert fb.weakest == "思想性"  # the first of the lowest means, in campaign order
    assert [(c.number, c.name, c.text) for c in fb.comments] == [(1, None, "结构清楚，建议补充参考文献。"),
                                                                 (2, None, "结尾仓促。")]
    assert fb.revise_until == NOW + timedelta(days=16)
    text = repr(fb)
    for secret in (str(R1.id), str(R2.id), "疑似搬运片段", "评审甲", "评审乙"):
        assert secret not in text


async def test_feedback_names_reviewers_when_the_campaign_is_not_anonymous_and_settings_have_defaults(session):
    custom = CAMPAIGN.model_copy(update={"review": ReviewSettings(reviewers=1, due_days=5, scale=(1, 10),
                                                                  disagreement=3, revise_days=30, anonymous=False)})

    _, rnd, (a1,) = await make_round(session, reviewers=(R1,))
    out = await review(session, a1, R1, scores(9, 10, 8, 7, 9, 10), campaign=custom, rec=Verdict.accept)
    assert out.result is ReviewResult.recorded and out.round_complete  # one reviewer is enough here
    assert (await reviews.decide(session, custom, rnd.id, ADMIN, "accept", "祝贺入选", now=NOW)).result \
        is DecideResult.decided
    fb = await reviews.feedback(session, custom, rnd.id)
    assert [(c.number, c.name) for c in fb.comments] == [(1, "评审甲")] and fb.revise_until is None
    assert fb.verdict is Verdict.accept
    assert (await stored(session, Submission, rnd.submission_id)).status == SubmissionStatus.accepted


# --------------------------------------------------------------------------- bad reviews


@pytest.mark.parametrize(("values", "comment", "problem"), [
    (scores(4, 5, 4, 6, 4, 5), "好", ("artistic", "score_invalid", {"criterion": "艺术性", "lo": 1, "hi": 5})),
    (scores(4, 5, 4, 0, 4, 5), "好", ("artistic", "score_invalid", {"criterion": "艺术性", "lo": 1, "hi": 5})),
    (scores(4, 5, 4, "4.5", 4, 5), "好", ("artistic", "score_invalid", {"criterion": "艺术性", "lo": 1, "hi": 5})),
    ({k: v for k, v in GOOD.items() if k != "original"}, "好", ("original", "score_missing", {"criterion": "原创性"})),
    (GOOD, "   ", ("comment", "comment_required", {})),  # the words for the creator are required
    ({**GOOD, "beauty": 3}, "好", ("beauty", "unknown_criterion", {"id": "beauty"})),  # not of this campaign
])
async def test_a_bad_review_is_refused_naming_what_to_fix_and_nothing_is_written(session, values, comment, problem):
    _, rnd, (a1, _) = await make_round(session)
    audit_before = await count(session, AuditEntry)
    out = await review(session, a1, R1, values, comment=comment)
    assert out.result is ReviewResult.invalid
    assert [(key, p.template, p.context) for key, p in out.problems.items()] == [problem]
    assert await count(session, Review) == 0
    assert (await stored(session, ReviewAssignment, a1.id)).status == AssignmentStatus.assigned
    assert await count(session, AuditEntry) == audit_before


async def test_full_width_and_suffixed_scores_are_read_as_numbers(session):
    _, _, (a1, _) = await make_round(session)
    out = await review(session, a1, R1, scores("５", "4分", " 3 ", 2, 1, 5))
    assert out.result is ReviewResult.recorded
    assert json.loads(out.review.scores) == scores(5, 4, 3, 2, 1, 5)


async def test_another_reviewer_or_the_creator_forging_the_assignment_id_is_refused(session):
    _, _, (a1, _) = await make_round(session)
    for person in (R2, R3, CREATOR, ADMIN):
        assert (await review(session, a1, person)).result is ReviewResult.forbidden
    assert (await reviews.record_review(session, CAMPAIGN, 10**9, R1, scores=GOOD, comment="好", staff_note=None,
                                        recommendation=Verdict.accept, now=NOW)).result is ReviewResult.missing
    assert await count(session, Review) == 0
    assert (await stored(session, ReviewAssignment, a1.id)).status == AssignmentStatus.assigned


async def test_a_reviewer_demoted_mid_round_can_no_longer_review(session):
    _, _, (a1, _) = await make_round(session)
    demoted = Person(R1.id, R1.first_name, frozenset({Role.creator}))
    assert (await review(session, a1, demoted)).result is ReviewResult.forbidden
    assert await count(session, Review) == 0


@pytest.mark.parametrize("gone", [AssignmentStatus.reassigned, AssignmentStatus.declined])
async def test_a_review_after_reassignment_or_declining_is_refused(session, gone):
    _, _, (a1, _) = await make_round(session)
    await transition(session, a1, gone, actor_id=ADMIN.id, now=NOW)
    await session.flush()
    out = await review(session, a1, R1)
    assert out.result is ReviewResult.not_assigned
    assert await count(session, Review) == 0
    assert (await stored(session, ReviewAssignment, a1.id)).status == gone


async def test_a_second_review_of_the_same_assignment_is_refused(session):
    _, _, (a1, _) = await make_round(session)
    assert (await review(session, a1, R1)).result is ReviewResult.recorded
    again = await review(session, a1, R1, scores(1, 1, 1, 1, 1, 1), comment="改主意了")
    assert again.result is ReviewResult.already_submitted
    assert [r.comment for r in (await session.execute(select(Review))).scalars()] == ["结构清楚，建议补充参考文献。"]


async def test_a_round_short_of_reviewers_is_not_complete(session):
    """One reviewer declined and no one replaced them yet: one review in is not enough to decide."""
    _, rnd, (a1, a2) = await make_round(session)
    await transition(session, a2, AssignmentStatus.declined, actor_id=R2.id, now=NOW)
    out = await review(session, a1, R1)
    assert out.result is ReviewResult.recorded and not out.round_complete
    assert out.progress == reviews.Progress(assigned=0, submitted=1, needed=2)
    assert (await reviews.decide(session, CAMPAIGN, rnd.id, ADMIN, Verdict.accept, "好", now=NOW)).result \
        is DecideResult.reviews_pending


async def test_a_review_on_a_round_not_being_reviewed_is_refused(session):
    _, rnd, (a1, _) = await make_round(session)
    await transition(session, rnd, RoundStatus.waiting, actor_id=None, now=NOW)
    await session.flush()
    assert (await review(session, a1, R1)).result is ReviewResult.round_closed
    assert await count(session, Review) == 0


# --------------------------------------------------------------------------- decisions


async def _complete_round(session):
    sub, rnd, (a1, a2) = await make_round(session)
    await review(session, a1, R1)
    await review(session, a2, R2, rec=Verdict.accept)
    return sub, rnd


async def test_a_second_decision_is_refused_naming_the_first(session):
    sub, rnd = await _complete_round(session)
    first = await reviews.decide(session, CAMPAIGN, rnd.id, ADMIN, Verdict.accept, "祝贺入选", now=NOW)
    assert first.result is DecideResult.decided
    second = await reviews.decide(session, CAMPAIGN, rnd.id, ADMIN2, Verdict.reject, "不入选", now=NOW)
    assert second.result is DecideResult.already_decided
    assert (second.round.decision, second.round.decided_by) == (Verdict.accept, ADMIN.id)
    assert (await stored(session, Submission, sub.id)).status == SubmissionStatus.accepted
    assert [e.to_status for e in await audit_of(session, "review_rounds", rnd.id)].count("decided") == 1
    assert [e.to_status for e in await audit_of(session, "submissions", sub.id)][-1] == "accepted"


async def test_a_decision_needs_staff_and_a_message(session):
    sub, rnd = await _complete_round(session)
    for person in (R1, CREATOR):
        assert (await reviews.decide(session, CAMPAIGN, rnd.id, person, Verdict.accept, "好", now=NOW)).result \
            is DecideResult.forbidden
    assert (await reviews.decide(session, CAMPAIGN, rnd.id, ADMIN, Verdict.accept, "  ", now=NOW)).result \
        is DecideResult.message_required
    assert (await reviews.decide(session, CAMPAIGN, 10**9, ADMIN, Verdict.accept, "好", now=NOW)).result \
        is DecideResult.missing
    assert (await stored(session, ReviewRound, rnd.id)).status == RoundStatus.reviewing
    assert (await stored(session, Submission, sub.id)).status == SubmissionStatus.under_review
    assert await reviews.feedback(session, CAMPAIGN, rnd.id) is None  # nothing decided: nothing to tell


async def _committed_complete_round(maker) -> int:
    async with maker.begin() as session:
        await _people(session)
        _, rnd = await _complete_round(session)
        return rnd.id


async def test_two_operators_deciding_at_once_one_wins(maker, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks: PostgreSQL only (SQLite serialises whole transactions)")
    round_id = await _committed_complete_round(maker)

    async def one(staff, verdict):
        async with maker.begin() as session:
            out = await reviews.decide(session, CAMPAIGN, round_id, staff, verdict, f"{staff.id} 的决定", now=NOW)
            await asyncio.sleep(0.2)  # hold the locks a while: the other one must wait, not interleave
            return out.result, out.round.decided_by

    results = await asyncio.gather(one(ADMIN, Verdict.accept), one(ADMIN2, Verdict.reject))
    assert sorted(r for r, _ in results) == [DecideResult.already_decided, DecideResult.decided]
    winner = next(by for r, by in results if r is DecideResult.decided)
    assert all(by == winner for _, by in results)  # the loser is told who decided
    async with maker() as session:
        assert await count(session, AuditEntry, AuditEntry.entity == "review_rounds", AuditEntry.to_status == "decided") == 1
        sub = (await session.execute(select(Submission))).scalar_one()
        assert sub.status == (SubmissionStatus.accepted if winner == ADMIN.id else SubmissionStatus.rejected)


async def test_two_reviews_at_once_exactly_one_completes_the_round(maker, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks: PostgreSQL only")
    async with maker.begin() as session:
        await _people(session)
        _, _, (a1, a2) = await make_round(session)

    async def one(asg, person):
        async with maker.begin() as session:
            out = await review(session, asg, person)
            await asyncio.sleep(0.2)
            return out.result, out.round_complete

    results = await asyncio.gather(one(a1, R1), one(a2, R2))
    assert [r for r, _ in results] == [ReviewResult.recorded, ReviewResult.recorded]
    assert sorted(c for _, c in results) == [False, True]


# --------------------------------------------------------------------------- disqualification


async def test_disqualify_stops_the_round_and_its_open_assignments_with_audit_rows(session):
    sub, rnd, (a1, a2) = await make_round(session)
    await review(session, a1, R1)
    assert (await reviews.disqualify(session, sub.id, R1, "抄袭", now=NOW)).result is DisqualifyResult.forbidden
    assert (await reviews.disqualify(session, sub.id, ADMIN, "  ", now=NOW)).result \
        is DisqualifyResult.reason_required
    assert (await stored(session, Submission, sub.id)).status == SubmissionStatus.under_review

    out = await reviews.disqualify(session, sub.id, ADMIN, "已在其他平台公开发表", now=NOW + timedelta(hours=1))
    assert out.result is DisqualifyResult.disqualified
    assert [a.reviewer_id for a in out.assignments_stopped] == [R2.id]
    assert (await stored(session, Submission, sub.id)).status == SubmissionStatus.disqualified
    assert (await stored(session, ReviewRound, rnd.id)).status == RoundStatus.stopped
    assert (await stored(session, ReviewAssignment, a1.id)).status == AssignmentStatus.submitted  # kept
    stopped = await stored(session, ReviewAssignment, a2.id)
    assert (stopped.status, stopped.closed_at) == (AssignmentStatus.stopped, NOW + timedelta(hours=1))
    for entity, row_id, change in (("submissions", sub.id, ("under_review", "disqualified")),
                                   ("review_rounds", rnd.id, ("reviewing", "stopped")),
                                   ("review_assignments", a2.id, ("assigned", "stopped"))):
        last = (await audit_of(session, entity, row_id))[-1]
        assert ((last.from_status, last.to_status), last.actor_id, last.reason) == (change, ADMIN.id, "已在其他平台公开发表")

    # afterwards: no review, no decision, no second disqualification
    assert (await review(session, a2, R2)).result is ReviewResult.disqualified
    assert (await reviews.decide(session, CAMPAIGN, rnd.id, ADMIN, Verdict.accept, "好", now=NOW)).result \
        is DecideResult.disqualified
    assert (await reviews.disqualify(session, sub.id, ADMIN, "again", now=NOW)).result is DisqualifyResult.already
    assert await count(session, Review) == 1


async def test_a_decided_application_can_still_be_disqualified_and_a_draft_cannot(session):
    sub, rnd = await _complete_round(session)
    await reviews.decide(session, CAMPAIGN, rnd.id, ADMIN, Verdict.accept, "祝贺入选", now=NOW)
    out = await reviews.disqualify(session, sub.id, ADMIN, "授权其他单位", now=NOW)
    assert out.result is DisqualifyResult.disqualified and out.rounds_stopped == []
    assert (await stored(session, ReviewRound, rnd.id)).status == RoundStatus.decided

    draft = Submission(user_id=CREATOR.id, kind="work", category="video", title="草稿", answers="{}")
    await transition(session, draft, SubmissionStatus.draft, actor_id=CREATOR.id)
    assert (await reviews.disqualify(session, draft.id, ADMIN, "x", now=NOW)).result is DisqualifyResult.not_allowed
    assert (await reviews.disqualify(session, 10**9, ADMIN, "x", now=NOW)).result is DisqualifyResult.missing
