"""The operators' side of expert review in the chat (issue 10, parts 2, 4, 6, 7): /review_queue, a
round's summary with its flags, the decision form (and two operators deciding at once), reassigning
(a pick, a conflict refused), /submissions with filters and paging, the operators' application card
with its rounds and audit trail, disqualifying, /export read back with openpyxl; and buttons forged
or pressed by people who are not operators."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.callbacks import ListAction, RoundAction, RoundCB, StaffAction, StaffSubCB, SubListCB
from bot.services import reviewers, reviews, rounds
from bot.services.listing import Filters
from bot.services.transitions import transition
from bot.services.users import Person, Role, grant_role, upsert_user
from storage.models import (
    AuditEntry,
    OutboxMessage,
    ReviewAssignment,
    ReviewRound,
    Submission,
    SubmissionFile,
    utcnow,
)
from storage.statuses import AssignmentStatus, RoundStatus, SubmissionStatus, Verdict
from tests.conftest import ADMIN_ID, approve_creator

CREATOR, OTHER = 1001, 1002
R1, R2, R3, R4 = 2001, 2002, 2003, 2004
OP2 = 9002  # a second operator (granted the admin role)
NOW = utcnow().replace(microsecond=0)
STAFF = Person(ADMIN_ID, "Admin", frozenset({Role.creator, Role.admin}))


def plain(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def reviewer_person(uid: int) -> Person:
    return Person(uid, f"R{uid}", frozenset({Role.creator, Role.reviewer}))


async def make_reviewer(session, campaign, uid: int, unit: str) -> None:
    await upsert_user(session, uid, first_name=f"R{uid}")
    await session.flush()
    await grant_role(session, uid, Role.reviewer, ADMIN_ID)
    await reviewers.save_profile(session, campaign, reviewer_person(uid), fields=["frontier_tech"], other_fields="",
                                 unit=unit)


async def submit(app, chat, title: str, *, user_id: int = CREATOR, category: str = "article",
                 at=NOW, open_round: bool = True) -> int:
    """An application taken to submitted (one checked file) at `at`, its round opened as submit does."""
    async with app.sessionmaker.begin() as session:
        answers = {"kind": "work", "category": category, "title": title, "direction": "frontier_tech",
                   "summary": "用动画讲清光的折射", "declaration": "yes"}
        sub = Submission(user_id=user_id, kind="work", category=category, title=title,
                         answers=json.dumps(answers, ensure_ascii=False), created_at=at, updated_at=at)
        await transition(session, sub, SubmissionStatus.draft, actor_id=user_id, now=at)
        sub.submitted_at = at
        await transition(session, sub, SubmissionStatus.submitted, actor_id=user_id, now=at)
        file_id, unique = chat.tg.store_file(f"{title}.docx".encode(), f"{title}.docx")
        session.add(SubmissionFile(submission_id=sub.id, file_id=file_id, file_unique_id=unique,
                                   file_name=f"{title}.docx", file_size=2048, sent_as="document",
                                   check_status="passed"))
        await session.flush()
        if open_round:
            await rounds.open_round(session, app.campaign, sub, now=at, actor_id=user_id)
        return sub.id


async def round_of(app, sub_id: int, number: int = 1) -> ReviewRound:
    async with app.sessionmaker() as session:
        return await rounds.round_of(session, sub_id, number)


async def assignments(app, round_id: int) -> dict[int, ReviewAssignment]:
    async with app.sessionmaker() as session:
        return {a.reviewer_id: a for a in await rounds.assignments_of(session, round_id)}


async def review(app, sub_id: int, reviewer_id: int, scores: dict[str, int], rec: Verdict, comment: str,
                 note: str | None = None) -> None:
    rnd = await round_of(app, sub_id)
    asg = (await assignments(app, rnd.id))[reviewer_id]
    async with app.sessionmaker.begin() as session:
        out = await reviews.record_review(session, app.campaign, asg.id, reviewer_person(reviewer_id),
                                          scores=scores, comment=comment, staff_note=note, recommendation=rec,
                                          now=NOW)
        assert out.result is reviews.ReviewResult.recorded


def scores(app, first: int, rest: int) -> dict[str, int]:
    ids = [c.id for c in app.campaign.criteria]
    return {cid: (first if i == 0 else rest) for i, cid in enumerate(ids)}


async def reviewed(app, sub_id: int) -> None:
    """Both reviewers' reviews in: they disagree on 科学性 (1 and 5) and on the recommendation."""
    await review(app, sub_id, R1, scores(app, 1, 4), Verdict.revise, "实验部分需要补充数据。", note="作者曾获奖")
    await review(app, sub_id, R2, scores(app, 5, 3), Verdict.accept, "讲解生动，结构清晰。")


async def outbox_to(app, chat_id: int) -> list[str]:
    async with app.sessionmaker() as session:
        rows = (await session.execute(select(OutboxMessage).where(OutboxMessage.chat_id == chat_id)
                                      .order_by(OutboxMessage.id))).scalars()
        return [json.loads(r.payload).get("text", "") for r in rows]


async def audit(app, entity: str, entity_id: int) -> list[tuple]:
    async with app.sessionmaker() as session:
        rows = (await session.execute(select(AuditEntry).where(AuditEntry.entity == entity,
                                                               AuditEntry.entity_id == entity_id)
                                      .order_by(AuditEntry.id))).scalars()
        return [(e.from_status, e.to_status, e.actor_id, e.reason) for e in rows]


async def fetch(app, model, id_: int):
    async with app.sessionmaker() as session:
        return await session.get(model, id_)


@pytest.fixture
async def world(app, chat):
    """The creator (registered, 单位 某大学), two operators, reviewers R1 and R2 (other units) and R3
    (某大学: a conflict of interest with the creator), and an application assigned to R1 and R2."""
    app.dispatcher["clock"] = lambda: NOW
    await approve_creator(app.sessionmaker, CREATOR)
    async with app.sessionmaker.begin() as session:
        await upsert_user(session, ADMIN_ID, first_name="Admin")
        await upsert_user(session, OP2, first_name="Bo")
        await session.flush()
        await grant_role(session, OP2, Role.admin, ADMIN_ID)
        for uid, unit in ((R1, "研究所甲"), (R2, "研究所乙")):
            await make_reviewer(session, app.campaign, uid, unit)
    sub_id = await submit(app, chat, "光的折射")
    async with app.sessionmaker.begin() as session:
        await make_reviewer(session, app.campaign, R3, "某大学")
    rnd = await round_of(app, sub_id)
    assert set(await assignments(app, rnd.id)) == {R1, R2}
    return sub_id


# ---------------------------------------------------------------- /review_queue


async def test_the_queue_shows_what_waits_for_reviewers_for_reviews_and_for_a_decision(app, chat):
    app.dispatcher["clock"] = lambda: NOW
    await approve_creator(app.sessionmaker, CREATOR)
    waiting = await submit(app, chat, "没人评审的作品", at=NOW - timedelta(days=3))  # no reviewer exists yet
    async with app.sessionmaker.begin() as session:
        for uid, unit in ((R1, "研究所甲"), (R2, "研究所乙")):
            await make_reviewer(session, app.campaign, uid, unit)
    decided_soon = await submit(app, chat, "评审已齐的作品")
    await reviewed(app, decided_soon)
    open_ = await submit(app, chat, "评审中的作品", at=NOW - timedelta(days=9))  # due 7 days after: overdue

    boss = chat.user(ADMIN_ID, "Admin")
    (sent,) = await boss.send("/review_queue")
    text = plain(sent.text)
    short_part, rest = text.split("评审中（", 1)
    open_part, decide_part = rest.split("待决定（", 1)
    assert "等待分配评审（1）" in short_part and "没人评审的作品" in short_part and "还缺 2 位评审" in short_part
    assert "已等 3天" in short_part
    assert "评审中的作品" in open_part and open_part.count("⚠️ 已逾期") == 2 and "R2001" in open_part
    assert "评审已齐的作品" in decide_part and "2 份评审已齐" in decide_part
    assert boss.rendered("review_staff/queue")
    assert len(sent.buttons) == 3  # a button per round
    # each button opens its round's summary
    await boss.press("没人评审的作品")
    assert "还没有收到评审意见" in plain(boss.last_text)
    rnd = await round_of(app, waiting)
    assert rnd.status == RoundStatus.waiting and (await round_of(app, open_)).status == RoundStatus.reviewing


# ---------------------------------------------------------------- a round's summary and the decision


async def test_the_round_summary_flags_disagreement_and_the_decision_reaches_the_creator(app, chat, world):
    sub_id = world
    await reviewed(app, sub_id)
    rnd = await round_of(app, sub_id)
    boss = chat.user(ADMIN_ID, "Admin")
    await boss.send("/review_queue")
    await boss.press("光的折射")
    summary = plain(boss.last_text)
    assert "⚠️ 科学性：3.0 · 分差 4（1 / 5）" in summary
    assert "⚠️ 评审意见分歧：科学性" in summary
    assert "入选 1 · 修改后再审 1 · 不入选 0" in summary
    assert "评审专家1：R2001" in summary and "实验部分需要补充数据" in summary and "作者曾获奖" in summary
    assert "评审专家2：R2002" in summary and "讲解生动" in summary
    assert boss.last.labels[0] == "⚖️ 做出决定" and "📂 查看申报" in boss.last.labels

    await boss.press("做出决定")
    assert "为申报" in plain(boss.history[-3].text)  # the context, the form's intro, its first question
    await boss.press("修改后再审")
    await boss.send("请补充实验数据，并把结尾讲清楚。")
    assert "请核对" in boss.last_text
    await boss.press("确认决定")
    assert boss.rendered("review_staff/decided")
    assert "修改后再审" in plain(boss.last_text)

    rnd = await fetch(app, ReviewRound, rnd.id)
    sub = await fetch(app, Submission, sub_id)
    assert (rnd.status, rnd.decision, rnd.decided_by) == (RoundStatus.decided, Verdict.revise, ADMIN_ID)
    assert rnd.decision_message == "请补充实验数据，并把结尾讲清楚。" and rnd.revise_until is not None
    assert sub.status == SubmissionStatus.revise
    assert (await audit(app, "review_rounds", rnd.id))[-1] == ("reviewing", "decided", ADMIN_ID,
                                                                "请补充实验数据，并把结尾讲清楚。")
    assert (await audit(app, "submissions", sub_id))[-1] == ("under_review", "revise", ADMIN_ID,
                                                              "请补充实验数据，并把结尾讲清楚。")
    (feedback,) = await outbox_to(app, CREATOR)
    text = plain(feedback)
    assert "请补充实验数据" in text and "科学性" in text and "3.0" in text
    assert "实验部分需要补充数据" in text and "讲解生动" in text
    assert "R2001" not in text and "作者曾获奖" not in text  # anonymous, no staff notes


async def test_two_operators_deciding_at_once_one_wins_and_the_other_is_told(app, chat, world):
    sub_id = world
    await reviewed(app, sub_id)
    rnd = await round_of(app, sub_id)
    boss, bo = chat.user(ADMIN_ID, "Admin"), chat.user(OP2, "Bo")
    data = RoundCB(id=rnd.id, action=RoundAction.decide).pack()
    for op, verdict, words in ((boss, "入选", "祝贺入选。"), (bo, "不入选", "很遗憾。")):
        await op.press("", data=data)
        await op.press(verdict)
        await op.send(words)
    await boss.press("确认决定")
    await bo.press("确认决定")
    assert bo.rendered("review_staff/decide_refused", result="already_decided", decision="accept")
    assert "另一位工作人员已作出决定：入选（Admin）" in plain(bo.last_text)
    rnd = await fetch(app, ReviewRound, rnd.id)
    assert (rnd.decision, rnd.decided_by, rnd.decision_message) == (Verdict.accept, ADMIN_ID, "祝贺入选。")
    assert (await fetch(app, Submission, sub_id)).status == SubmissionStatus.accepted
    assert [t for _, t, _, _ in await audit(app, "review_rounds", rnd.id)].count("decided") == 1
    assert len(await outbox_to(app, CREATOR)) == 1
    # the decide button pressed again afterwards: told, no form
    await bo.press("", data=data)
    assert "另一位工作人员已作出决定：入选" in plain(bo.last_text)


async def test_deciding_before_the_reviews_are_in_is_refused(app, chat, world):
    sub_id = world
    await review(app, sub_id, R1, scores(app, 4, 4), Verdict.accept, "好")
    rnd = await round_of(app, sub_id)
    boss = chat.user(ADMIN_ID, "Admin")
    await boss.press("", data=RoundCB(id=rnd.id, action=RoundAction.open).pack())
    assert "⚖️ 做出决定" not in boss.last.labels and "R2002 · 截止" in plain(boss.last_text)
    await boss.press("", data=RoundCB(id=rnd.id, action=RoundAction.decide).pack())
    assert "评审还没有到齐（已收到 1 份，还待 1 份）" in plain(boss.last_text)
    assert (await fetch(app, ReviewRound, rnd.id)).status == RoundStatus.reviewing


async def test_creators_and_reviewers_forging_operator_buttons_are_refused(app, chat, world):
    sub_id = world
    await reviewed(app, sub_id)
    rnd = await round_of(app, sub_id)
    asg = (await assignments(app, rnd.id))[R1]
    forged = [RoundCB(id=rnd.id, action=RoundAction.open).pack(),
              RoundCB(id=rnd.id, action=RoundAction.decide).pack(),
              RoundCB(id=rnd.id, action=RoundAction.reassign, arg=str(asg.id)).pack(),
              RoundCB(id=rnd.id, action=RoundAction.pick, arg=f"{asg.id}-{R3}").pack(),
              RoundCB(id=rnd.id, action=RoundAction.add).pack(),
              RoundCB(id=rnd.id, action=RoundAction.add_pick, arg="0").pack(),
              StaffSubCB(id=sub_id, action=StaffAction.open).pack(),
              StaffSubCB(id=sub_id, action=StaffAction.audit, arg="0").pack(),
              StaffSubCB(id=sub_id, action=StaffAction.disqualify).pack(),
              SubListCB(q="-", action=ListAction.page, arg="1").pack()]
    for uid in (CREATOR, R1):
        who = chat.user(uid)
        for data in forged:
            before = len(who.history)
            await who.press("", data=data)
            assert who.last_alert == "这个功能仅限工作人员使用。", data
            assert len(who.history) == before  # nothing shown
    assert (await fetch(app, ReviewRound, rnd.id)).status == RoundStatus.reviewing
    assert (await fetch(app, Submission, sub_id)).status == SubmissionStatus.under_review
    assert {a.status for a in (await assignments(app, rnd.id)).values()} == {AssignmentStatus.submitted}
    # an operator's button naming a round that does not exist: stale, nothing else
    boss = chat.user(ADMIN_ID, "Admin")
    await boss.press("", data=RoundCB(id=99999, action=RoundAction.open).pack())
    assert "按钮已经失效" in boss.last_alert


# ---------------------------------------------------------------- reassigning


async def test_reassigning_to_a_picked_reviewer_and_a_conflict_refused(app, chat, world):
    sub_id = world
    async with app.sessionmaker.begin() as session:
        await make_reviewer(session, app.campaign, R4, "研究所丁")
    rnd = await round_of(app, sub_id)
    old = await assignments(app, rnd.id)
    boss = chat.user(ADMIN_ID, "Admin")
    await boss.press("", data=RoundCB(id=rnd.id, action=RoundAction.open).pack())
    await boss.press("改派：R2002")
    pick = plain(boss.last_text)
    assert "现由 R2002 评审" in pick and "R2003：与申报人同单位" in pick
    assert any("R2004" in label for label in boss.last.labels) and not any("R2003" in x for x in boss.last.labels)

    # a forged pick of the conflicting reviewer: refused, named, nothing changed
    await boss.press("", data=RoundCB(id=rnd.id, action=RoundAction.pick, arg=f"{old[R2].id}-{R3}").pack())
    assert "不能改派给 R2003：与申报人同单位" in plain(boss.last_text)
    assert (await assignments(app, rnd.id)).keys() == {R1, R2}
    assert (await fetch(app, ReviewAssignment, old[R2].id)).status == AssignmentStatus.assigned

    await boss.press("R2004")
    assert "新的评审专家：R2004" in plain(boss.last_text)
    now = await assignments(app, rnd.id)
    assert now[R2].status == AssignmentStatus.reassigned and now[R4].status == AssignmentStatus.assigned
    assert (await audit(app, "review_assignments", old[R2].id))[-1][:3] == ("assigned", "reassigned", ADMIN_ID)
    assert any("光的折射" in t for t in await outbox_to(app, R2))  # told it was taken away
    assert any("光的折射" in t for t in await outbox_to(app, R4))  # told it is theirs
    # the old button again: the assignment is no longer open
    await boss.press("", data=RoundCB(id=rnd.id, action=RoundAction.pick, arg=f"{old[R2].id}-{R4}").pack())
    assert "这份评审任务已经结束" in plain(boss.last_text)


async def test_reassigning_to_the_next_one_found(app, chat, world):
    sub_id = world
    async with app.sessionmaker.begin() as session:
        await make_reviewer(session, app.campaign, R4, "研究所丁")
    rnd = await round_of(app, sub_id)
    asg = (await assignments(app, rnd.id))[R1]
    boss = chat.user(ADMIN_ID, "Admin")
    await boss.press("", data=RoundCB(id=rnd.id, action=RoundAction.reassign, arg=str(asg.id)).pack())
    await boss.press("自动分配")
    assert "新的评审专家：R2004" in plain(boss.last_text)  # R3 has a conflict
    assert (await assignments(app, rnd.id))[R4].status == AssignmentStatus.assigned


async def test_a_round_short_of_a_reviewer_gets_one_added_by_an_operator(app, chat, world):
    """R2 declines and nobody can replace them (R3 has a conflict): the round's card says it is short
    and offers 增派评审专家 (before: only 查看申报, and "评审到齐后才能做出决定"). With nobody to add,
    an invitation; once R4 joins, the operator adds them; a forged pick of R3 is refused."""
    sub_id = world
    rnd = await round_of(app, sub_id)
    async with app.sessionmaker.begin() as session:
        out = await rounds.decline(session, app.campaign, (await assignments(app, rnd.id))[R2].id,
                                   reviewer_person(R2), "出差，无法按时完成", now=NOW)
        assert out.replacement is None  # R3: same unit as the creator
    boss = chat.user(ADMIN_ID, "Admin")
    await boss.press("", data=RoundCB(id=rnd.id, action=RoundAction.open).pack())
    assert "还缺 1 位评审专家" in plain(boss.last_text) and "增派评审专家（还缺 1 位）" in " ".join(boss.last.labels)
    await boss.press("增派评审专家")
    offer = plain(boss.last_text)
    assert "目前没有可以增派的评审专家" in offer and "R2003：与申报人同单位" in offer
    assert any("邀请新的评审专家" in label for label in boss.last.labels)

    async with app.sessionmaker.begin() as session:
        await make_reviewer(session, app.campaign, R4, "研究所丁")  # joined; the job has not run yet
    await boss.press("返回评审轮次")
    await boss.press("增派评审专家")
    assert "这一轮还缺 1 位评审专家" in plain(boss.last_text)
    assert any("R2004" in label for label in boss.last.labels) and not any("R2003" in x for x in boss.last.labels)
    await boss.press("", data=RoundCB(id=rnd.id, action=RoundAction.add_pick, arg=str(R3)).pack())  # forged
    assert "不能增派 R2003：与申报人同单位" in plain(boss.last_text)
    assert R3 not in await assignments(app, rnd.id)

    await boss.press("", data=RoundCB(id=rnd.id, action=RoundAction.add).pack())
    await boss.press("R2004")
    assert f"已为申报 #{sub_id}（第1轮）增派评审专家：R2004" in plain(boss.last_text)
    now = await assignments(app, rnd.id)
    assert now[R4].status == AssignmentStatus.assigned and now[R2].status == AssignmentStatus.declined
    assert (await audit(app, "review_assignments", now[R4].id))[-1][1:3] == ("assigned", ADMIN_ID)
    assert any("新的评审任务" in t and "光的折射" in t for t in await outbox_to(app, R4))
    async with app.sessionmaker() as session:
        assert (await session.get(ReviewRound, rnd.id)).active_count == 2
    # full now: no offer on the card, and the old button says so
    await boss.press("返回评审轮次")
    assert "还缺" not in plain(boss.last_text) and not any("增派" in x for x in boss.last.labels)
    await boss.press("", data=RoundCB(id=rnd.id, action=RoundAction.add_pick, arg="0").pack())
    assert "评审专家已经齐了，无需增派" in plain(boss.last_text)
    assert len(await assignments(app, rnd.id)) == 3


# ---------------------------------------------------------------- /submissions


async def test_submissions_are_listed_newest_first_with_filters_and_pages(app, chat, world):
    sub_id = world
    ids = [await submit(app, chat, f"作品{i}", at=NOW - timedelta(hours=i), open_round=False) for i in range(1, 9)]
    old = await submit(app, chat, "老作品", category="video", at=NOW - timedelta(days=20), open_round=False)
    async with app.sessionmaker.begin() as session:  # a draft: never listed
        draft = Submission(user_id=CREATOR, kind="work", category="article", title="草稿", answers="{}")
        await transition(session, draft, SubmissionStatus.draft, actor_id=CREATOR, now=NOW)
    boss = chat.user(ADMIN_ID, "Admin")
    (sent,) = await boss.send("/submissions")
    text = plain(sent.text)
    assert "共 10 份" in text and "第 1/2 页" in text and "草稿" not in text
    # newest activity first: the one under review (its last change now), then 作品1 …
    assert text.index("光的折射") < text.index("作品1") < text.index("作品7")
    assert "Alice · 图文 · 评审中 · 第1轮" in text
    assert f"#{sub_id}" in sent.labels[0]
    await boss.press("下一页")
    page2 = plain(boss.last_text)
    assert "第 2/2 页" in page2 and "老作品" in page2 and "作品8" in page2 and "作品1" not in page2

    await boss.press("状态：全部")
    await boss.press("评审中")
    filtered = plain(boss.last_text)
    assert "共 1 份" in filtered and "光的折射" in filtered
    assert "状态：评审中" in boss.last.labels
    await boss.press("类别：全部")
    await boss.press("视频")
    assert "没有符合筛选条件的申报" in plain(boss.last_text)
    await boss.press("清除筛选")
    await boss.press("等待：全部")
    await boss.press("超过14天")
    waited = plain(boss.last_text)
    assert "共 1 份" in waited and "老作品" in waited and "20天前" in waited
    await boss.press(f"#{old}")
    assert "老作品" in plain(boss.last_text) and "评审轮次" in plain(boss.last_text)
    assert ids and draft.id not in ids
    # garbled filters list everything rather than failing
    await boss.press("", data=SubListCB(q="s=zz.c=abc.w=5", action=ListAction.page, arg="x").pack())
    assert "共 10 份" in plain(boss.last_text)


def test_filters_pack_short_and_read_back():
    f = Filters(status="ur", category=8, round=3, waiting=14)
    assert Filters.unpack(f.pack()) == f and len(f.pack()) <= 20
    assert Filters().pack() == "-" and Filters.unpack("-") == Filters()
    longest = SubListCB(q=f.pack(), action=ListAction.page, arg="999").pack()
    assert len(longest.encode()) <= 64


# ---------------------------------------------------------------- the operators' card


async def test_the_card_shows_rounds_and_a_page_of_the_audit_trail(app, chat, world):
    sub_id = world
    await reviewed(app, sub_id)
    rnd = await round_of(app, sub_id)
    async with app.sessionmaker.begin() as session:
        out = await reviews.decide(session, app.campaign, rnd.id, STAFF, Verdict.revise, "请补充数据。", now=NOW)
        assert out.result is reviews.DecideResult.decided
    boss = chat.user(ADMIN_ID, "Admin")
    await boss.press("", data=StaffSubCB(id=sub_id, action=StaffAction.open).pack())
    card = plain(boss.last_text)
    assert "评审轮次（1）" in card and "第1轮 · 已决定" in card
    assert "R2001（已评审）、R2002（已评审）" in card
    assert "决定：修改后再审（Admin" in card and "给创作者的话：请补充数据。" in card
    assert "📊 第1轮 · 已决定" in boss.last.labels and "📜 操作记录" in boss.last.labels
    assert "⛔ 取消资格" in boss.last.labels

    await boss.press("操作记录")
    trail = plain(boss.last_text)
    assert "操作记录（共" in trail
    assert "申报：评审中 → 修改后再审" in trail and "Admin · 请补充数据。" in trail
    assert "评审轮次" in trail and "评审分配" in trail
    first_page = trail
    async with app.sessionmaker() as session:
        total = (await session.execute(select(func.count()).select_from(AuditEntry).where(
            (AuditEntry.entity == "submissions") & (AuditEntry.entity_id == sub_id)))).scalar_one()
    assert total == 4  # draft, submitted, under review, revise
    if "下一页 ▶️" in boss.last.labels:
        await boss.press("下一页")
        assert plain(boss.last_text) != first_page and "（新建） → 草稿" in plain(boss.last_text)
    await boss.press("返回申报")
    assert "评审轮次（1）" in plain(boss.last_text)
    await boss.press("第1轮")
    assert "决定：修改后再审" in plain(boss.last_text)


# ---------------------------------------------------------------- disqualifying


async def test_disqualifying_tells_the_creator_and_stops_open_reviews(app, chat, world):
    sub_id = world
    await review(app, sub_id, R1, scores(app, 4, 4), Verdict.accept, "好作品")
    rnd = await round_of(app, sub_id)
    asgs = await assignments(app, rnd.id)
    boss = chat.user(ADMIN_ID, "Admin")
    await boss.press("", data=StaffSubCB(id=sub_id, action=StaffAction.open).pack())
    await boss.press("取消资格")
    assert boss.rendered("review_staff/disqualify_context")
    await boss.press("已在其他平台发表")
    await boss.send("已在某视频平台发布过。")
    await boss.press("确认取消资格")
    assert "已取消申报" in plain(boss.last_text) and "已停止 1 份" in plain(boss.last_text)

    sub = await fetch(app, Submission, sub_id)
    assert sub.status == SubmissionStatus.disqualified
    reason = "已在其他平台发表：已在某视频平台发布过。"
    assert (await audit(app, "submissions", sub_id))[-1] == ("under_review", "disqualified", ADMIN_ID, reason)
    assert (await fetch(app, ReviewRound, rnd.id)).status == RoundStatus.stopped
    now = await assignments(app, rnd.id)
    assert (now[R1].status, now[R2].status) == (AssignmentStatus.submitted, AssignmentStatus.stopped)
    assert (await audit(app, "review_assignments", asgs[R2].id))[-1] == ("assigned", "stopped", ADMIN_ID, reason)
    (told,) = await outbox_to(app, CREATOR)
    assert "已在某视频平台发布过" in plain(told)
    (stopped,) = await outbox_to(app, R2)  # the open assignment's reviewer is told
    assert "光的折射" in stopped and "已停止" in stopped
    assert await outbox_to(app, R1) == []  # their review is in: nothing to stop

    # again: told, nothing changed; the card offers it no more
    await boss.press("", data=StaffSubCB(id=sub_id, action=StaffAction.disqualify).pack())
    assert "已经被取消资格" in plain(boss.last_text)
    await boss.press("", data=StaffSubCB(id=sub_id, action=StaffAction.open).pack())
    assert "⛔ 取消资格" not in boss.last.labels and "已取消资格" in plain(boss.last_text)


async def test_a_withdrawn_application_cannot_be_disqualified(app, chat, world):
    async with app.sessionmaker.begin() as session:
        sub = Submission(user_id=CREATOR, kind="work", category="article", title="撤回的", answers="{}")
        await transition(session, sub, SubmissionStatus.draft, actor_id=CREATOR, now=NOW)
        await transition(session, sub, SubmissionStatus.submitted, actor_id=CREATOR, now=NOW)
        await transition(session, sub, SubmissionStatus.withdrawn, actor_id=CREATOR, now=NOW)
    boss = chat.user(ADMIN_ID, "Admin")
    await boss.press("", data=StaffSubCB(id=sub.id, action=StaffAction.disqualify).pack())
    assert "不能取消资格" in plain(boss.last_text)
    assert (await fetch(app, Submission, sub.id)).status == SubmissionStatus.withdrawn


# ---------------------------------------------------------------- /export


async def test_export_reads_back_with_reviews_means_decision_and_the_audit_sheet(app, chat, world):
    sub_id = world
    await reviewed(app, sub_id)
    rnd = await round_of(app, sub_id)
    async with app.sessionmaker.begin() as session:
        await reviews.decide(session, app.campaign, rnd.id, STAFF, Verdict.revise, "请补充数据。", now=NOW)
    boss = chat.user(ADMIN_ID, "Admin")
    (sent,) = await boss.send("/export")
    assert sent.method == "sendDocument" and sent.document["file_name"].startswith("申报与评审-")
    assert sent.document["file_name"].endswith(".xlsx") and "1 行申报记录" in sent.text
    wb = load_workbook(io.BytesIO(sent.file_bytes))
    assert wb.sheetnames == ["申报与评审", "操作记录"]
    table = [list(r) for r in wb["申报与评审"].iter_rows(values_only=True)]
    col = {name: i for i, name in enumerate(table[0])}
    (row,) = table[1:]
    assert row[:8] == [sub_id, "Alice", "小科说", "图文", "作品", "光的折射", 1, "修改后再审"]
    assert (row[col["评审1·评审人"]], row[col["评审1·科学性"]], row[col["评审2·科学性"]]) == (f"R{R1}（{R1}）", 1, 5)
    assert row[col["均分·科学性"]] == 3.0 and row[col["均分·原创性"]] == 3.5
    assert (row[col["评审意见分歧"]], row[col["决定"]]) == ("是", "修改后再审")
    log = [list(r) for r in wb["操作记录"].iter_rows(values_only=True)]
    assert log[0][0] == "时间（Asia/Shanghai）"
    assert any(r[1] == "评审轮次" and r[4] == "已决定" and r[6] == "请补充数据。" for r in log[1:])


async def test_an_empty_programme_still_exports_the_headers(app, chat):
    boss = chat.user(ADMIN_ID, "Admin")
    (sent,) = await boss.send("/export")
    wb = load_workbook(io.BytesIO(sent.file_bytes))
    assert [list(r) for r in wb["申报与评审"].iter_rows(values_only=True)][0][:2] == ["申报编号", "申报人"]
    assert len(list(wb["申报与评审"].iter_rows())) == 1 and "0 行申报记录" in sent.text
    creator = chat.user(CREATOR)
    await creator.send("/export")
    assert creator.last.method == "sendMessage"  # the fallback: not a file

