"""The reviewer's side of expert review in the chat (issue 10, parts 2-3): the profile (/myfields),
the queue (/reviews), the review card, the review form, declining; and the bad inputs: a score off
the scale, someone else pressing or forging a reviewer's button, a review confirmed after the item
was reassigned, a disqualified item opened."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.callbacks import ReviewAction, ReviewCB
from bot.campaign import load_campaign
from bot.services import reviewers, reviews, rounds
from bot.services.transitions import transition
from bot.services.users import Person, Role, grant_role, upsert_user
from storage.models import (
    AuditEntry,
    OutboxMessage,
    Review,
    ReviewAssignment,
    ReviewerProfile,
    ReviewRound,
    Submission,
    SubmissionFile,
    UserRole,
    utcnow,
)
from storage.statuses import AssignmentStatus, RoundStatus, SubmissionStatus, Verdict
from tests.conftest import ADMIN_ID, approve_creator

CAMPAIGN = load_campaign(Path("content/campaign.toml"))  # the file the app's settings name
CREATOR, R1, R2, R3 = 1001, 2001, 2002, 2003
NOW = utcnow().replace(microsecond=0)
STAFF = Person(ADMIN_ID, "Admin", frozenset({Role.creator, Role.admin}))
SUMMARY = "用动画讲清光在水中为什么会弯折"
PREVIOUS = "请补充折射率的实验演示，并修正第三段的公式。"


def plain(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def person(uid: int) -> Person:
    return Person(uid, f"R{uid}", frozenset({Role.creator, Role.reviewer}))


async def make_reviewer(session, uid: int, *, unit: str = "") -> None:
    await upsert_user(session, uid, first_name=f"R{uid}")
    await session.flush()
    await grant_role(session, uid, Role.reviewer, ADMIN_ID)
    if unit:
        await reviewers.save_profile(session, CAMPAIGN, person(uid), fields=["frontier_tech"], other_fields="",
                                     unit=unit)


async def submit_application(app, chat, title: str = "光的折射", *, number: int = 1) -> int:
    """A creator's application submitted (with two files: one checked, one too big, its deep check
    pending), its round opened as submit does. `number` 2: resubmitted after 修改后再审 (round 1
    decided with a message to the creator)."""
    async with app.sessionmaker.begin() as session:
        answers = {"kind": "work", "category": "article", "title": title, "direction": "frontier_tech",
                   "summary": SUMMARY, "declaration": "yes"}
        sub = Submission(user_id=CREATOR, kind="work", category="article", title=title,
                         answers=json.dumps(answers, ensure_ascii=False), created_at=NOW, updated_at=NOW)
        await transition(session, sub, SubmissionStatus.draft, actor_id=CREATOR, now=NOW)
        sub.submitted_at = NOW
        await transition(session, sub, SubmissionStatus.submitted, actor_id=CREATOR, now=NOW)
        if number > 1:
            session.add(ReviewRound(submission_id=sub.id, number=number - 1, status=RoundStatus.decided,
                                    opened_at=NOW, decision=Verdict.revise, decision_message=PREVIOUS,
                                    decided_by=ADMIN_ID, decided_at=NOW))
            sub.round = number
        for name, status in (("光的折射.docx", "passed"), ("光的折射-长版.docx", "deep_pending")):
            file_id, unique = chat.tg.store_file(f"{title}{name}".encode(), name)
            session.add(SubmissionFile(submission_id=sub.id, file_id=file_id, file_unique_id=unique, file_name=name,
                                       file_size=2048, sent_as="document", check_status=status, round=number))
        await session.flush()
        await rounds.open_round(session, CAMPAIGN, sub, now=NOW, actor_id=CREATOR)
        return sub.id


@pytest.fixture
async def world(app, chat):
    """A creator, the operator, two reviewers with profiles and an application assigned to both."""
    app.dispatcher["clock"] = lambda: NOW
    await approve_creator(app.sessionmaker, CREATOR)
    async with app.sessionmaker.begin() as session:
        await upsert_user(session, ADMIN_ID, first_name="Admin")
        for uid in (R1, R2):
            await make_reviewer(session, uid, unit=f"研究所{uid}")
    sub_id = await submit_application(app, chat)
    return sub_id


async def assignment(app, sub_id: int, reviewer_id: int) -> ReviewAssignment | None:
    async with app.sessionmaker() as session:
        return (await session.execute(
            select(ReviewAssignment).join(ReviewRound, ReviewRound.id == ReviewAssignment.round_id)
            .where(ReviewRound.submission_id == sub_id, ReviewAssignment.reviewer_id == reviewer_id))).scalar()


async def outbox_to(app, chat_id: int) -> list[str]:
    async with app.sessionmaker() as session:
        rows = (await session.execute(select(OutboxMessage).where(OutboxMessage.chat_id == chat_id)
                                      .order_by(OutboxMessage.id))).scalars()
        return [json.loads(r.payload).get("text", "") for r in rows]


async def review_of(app, assignment_id: int) -> Review | None:
    async with app.sessionmaker() as session:
        return (await session.execute(select(Review).where(Review.assignment_id == assignment_id))).scalar()


async def review_by_service(app, sub_id: int, reviewer_id: int, comment: str) -> None:
    asg = await assignment(app, sub_id, reviewer_id)
    async with app.sessionmaker.begin() as session:
        out = await reviews.record_review(session, app.campaign, asg.id, person(reviewer_id),
                                          scores={c.id: 3 for c in app.campaign.criteria}, comment=comment,
                                          staff_note="仅供参考", recommendation=Verdict.revise, now=NOW)
        assert out.result is reviews.ReviewResult.recorded


async def fill_review(user, *, first: str = "4", comment: str = "结构清晰，建议补充实验视频。") -> None:
    """From the first criterion to the summary: buttons, a comment, no staff note, 修改后再审."""
    await user.press(first)
    for _ in range(len(CAMPAIGN.criteria) - 1):
        await user.press("4")
    await user.send(comment)
    await user.press("跳过")
    await user.press("修改后再审")
    assert "请核对您的评审" in user.last_text


# ---------------------------------------------------------------- the profile


async def test_profile_saved_assigns_a_waiting_round_and_is_prefilled_next_time(app, chat):
    app.dispatcher["clock"] = lambda: NOW
    await approve_creator(app.sessionmaker, CREATOR)
    async with app.sessionmaker.begin() as session:
        await upsert_user(session, ADMIN_ID, first_name="Admin")
    sub_id = await submit_application(app, chat)  # no reviewer yet: the round waits
    async with app.sessionmaker() as session:
        (rnd,) = (await session.execute(select(ReviewRound))).scalars()
        assert rnd.status == RoundStatus.waiting
    async with app.sessionmaker.begin() as session:
        await make_reviewer(session, R3)  # a role, no profile yet

    carol = chat.user(R3, "Carol")
    await carol.send("/reviews")
    assert "还没有设置评审领域" in carol.last_text and "没有待评审" in carol.last_text
    await carol.press("设置我的评审领域")
    assert "利益回避" in plain(carol.history[-2].text)  # the intro says why the unit is asked
    await carol.press("剖析前沿科技")
    await carol.press("完成")
    await carol.send("光学、物理教育")
    await carol.send("丙大学")
    assert "丙大学" in carol.last_text and "请核对" in carol.last_text
    await carol.press("保存")
    assert carol.rendered("review/profile_saved", received=1, unit="丙大学")
    async with app.sessionmaker() as session:
        profile = await session.get(ReviewerProfile, R3)
        assert (json.loads(profile.fields), profile.other_fields, profile.unit) == (
            ["frontier_tech"], "光学、物理教育", "丙大学")
    asg = await assignment(app, sub_id, R3)
    assert asg is not None and asg.status == AssignmentStatus.assigned
    assert any("新的评审任务" in text for text in await outbox_to(app, R3))

    await carol.send("/myfields")  # pre-filled: opens at the summary with what was saved
    text = plain(carol.last_text)
    assert "请核对" in text and "丙大学" in text and "剖析前沿科技" in text and "光学、物理教育" in text
    await carol.press("所在单位")
    await carol.send("丁研究院")
    await carol.press("保存")
    assert carol.rendered("review/profile_saved", received=0, unit="丁研究院")
    async with app.sessionmaker() as session:
        assert (await session.get(ReviewerProfile, R3)).unit == "丁研究院"


async def test_a_profile_needs_a_direction_or_a_field_in_words(app, chat, world):
    """With no direction chosen, 其他专业领域 is asked for (no 跳过, not marked 选填): before, both could
    be skipped, and saving then answered "pick at least one" on a question marked optional."""
    bob = chat.user(R1, "Bob")
    await bob.send("/myfields")  # pre-filled: at the summary
    await bob.press("擅长的方向")
    await bob.press("剖析前沿科技")  # unselect the saved one
    await bob.press("完成")
    assert not any("✅ （未填写）" in m.text for m in bob.history)  # nothing chosen: no "chosen" echo
    asked = bob.last_text
    assert "需要填写「其他专业领域」" in asked and "选填" not in asked
    assert not any("跳过" in label for label in bob.last.labels)
    async with app.sessionmaker() as session:
        assert (await session.get(ReviewerProfile, R1)).unit == f"研究所{R1}"  # nothing saved yet
    await bob.send("天体物理")
    assert "请核对" in bob.last_text
    await bob.press("保存")
    assert bob.rendered("review/profile_saved")
    async with app.sessionmaker() as session:
        profile = await session.get(ReviewerProfile, R1)
        assert (json.loads(profile.fields), profile.other_fields) == ([], "天体物理")


# ---------------------------------------------------------------- the queue and the card


async def test_reviews_lists_the_queue_with_due_dates_and_overdue_marked(app, chat, world):
    late = await submit_application(app, chat, title="声音的旅行")
    async with app.sessionmaker.begin() as session:
        asg = (await session.execute(
            select(ReviewAssignment).join(ReviewRound, ReviewRound.id == ReviewAssignment.round_id)
            .where(ReviewRound.submission_id == late, ReviewAssignment.reviewer_id == R1))).scalar()
        asg.due_at = NOW - timedelta(days=1)
    bob = chat.user(R1, "Bob")
    (listing,) = await bob.send("/reviews")
    text = plain(listing.text)
    assert "2 项待评审" in text and "光的折射" in text and "声音的旅行" in text
    due = (NOW + timedelta(days=7)).astimezone(app.texts.tz).strftime("%Y年%m月%d日 %H:%M")
    assert f"截止：{due}" in text and "已逾期" in text
    assert text.index("声音的旅行") < text.index("光的折射")  # soonest due first
    assert any(label.startswith("⏰") and "声音的旅行" in label for label in listing.labels)
    assert "还没有设置评审领域" not in text

    alice = chat.user(CREATOR, "Alice")  # not a reviewer: /reviews is not hers
    await alice.send("/reviews")
    assert not alice.rendered("review/queue")


async def test_a_long_queue_is_shown_page_by_page(app, chat, world):
    for n in range(11):
        await submit_application(app, chat, title=f"第{n + 2:02d}件")
    bob = chat.user(R1, "Bob")
    (first,) = await bob.send("/reviews")
    assert "12 项待评审" in first.text and "第 1/2 页" in first.text
    assert sum(1 for b in first.buttons if b["callback_data"].endswith(":open")) == 10
    (second,) = await bob.press("下一页")
    assert second.method == "editMessageText" and "第 2/2 页" in second.text
    assert sum(1 for b in second.buttons if b["callback_data"].endswith(":open")) == 2
    assert all(len(b["callback_data"].encode()) <= 64 for b in first.buttons + second.buttons)


async def test_the_card_shows_answers_and_files_but_not_other_reviews(app, chat, world):
    await review_by_service(app, world, R2, "另一位专家的意见：画面需要加强")
    bob = chat.user(R1, "Bob")
    await bob.send("/reviews")
    (card,) = await bob.press("光的折射")
    text = plain(card.text)
    assert SUMMARY in text and "第 1 轮评审" in text and "截止时间" in text
    assert "光的折射.docx" in text and "深度检查仍在进行" in text
    assert "另一位专家" not in text and "仅供参考" not in text
    assert "开始评审" in card.labels[-3] or any("开始评审" in label for label in card.labels)

    sent = await bob.press("查看作品文件")
    async with app.sessionmaker() as session:
        stored = [f.file_id for f in (await session.execute(
            select(SubmissionFile).where(SubmissionFile.submission_id == world).order_by(SubmissionFile.id))).scalars()]
    assert [s.document["file_id"] for s in sent if s.document] == stored
    assert all(s.method == "sendDocument" for s in sent)


async def test_a_second_round_card_shows_what_the_first_decision_asked(app, chat, world):
    again = await submit_application(app, chat, title="水的三态", number=2)
    bob = chat.user(R1, "Bob")
    await bob.send("/reviews")
    (card,) = await bob.press("水的三态")
    text = plain(card.text)
    assert "第 2 轮评审" in text and "上一轮（第 1 轮）的结论：修改后再审" in text and PREVIOUS in text
    sent = await bob.press("查看作品文件")
    async with app.sessionmaker() as session:
        stored = [f.file_id for f in (await session.execute(
            select(SubmissionFile).where(SubmissionFile.submission_id == again, SubmissionFile.round == 2)
            .order_by(SubmissionFile.id))).scalars()]
    assert len(stored) == 2 and [s.document["file_id"] for s in sent if s.document] == stored
    (first,) = await bob.press("光的折射")  # a first round says nothing of earlier rounds
    assert "上一轮" not in first.text


async def test_a_long_card_is_paged_and_fits_one_message(app, chat, world):
    """Many files, each with many unmet requirements, and long answers: the card's file list is
    shown page by page, each page under Telegram's 4096 characters."""
    report = {"items": [{"status": "fail", "level": "error", "title": "要求" * 20, "measured_text": "实测" * 50}
                        for _ in range(8)]}
    async with app.sessionmaker.begin() as session:
        sub = await session.get(Submission, world)
        answers = json.loads(sub.answers)
        answers.update(kind="topic", summary="长" * 500, content_intro="内" * 2000, team_qualifications="团" * 2000,
                       execution_plan="计" * 2000, past_works="往" * 2000)
        sub.answers, sub.kind, sub.title = json.dumps(answers, ensure_ascii=False), "topic", "题" * 50
        for n in range(7):
            file_id, unique = chat.tg.store_file(f"extra{n}".encode(), f"{'文件' * 40}{n}.docx")
            session.add(SubmissionFile(submission_id=world, file_id=file_id, file_unique_id=unique,
                                       file_name=f"{'文件' * 40}{n}.docx", file_size=4096, sent_as="document",
                                       check_status="failed", report=json.dumps(report, ensure_ascii=False)))
    bob = chat.user(R1, "Bob")
    asg = await assignment(app, world, R1)
    (card,) = await bob.press("x", data=ReviewCB(id=asg.id, action=ReviewAction.open).pack())
    assert "第 1/3 页" in card.text and len(card.text) <= 4096
    (page,) = await bob.press("下一页")
    assert page.method == "editMessageText" and "第 2/3 页" in page.text and len(page.text) <= 4096
    (page,) = await bob.press("下一页")
    assert "第 3/3 页" in page.text and "开始评审" in " ".join(page.labels)


# ---------------------------------------------------------------- the review


async def test_a_full_review_by_buttons_is_recorded_and_the_last_one_tells_the_operators(app, chat, world):
    await review_by_service(app, world, R2, "第一位专家的意见")
    assert not [t for t in await outbox_to(app, ADMIN_ID) if "评审意见已全部提交" in t]
    bob = chat.user(R1, "Bob")
    await bob.send("/reviews")
    await bob.press("光的折射")
    await bob.press("开始评审")
    assert "科学性" in bob.last_text and [str(n) for n in range(1, 6)] == bob.last.labels[:5]
    await bob.send("9")
    assert "1 到 5" in bob.last_text and "科学性" in bob.last_text  # refused, the scale named, asked again
    await bob.send("４")  # full width: accepted
    for _ in range(len(app.campaign.criteria) - 1):
        await bob.press("5")
    await bob.send("结构清晰，建议补充实验视频。")
    await bob.send("疑似与某公众号文章雷同，请核实。")
    await bob.press("修改后再审")
    summary = plain(bob.last_text)
    assert "请核对您的评审" in summary and "修改后再审" in summary and "科学性：4" in summary
    asg = await assignment(app, world, R1)
    assert asg.status == AssignmentStatus.assigned and await review_of(app, asg.id) is None  # not yet final

    await bob.press("提交评审")
    assert bob.rendered("review/recorded")
    assert "评审已提交" in bob.last_text and "结构清晰" in bob.last_text
    asg = await assignment(app, world, R1)
    review = await review_of(app, asg.id)
    assert asg.status == AssignmentStatus.submitted
    assert json.loads(review.scores) == {c.id: (4 if i == 0 else 5) for i, c in enumerate(app.campaign.criteria)}
    assert (review.recommendation, review.comment, review.staff_note) == (
        Verdict.revise, "结构清晰，建议补充实验视频。", "疑似与某公众号文章雷同，请核实。")
    async with app.sessionmaker() as session:
        trail = (await session.execute(select(AuditEntry).where(
            AuditEntry.entity == "review_assignments", AuditEntry.entity_id == asg.id)
            .order_by(AuditEntry.id))).scalars().all()
    assert (trail[-1].from_status, trail[-1].to_status, trail[-1].actor_id) == ("assigned", "submitted", R1)
    assert [t for t in await outbox_to(app, ADMIN_ID) if "评审意见已全部提交" in t]  # the round is complete

    (card,) = await bob.press("光的折射")  # the card now shows their review, no action buttons
    assert "您已提交本轮评审" in card.text and "结构清晰" in card.text
    assert not any(word in label for label in card.labels for word in ("开始评审", "无法评审", "查看作品文件"))
    await bob.press("x", data=ReviewCB(id=asg.id, action=ReviewAction.start).pack())  # an old button
    assert "不能再修改" in bob.last_alert


async def test_a_score_the_service_refuses_sends_the_reviewer_back_to_it_with_the_rest_kept(app, chat, world):
    """A draft whose score no longer fits (the campaign's scale changed while it waited): the
    service refuses it, the reviewer is asked that score again, every other answer stays."""
    bob = chat.user(R1, "Bob")
    await bob.send("/reviews")
    await bob.press("光的折射")
    await bob.press("开始评审")
    await fill_review(bob)
    state = app.dispatcher.fsm.get_context(bot=chat.bot, chat_id=R1, user_id=R1)
    data = await state.get_data()
    data["values"]["original"] = 9
    await state.set_data(data)
    await bob.press("提交评审")
    assert bob.rendered("forms/errors/score_invalid", criterion="原创性", lo=1, hi=5)
    assert "原创性" in bob.last_text and "1 到 5" in bob.last_text
    asg = await assignment(app, world, R1)
    assert asg.status == AssignmentStatus.assigned and await review_of(app, asg.id) is None
    await bob.press("2")
    summary = plain(bob.last_text)
    assert "原创性：2" in summary and "建议补充实验视频" in summary  # the rest kept
    await bob.press("提交评审")
    review = await review_of(app, asg.id)
    assert json.loads(review.scores)["original"] == 2


async def test_a_draft_of_a_review_is_continued_from_the_card(app, chat, world):
    bob = chat.user(R1, "Bob")
    await bob.send("/reviews")
    await bob.press("光的折射")
    await bob.press("开始评审")
    await bob.press("3")
    await bob.send("/reviews")
    (card,) = await bob.press("光的折射")
    assert any("继续评审" in label for label in card.labels)
    await bob.press("继续评审")
    assert "原创性" in bob.last_text  # where it stopped: the second criterion


# ---------------------------------------------------------------- buttons pressed by the wrong person


async def test_a_creator_or_another_reviewer_pressing_a_reviewers_button_is_refused(app, chat, world):
    asg = await assignment(app, world, R1)
    async with app.sessionmaker.begin() as session:
        await make_reviewer(session, R3, unit="丙大学")
    alice, carol = chat.user(CREATOR, "Alice"), chat.user(R3, "Carol")
    for action in (ReviewAction.open, ReviewAction.files, ReviewAction.start, ReviewAction.decline):
        data = ReviewCB(id=asg.id, action=action).pack()
        replies = await alice.press("x", data=data)
        assert alice.rendered("not_allowed") and not [r for r in replies if r.method.startswith("send")]
        replies = await carol.press("x", data=data)
        assert carol.rendered("review/not_yours") and not [r for r in replies if r.method.startswith("send")]
    await carol.press("x", data="rv:abc:open")  # garbled
    assert carol.rendered("not_allowed")
    async with app.sessionmaker() as session:
        assert await session.get(ReviewAssignment, asg.id) is not None
        assert (await session.get(ReviewAssignment, asg.id)).status == AssignmentStatus.assigned
        assert not (await session.execute(select(Review))).scalars().all()
    assert SUMMARY not in "".join(s.text for s in alice.history + carol.history)


# ---------------------------------------------------------------- things that changed meanwhile


async def test_a_review_confirmed_after_the_item_was_reassigned_is_not_recorded(app, chat, world):
    async with app.sessionmaker.begin() as session:
        await make_reviewer(session, R3, unit="丙大学")
    bob = chat.user(R1, "Bob")
    await bob.send("/reviews")
    await bob.press("光的折射")
    await bob.press("开始评审")
    await fill_review(bob)
    asg = await assignment(app, world, R1)
    async with app.sessionmaker.begin() as session:  # an operator gives it to someone else meanwhile
        out = await rounds.reassign(session, app.campaign, asg.id, STAFF, to=None, now=NOW)
        assert out.result is rounds.Reassigned.done and out.new_reviewer == R3
    await bob.press("提交评审")
    assert bob.rendered("review/review_result", result="not_assigned")
    assert "已改派" in bob.last_text
    assert await review_of(app, asg.id) is None
    assert (await assignment(app, world, R1)).status == AssignmentStatus.reassigned


async def test_a_reviewer_whose_role_was_taken_away_cannot_finish_their_review(app, chat, world):
    bob = chat.user(R1, "Bob")
    await bob.send("/reviews")
    await bob.press("光的折射")
    await bob.press("开始评审")
    await fill_review(bob)
    async with app.sessionmaker.begin() as session:
        await session.delete(await session.get(UserRole, (R1, Role.reviewer.value)))
    await bob.press("提交评审")
    assert bob.rendered("review/no_longer_reviewer")
    asg = await assignment(app, world, R1)
    assert asg.status == AssignmentStatus.assigned and await review_of(app, asg.id) is None
    await bob.press("x", data=ReviewCB(id=asg.id, action=ReviewAction.open).pack())
    assert bob.rendered("not_allowed")


async def test_a_disqualified_item_opened_says_so(app, chat, world):
    bob = chat.user(R1, "Bob")
    await bob.send("/reviews")
    async with app.sessionmaker.begin() as session:
        out = await reviews.disqualify(session, world, STAFF, "已在其他平台发表", now=NOW)
        assert out.result is reviews.DisqualifyResult.disqualified
    (card,) = await bob.press("光的折射")  # the list's button, from before
    assert "已被取消资格" in card.text and SUMMARY not in card.text
    assert not any("开始评审" in label for label in card.labels)
    asg = await assignment(app, world, R1)
    await bob.press("x", data=ReviewCB(id=asg.id, action=ReviewAction.start).pack())
    assert "取消资格" in bob.last_alert
    assert (await assignment(app, world, R1)).status == AssignmentStatus.stopped
    async with app.sessionmaker() as session:
        assert (await session.get(Submission, world)).status == SubmissionStatus.disqualified


async def test_declining_with_a_reason_gives_the_item_to_someone_else(app, chat, world):
    async with app.sessionmaker.begin() as session:
        await make_reviewer(session, R3, unit="丙大学")
    bob = chat.user(R1, "Bob")
    await bob.send("/reviews")
    await bob.press("光的折射")
    await bob.press("无法评审")
    await bob.send("与申报人同单位，需回避")
    assert "请核对" in bob.last_text
    await bob.press("确认退回")
    assert bob.rendered("review/declined", result="done") and "已退回" in bob.last_text
    asg = await assignment(app, world, R1)
    assert (asg.status, asg.decline_reason) == (AssignmentStatus.declined, "与申报人同单位，需回避")
    new = await assignment(app, world, R3)
    assert new is not None and new.status == AssignmentStatus.assigned
    assert any("新的评审任务" in text for text in await outbox_to(app, R3))
    await bob.send("/reviews")
    assert "没有待评审" in bob.last_text


async def test_declining_when_nobody_can_take_it_tells_the_operators(app, chat, world):
    bob = chat.user(R1, "Bob")
    await bob.send("/reviews")
    await bob.press("光的折射")
    await bob.press("无法评审")
    await bob.send("近两周出差，无法按时完成")
    await bob.press("确认退回")
    assert bob.rendered("review/declined", result="done")
    assert (await assignment(app, world, R1)).status == AssignmentStatus.declined
    assert (await assignment(app, world, R2)).status == AssignmentStatus.assigned
    assert [t for t in await outbox_to(app, ADMIN_ID) if "没有可分配的评审专家" in t]
    await bob.press("x", data=ReviewCB(id=(await assignment(app, world, R1)).id, action=ReviewAction.decline).pack())
    assert "已退回" in bob.last_alert  # an old button: nothing more to do
