"""The outbox: notifications exist only if their update committed, are delivered after it, and are
retried or given up the way Telegram's answers call for."""

from __future__ import annotations

from datetime import timedelta

from aiogram.types import BufferedInputFile
from sqlalchemy import select, update

from bot.outbox import notify
from storage.models import OutboxMessage, utcnow
from tests.harness import Conversation


async def rows(app) -> list[OutboxMessage]:
    async with app.sessionmaker() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def make_due(app) -> None:
    async with app.sessionmaker.begin() as session:
        await session.execute(update(OutboxMessage).values(not_before=utcnow() - timedelta(seconds=1)))


async def test_rolled_back_notifications_are_never_sent(app):
    chat = Conversation(app.dispatcher)
    async with app.sessionmaker() as session:
        await notify(session, [2001], "不该发出的通知")
        await session.rollback()
    assert await app.dispatcher["outbox"].drain(chat.bot) == 0
    assert chat.tg.sent[2001] == []


async def test_delivered_with_attachments_and_buttons(app):
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

    chat = Conversation(app.dispatcher)
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="好", callback_data="m:home")]])
    async with app.sessionmaker.begin() as session:
        await notify(session, [2001, 2002], "新通知", markup,
                     attachments=[("document", BufferedInputFile(b"docx bytes", filename="表.docx"))])
    assert await app.dispatcher["outbox"].drain(chat.bot) == 2
    for chat_id in (2001, 2002):
        document, message = chat.tg.sent[chat_id]
        assert document.document["file_name"] == "表.docx" and document.file_bytes == b"docx bytes"
        assert message.text == "新通知" and message.labels == ["好"]
    assert [r.status for r in await rows(app)] == ["sent", "sent"]


async def test_rate_limit_waits_as_telegram_says(app):
    chat = Conversation(app.dispatcher)
    async with app.sessionmaker.begin() as session:
        await notify(session, [2001], "稍后送达")
    chat.tg.fail_next["sendMessage"] = {"status": 429, "body": {
        "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7}}}
    await app.dispatcher["outbox"].drain(chat.bot)
    (row,) = await rows(app)
    assert row.status == "pending" and row.attempts == 0
    assert timedelta(seconds=5) < row.not_before - utcnow() <= timedelta(seconds=7)
    assert await app.dispatcher["outbox"].drain(chat.bot) == 0  # not due yet
    await make_due(app)
    await app.dispatcher["outbox"].drain(chat.bot)
    assert chat.tg.sent[2001][-1].text == "稍后送达" and (await rows(app))[0].status == "sent"


async def test_a_blocked_person_is_not_retried(app):
    chat = Conversation(app.dispatcher)
    async with app.sessionmaker.begin() as session:
        await notify(session, [2001], "对方已屏蔽")
    chat.tg.fail_next["sendMessage"] = {"status": 403, "body": {
        "ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}}
    await app.dispatcher["outbox"].drain(chat.bot)
    (row,) = await rows(app)
    assert row.status == "failed" and "blocked" in row.last_error


async def test_server_errors_retry_without_repeating_attachments(app, tmp_path):
    from tests.media import make_image

    chat = Conversation(app.dispatcher)
    document, _ = chat.tg.store_file(b"1", "a.pdf")
    photo, _ = chat.tg.store_file(make_image(tmp_path / "b.jpg", 64, 48).read_bytes(), "b.jpg", kind="photo")
    async with app.sessionmaker.begin() as session:
        await notify(session, [2001], "带附件的通知", attachments=[("document", document), ("photo", photo)])
    chat.tg.fail_next["sendPhoto"] = {"status": 502, "body": {"ok": False, "error_code": 502,
                                                                "description": "Bad Gateway"}}
    await app.dispatcher["outbox"].drain(chat.bot)
    (row,) = await rows(app)
    assert (row.status, row.parts_sent, row.attempts) == ("pending", 1, 1)
    await make_due(app)
    await app.dispatcher["outbox"].drain(chat.bot)
    methods = [m.method for m in chat.tg.sent[2001]]
    assert methods == ["sendDocument", "sendPhoto", "sendMessage"]  # the document went once
    assert (await rows(app))[0].status == "sent"


async def test_gives_up_after_repeated_failures(app):
    chat = Conversation(app.dispatcher)
    async with app.sessionmaker.begin() as session:
        await notify(session, [2001], "一直失败")
    for _ in range(5):
        chat.tg.fail_next["sendMessage"] = {"status": 500, "body": {"ok": False, "error_code": 500,
                                                                     "description": "Internal Server Error"}}
        await make_due(app)
        await app.dispatcher["outbox"].drain(chat.bot)
    (row,) = await rows(app)
    assert row.status == "failed" and row.attempts == 5


async def test_a_crashed_sender_s_rows_go_out_again(app):
    import asyncio

    from bot.outbox import queue

    chat = Conversation(app.dispatcher)
    async with app.sessionmaker.begin() as session:
        await notify(session, [2001], "发送中断")
    async with app.sessionmaker.begin() as session:
        (row,) = await queue.due(session, utcnow())
        assert await queue.claim(session, row.id)
    sender = app.dispatcher["outbox"]
    task = asyncio.create_task(sender.run(chat.bot))
    for _ in range(50):
        if chat.tg.sent[2001]:
            break
        await asyncio.sleep(0.05)
    task.cancel()
    assert chat.tg.sent[2001][-1].text == "发送中断"


async def test_a_relay_is_delivered_as_a_copy_with_its_buttons(app):
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

    from bot.outbox import relay

    chat = Conversation(app.dispatcher)
    alice = chat.user(1001, "Alice")
    await alice.send("老师您好，视频的字幕要单独上传吗？")
    (asked,) = [mid for mid, m in chat.tg.state.chats[1001].messages.items() if m["from"]["id"] == 1001]
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="回复", callback_data="t:1")]])
    async with app.sessionmaker.begin() as session:
        await relay(session, 2001, from_chat=1001, message_id=asked, markup=markup)
    assert await app.dispatcher["outbox"].drain(chat.bot) == 1
    (copy,) = chat.tg.sent[2001]
    assert copy.method == "copyMessage" and copy.labels == ["回复"] and "字幕要单独上传" in copy.text
    assert (int(copy.raw["from_chat_id"]), int(copy.raw["message_id"])) == (1001, asked)
    assert [r.status for r in await rows(app)] == ["sent"]


async def test_bulk_enqueue_writes_many_rows_in_one_insert(app):
    from sqlalchemy import event

    from bot.outbox import queue

    inserts: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX"):
            inserts.append(statement)

    chat = Conversation(app.dispatcher)
    event.listen(app.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with app.sessionmaker.begin() as session:
            queued = await queue.enqueue_many(session, [(3000 + i, {"kind": "message", "text": f"提醒 {i}"})
                                                        for i in range(120)])
    finally:
        event.remove(app.engine.sync_engine, "before_cursor_execute", record)
    assert queued == 120 and len(inserts) == 1
    stored = await rows(app)
    assert len(stored) == 120 and {r.status for r in stored} == {"pending"}
    app.dispatcher["outbox"].gap = 0  # no overall pacing here
    assert await app.dispatcher["outbox"].drain(chat.bot) == 120
    assert chat.tg.sent[3119][-1].text == "提醒 119"


async def test_a_row_queued_before_kinds_existed_is_delivered_as_a_message(app):
    from bot.outbox import queue

    chat = Conversation(app.dispatcher)
    async with app.sessionmaker.begin() as session:  # today's payload as the old notify wrote it
        await queue.enqueue(session, 2001, {"text": "旧通知", "reply_markup": None, "attachments": []})
    assert await app.dispatcher["outbox"].drain(chat.bot) == 1
    assert [(m.method, m.text) for m in chat.tg.sent[2001]] == [("sendMessage", "旧通知")]


async def test_a_payload_of_an_unknown_kind_fails_at_once(app):
    from bot.outbox import queue

    chat = Conversation(app.dispatcher)
    async with app.sessionmaker.begin() as session:
        await queue.enqueue(session, 2001, {"kind": "poll", "question": "?"})
    await app.dispatcher["outbox"].drain(chat.bot)
    (row,) = await rows(app)
    assert row.status == "failed" and "poll" in row.last_error and chat.tg.sent[2001] == []


async def test_a_notification_held_for_quiet_hours_waits_for_its_time(app):
    from bot.outbox import queue

    chat = Conversation(app.dispatcher)
    morning = utcnow() + timedelta(hours=8)
    async with app.sessionmaker.begin() as session:
        assert await notify(session, [2001], "早上好", hold_until=morning) == 1
        assert await queue.release_held(session, [2001]) == 0  # opening the bot does not end quiet hours
    (row,) = await rows(app)
    assert (row.status, row.not_before, row.last_error) == ("held", morning, None)
    assert await app.dispatcher["outbox"].drain(chat.bot) == 0 and chat.tg.sent[2001] == []


async def test_the_message_id_of_a_row_s_last_part_is_recorded(app):
    from bot.outbox import queue

    chat = Conversation(app.dispatcher)
    async with app.sessionmaker.begin() as session:
        await notify(session, [2001], "附件之后的正文",
                     attachments=[("document", BufferedInputFile(b"bytes", filename="a.pdf"))], ref="tutorship:7")
    await app.dispatcher["outbox"].drain(chat.bot)
    document, message = chat.tg.sent[2001]
    (row,) = await rows(app)
    assert row.status == "sent" and row.result_message_id == message.message_id != document.message_id
    async with app.sessionmaker() as session:
        found = await queue.by_result(session, 2001, message.message_id)
        assert found is not None and found.id == row.id and queue.payload_of(found)["ref"] == "tutorship:7"
        assert await queue.by_result(session, 2001, document.message_id) is None  # not the row's last part
        assert await queue.by_result(session, 2002, message.message_id) is None  # another chat's message


async def test_a_relayed_copy_records_its_message_id_and_its_row_id_is_returned(app):
    from bot.outbox import queue, relay

    chat = Conversation(app.dispatcher)
    alice = chat.user(1001, "Alice")
    await alice.send("请问配音可以用AI吗？")
    (asked,) = [mid for mid, m in chat.tg.state.chats[1001].messages.items() if m["from"]["id"] == 1001]
    async with app.sessionmaker.begin() as session:
        row_id = await relay(session, 2001, from_chat=1001, message_id=asked)
    (row,) = await rows(app)
    assert row.id == row_id and row.result_message_id is None  # known once delivered
    await app.dispatcher["outbox"].drain(chat.bot)
    (copy,) = chat.tg.sent[2001]
    (row,) = await rows(app)
    assert row.result_message_id == copy.message_id
    async with app.sessionmaker() as session:
        assert (await queue.by_result(session, 2001, copy.message_id)).id == row_id


async def test_a_relay_that_fails_for_good_tells_its_sender_once(app):
    from bot.outbox import relay

    chat = Conversation(app.dispatcher)
    alice = chat.user(1001, "Alice")
    await alice.send("老师，这一段怎么改？")
    (asked,) = [mid for mid, m in chat.tg.state.chats[1001].messages.items() if m["from"]["id"] == 1001]
    chat.tg.blocked.add(2001)
    async with app.sessionmaker.begin() as session:
        await relay(session, 2001, from_chat=1001, message_id=asked, on_failure=(1001, "没有送达"))
    await app.dispatcher["outbox"].drain(chat.bot)
    copy_row, notice_row = await rows(app)
    assert copy_row.status == "failed" and "blocked" in copy_row.last_error and copy_row.result_message_id is None
    assert notice_row.chat_id == 1001 and notice_row.status == "sent"
    assert chat.tg.sent[1001][-1].text == "没有送达" and chat.tg.sent[2001] == []


async def test_a_relay_given_up_after_its_tries_tells_its_sender(app):
    from bot.outbox import queue, relay

    chat = Conversation(app.dispatcher)
    async with app.sessionmaker.begin() as session:
        await relay(session, 2001, from_chat=1001, message_id=1, on_failure=(1001, "多次尝试后仍未送达"))
        await session.execute(update(OutboxMessage).values(attempts=queue.MAX_ATTEMPTS - 1))
    chat.tg.fail_next["copyMessage"] = {"status": 500, "body": {
        "ok": False, "error_code": 500, "description": "Internal Server Error"}}
    await app.dispatcher["outbox"].drain(chat.bot)
    copy_row, notice_row = await rows(app)
    assert copy_row.status == "failed" and notice_row.chat_id == 1001
    assert chat.tg.sent[1001][-1].text == "多次尝试后仍未送达"
