"""Reminders the bot sends on its own (issue 12), with a controllable clock: each kind fires once at
the right local time (campaign timezone, Asia/Shanghai), never twice (the same scan twice, a
"restart" that scans later), not when turned off, held through quiet hours unless urgent; a closed
window sends no deadline reminder; a person who blocked the bot is recorded failed, not retried;
two transactions queueing the same key: one wins. The 已标注 button of the branding reminder. A scan
renders only the reminders not sent before, and reads the tables a page at a time (a creator's drafts,
a submission's last revise round and the order stay right across pages)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.callbacks import BrandingCB
from bot.jobs import academy as academy_jobs
from bot.jobs import outbox as outbox_jobs
from bot.jobs import reminders as jobs
from bot.services.reminders import Kind, Reminder, send_once, set_enabled
from bot.services.transitions import transition
from bot.services.users import upsert_user
from storage.models import (
    Inquiry,
    OutboxMessage,
    Registration,
    ReminderSent,
    ReviewAssignment,
    ReviewRound,
    Submission,
)
from storage.statuses import (
    AssignmentStatus,
    InquiryStatus,
    OutboxStatus,
    RegistrationStatus,
    RoundStatus,
    SubmissionStatus,
    Verdict,
)
from tests.conftest import ADMIN_ID, approve_creator

ALICE, BOB, CAROL, REVIEWER = 1001, 1002, 1003, 3001
# the campaign's window closes 2024-03-31 23:59:59 in Shanghai (15:59:59 UTC)
END = datetime(2024, 3, 31, 15, 59, 59, tzinfo=UTC)
DAY = timedelta(days=1)
NOON = datetime(2024, 3, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, inside the window


async def scan(app, now: datetime, campaign=None) -> int:
    return await jobs.scan(app.sessionmaker, now, campaign=campaign or app.campaign, texts=app.texts,
                           admin_ids=(ADMIN_ID,))


async def rows(app, model, *where, order=None) -> list:
    async with app.sessionmaker() as session:
        query = select(model).where(*where)
        return list((await session.execute(query.order_by(order) if order is not None else query)).scalars())


async def keys(app, kind: Kind) -> list[str]:
    return sorted(r.key for r in await rows(app, ReminderSent, ReminderSent.kind == kind.value))


async def outbox(app, chat_id: int) -> list[OutboxMessage]:
    return await rows(app, OutboxMessage, OutboxMessage.chat_id == chat_id, order=OutboxMessage.id)


async def add_submission(app, user_id: int, title: str, status: SubmissionStatus, updated: datetime) -> int:
    async with app.sessionmaker.begin() as session:
        await upsert_user(session, user_id, first_name="创作者")
        await session.flush()
        sub = Submission(user_id=user_id, kind="work", category=app.campaign.work_categories[0].id, title=title,
                         answers="{}", status=status, created_at=updated, updated_at=updated)
        session.add(sub)
        await session.flush()
        return sub.id


async def texts_to(app, chat, user_id: int) -> list[str]:
    await app.dispatcher["outbox"].drain(chat.bot)
    return [s.text for s in chat.tg.sent[user_id]]


# ---------------------------------------------------------------- deadline


async def test_deadline_reminders_fire_once_at_30_7_and_1_days_local_and_wait_out_the_night(app, chat):
    await approve_creator(app.sessionmaker, ALICE, "小科说")
    await approve_creator(app.sessionmaker, BOB, "大科说")
    await add_submission(app, ALICE, "黑洞是什么", SubmissionStatus.draft, NOON)

    assert await scan(app, END - 30 * DAY - timedelta(seconds=1)) == 0  # not yet
    thirty = END - 30 * DAY  # 2024-03-01 23:59:59 local: in quiet hours
    assert await scan(app, thirty) == 2
    assert await scan(app, thirty) == 0  # the same scan twice
    assert await scan(app, thirty + timedelta(minutes=15)) == 0
    morning = datetime(2024, 3, 2, 0, 0, tzinfo=UTC)  # 08:00 local
    for user_id in (ALICE, BOB):
        (row,) = await outbox(app, user_id)
        assert (row.status, row.not_before) == (OutboxStatus.held, morning)
    assert await texts_to(app, chat, ALICE) == []  # nothing at night
    assert await outbox_jobs.release_due(app.sessionmaker, morning) == 2
    (alice,) = await texts_to(app, chat, ALICE)
    assert "距申报截止还有 30 天" in alice and "《黑洞是什么》" in alice and "2024年03月31日 23:59" in alice
    (bob,) = chat.tg.sent[BOB]
    assert "30 天" in bob.text and "/apply" in bob.text

    # the bot was stopped from before the 7-day moment until 3 hours later: the start-up scan sends it once
    assert await scan(app, END - 7 * DAY + timedelta(hours=3)) == 3  # and her draft, idle since the 10th
    assert await scan(app, END - 7 * DAY + timedelta(hours=3, minutes=15)) == 0
    # the last day: only those with drafts
    assert await scan(app, END - DAY + timedelta(minutes=1)) == 1
    assert await keys(app, Kind.deadline) == sorted(
        [f"deadline:{ALICE}:20240331:{d}d" for d in (30, 7, 1)] + [f"deadline:{BOB}:20240331:{d}d" for d in (30, 7)])
    await outbox_jobs.release_due(app.sessionmaker, END)
    last = (await texts_to(app, chat, ALICE))[-1]
    assert "只剩最后一天" in last and "《黑洞是什么》" in last
    assert len(chat.tg.sent[BOB]) == 2 and len(chat.tg.sent[ALICE]) == 4
    # the window closed: nothing more
    assert await scan(app, END + timedelta(seconds=1)) == 0
    assert await scan(app, END + 10 * DAY) == 0


async def test_a_window_already_closed_or_a_restart_after_weeks_sends_only_what_is_due_now(app, chat):
    await approve_creator(app.sessionmaker, ALICE)
    await add_submission(app, ALICE, "草稿一", SubmissionStatus.draft, END - 60 * DAY)
    assert await scan(app, END + DAY) == 0  # closed: no deadline (and no idle-draft) reminders
    assert await keys(app, Kind.deadline) == [] and await keys(app, Kind.draft_idle) == []
    assert await outbox(app, ALICE) == []

    # down from before the 30-day moment until 5 days before the end: the 7-day one only, once
    five = END - 5 * DAY - timedelta(hours=6)  # 17:59:59 local
    assert await scan(app, five) == 2  # the deadline and the idle draft
    assert await scan(app, five + timedelta(minutes=15)) == 0
    assert await keys(app, Kind.deadline) == [f"deadline:{ALICE}:20240331:7d"]
    assert "还有 7 天" in (await texts_to(app, chat, ALICE))[0]


async def test_a_kind_turned_off_is_not_sent_and_a_turned_on_one_is_sent_once(app, chat):
    await approve_creator(app.sessionmaker, ALICE)
    await approve_creator(app.sessionmaker, BOB, "大科说")
    async with app.sessionmaker.begin() as session:
        assert await set_enabled(session, ALICE, Kind.deadline, False, now=NOON) is False
    day = END - 7 * DAY + timedelta(hours=14)  # the next day's 13:59:59 local
    assert await scan(app, day) == 1
    assert await keys(app, Kind.deadline) == [f"deadline:{BOB}:20240331:7d"]
    assert await texts_to(app, chat, ALICE) == [] and len(await texts_to(app, chat, BOB)) == 1
    async with app.sessionmaker.begin() as session:
        await set_enabled(session, ALICE, Kind.deadline, True, now=day)
    assert await scan(app, day + timedelta(minutes=15)) == 1  # on again: the occasion still due
    assert await scan(app, day + timedelta(minutes=30)) == 0


# ---------------------------------------------------------------- drafts and registrations


async def test_an_idle_draft_is_reminded_once_per_idle_stretch(app, chat):
    sub_id = await add_submission(app, ALICE, "光的折射", SubmissionStatus.draft, NOON)
    await add_submission(app, ALICE, "已提交的", SubmissionStatus.submitted, NOON)
    assert await scan(app, NOON + 3 * DAY - timedelta(minutes=1)) == 0
    assert await scan(app, NOON + 3 * DAY) == 1
    assert await scan(app, NOON + 3 * DAY) == 0
    assert await scan(app, NOON + 5 * DAY) == 0  # the same stretch
    (text,) = await texts_to(app, chat, ALICE)
    assert "《光的折射》" in text and "3 天没有修改" in text
    async with app.sessionmaker.begin() as session:  # she works on it again
        (await session.get(Submission, sub_id)).updated_at = NOON + 6 * DAY
    assert await scan(app, NOON + 8 * DAY) == 0
    assert await scan(app, NOON + 9 * DAY) == 1
    assert await keys(app, Kind.draft_idle) == [f"draft_idle:{ALICE}:sub{sub_id}:20240310",
                                                f"draft_idle:{ALICE}:sub{sub_id}:20240316"]


async def _registration(app, user_id: int, status: RegistrationStatus, at: datetime) -> int:
    async with app.sessionmaker.begin() as session:
        await upsert_user(session, user_id, first_name="报名者")
        await session.flush()
        reg = Registration(user_id=user_id, account_name=f"号{user_id}", account_key=f"k{user_id}",
                           subject_type="individual", subject_name="某", person_name="某", unit="某", position="某",
                           title="某", field="物理", phone="+8613800138000", email="a@example.org", experience="多年",
                           recommender="中国物理学会", status=status, created_at=at, updated_at=at, round=1,
                           scan_count=0)
        if status == RegistrationStatus.rejected:
            reg.reviewed_at, reg.decision_reason, reg.fields_to_fix = at, "单位名称与公章不符", '["unit"]'
        session.add(reg)
        await session.flush()
        return reg.id


async def test_a_registration_waiting_for_its_scan_or_sent_back_is_reminded_after_idle_days(app, chat):
    waiting = await _registration(app, ALICE, RegistrationStatus.awaiting_seal, NOON)
    back = await _registration(app, BOB, RegistrationStatus.rejected, NOON)
    await _registration(app, CAROL, RegistrationStatus.pending_review, NOON)  # nothing to remind her of
    assert await scan(app, NOON + 3 * DAY - timedelta(seconds=1)) == 1  # only the operators' digest
    assert await keys(app, Kind.digest) == [f"digest:{ADMIN_ID}:20240313"]
    assert await scan(app, NOON + 3 * DAY) == 2
    assert await scan(app, NOON + 3 * DAY + timedelta(hours=2)) == 0
    assert await keys(app, Kind.seal_waiting) == [f"seal_waiting:{ALICE}:reg{waiting}:r1:20240310"]
    assert await keys(app, Kind.sent_back) == [f"sent_back:{BOB}:reg{back}:202403100400"]
    assert "扫描件" in (await texts_to(app, chat, ALICE))[0]
    bob = chat.tg.sent[BOB][0].text
    assert "已退回 3 天" in bob and "单位名称与公章不符" in bob
    assert chat.tg.sent[CAROL] == []


# ---------------------------------------------------------------- review


async def _round(app, sub_id: int, **values) -> int:
    async with app.sessionmaker.begin() as session:
        rnd = ReviewRound(submission_id=sub_id, number=1, opened_at=NOON - 20 * DAY, **values)
        session.add(rnd)
        await session.flush()
        return rnd.id


async def test_a_revision_not_resubmitted_is_reminded_3_days_and_1_day_before(app, chat):
    until = NOON + 10 * DAY
    sub_id = await add_submission(app, ALICE, "声音的传播", SubmissionStatus.revise, NOON)
    await _round(app, sub_id, status=RoundStatus.decided, decision=Verdict.revise, decided_at=NOON,
                 revise_until=until)
    assert await scan(app, until - 3 * DAY - timedelta(minutes=1)) == 0
    assert await scan(app, until - 3 * DAY) == 1
    assert await scan(app, until - 2 * DAY) == 0
    assert await scan(app, until - DAY) == 1
    assert await scan(app, until + timedelta(minutes=1)) == 0  # past it: nothing more
    assert await keys(app, Kind.revise_pending) == [f"revise_pending:{ALICE}:sub{sub_id}:r1:1d",
                                                    f"revise_pending:{ALICE}:sub{sub_id}:r1:3d"]
    first, last = await texts_to(app, chat, ALICE)
    assert "《声音的传播》" in first and "还剩 3 天" in first and "还剩 1 天" in last


async def test_a_review_due_soon_then_overdue_goes_to_the_reviewer_and_overdue_into_the_operators_digest(app, chat):
    due = datetime(2024, 3, 12, 4, 0, tzinfo=UTC)  # 12:00 local
    sub_id = await add_submission(app, ALICE, "细胞的秘密", SubmissionStatus.under_review, NOON)
    round_id = await _round(app, sub_id, status=RoundStatus.reviewing)
    async with app.sessionmaker.begin() as session:  # both reviewers on it (through transition: the counters)
        for reviewer, until in ((REVIEWER, due), (REVIEWER + 1, due + 30 * DAY)):
            await upsert_user(session, reviewer, first_name="评审")
            await session.flush()
            await transition(session, ReviewAssignment(round_id=round_id, reviewer_id=reviewer, assigned_at=NOON,
                                                       due_at=until), AssignmentStatus.assigned, actor_id=None, now=NOON)
    assert await scan(app, due - 2 * DAY - timedelta(minutes=1)) == 0
    assert await scan(app, due - 2 * DAY) == 1
    assert await scan(app, due - DAY) == 0
    # overdue: the reviewer once more, and today's digest (after 09:00) now has something to say
    assert await scan(app, due + timedelta(minutes=1)) == 2
    soon, overdue = await texts_to(app, chat, REVIEWER)
    assert "即将到期" in soon and "《细胞的秘密》" in soon and "逾期" in overdue
    assert await scan(app, due + DAY - timedelta(hours=3, minutes=1)) == 0  # 08:59 next day
    assert await scan(app, due + DAY - timedelta(hours=3)) == 1  # 09:00: the next digest, still overdue
    assert len(chat.tg.sent[REVIEWER]) == 2
    digest = (await texts_to(app, chat, ADMIN_ID))[-1]
    assert "逾期未完成的评审：1 份" in digest and "《细胞的秘密》" in digest
    assert "待分配评审或待决定的评审轮次" not in digest  # both reviewers on it, one late: nothing to assign or decide


# ---------------------------------------------------------------- branding and 已标注


async def test_branding_rules_when_accepted_then_weekly_until_the_creator_presses_shown(app, chat):
    app.dispatcher["clock"] = lambda: NOON + 8 * DAY
    sub_id = await add_submission(app, ALICE, "火山爆发", SubmissionStatus.accepted, NOON)
    await _round(app, sub_id, status=RoundStatus.decided, decision=Verdict.accept, decided_at=NOON)
    other = await add_submission(app, BOB, "别人的", SubmissionStatus.accepted, NOON)
    await _round(app, other, status=RoundStatus.decided, decision=Verdict.accept, decided_at=NOON)
    assert await scan(app, NOON + timedelta(minutes=5)) == 2
    assert await scan(app, NOON + 3 * DAY) == 0
    (first,) = await texts_to(app, chat, ALICE)
    assert "已入选" in first and "科普中国网络创作培育计划" in first
    assert all(rule.text[:10] in first for rule in app.campaign.requirements.branding)
    row = (await outbox(app, ALICE))[0]
    assert row.not_before == NOON + timedelta(minutes=5)  # at noon: not held

    assert await scan(app, NOON + 7 * DAY) == 2  # a week later
    await app.dispatcher["outbox"].drain(chat.bot)
    again = chat.tg.sent[ALICE][-1]
    assert "品牌标注提醒" in again.text and any("已标注" in b["text"] for b in again.buttons)

    alice = chat.user(ALICE, "Alice")
    await alice.press("已标注")
    assert "已记录" in (alice.last_alert or "")
    confirmed = await rows(app, ReminderSent, ReminderSent.key == f"branding_confirmed:{sub_id}")
    assert [r.user_id for r in confirmed] == [ALICE]
    await alice.press("已标注", data=BrandingCB(sub=sub_id).pack())  # an old copy of the button
    assert "已经记录过了" in (alice.last_alert or "")
    await alice.press("", data=BrandingCB(sub=other).pack())  # someone else's work
    assert "按钮已失效" in (alice.last_alert or "")
    await alice.press("", data="brd:abc")  # garbled
    assert "按钮已失效" in (alice.last_alert or "")
    assert await rows(app, ReminderSent, ReminderSent.key == f"branding_confirmed:{other}") == []

    assert await scan(app, NOON + 14 * DAY) == 1  # only Bob, who did not confirm
    assert [m.method for m in chat.tg.sent[ALICE]] == ["sendMessage", "sendMessage", "editMessageReplyMarkup"]
    assert await keys(app, Kind.branding) == sorted([f"branding:{ALICE}:sub{sub_id}:w0", f"branding:{ALICE}:sub{sub_id}:w1",
                                                     f"branding_confirmed:{sub_id}", f"branding:{BOB}:sub{other}:w0",
                                                     f"branding:{BOB}:sub{other}:w1", f"branding:{BOB}:sub{other}:w2"])


# ---------------------------------------------------------------- operators' digest


async def test_the_operators_digest_comes_at_nine_local_once_a_day_when_something_waits(app, chat):
    eight59 = datetime(2024, 3, 10, 0, 59, tzinfo=UTC)
    assert await scan(app, eight59 + timedelta(minutes=1)) == 0  # nothing waits: no digest
    await _registration(app, ALICE, RegistrationStatus.pending_review, NOON)
    async with app.sessionmaker.begin() as session:
        await upsert_user(session, BOB, first_name="提问者")
        await session.flush()
        session.add(Inquiry(user_id=BOB, topic="other", question="怎么申报？", status=InquiryStatus.open))
    assert await scan(app, eight59) == 0
    assert await scan(app, eight59 + timedelta(minutes=1)) == 1
    assert await scan(app, eight59 + timedelta(hours=5)) == 0
    (text,) = await texts_to(app, chat, ADMIN_ID)
    assert "待审核的科普号报名：1 个" in text and "待回答的问题：1 个" in text and "03月10日" in text
    assert "逾期" not in text
    assert await scan(app, eight59 + timedelta(days=1, minutes=1)) == 1
    assert await keys(app, Kind.digest) == [f"digest:{ADMIN_ID}:20240310", f"digest:{ADMIN_ID}:20240311"]


# ---------------------------------------------------------------- only what is new is rendered; pages


def reminder_renders(chat) -> list[str]:
    return [r.name for r in chat.renders if r.name.startswith("reminders/")]


async def test_a_scan_renders_only_the_reminders_not_sent_before(app, chat):
    for user_id in (ALICE, BOB):
        await approve_creator(app.sessionmaker, user_id, f"号{user_id}")
    await add_submission(app, ALICE, "黑洞是什么", SubmissionStatus.draft, NOON)
    seven = END - 7 * DAY + timedelta(hours=14)  # 13:59:59 local: no quiet hours, after the digest's 09:00
    chat.renders.clear()
    assert await scan(app, seven) == 3  # the deadline for both, and her idle draft
    assert sorted(reminder_renders(chat)) == ["reminders/deadline", "reminders/deadline", "reminders/draft_idle"]

    chat.renders.clear()
    assert await scan(app, seven + timedelta(minutes=15)) == 0
    assert reminder_renders(chat) == []  # all sent before: nothing rendered

    await approve_creator(app.sessionmaker, CAROL, "新科说")  # a creator approved since
    chat.renders.clear()
    assert await scan(app, seven + timedelta(minutes=30)) == 1
    assert reminder_renders(chat) == ["reminders/deadline"]
    assert chat.renders[-1].values["drafts"] == [] and "/apply" in chat.renders[-1].text
    assert await keys(app, Kind.deadline) == sorted(f"deadline:{u}:20240331:7d" for u in (ALICE, BOB, CAROL))


async def test_pages_and_batches_of_two_keep_each_creators_drafts_the_last_round_and_the_order(app, chat, monkeypatch):
    monkeypatch.setattr(jobs, "PAGE", 2)
    monkeypatch.setattr(jobs, "SENT_BATCH", 2)
    creators = [ALICE, BOB, CAROL, 1004, 1005]
    for user_id in creators:
        await approve_creator(app.sessionmaker, user_id, f"号{user_id}")
    # drafts in id order across creators: Alice's come before and after Bob's and Carol's
    titles = {ALICE: ["甲一", "甲二", "甲三"], BOB: ["乙一"], CAROL: ["丙一", "丙二"], 1005: ["戊一"]}
    for k in range(3):
        for user_id, mine in titles.items():
            if k < len(mine):
                await add_submission(app, user_id, mine[k], SubmissionStatus.draft, NOON)
    # a revised work whose rounds straddle a page: reminded of its last revise round only
    last_day = END - DAY + timedelta(hours=8)  # 15:59:59 local on the last day
    revised = await add_submission(app, BOB, "声音的传播", SubmissionStatus.revise, NOON)
    async with app.sessionmaker.begin() as session:
        # round 1: no occasion yet; round 2: its 3-day one; round 3, the last: its 1-day one
        for number, deadline in ((1, last_day + 10 * DAY), (2, last_day + 2 * DAY), (3, last_day + DAY / 2)):
            session.add(ReviewRound(submission_id=revised, number=number, opened_at=NOON, status=RoundStatus.decided,
                                    decision=Verdict.revise, decided_at=NOON, revise_until=deadline))
    chat.renders.clear()
    assert await scan(app, last_day) == 4 + 7 + 1  # deadline: 4 with drafts; 7 idle drafts; the revision
    assert await keys(app, Kind.deadline) == sorted(f"deadline:{u}:20240331:1d" for u in (ALICE, BOB, CAROL, 1005))
    assert await keys(app, Kind.revise_pending) == [f"revise_pending:{BOB}:sub{revised}:r3:1d"]
    named = {r.values["drafts"][0].user_id: [d.title for d in r.values["drafts"]] for r in chat.renders
             if r.name == "reminders/deadline"}
    assert named == titles
    # queued creator by creator (ids in order), each one's drafts in id order
    queued = [(row.chat_id, json.loads(row.payload)["text"]) for row in await rows(app, OutboxMessage,
                                                                                   order=OutboxMessage.id)]
    deadlines = [(chat_id, text) for chat_id, text in queued if "申报截止提醒" in text]
    assert [chat_id for chat_id, _ in deadlines] == [ALICE, BOB, CAROL, 1005]
    alice = deadlines[0][1]
    assert alice.index("《甲一》") < alice.index("《甲二》") < alice.index("《甲三》") and "丙一" not in alice
    chat.renders.clear()
    assert await scan(app, last_day + timedelta(minutes=15)) == 0
    assert reminder_renders(chat) == []


# ---------------------------------------------------------------- faults


async def test_a_person_who_blocked_the_bot_is_recorded_failed_and_not_queued_again(app, chat):
    await add_submission(app, ALICE, "被拉黑", SubmissionStatus.draft, NOON)
    chat.tg.blocked.add(ALICE)
    assert await scan(app, NOON + 3 * DAY) == 1
    await app.dispatcher["outbox"].drain(chat.bot)
    (row,) = await outbox(app, ALICE)
    assert row.status == OutboxStatus.failed and "blocked" in (row.last_error or "")
    assert await scan(app, NOON + 3 * DAY + timedelta(minutes=15)) == 0
    assert await app.dispatcher["outbox"].drain(chat.bot) == 0
    assert len(await outbox(app, ALICE)) == 1


async def test_two_transactions_queueing_the_same_key_one_wins(app):
    async with app.sessionmaker.begin() as session:
        await upsert_user(session, ALICE, first_name="Alice")
    reminder = Reminder(ALICE, Kind.draft_idle, f"draft_idle:{ALICE}:sub1:20240310", "提醒")
    first_queued = asyncio.Event()

    async def first() -> bool:
        async with app.sessionmaker.begin() as session:
            sent = await send_once(session, app.campaign, reminder, now=NOON)
            first_queued.set()
            await asyncio.sleep(0.3)  # the other one is waiting on the key now
            return sent

    async def second() -> bool:
        await first_queued.wait()
        async with app.sessionmaker.begin() as session:
            return await send_once(session, app.campaign, reminder, now=NOON)

    assert await asyncio.gather(first(), second()) == [True, False]
    assert [r.key for r in await rows(app, ReminderSent)] == [reminder.key]
    assert len(await outbox(app, ALICE)) == 1


async def test_an_urgent_reminder_is_never_held_for_the_night(app):
    async with app.sessionmaker.begin() as session:
        await upsert_user(session, ALICE, first_name="Alice")
    night = datetime(2024, 3, 10, 15, 0, tzinfo=UTC)  # 23:00 local
    async with app.sessionmaker.begin() as session:
        assert await send_once(session, app.campaign, Reminder(ALICE, Kind.branding, "u:1", "紧急", urgent=True),
                               now=night)
        assert await send_once(session, app.campaign, Reminder(ALICE, Kind.branding, "u:2", "不急"), now=night)
    urgent, calm = await outbox(app, ALICE)
    assert (urgent.status, urgent.not_before) == (OutboxStatus.pending, night)
    assert (calm.status, calm.not_before) == (OutboxStatus.held, datetime(2024, 3, 11, 0, 0, tzinfo=UTC))


async def test_the_lesson_drip_skips_those_who_turned_lessons_off(app):
    curriculum = app.dispatcher["curriculum"]
    assert curriculum and app.campaign.academy.drip
    await approve_creator(app.sessionmaker, ALICE)
    await approve_creator(app.sessionmaker, BOB, "大科说")
    later = datetime.now(UTC) + timedelta(days=1)
    async with app.sessionmaker.begin() as session:
        await set_enabled(session, ALICE, Kind.lesson, False, now=later)
    assert await academy_jobs.offer_lessons(app.sessionmaker, later, campaign=app.campaign, texts=app.texts,
                                            curriculum=curriculum) == 1
    assert [r.chat_id for r in await rows(app, OutboxMessage)] == [BOB]
