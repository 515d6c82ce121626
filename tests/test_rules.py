"""Rules enforced where they live (issue 9, part 6): the application window again at submit, the
originality declaration in the service, the unit's seal only for a 单位, and texts that promise
only what the bot does today."""

# ruff: noqa: F811 - the `creator` fixture is imported from tests.test_submissions and named as a parameter
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.campaign import load_campaign
from bot.services import submissions
from bot.services.users import upsert_user
from storage.db import make_engine
from storage.models import AuditEntry, Submission
from storage.statuses import SubmissionStatus
from tests.harness import ChatUser
from tests.test_registration import fill_registration, table_rows
from tests.test_submissions import IN_WINDOW, creator, save_draft, submission, submit  # noqa: F401

TOPIC = ["五集短视频，讲光学现象与生活。", "团队三人，均为物理学博士。", "三个月完成脚本与拍摄。", "SKIP"]
CAMPAIGN = load_campaign()


# ------------------------------------------------------------------ the window, again at submit


async def test_a_draft_made_in_time_is_not_submitted_after_the_window_closed(app, creator):
    alice = creator
    sub_id = await save_draft(alice, "短视频拍摄脚本", kind="选题", extra=TOPIC)
    after = CAMPAIGN.window.end + timedelta(seconds=1)
    app.dispatcher["clock"] = lambda: after
    await alice.press("提交申报")
    assert "不在申报时间内" in alice.last_text
    sub, _ = await submission(app, sub_id)
    assert sub.status is SubmissionStatus.draft and sub.submitted_at is None
    # the service itself refuses, whatever a handler asked before (a confirmation shown in time)
    async with app.sessionmaker.begin() as session:
        sub = await session.get(Submission, sub_id)
        outcome, _ = await submissions.submit(session, CAMPAIGN, sub, after)
        assert outcome is submissions.SubmitOutcome.closed
    async with app.sessionmaker() as session:
        assert (await session.get(Submission, sub_id)).status is SubmissionStatus.draft
        audit = (await session.execute(select(AuditEntry.to_status).where(AuditEntry.entity == "submissions",
                                                                          AuditEntry.entity_id == sub_id)))
        assert list(audit.scalars()) == ["draft"]
    # the last second of the window still counts
    app.dispatcher["clock"] = lambda: CAMPAIGN.window.end
    assert "申报已提交" in await submit(alice)
    sub, _ = await submission(app, sub_id)
    assert sub.status is SubmissionStatus.submitted


# ------------------------------------------------------------------ the originality declaration


TOPIC_ANSWERS = {"kind": "topic", "category": "topic_video_script", "title": "光的折射", "direction": "frontier",
                 "summary": "用生活中的例子讲清楚光为什么会折射。", "content_intro": TOPIC[0],
                 "team_qualifications": TOPIC[1], "execution_plan": TOPIC[2], "past_works": None}


@pytest.fixture
async def session(db_url):
    engine = make_engine(db_url)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        await upsert_user(session, 1001, first_name="Alice")
        await session.flush()
        yield session
        await session.rollback()
    await engine.dispose()


@pytest.mark.parametrize("declaration", [None, "", False])
async def test_no_draft_is_saved_without_the_declaration(session, declaration):
    answers = {**TOPIC_ANSWERS, "declaration": declaration}
    if declaration is None:
        del answers["declaration"]
    with pytest.raises(submissions.NotDeclared):
        await submissions.save_draft(session, 1001, answers)
    assert (await session.execute(select(Submission))).scalars().all() == []


async def test_a_draft_whose_declaration_was_lost_is_not_submitted(session):
    sub = await submissions.save_draft(session, 1001, {**TOPIC_ANSWERS, "declaration": "yes"})
    ready = submissions.readiness(CAMPAIGN, sub, [])
    assert ready.ok and not ready.undeclared
    sub.answers = sub.answers.replace('"declaration": "yes"', '"declaration": null')  # stored before the rule
    outcome, ready = await submissions.submit(session, CAMPAIGN, sub, IN_WINDOW)
    assert outcome is submissions.SubmitOutcome.not_ready and ready.undeclared
    assert sub.status is SubmissionStatus.draft


# ------------------------------------------------------------------ the unit's seal


@pytest.mark.parametrize(("subject", "sealed"), [("单位", True), ("团队", False), ("个人", False)])
async def test_only_a_unit_is_asked_for_its_seal(chat, subject, sealed):
    alice: ChatUser = chat.user(1001, "Alice")
    await fill_registration(alice, subject=subject)
    replies = await alice.press("确认提交")
    document = next(r for r in replies if r.document)
    steps = replies[-1].text
    assert ("本单位公章" in steps) is sealed
    assert "推荐单位公章" in steps  # the recommending unit seals in every case
    assert ("（单位公章）" in table_rows(document.file_bytes)["所属单位（团队、个人）"][1]) is sealed


# ------------------------------------------------------------------ texts promise only what exists


# what is not built yet (broadcasts, reminders: issue 12) and words that promise "later"
PROMISES = ("陆续开放", "即将上线", "敬请期待", "群发", "截止提醒")


async def test_the_welcome_promises_only_what_exists(chat):
    alice = chat.user(1001, "Alice")
    replies = await alice.send("/start")
    welcome = replies[0].text
    assert "注册科普号" in welcome and "创作学院" in welcome and "导师" in welcome and "资源对接" in welcome
    assert not [word for word in PROMISES if word in welcome]
    for command, answer in (("/academy", "创作学院"), ("/tutor", "找导师"), ("/resources", "资源对接")):
        replies = await alice.send(command)  # each feature the welcome names answers
        assert answer in replies[0].text and "看不懂" not in replies[0].text


async def test_the_submit_confirmation_promises_no_feedback(app, creator):
    alice = creator
    await save_draft(alice, "短视频拍摄脚本", kind="选题", extra=TOPIC)
    text = await submit(alice)
    assert "申报已提交" in text and "/mywork" in text
    assert not [word for word in PROMISES if word in text]
