"""Operators (issue 7, item 5): notifications to an operator who never opened the bot wait for their
/start instead of being lost; the start-up check names the operators the bot cannot reach; the
operators' /start counts what waits for them, with a button to each list; /questions lists the open
questions with a 回复 button each."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import event, select

from bot.services import inquiries, registration
from bot.services.users import Person, Role, upsert_user
from storage.models import Inquiry, OutboxMessage, Submission, SubmissionFile
from tests.conftest import ADMIN_ID
from tests.harness import Conversation, _Fail

NOT_FOUND = (400, "Bad Request: chat not found")
NOT_STARTED = (403, "Forbidden: bot can't initiate conversation with a user")
BLOCKED = (403, "Forbidden: bot was blocked by the user")


def refuse(chat: Conversation, chat_id: int, error: tuple[int, str]) -> set[int]:
    """Telegram refuses every message to `chat_id` with `error` while the id is in the returned set."""
    refused = {chat_id}
    answer = chat.tg._answer

    async def refusing(name, method, params):
        if name.startswith("send") and int(params.get("chat_id", 0)) in refused:
            raise _Fail(error[0], {"ok": False, "error_code": error[0], "description": error[1]})
        return await answer(name, method, params)

    chat.tg._answer = refusing
    return refused


def plain(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


async def outbox_rows(app, chat_id: int) -> list[OutboxMessage]:
    async with app.sessionmaker() as session:
        return list((await session.execute(select(OutboxMessage).where(OutboxMessage.chat_id == chat_id)
                                           .order_by(OutboxMessage.id))).scalars())


async def ask(user, question: str) -> None:
    await user.send("/ask")
    await user.press("作品申报")
    await user.send(question)
    await user.press("确认提交")


@pytest.mark.parametrize("error", [NOT_FOUND, NOT_STARTED], ids=["chat-not-found", "cannot-initiate"])
async def test_a_notification_to_an_operator_who_never_opened_the_bot_waits_for_their_start(chat, app, error):
    refused = refuse(chat, ADMIN_ID, error)
    alice = chat.user(1001, "Alice")
    await ask(alice, "竖屏视频 1080×1920 符合要求吗？")
    assert "已收到您的咨询" in alice.last_text
    (row,) = await outbox_rows(app, ADMIN_ID)
    assert (row.status, row.attempts) == ("held", 0) and error[1] in row.last_error
    assert await app.dispatcher["outbox"].drain(chat.bot) == 0  # held: not retried, not given up

    refused.clear()  # the operator opens the bot
    boss = chat.user(ADMIN_ID, "Boss")
    welcome, notification = await boss.send("/start")
    assert "待回复的咨询：1 条" in plain(welcome.text)
    assert "新咨询" in notification.text and "竖屏视频" in notification.text
    assert [row.status for row in await outbox_rows(app, ADMIN_ID)] == ["sent"]
    await boss.press("回复")
    await boss.send("符合，竖屏短边 1080 像素即可。")
    assert "已将回复发送给提问人" in boss.last_text
    assert "短边 1080" in alice.last_text


async def test_a_blocked_operator_stays_given_up(chat, app):
    refuse(chat, ADMIN_ID, BLOCKED)
    await ask(chat.user(1001, "Alice"), "申报截止时间是什么时候？")
    (row,) = await outbox_rows(app, ADMIN_ID)
    assert row.status == "failed" and "blocked" in row.last_error


async def test_a_creator_s_start_releases_nothing_and_counts_nothing(chat, app):
    """The /start hot path of a creator makes no query about held notifications or waiting work."""
    statements: list[str] = []
    await app.dispatcher["outbox"].hold_lease()  # as the bot does at start (what a stop left goes out again)

    def record(conn, cursor, statement, *args):
        statements.append(statement.lower())

    event.listen(app.engine.sync_engine, "before_cursor_execute", record)
    try:
        replies = await chat.user(1001, "Alice").send("/start")
    finally:
        event.remove(app.engine.sync_engine, "before_cursor_execute", record)
    assert "等待您处理" not in replies[0].text
    assert not [s for s in statements if "update outbox" in s or "inquiries" in s or "submission_files" in s]


async def waiting_work(app) -> list[int]:
    """Two registrations waiting for review, one big file waiting for a check by hand (and one in a
    withdrawn application, which does not count), three open questions and one answered."""
    async with app.sessionmaker.begin() as session:
        for uid, name in ((1001, "小科说"), (1002, "物理小站")):
            await upsert_user(session, uid, first_name=f"U{uid}")
            values = {"account_name": name, "subject_type": "individual", "subject_name": "某人",
                      "person_name": "某人", "unit": "某大学", "position": "教师", "title": "讲师", "field": "物理",
                      "phone": "+8613800138000", "email": "a@example.org", "experience": "多年科普经历。",
                      "experience_file": None, "recommender": "中国物理学会"}
            await registration.save_form(session, uid, values)
            await registration.attach_scan(session, uid, {"file_id": "scan", "kind": "document"})
        for status in ("submitted", "withdrawn"):
            sub = Submission(user_id=1001, kind="work", category="video", title="光的折射", answers="{}", status=status)
            session.add(sub)
            await session.flush()
            session.add(SubmissionFile(submission_id=sub.id, file_id="big", file_unique_id=f"u{sub.id}",
                                       file_name="work.mp4", file_size=300 << 20, sent_as="document",
                                       check_status="deep_pending"))
        ids = [(await inquiries.ask(session, 1001 + i % 2, inquiries.Topic.apply, f"第{i}个问题：截止时间？")).id
               for i in range(4)]
        await inquiries.answer(session, ids[0], Person(ADMIN_ID, "Admin", frozenset({Role.admin})), "已答")
    return ids[1:]


async def test_operator_start_counts_what_waits_with_a_button_to_each_list(chat, app):
    await waiting_work(app)
    (welcome,) = await chat.user(ADMIN_ID, "Boss").send("/start")
    text = plain(welcome.text)
    assert "待审核的科普号注册：2 份" in text and "待人工检查的大文件：1 个" in text and "待回复的咨询：3 条" in text
    buttons = {b["text"]: b["callback_data"] for b in welcome.buttons}
    assert buttons["📋 待审核注册 2"] == "m:pending"
    assert buttons["📦 待查大文件 1"] == "m:big"
    assert buttons["💬 待回复咨询 3"] == "m:qs"
    (empty,) = await chat.user(ADMIN_ID + 1, "Other").send("/start")  # not an operator
    assert "待审核" not in empty.text and "m:qs" not in [b["callback_data"] for b in empty.buttons]


async def test_operator_start_counts_creators_waiting_for_a_tutor_and_requests_nobody_took(chat, app):
    """Only a tutor request and a resource request wait: /start counts them with a button each (before,
    it said 目前没有等待处理的事项 while a creator waited for a tutor)."""
    from tests.conftest import approve_creator
    from tests.test_resources import file_request

    await approve_creator(app.sessionmaker, 1001)
    alice = chat.user(1001, "Alice")
    await alice.send("/start")
    await alice.send("/tutor")
    await alice.send("想请老师看看我的短视频脚本的科学性")  # no tutor yet: it waits for the operators
    await file_request(alice)
    boss = chat.user(ADMIN_ID, "Boss")
    (welcome,) = [m for m in await boss.send("/start") if "欢迎" in m.text]
    text = plain(welcome.text)
    assert "等待分配导师的创作者：1 位（/tutoring）" in text and "无人处理的资源对接申请：1 个（/requests）" in text
    assert "目前没有等待处理的事项" not in text
    assert "🧑‍🏫 待分配导师 1" in welcome.labels and "🤝 待处理资源对接 1" in welcome.labels
    await boss.press("待分配导师 1")
    assert "待分配导师的学员</b>（1 人）" in boss.last_text and "想请老师看看我的短视频脚本的科学性" in boss.last_text
    await boss.send("/start")
    await boss.press("待处理资源对接 1")
    listing = plain(boss.last_text)
    assert "资源对接需求 · 待处理" in listing and "#1 专家咨询 · 🆕 待处理" in listing and "共 1 条" in listing


async def test_open_questions_list_with_a_reply_button_each(chat, app):
    open_ids = await waiting_work(app)
    boss = chat.user(ADMIN_ID, "Boss")
    await boss.send("/start")
    (listing,) = await boss.press("待回复咨询")
    assert listing.method == "editMessageText"  # the menu message turns into the list
    assert "待回复的咨询共 3 条" in plain(listing.text) and "第1个问题" in listing.text
    assert "第0个问题" not in listing.text  # answered already
    assert [label for label in listing.labels if "回复 #" in label] == [
        f"↩️ 回复 #{i} U{1001 + n % 2}" for n, i in zip((1, 2, 3), open_ids, strict=True)]
    await boss.press(f"回复 #{open_ids[1]}")
    await boss.send("截止到 2024 年 3 月 31 日。")
    assert "已将回复发送给提问人" in boss.last_text
    (listing,) = await boss.send("/questions")
    assert "待回复的咨询共 2 条" in plain(listing.text) and f"#{open_ids[1]}" not in listing.text
    async with app.sessionmaker() as session:
        assert (await session.get(Inquiry, open_ids[1])).status == "answered"


async def test_questions_are_for_operators_only(chat, app):
    await waiting_work(app)
    alice = chat.user(1001, "Alice")
    replies = await alice.send("/questions")
    assert "第1个问题" not in " ".join(r.text for r in replies)
    await alice.press("", data="m:qs")
    assert "工作人员" in alice.last_alert


async def test_staff_buttons_and_commands_are_refused_politely(chat, app):
    """Each staff button has its handler behind the policy (Can); the same button from anyone else,
    forged or garbled, gets "only for staff", and staff pressing garbled data get "stale"."""
    await waiting_work(app)
    alice, boss = chat.user(1001, "Alice"), chat.user(ADMIN_ID, "Boss")
    await boss.send("/start")
    for command in ("/pending", "/bigfiles", "/questions"):
        (reply,) = await alice.send(command)
        assert "不认识这个命令" in reply.text, command
    for data in ("m:pending", "m:big", "m:qs", "m:staff", "ss:1:open", "ss:1:pg_1", "ss:1:edit", "mc:1:1",
                 "mc:1:0", "mc:1:x", "r:1:approve", "r:1:reject", "r:1:nosuch", "q:1", "q:x"):
        assert await alice.press("", data=data) == [], data
        assert "仅限工作人员" in alice.last_alert, data
    for data in ("ss:1:edit", "mc:1:x", "r:1:nosuch", "q:x", "ss:999999:open"):
        assert await boss.press("", data=data) == [], data
        assert "失效" in boss.last_alert, data
    async with app.sessionmaker() as session:  # nothing was decided by the refused presses
        files = (await session.execute(select(SubmissionFile))).scalars().all()
        assert all(f.check_status == "deep_pending" for f in files) and files


async def test_start_up_check_names_the_operators_the_bot_cannot_reach(app, caplog):
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    from bot.app import check_operators
    from bot.outbox import notify
    from bot.sandbox.client import SandboxClient
    from bot.sandbox.http import start_server

    runner, url, _ = await start_server()
    bot = Bot("123456:SECRET-TOKEN", session=AiohttpSession(api=TelegramAPIServer.from_base(url)))
    client = SandboxClient(url)
    try:
        await client.send(9002, "/start")  # 9002 opened the bot (while it was down); 9001 never did
        async with app.sessionmaker.begin() as session:
            await notify(session, [9002], "早先的通知")
        async with app.sessionmaker.begin() as session:
            (row,) = await session.scalars(select(OutboxMessage))
            row.status = "held"
        with caplog.at_level(logging.WARNING, logger="kepubot"):
            unreachable = await check_operators(bot, frozenset({9001, 9002}), app.sessionmaker)
        assert unreachable == [9001]
        warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
        assert "9001" in warning and "9002" not in warning and "/start" in warning
        assert "SECRET" not in caplog.text
        assert [r.status for r in await outbox_rows(app, 9002)] == ["pending"]  # goes out now
    finally:
        await client.close()
        await bot.session.close()
        await runner.cleanup()
