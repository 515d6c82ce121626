"""The update inbox (issue 14): stored first, handled by bounded workers in order per person, retried
on transient failures without troubling the person, parked as dead otherwise, taken again after a
stop; a second delivery of one update does nothing."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bot.inbox import Inbox
from bot.services import inbox as inbox_service
from storage.models import InboxUpdate, Inquiry, ProcessedUpdate
from tests.conftest import ADMIN_ID
from tests.harness import Conversation


def text_update(update_id: int, user_id: int, text: str) -> dict:
    entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text.startswith("/") else []
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1700000000, "chat": {"id": user_id, "type": "private", "first_name": "P"},
        "from": {"id": user_id, "is_bot": False, "first_name": "P"}, "text": text, "entities": entities}}


async def statuses(app) -> dict[int, str]:
    async with app.sessionmaker() as session:
        return dict((await session.execute(select(InboxUpdate.update_id, InboxUpdate.status))).all())


async def test_updates_are_stored_once_and_handled_once(app, chat: Conversation):
    intake: Inbox = app.dispatcher["inbox"]
    first = [text_update(10, 1001, "/start"), text_update(11, 1002, "/start")]
    assert await intake.receive(first) == 2
    assert await intake.receive(first + [text_update(12, 1001, "/help")]) == 1  # Telegram sent them again
    await intake.drain(chat.bot)
    assert await statuses(app) == {10: "done", 11: "done", 12: "done"}
    assert [m.text[:2] for m in chat.tg.sent[1001]][:1] == ["👋 "] and len(chat.tg.sent[1001]) == 2
    assert len(chat.tg.sent[1002]) == 1
    async with app.sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(ProcessedUpdate))).scalar() == 3
    await intake.receive([text_update(11, 1002, "/start")])  # even after it was handled
    await intake.drain(chat.bot)
    assert len(chat.tg.sent[1002]) == 1


async def test_one_person_in_order_people_in_parallel(app, chat: Conversation, monkeypatch):
    """Workers run people in parallel, but one person's updates one at a time and in order."""
    intake: Inbox = app.dispatcher["inbox"]
    intake.workers = 3
    running: dict[int, int] = {}
    most = {"together": 0, "same_person": 0}
    seen: list[tuple[int, int]] = []
    handle = intake._handle

    async def slow(bot, claimed):
        running[claimed.chat_key] = running.get(claimed.chat_key, 0) + 1
        most["together"] = max(most["together"], sum(running.values()))
        most["same_person"] = max(most["same_person"], running[claimed.chat_key])
        seen.append((claimed.chat_key, claimed.update_id))
        await asyncio.sleep(0.05)
        try:
            await handle(bot, claimed)
        finally:
            running[claimed.chat_key] -= 1

    monkeypatch.setattr(intake, "_handle", slow)
    updates = [text_update(100 + i, 1001 + i % 3, "/help") for i in range(12)]
    await intake.receive(updates)
    await intake.start(chat.bot)
    try:
        for _ in range(200):
            if set((await statuses(app)).values()) == {"done"}:
                break
            await asyncio.sleep(0.05)
    finally:
        await intake.stop()
    assert set((await statuses(app)).values()) == {"done"}
    assert most["same_person"] == 1 and most["together"] >= 2
    for person in (1001, 1002, 1003):
        mine = [u for p, u in seen if p == person]
        assert mine == sorted(mine) and len(mine) == 4


async def test_a_transient_failure_is_retried_without_troubling_the_person(app, chat: Conversation, monkeypatch):
    from bot.services import inquiries

    intake: Inbox = app.dispatcher["inbox"]
    alice = chat.user(1001, "Alice")
    await alice.send("/ask")
    await alice.press("作品申报")
    await alice.send("视频必须是横屏吗？竖屏可以吗？")
    summary = alice.last
    real_ask = inquiries.ask
    calls = {"n": 0}

    async def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("INSERT INTO inquiries", {}, Exception("database is locked"))
        return await real_ask(*args, **kwargs)

    monkeypatch.setattr(inquiries, "ask", flaky)
    confirm = next(b["callback_data"] for b in summary.buttons if "确认提交" in b["text"])
    press = {"update_id": 500, "callback_query": {
        "id": "cq500", "from": alice.tg_user, "chat_instance": "ci", "data": confirm,
        "message": {"message_id": summary.message_id, "date": 1700000000, "from": {"id": 1, "is_bot": True,
                                                                                  "first_name": "bot"},
                    "chat": {"id": 1001, "type": "private"}, "text": summary.text}}}
    alice.new()
    await intake.receive([press])
    await intake.drain(chat.bot)  # the first attempt fails: back to pending, due in 2 s
    assert (await statuses(app))[500] == "pending"
    assert not any("出了点问题" in m.text for m in alice.new())
    async with app.sessionmaker.begin() as session:  # make the retry due now
        row = await session.get(InboxUpdate, 500)
        row.not_before = row.received_at
    await intake.drain(chat.bot)
    assert (await statuses(app))[500] == "done" and calls["n"] == 2
    replies = alice.new()
    assert any("已收到您的咨询" in m.text for m in replies)
    assert not any("出了点问题" in (m.text or "") for m in replies)
    assert not any("出了点问题" in (text or "") for _, text, _ in chat.tg.alerts)
    async with app.sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(Inquiry))).scalar() == 1
    chat.tg.answered_twice.clear()  # the retry answered the press the first attempt had answered


async def test_a_bug_is_parked_as_dead_and_operators_see_it(app, chat: Conversation, monkeypatch):
    from bot.handlers import start as start_handlers

    intake: Inbox = app.dispatcher["inbox"]

    async def broken(*args, **kwargs):
        raise ValueError("a bug in the welcome")

    monkeypatch.setattr(start_handlers, "welcome_view", broken)
    await intake.receive([text_update(700, 1001, "/start")])
    await intake.drain(chat.bot)
    assert (await statuses(app))[700] == "dead"
    assert "出了点问题" in chat.tg.sent[1001][-1].text  # told once, not retried
    assert len(chat.tg.sent[1001]) == 1
    monkeypatch.undo()
    replies = await chat.user(ADMIN_ID, "Boss").send("/deadletters")
    assert "共 1 条" in replies[0].text and "#700" in replies[0].text and "a bug in the welcome" in replies[0].text
    replies = await chat.user(1002, "Mallory").send("/deadletters")
    assert "共 1 条" not in replies[0].text


async def test_updates_a_stop_left_working_are_taken_again(app, chat: Conversation):
    intake: Inbox = app.dispatcher["inbox"]
    await intake.receive([text_update(800, 1001, "/help"), text_update(801, 1001, "/rules")])
    async with app.sessionmaker.begin() as session:
        claimed = await inbox_service.claim(session, (await session.get(InboxUpdate, 800)).received_at)
    assert [c.update_id for c in claimed] == [800]  # then the process was killed
    fresh = Inbox(app.sessionmaker, app.dispatcher, workers=2)
    await fresh.start(chat.bot)
    try:
        for _ in range(100):
            if set((await statuses(app)).values()) == {"done"}:
                break
            await asyncio.sleep(0.05)
    finally:
        await fresh.stop()
    assert await statuses(app) == {800: "done", 801: "done"}
    texts = [m.text for m in chat.tg.sent[1001]]
    assert len(texts) == 2 and texts.index(next(t for t in texts if "/cancel" in t or "帮助" in t)) == 0


async def test_a_person_who_blocked_the_bot_meanwhile_is_no_failure(app, chat: Conversation, caplog):
    """Found by bench/bench_burst.py: a message, then the person blocks the bot before the answer."""
    intake: Inbox = app.dispatcher["inbox"]
    chat.tg.blocked.add(1001)
    await intake.receive([text_update(900, 1001, "/start"), text_update(901, 1001, "申报截止时间？")])
    with caplog.at_level("INFO"):
        await intake.drain(chat.bot)
    assert await statuses(app) == {900: "done", 901: "done"}
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    async with app.sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(InboxUpdate)
                                      .where(InboxUpdate.status == "dead"))).scalar() == 0


async def test_a_started_inbox_holds_a_retry_in_line_without_a_query_per_update(app, chat: Conversation, monkeypatch):
    """Alone on its inbox (SQLite, one process) a started inbox holds what waits in memory (issue 13):
    a transient failure waits out its back-off first in its person's line, the person's next update
    waits behind it, others go on; nothing is handled twice and no due-query runs per update."""
    from sqlalchemy import event

    from bot.services import users

    intake: Inbox = app.dispatcher["inbox"]
    if intake.shared:
        return  # the shared inbox (kepubot worker) claims rows with a query: tested above
    real = users.load_person
    calls = {"n": 0}

    async def flaky(session, user_id, *args, **kwargs):
        if user_id == 1001:
            calls["n"] += 1
            if calls["n"] == 1:
                raise OperationalError("SELECT users", {}, Exception("database is locked"))
        return await real(session, user_id, *args, **kwargs)

    monkeypatch.setattr(users, "load_person", flaky)
    await intake.start(chat.bot)
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement.lower())

    event.listen(app.engine.sync_engine, "before_cursor_execute", record)
    try:
        await intake.receive([text_update(950, 1001, "/rules"), text_update(951, 1001, "/help"),
                              text_update(952, 1002, "/start")])
        for _ in range(120):
            if set((await statuses(app)).values()) == {"done"}:
                break
            await asyncio.sleep(0.05)
    finally:
        event.remove(app.engine.sync_engine, "before_cursor_execute", record)
        await intake.stop()
    assert await statuses(app) == {950: "done", 951: "done", 952: "done"}
    assert calls["n"] == 3  # 950 twice (the failure, the retry), 951 once
    alice = [m.text for m in chat.tg.sent[1001]]
    assert len(alice) == 2 and "/help" not in alice[0] and not any("出了点问题" in t for t in alice)
    assert len(chat.tg.sent[1002]) == 1
    assert not [s for s in seen if "from inbox" in s and "earlier" in s]  # the due query
    async with app.sessionmaker() as session:
        row = await session.get(InboxUpdate, 950)
        assert row.attempts == 1 and row.last_error is None
