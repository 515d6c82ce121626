"""Broadcasts (issue 12): an operator composes a message to a segment, sees the preview and the
number of recipients, confirms; the job fans the one broadcast row out in batches, the sender
delivers the copies once each, and the operator gets the report (sent, blocked, failed). A person
who blocked the bot is marked unreachable and skipped until they write again. And the refusals: an
empty segment, ids that are not ids or of nobody the bot knows, a caption too long, a sticker for a
message, a creator's /broadcast, a forged button. Then the sender's lease: one process sends at a
time, another takes over when it stops or dies."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from bot.callbacks import BroadcastAction, BroadcastCB, minute_stamp
from bot.jobs.broadcasts import fan_out
from bot.outbox import lease, queue
from bot.outbox.sender import OutboxSender
from bot.services import broadcasts
from bot.services.broadcasts import Segment, SegmentKind
from bot.services.users import Role, grant_role, upsert_user
from storage.models import AuditEntry, Broadcast, Lease, OutboxMessage, Submission, User, utcnow
from storage.statuses import BroadcastStatus, OutboxStatus, SubmissionStatus
from tests.conftest import ADMIN_ID, approve_creator
from tests.media import make_image

APPROVED = (1001, 1002, 1003)
NEWCOMER = 1004  # opened the bot, not registered
REVIEWER = 2001
NOW = utcnow().replace(microsecond=0)


@pytest.fixture
async def people(app, chat):
    app.dispatcher["clock"] = lambda: NOW
    for uid in APPROVED:
        await approve_creator(app.sessionmaker, uid, account_name=f"科普号{uid}")
    async with app.sessionmaker.begin() as session:
        for uid, name in ((NEWCOMER, "新人"), (REVIEWER, "评审"), (ADMIN_ID, "Admin")):
            await upsert_user(session, uid, first_name=name)
        await session.flush()
        await grant_role(session, REVIEWER, Role.reviewer, ADMIN_ID)
    users = {uid: chat.user(uid, f"用户{uid}") for uid in (*APPROVED, NEWCOMER, REVIEWER, ADMIN_ID)}
    for user in users.values():
        await user.send("/start")
        user.new()
    return users


async def run_out(app, chat, rounds: int = 5) -> None:
    """The job and the sender until the broadcasts are over (the clock: each job run is a tick)."""
    texts = app.texts
    for _ in range(rounds):
        await fan_out(app.sessionmaker, NOW, texts=texts, admin_ids=(ADMIN_ID,))
        await app.dispatcher["outbox"].drain(chat.bot)


async def the_broadcast(app) -> Broadcast:
    async with app.sessionmaker() as session:
        return (await session.execute(select(Broadcast).order_by(Broadcast.id.desc()).limit(1))).scalar_one()


async def compose(admin, segment: str, message: str | dict) -> list:
    """/broadcast, a segment, the message (a text, or a message's content with its entities):
    what the bot answered to the message."""
    await admin.send("/broadcast")
    await admin.press(segment)
    return await (admin.send(message) if isinstance(message, str) else admin.send_message(message))


async def test_a_text_to_approved_creators_goes_once_to_each_with_a_report(app, chat, people):
    admin = people[ADMIN_ID]
    bold = {"text": "截止提醒：申报 3 月 31 日截止", "entities": [{"type": "bold", "offset": 0, "length": 4}]}
    answer = await compose(admin, "科普号已通过的创作者", bold)
    # the preview first, as the recipients will see it, formatting kept
    assert answer[0].text == "<b>截止提醒</b>：申报 3 月 31 日截止"
    assert admin.rendered("broadcasts/preview_note")
    assert "将发送给 <b>3</b> 人" in admin.last_text
    await admin.press("确认发送")
    started = admin.rendered("broadcasts/started")
    assert started and started.values["total"] == 3
    row = await the_broadcast(app)
    assert (row.status, row.total, row.segment, row.author_id) == (BroadcastStatus.sending, 3, "approved", ADMIN_ID)
    async with app.sessionmaker() as session:
        # nothing is fanned out inside the operator's update: the job does it
        assert (await session.execute(select(func.count()).select_from(OutboxMessage)
                                      .where(OutboxMessage.broadcast_id == row.id))).scalar_one() == 0
        audit = (await session.execute(select(AuditEntry).where(AuditEntry.entity == "broadcasts"))).scalars().all()
        assert [(a.from_status, a.to_status, a.actor_id) for a in audit] == [(None, "sending", ADMIN_ID)]

    await run_out(app, chat)
    for uid in APPROVED:
        got = [m for m in chat.tg.sent[uid] if "截止提醒" in m.text]
        assert len(got) == 1 and got[0].text == "<b>截止提醒</b>：申报 3 月 31 日截止"
    for uid in (NEWCOMER, REVIEWER):
        assert not [m for m in chat.tg.sent[uid] if "截止提醒" in m.text]
    row = await the_broadcast(app)
    assert row.status == BroadcastStatus.done and row.finished_at is not None
    report = [m for m in chat.tg.sent[ADMIN_ID] if "已发送完毕" in m.text]
    assert len(report) == 1 and "已送达：3" in report[0].text and "发送失败：0" in report[0].text
    # running the job and the sender again sends nothing more
    sent_before = sum(len(chat.tg.sent[uid]) for uid in (*APPROVED, ADMIN_ID))
    await run_out(app, chat, rounds=2)
    assert sum(len(chat.tg.sent[uid]) for uid in (*APPROVED, ADMIN_ID)) == sent_before


async def test_who_blocked_the_bot_is_counted_marked_and_skipped_until_they_write(app, chat, people):
    admin = people[ADMIN_ID]
    chat.tg.blocked.add(1002)
    await compose(admin, "全部创作者", "培育计划讲座今晚八点开始")
    assert "将发送给 <b>4</b> 人" in admin.last_text  # 3 approved + the newcomer; not the reviewer or operator
    await admin.press("确认发送")
    await run_out(app, chat)
    report = [m for m in chat.tg.sent[ADMIN_ID] if "已发送完毕" in m.text][-1]
    assert "已送达：3" in report.text and "已屏蔽机器人：1" in report.text
    async with app.sessionmaker() as session:
        assert (await session.get(User, 1002)).unreachable_at is not None
        assert await broadcasts.count(session, Segment(SegmentKind.all), (ADMIN_ID,)) == 3
    # the next broadcast skips them and says so
    await compose(admin, "全部创作者", "第二条通知")
    assert "将发送给 <b>3</b> 人" in admin.last_text and "1 人屏蔽了机器人" in admin.last_text
    await admin.press("确认发送")
    await run_out(app, chat)
    assert not [m for m in chat.tg.sent[1002] if "第二条通知" in m.text]
    # they unblock and write: reachable again
    chat.tg.blocked.discard(1002)
    await people[1002].send("/start")
    async with app.sessionmaker() as session:
        assert (await session.get(User, 1002)).unreachable_at is None


async def test_a_photo_with_its_caption_and_a_category_segment(app, chat, people, tmp_path):
    async with app.sessionmaker.begin() as session:
        session.add_all([Submission(user_id=1001, kind="work", category=app.campaign.categories[0].id, title="光",
                                    answers="{}", status=SubmissionStatus.submitted),
                         Submission(user_id=1002, kind="work", category=app.campaign.categories[0].id, title="影",
                                    answers="{}", status=SubmissionStatus.draft),
                         Submission(user_id=1003, kind="work", category=app.campaign.categories[1].id, title="声",
                                    answers="{}", status=SubmissionStatus.under_review)])
    admin = people[ADMIN_ID]
    await admin.send("/broadcast")
    await admin.press("某一类别的申报者")
    await admin.press(app.campaign.categories[0].name)
    poster = tmp_path / "poster.png"
    make_image(poster, 640, 360)
    await admin.upload(poster, as_="photo", caption="评审说明会海报")
    assert "将发送给 <b>1</b> 人" in admin.last_text and app.campaign.categories[0].name in admin.last_text
    await admin.press("确认发送")
    await run_out(app, chat)
    got = [m for m in chat.tg.sent[1001] if m.method == "sendPhoto"]
    assert len(got) == 1 and got[0].text == "评审说明会海报"
    assert not [m for m in chat.tg.sent[1002] + chat.tg.sent[1003] if m.method == "sendPhoto"]


async def test_bad_input_is_refused_with_the_reason_and_keeps_what_was_chosen(app, chat, people, tmp_path):
    admin = people[ADMIN_ID]
    await admin.send("/broadcast")
    await admin.press("有未提交草稿的创作者")  # nobody has a draft
    assert admin.rendered("forms/errors/broadcast_empty") and "没有可以送达的人" in admin.last_text
    await admin.press("指定用户（输入 id）")
    await admin.send("1001, 张三")
    assert admin.rendered("forms/errors/broadcast_bad_ids") and "张三" in admin.last_text
    await admin.send("1001 5555")
    assert admin.rendered("forms/errors/broadcast_unknown_ids") and "5555" in admin.last_text
    await admin.send("1001，1003")  # full-width comma
    await admin.sticker()
    assert admin.rendered("forms/errors/wrong_kind")
    poster = tmp_path / "poster.png"
    make_image(poster, 200, 200)
    await admin.upload(poster, as_="photo", caption="长" * 1100)
    error = admin.rendered("forms/errors/broadcast_caption_too_long")
    assert error and error.values["length"] == 1100 and error.values["limit"] == 1024
    await admin.send("只发文字")
    assert "将发送给 <b>2</b> 人" in admin.last_text and "1001" in admin.last_text  # the ids were kept
    await admin.press("确认发送")
    row = await the_broadcast(app)
    assert json.loads(row.segment_arg) == [1001, 1003]
    await run_out(app, chat)
    assert [m.text for m in chat.tg.sent[1003] if m.text == "只发文字"] == ["只发文字"]
    assert not [m for m in chat.tg.sent[1002] if m.text == "只发文字"]


async def test_only_operators_broadcast_and_forged_buttons_change_nothing(app, chat, people):
    alice = people[1001]
    await alice.send("/broadcast")
    assert not alice.rendered("forms/broadcast/_intro")
    await alice.press("", data=BroadcastCB(id=0, action=BroadcastAction.new).pack())
    assert chat.tg.alerts[-1][1] and "权限" in chat.tg.alerts[-1][1] or "工作人员" in chat.tg.alerts[-1][1]
    admin = people[ADMIN_ID]
    await admin.press("", data=BroadcastCB(id=999, action=BroadcastAction.cancel).pack())  # no such broadcast
    assert chat.tg.alerts[-1][2] is True
    await admin.press("", data="bc:1:explode")  # garbled
    assert chat.tg.alerts[-1][2] is True


async def test_an_operator_stops_a_broadcast_and_a_second_stop_changes_nothing(app, chat, people):
    admin = people[ADMIN_ID]
    await compose(admin, "全部创作者", "这条会被停止")
    await admin.press("确认发送")
    await admin.press("停止发送")
    assert admin.rendered("broadcasts/cancel_ask")
    # meanwhile the job queues the copies (the harness's sender runs after each update, like the bot's)
    assert await fan_out(app.sessionmaker, NOW, texts=app.texts, admin_ids=(ADMIN_ID,)) == 4
    await admin.press("确认停止")
    report = admin.rendered("broadcasts/report")
    assert report and report.values["r"].cancelled == 4 and report.values["r"].sent == 0
    assert "停止后未发出：4" in admin.last_text
    row = await the_broadcast(app)
    assert row.status == BroadcastStatus.cancelled
    await run_out(app, chat)
    assert not any(m.text == "这条会被停止" for uid in (*APPROVED, NEWCOMER) for m in chat.tg.sent[uid])
    # the confirm button pressed again: already stopped, nothing changes
    again = BroadcastCB(id=row.id, action=BroadcastAction.cancel_yes, arg=minute_stamp(NOW)).pack()
    await admin.press("", data=again)
    assert "已经停止" in admin.last_text
    async with app.sessionmaker() as session:
        audit = (await session.execute(select(AuditEntry.to_status).where(AuditEntry.entity == "broadcasts",
                                                                          AuditEntry.entity_id == row.id))).all()
    assert [a[0] for a in audit] == ["sending", "cancelled"]


async def _many_users(app, n: int, first: int = 500_000_000) -> None:
    async with app.sessionmaker.begin() as session:
        await session.execute(insert(User), [{"id": first + i, "first_name": "c", "created_at": NOW,
                                              "last_seen_at": NOW} for i in range(n)])


async def test_fan_out_queues_batches_and_two_runs_at_once_queue_nobody_twice(app):
    await _many_users(app, 1000)
    async with app.sessionmaker.begin() as session:
        segment = Segment(SegmentKind.all)
        total = await broadcasts.count(session, segment, (ADMIN_ID,))
        row = await broadcasts.create(session, ADMIN_ID, segment, broadcasts.payload("hi"), total, NOW)
    assert total == 1000
    # two processes' jobs at once: the cursor's conditional update lets one of them queue each batch
    queued = await asyncio.gather(*(fan_out(app.sessionmaker, NOW, texts=app.texts, admin_ids=(ADMIN_ID,))
                                    for _ in range(2)))
    assert sum(queued) == broadcasts.BATCH  # one batch: the other run found the cursor moved
    async with app.sessionmaker() as session:
        rows = (await session.execute(select(OutboxMessage.chat_id).where(OutboxMessage.broadcast_id == row.id))).all()
    assert len(rows) == len({r[0] for r in rows}) == broadcasts.BATCH
    # nothing more while enough copies wait to be sent (the outbox never holds a whole broadcast)
    assert await fan_out(app.sessionmaker, NOW, texts=app.texts, admin_ids=(ADMIN_ID,)) == 0
    async with app.sessionmaker.begin() as session:  # as if the sender had sent them
        await session.execute(OutboxMessage.__table__.update().where(OutboxMessage.broadcast_id == row.id)
                              .values(status=OutboxStatus.sent))
    for _ in range(4):
        await fan_out(app.sessionmaker, NOW, texts=app.texts, admin_ids=(ADMIN_ID,))
        async with app.sessionmaker.begin() as session:
            await session.execute(OutboxMessage.__table__.update().where(OutboxMessage.broadcast_id == row.id)
                                  .values(status=OutboxStatus.sent))
    async with app.sessionmaker() as session:
        chats = [r[0] for r in (await session.execute(select(OutboxMessage.chat_id)
                                                      .where(OutboxMessage.broadcast_id == row.id)))]
        row = await session.get(Broadcast, row.id)
    assert len(chats) == len(set(chats)) == 1000 and row.fanned_out and row.queued == 1000
    assert row.status == BroadcastStatus.done


async def test_notifications_go_before_a_broadcast_s_copies(app):
    await _many_users(app, 3)
    async with app.sessionmaker.begin() as session:
        await queue.enqueue_many(session, [(500_000_000, {"kind": "message", "text": "copy"})], broadcast=1)
        await queue.enqueue_many(session, [(500_000_001, {"kind": "message", "text": "decision"})])
    async with app.sessionmaker() as session:
        due = await queue.due(session, utcnow())
    assert [json.loads(r.payload)["text"] for r in due] == ["decision", "copy"]


async def test_a_broadcast_copy_survives_429_and_5xx_and_is_sent_once(app, chat, people):
    admin = people[ADMIN_ID]
    await compose(admin, "评审专家", "评审会改到周五")
    await admin.press("确认发送")
    await fan_out(app.sessionmaker, NOW, texts=app.texts, admin_ids=(ADMIN_ID,))
    chat.tg.fail_next["sendMessage"] = {"status": 429, "body": {"ok": False, "error_code": 429,
                                                              "description": "Too Many Requests: retry after 1",
                                                              "parameters": {"retry_after": 1}}}
    sender = app.dispatcher["outbox"]
    await sender.drain(chat.bot)
    async with app.sessionmaker() as session:
        row = (await session.execute(select(OutboxMessage).where(OutboxMessage.chat_id == REVIEWER,
                                                                 OutboxMessage.broadcast_id.is_not(None)))).scalar_one()
    assert row.status == OutboxStatus.pending and row.attempts == 0  # 429: waits retry_after, not a try used
    chat.tg.fail_next["sendMessage"] = {"status": 502, "body": {"ok": False, "error_code": 502,
                                                              "description": "Bad Gateway"}}
    async with app.sessionmaker.begin() as session:  # the wait is over
        await session.execute(OutboxMessage.__table__.update().where(OutboxMessage.id == row.id).values(not_before=NOW))
    await sender.drain(chat.bot)
    async with app.sessionmaker.begin() as session:
        await session.execute(OutboxMessage.__table__.update().where(OutboxMessage.id == row.id).values(not_before=NOW))
    await sender.drain(chat.bot)
    assert [m.text for m in chat.tg.sent[REVIEWER] if m.text == "评审会改到周五"] == ["评审会改到周五"]


# ---------------------------------------------------------------- the sender's lease


async def test_one_sender_at_a_time_and_a_takeover_when_the_holder_dies(app, chat, people):
    await app.dispatcher["outbox"].give_up_lease()  # the harness's own sender (it ran for /start)
    clock = [utcnow()]
    first = OutboxSender(app.sessionmaker, shared=True, holder="a", clock=lambda: clock[0])
    second = OutboxSender(app.sessionmaker, shared=True, holder="b", clock=lambda: clock[0])
    assert await first.hold_lease() and not await second.hold_lease()
    async with app.sessionmaker.begin() as session:
        await queue.enqueue_many(session, [(1001, {"kind": "message", "text": "一条通知"})])
    assert await second.drain(chat.bot) == 0  # not the holder: sends nothing
    assert not [m for m in chat.tg.sent[1001] if m.text == "一条通知"]
    # the holder claimed a row and died before sending it: the row stays 'sending' ...
    async with app.sessionmaker.begin() as session:
        stuck = (await session.execute(select(OutboxMessage).where(OutboxMessage.chat_id == 1001))).scalar_one()
        assert await queue.claim(session, stuck.id, lease=(OutboxSender.LEASE, "a", clock[0]))
    # ... until its lease expires: the other takes it over and sends the row again
    clock[0] += lease.TTL + timedelta(seconds=1)
    second.renew_at = 0
    assert await second.hold_lease()
    assert await second.drain(chat.bot) == 1
    assert [m.text for m in chat.tg.sent[1001] if m.text == "一条通知"] == ["一条通知"]
    # the old holder, back from the dead, can no longer claim anything
    async with app.sessionmaker.begin() as session:
        await queue.enqueue_many(session, [(1002, {"kind": "message", "text": "又一条"})])
        fresh_row = (await session.execute(select(OutboxMessage).where(OutboxMessage.chat_id == 1002))).scalar_one()
        assert not await queue.claim(session, fresh_row.id, lease=(OutboxSender.LEASE, "a", clock[0]))
    first.renew_at = 0
    assert not await first.hold_lease()


async def test_a_clean_stop_frees_the_lease_and_a_lone_process_takes_it_at_start(app, chat):
    await app.dispatcher["outbox"].give_up_lease()
    a = OutboxSender(app.sessionmaker, shared=True, holder="a")
    assert await a.hold_lease()
    await a.give_up_lease()
    async with app.sessionmaker() as session:
        assert await session.get(Lease, OutboxSender.LEASE) is None
    # killed while holding it: a process alone on the database (not shared) takes it at once
    assert await a.hold_lease()
    alone = OutboxSender(app.sessionmaker, shared=False, holder="restarted")
    assert await alone.hold_lease()
    async with app.sessionmaker() as session:
        assert await lease.holder_of(session, OutboxSender.LEASE, utcnow()) == "restarted"


async def test_two_jobs_finishing_one_broadcast_at_once_send_one_report(app, chat, people):
    admin = people[ADMIN_ID]
    await compose(admin, "评审专家", "下周一评审培训")
    await admin.press("确认发送")
    await fan_out(app.sessionmaker, NOW, texts=app.texts, admin_ids=(ADMIN_ID,))
    await app.dispatcher["outbox"].drain(chat.bot)
    await fan_out(app.sessionmaker, NOW, texts=app.texts, admin_ids=(ADMIN_ID,))  # the last (empty) batch
    await asyncio.gather(*(fan_out(app.sessionmaker, NOW, texts=app.texts, admin_ids=(ADMIN_ID,)) for _ in range(2)))
    await app.dispatcher["outbox"].drain(chat.bot)
    assert len([m for m in chat.tg.sent[ADMIN_ID] if "已发送完毕" in m.text]) == 1
    row = await the_broadcast(app)
    async with app.sessionmaker() as session:
        audit = (await session.execute(select(AuditEntry.to_status).where(AuditEntry.entity == "broadcasts",
                                                                          AuditEntry.entity_id == row.id))).all()
    assert [a[0] for a in audit] == ["sending", "done"]


async def test_each_part_of_a_message_keeps_telegram_s_limit_per_chat(app, chat, people):
    """A notification with a file then its text is two messages to one chat: one a second, no 429."""
    from aiogram.types import BufferedInputFile

    from bot.outbox import notify
    from bot.sandbox.emulator import FloodLimits

    someone = 600_000_001  # opened the bot, nothing sent to them yet
    chat.emu.add_users(chat.tg.state, someone, 1)
    chat.emu.set_flood(FloodLimits(per_second=30, per_chat_interval=1.0))
    app.dispatcher["outbox"].per_chat_interval = 1.0  # (the conversation tests' sender does not pace)
    async with app.sessionmaker.begin() as session:
        await notify(session, [someone], "申报表已生成", attachments=[("document", BufferedInputFile(b"pdf", "表.txt"))])
    await app.dispatcher["outbox"].drain(chat.bot)
    assert chat.emu.flood_refused == 0
    assert [m.method for m in chat.tg.sent[someone]] == ["sendDocument", "sendMessage"]
