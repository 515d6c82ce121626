"""The outbox: notifications exist only if their update committed, are delivered after it, and are
retried or given up the way Telegram's answers call for."""

from __future__ import annotations

from datetime import timedelta

from aiogram.types import BufferedInputFile
from sqlalchemy import select, update

from bot.notify import notify
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


async def test_server_errors_retry_without_repeating_attachments(app):
    chat = Conversation(app.dispatcher)
    async with app.sessionmaker.begin() as session:
        await notify(session, [2001], "带附件的通知", attachments=[("document", "FILE1"), ("photo", "FILE2")])
    chat.tg.files["FILE1"] = (b"1", "a.pdf")
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

    from bot.services import outbox

    chat = Conversation(app.dispatcher)
    async with app.sessionmaker.begin() as session:
        await notify(session, [2001], "发送中断")
    async with app.sessionmaker.begin() as session:
        (row,) = await outbox.due(session, utcnow())
        assert await outbox.claim(session, row.id)
    sender = app.dispatcher["outbox"]
    task = asyncio.create_task(sender.run(chat.bot))
    for _ in range(50):
        if chat.tg.sent[2001]:
            break
        await asyncio.sleep(0.05)
    task.cancel()
    assert chat.tg.sent[2001][-1].text == "发送中断"
