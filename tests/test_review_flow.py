"""Expert review around the creator's application (issue 10): submitting opens a review round and
tells its reviewers; with nobody available it waits (operators told, withdrawing stops it, the job
or a new reviewer takes it); an operator taking the reviewer role away hands their open work to
others; 修改后再审 gives the creator a next round with the earlier round's files kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.jobs import reviews as review_jobs
from bot.services import reviews, rounds, submissions
from bot.services.users import Person, Role, grant_role, upsert_user
from storage.models import AuditEntry, ReviewAssignment, ReviewRound, Submission, SubmissionFile, UserRole
from storage.statuses import AssignmentStatus, RoundStatus, SubmissionStatus, Verdict
from tests import test_submissions
from tests.conftest import ADMIN_ID
from tests.media import make_docx
from tests.test_submissions import IN_WINDOW, save_draft, submit

creator = test_submissions.creator  # the fixture: Alice, approved, the clock inside the window

R1, R2 = 7101, 7102
ADMIN = Person(ADMIN_ID, "Boss", frozenset({Role.creator, Role.admin}))


async def make_reviewer(app, uid: int, name: str, *, unit: str = "某研究所") -> Person:
    async with app.sessionmaker.begin() as session:
        await upsert_user(session, uid, first_name=name)
        await session.flush()
        await grant_role(session, uid, Role.reviewer, ADMIN_ID)
        who = Person(uid, name, frozenset({Role.creator, Role.reviewer}))
        from bot.services.reviewers import save_profile
        await save_profile(session, app.campaign, who, fields=["rumours"], other_fields="", unit=unit)
    return who


async def submitted_article(alice, tmp_path, title: str = "光的折射") -> int:
    sub_id = await save_draft(alice, "图文", title=title)
    await alice.upload(make_docx(tmp_path / f"{title}.docx", 1500))
    await submit(alice)
    return sub_id


async def one(app, model, *where):
    async with app.sessionmaker() as session:
        return (await session.execute(select(model).where(*where))).scalars().all()


async def test_submitting_opens_a_round_and_tells_its_reviewers(app, chat, creator, tmp_path):
    alice = creator
    await make_reviewer(app, R1, "评审甲")
    await make_reviewer(app, R2, "评审乙")
    sub_id = await submitted_article(alice, tmp_path)
    assert "评审专家已开始评审" in alice.last_text

    (sub,) = await one(app, Submission, Submission.id == sub_id)
    assert sub.status == SubmissionStatus.under_review and sub.round == 1
    (rnd,) = await one(app, ReviewRound, ReviewRound.submission_id == sub_id)
    assert (rnd.number, rnd.status) == (1, RoundStatus.reviewing)
    rows = await one(app, ReviewAssignment, ReviewAssignment.round_id == rnd.id)
    assert sorted(a.reviewer_id for a in rows) == [R1, R2]
    assert {a.due_at - a.assigned_at for a in rows} == {timedelta(days=7)}
    for uid in (R1, R2):
        told = chat.tg.sent[uid][-1]
        assert "新的评审任务" in told.text and f"#{sub_id}「光的折射」" in told.text
        assert told.labels == ["📝 查看评审任务"]
    # under review: no withdrawing any more (the card offers no 撤回; a forged press changes nothing)
    await alice.press("查看", data=f"s:{sub_id}:withdraw")
    (sub,) = await one(app, Submission, Submission.id == sub_id)
    assert sub.status == SubmissionStatus.under_review


async def test_one_reviewer_of_two_the_operators_are_told_the_round_is_short(app, chat, creator, tmp_path):
    """Only one reviewer can be found: the round starts with them, and the operators' notice says one
    is still missing, with a button to the round (before, nothing said so until /review_queue)."""
    alice, boss = creator, chat.user(ADMIN_ID, "Boss")
    await make_reviewer(app, R1, "评审甲")
    sub_id = await submitted_article(alice, tmp_path)
    assert "评审专家已开始评审" in alice.last_text
    notice = boss.last_text
    assert f"新申报 #{sub_id}" in notice and "还缺 <b>1</b> 位" in notice and "查看评审汇总" in " ".join(boss.last.labels)
    await boss.press("查看评审汇总")
    assert "还缺 1 位评审专家" in boss.last_text and "评审甲" in boss.last_text
    assert any("增派评审专家（还缺 1 位）" in label for label in boss.last.labels)


async def test_no_reviewer_the_round_waits_then_withdrawing_stops_it(app, chat, creator, tmp_path):
    alice, boss = creator, chat.user(ADMIN_ID, "Boss")
    sub_id = await submitted_article(alice, tmp_path)
    assert "等待分配评审专家" in alice.last_text
    (rnd,) = await one(app, ReviewRound, ReviewRound.submission_id == sub_id)
    assert rnd.status == RoundStatus.waiting
    assert "没有可分配的评审专家" in boss.last_text and f"#{sub_id}" in boss.last_text
    await boss.press("查看评审汇总")  # the notice's button: the round, with what can be done for it
    assert "还缺 2 位评审专家" in boss.last_text and "增派评审专家（还缺 2 位）" in " ".join(boss.last.labels)
    await boss.send("/start")
    assert "评审待办（待分配评审专家或待决定）：<b>1</b>" in boss.last_text
    assert "📊 评审待办 1" in boss.history[-1].labels

    await alice.press("查看", data=f"s:{sub_id}:open")
    await alice.press("撤回")
    await alice.press("确认撤回")
    (sub,) = await one(app, Submission, Submission.id == sub_id)
    (rnd,) = await one(app, ReviewRound, ReviewRound.submission_id == sub_id)
    assert (sub.status, rnd.status) == (SubmissionStatus.withdrawn, RoundStatus.stopped)
    trail = await one(app, AuditEntry, AuditEntry.entity == "review_rounds", AuditEntry.entity_id == rnd.id)
    assert [(e.from_status, e.to_status, e.reason) for e in trail][-1] == ("waiting", "stopped", "withdrawn")


async def test_the_job_gives_waiting_rounds_to_reviewers_who_joined(app, chat, creator, tmp_path):
    sub_id = await submitted_article(creator, tmp_path)
    async with app.sessionmaker.begin() as session:  # a reviewer who never set a profile
        await upsert_user(session, R1, first_name="评审甲")
        await session.flush()
        await grant_role(session, R1, Role.reviewer, ADMIN_ID)
    assert await review_jobs.assign_waiting(app.sessionmaker, IN_WINDOW, campaign=app.campaign, texts=app.texts) == 1
    assert await review_jobs.assign_waiting(app.sessionmaker, IN_WINDOW, campaign=app.campaign, texts=app.texts) == 0
    (rnd,) = await one(app, ReviewRound, ReviewRound.submission_id == sub_id)
    (asg,) = await one(app, ReviewAssignment, ReviewAssignment.round_id == rnd.id)
    assert (rnd.status, asg.reviewer_id, asg.status) == (RoundStatus.reviewing, R1, AssignmentStatus.assigned)
    (sub,) = await one(app, Submission, Submission.id == sub_id)
    assert sub.status == SubmissionStatus.under_review
    await app.dispatcher["outbox"].drain(chat.bot)
    assert "新的评审任务" in chat.tg.sent[R1][-1].text


async def test_taking_the_reviewer_role_away_hands_their_work_to_others(app, chat, creator, tmp_path):
    boss = chat.user(ADMIN_ID, "Boss")
    await make_reviewer(app, R1, "评审甲")
    await make_reviewer(app, R2, "评审乙")
    app.campaign.review.__dict__["reviewers"] = 1  # one reviewer per round here
    try:
        sub_id = await submitted_article(creator, tmp_path)
        (rnd,) = await one(app, ReviewRound, ReviewRound.submission_id == sub_id)
        (first,) = await one(app, ReviewAssignment, ReviewAssignment.round_id == rnd.id)
        leaving, staying = first.reviewer_id, ({R1, R2} - {first.reviewer_id}).pop()

        await boss.send("/revoke 12 nobody")
        assert "用法" in boss.last_text
        await boss.send(f"/revoke {leaving} reviewer")
        assert "已取消" in boss.last_text and "1 项评审任务已改派" in boss.last_text
        assert await one(app, UserRole, UserRole.user_id == leaving) == []
        rows = {a.reviewer_id: a for a in await one(app, ReviewAssignment, ReviewAssignment.round_id == rnd.id)}
        assert (rows[leaving].status, rows[staying].status) == (AssignmentStatus.reassigned, AssignmentStatus.assigned)
        assert "已停止" in chat.tg.sent[leaving][-1].text and "评审专家身份已取消" in chat.tg.sent[leaving][-1].text
        assert "新的评审任务" in chat.tg.sent[staying][-1].text
        trail = await one(app, AuditEntry, AuditEntry.entity == "review_assignments",
                          AuditEntry.entity_id == rows[leaving].id)
        assert [(e.to_status, e.actor_id) for e in trail][-1] == ("reassigned", ADMIN_ID)

        await boss.send(f"/revoke {leaving} reviewer")  # again: nothing to take
        assert "并不是" in boss.last_text
        # a stranger may not
        stranger = chat.user(5555, "Mallory")
        await stranger.send(f"/revoke {staying} reviewer")
        assert len(await one(app, UserRole, UserRole.user_id == staying)) == 1
    finally:
        app.campaign.review.__dict__["reviewers"] = 2


async def decide_through_services(app, sub_id: int, verdict: Verdict, message: str, now) -> int:
    """Both reviewers review round `sub.round` and an operator decides (the services the chat uses)."""
    async with app.sessionmaker.begin() as session:
        sub = await session.get(Submission, sub_id)
        rnd = await rounds.round_of(session, sub_id, sub.round)
        for asg in await rounds.assignments_of(session, rnd.id):
            who = Person(asg.reviewer_id, "R", frozenset({Role.creator, Role.reviewer}))
            out = await reviews.record_review(session, app.campaign, asg.id, who,
                                              scores={c.id: 3 + (asg.reviewer_id == R1) for c in app.campaign.criteria},
                                              comment=f"专家{asg.reviewer_id}：请补充实验数据。", staff_note=None,
                                              recommendation=verdict, now=now)
            assert out.result is reviews.ReviewResult.recorded
        out = await reviews.decide(session, app.campaign, rnd.id, ADMIN, verdict, message, now=now)
        assert out.result is reviews.DecideResult.decided
        from bot import notices
        await notices.decided(session, app.texts, app.campaign, rnd.id)
        return rnd.id


async def test_revise_then_a_second_round_with_a_replaced_file(app, chat, creator, tmp_path):
    alice = creator
    await make_reviewer(app, R1, "评审甲")
    await make_reviewer(app, R2, "评审乙")
    sub_id = await submitted_article(alice, tmp_path)
    await decide_through_services(app, sub_id, Verdict.revise, "请补充实验数据后再提交。", IN_WINDOW)
    await app.dispatcher["outbox"].drain(chat.bot)

    told = alice.history[-1]
    assert "修改后再审" in told.text and "请补充实验数据后再提交。" in told.text
    assert "科学性：3.5" in told.text and "评审专家1：" in told.text and "请补充实验数据。" in told.text
    assert "评审甲" not in told.text  # anonymous by default
    assert told.labels[0] == "✏️ 开始修改（第 2 轮）"  # then the lessons recommended for the weakest criterion

    await alice.press("开始修改")
    card = alice.last_text
    assert "修改后再审" in card and "第 2 轮" in card and "请补充实验数据后再提交。" in card
    assert "提交第 2 轮评审" in " ".join(alice.history[-1].labels) and "第 1 轮评审意见" in " ".join(alice.history[-1].labels)
    await alice.press("第 1 轮评审意见")
    assert "请补充实验数据。" in alice.last_text

    await alice.press("查看", data=f"s:{sub_id}:open")
    await alice.press("上传新版本")
    await alice.upload(make_docx(tmp_path / "修改版.docx", 1600))
    if "替换" in alice.last_text and any("替换" in label for label in alice.history[-1].labels):
        await alice.press("替换")
    await alice.press("查看", data=f"s:{sub_id}:open")
    await alice.press("提交第 2 轮评审")
    if "确定要提交" in alice.last_text:
        await alice.press("确认提交申报")
    assert "第 2 轮已提交" in alice.last_text

    async with app.sessionmaker() as session:
        sub = await session.get(Submission, sub_id)
        assert (sub.status, sub.round) == (SubmissionStatus.under_review, 2)
        first = await submissions.files_of_round(session, sub_id, 1)
        second = await submissions.files_of_round(session, sub_id, 2)
        r1, r2 = await rounds.rounds_of(session, sub_id)
        assert (r1.status, r1.decision, r2.status) == (RoundStatus.decided, Verdict.revise, RoundStatus.reviewing)
        assert len(await rounds.assignments_of(session, r2.id)) == 2
    assert [f.file_name for f in first] == ["光的折射.docx"]
    assert [f.file_name for f in second] == ["修改版.docx"]

    await decide_through_services(app, sub_id, Verdict.accept, "修改到位，入选。", IN_WINDOW)
    await app.dispatcher["outbox"].drain(chat.bot)
    assert "入选" in alice.last_text and "第 2 轮" in alice.last_text
    async with app.sessionmaker() as session:
        assert (await session.get(Submission, sub_id)).status == SubmissionStatus.accepted
    await alice.send("/mywork")
    await alice.press("光的折射")
    assert "第 1 轮：✏️ 修改后再审" in alice.last_text and "第 2 轮：🎉 入选" in alice.last_text


@pytest.mark.parametrize("status", [SubmissionStatus.accepted, SubmissionStatus.rejected])
async def test_files_of_a_decided_application_can_not_change(app, status):
    from bot.services.policy import Action, can
    sub = Submission(user_id=1001, status=status)
    alice = Person(1001, "Alice", frozenset({Role.creator}))
    assert not can(alice, Action.change_files, sub) and not can(alice, Action.edit_submission, sub)
    assert not can(alice, Action.submit_submission, sub) and not can(alice, Action.withdraw_submission, sub)
    assert SubmissionFile  # the files stay as the round's record


async def test_a_reviewer_who_deletes_their_data_hands_their_open_reviews_on(app, chat, creator, tmp_path):
    await make_reviewer(app, R1, "评审甲")
    await make_reviewer(app, R2, "评审乙")
    app.campaign.review.__dict__["reviewers"] = 1
    try:
        sub_id = await submitted_article(creator, tmp_path)
        (rnd,) = await one(app, ReviewRound, ReviewRound.submission_id == sub_id)
        (first,) = await one(app, ReviewAssignment, ReviewAssignment.round_id == rnd.id)
        leaving, staying = first.reviewer_id, ({R1, R2} - {first.reviewer_id}).pop()
        person = chat.user(leaving, "评审")
        await person.send("/deletedata")
        await person.press("确认删除")
        rows = {a.reviewer_id: a for a in await one(app, ReviewAssignment, ReviewAssignment.round_id == rnd.id)}
        assert (rows[leaving].status, rows[staying].status) == (AssignmentStatus.reassigned, AssignmentStatus.assigned)
        assert "新的评审任务" in chat.tg.sent[staying][-1].text
        assert not any("已停止" in m.text for m in chat.tg.sent[leaving])  # nothing more is sent to them
        from storage.models import ReviewerProfile
        assert await one(app, ReviewerProfile, ReviewerProfile.user_id == leaving) == []
    finally:
        app.campaign.review.__dict__["reviewers"] = 2


async def test_feedback_to_a_creator_who_blocked_the_bot_is_recorded_not_a_crash(app, chat, creator, tmp_path):
    from storage.models import OutboxMessage
    from storage.statuses import OutboxStatus
    await make_reviewer(app, R1, "评审甲")
    await make_reviewer(app, R2, "评审乙")
    sub_id = await submitted_article(creator, tmp_path)
    chat.tg.blocked.add(creator.id)
    before = len(creator.history)
    await decide_through_services(app, sub_id, Verdict.reject, "与本期选题方向不符。", IN_WINDOW)
    await app.dispatcher["outbox"].drain(chat.bot)
    rows = [r for r in await one(app, OutboxMessage, OutboxMessage.chat_id == creator.id) if "评审结果" in r.payload]
    assert [r.status for r in rows] == [OutboxStatus.failed] and "blocked" in (rows[0].last_error or "")
    assert len(creator.history) == before
    async with app.sessionmaker() as session:  # the decision stands
        assert (await session.get(Submission, sub_id)).status == SubmissionStatus.rejected
    # the operators' side still works
    await chat.user(ADMIN_ID, "Boss").send("/submissions")
    assert "不入选" in chat.user(ADMIN_ID, "Boss").last_text
