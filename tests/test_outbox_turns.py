"""The outbox sender's turns: while one chat waits for its second, the messages due to other chats go
out (no head-of-line blocking), and each chat still gets its rows in order, a row's parts in order,
one message a second per chat and never more than the overall rate.

The sender paces on a clock of this test's own (`Clock`): its waits take no time, and each message
the fake Telegram answers is stamped with the clock's time, so the pacing is asserted exactly."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from aiogram.types import BufferedInputFile
from sqlalchemy import select

from bot.outbox import notify, queue
from storage.models import OutboxMessage, utcnow
from tests.harness import SENDS, Conversation

A, B, C, D = 2001, 2002, 2003, 2004
GAP = 1 / 30


class Clock:
    """Monotonic time that moves only when the sender sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)
        await asyncio.sleep(0)


def paced(app, chat: Conversation, per_chat_interval: float = 1.0, gap: float = GAP) -> tuple[Any, Clock,
                                                                                             list[tuple]]:
    """The app's sender on a test clock; returns (sender, clock, stamps): each message Telegram made,
    as (clock time, chat, method, text), in the order it made them."""
    sender, clock = app.dispatcher["outbox"], Clock()
    sender.per_chat_interval, sender.gap = per_chat_interval, gap
    sender.monotonic, sender.sleep = clock.now, clock.sleep
    stamps: list[tuple] = []
    answer = chat.tg._answer

    async def stamped(name, method, params):
        result = await answer(name, method, params)
        if name in SENDS:
            stamps.append((clock.t, int(params["chat_id"]), name, params.get("text") or ""))
        return result

    chat.tg._answer = stamped
    return sender, clock, stamps


async def rows(app) -> list[OutboxMessage]:
    async with app.sessionmaker() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


def assert_paced(stamps: list[tuple], per_chat_interval: float = 1.0, gap: float = GAP) -> None:
    """Telegram's limits as the sender keeps them: `gap` between any two messages, and
    `per_chat_interval` between two to one chat."""
    eps = 1e-9
    for before, after in zip(stamps, stamps[1:], strict=False):
        assert after[0] - before[0] >= gap - eps, (before, after)
    last: dict[int, float] = {}
    for t, chat_id, *_ in stamps:
        assert chat_id not in last or t - last[chat_id] >= per_chat_interval - eps, (chat_id, t, last[chat_id])
        last[chat_id] = t


async def test_another_chat_s_row_goes_while_a_chat_waits_its_second(app):
    chat = Conversation(app.dispatcher)
    sender, _, stamps = paced(app, chat)
    async with app.sessionmaker.begin() as session:
        for n in (1, 2, 3):
            await notify(session, [A], f"A{n}")
        await notify(session, [B], "B1")
    assert await sender.drain(chat.bot) == 4
    assert [text for *_, text in stamps] == ["A1", "B1", "A2", "A3"]  # B1 did not wait for A's seconds
    assert [m.text for m in chat.tg.sent[A]] == ["A1", "A2", "A3"] and [m.text for m in chat.tg.sent[B]] == ["B1"]
    assert [(r.chat_id, r.status, r.parts_sent) for r in await rows(app)] == [
        (A, "sent", 1), (A, "sent", 1), (A, "sent", 1), (B, "sent", 1)]
    assert_paced(stamps)
    assert stamps[-1][0] - stamps[0][0] < 2 + 3 * GAP  # A's three, a second apart: B1 took none of it


async def test_a_card_s_parts_stay_in_order_while_other_chats_go_between_them(app):
    chat = Conversation(app.dispatcher)
    sender, _, stamps = paced(app, chat)
    async with app.sessionmaker.begin() as session:  # /pending: two cards of three messages to one operator
        for n in (1, 2):
            await notify(session, [A], f"卡片 {n}", attachments=[
                ("document", BufferedInputFile(f"表{n}".encode(), filename=f"表{n}.docx")),
                ("document", BufferedInputFile(f"扫描{n}".encode(), filename=f"扫描{n}.pdf"))])
        await notify(session, [B], "给 B 的卡片")
        await notify(session, [C], "给 C 的卡片")
    assert await sender.drain(chat.bot) == 4
    got = [(chat_id, text or method) for _, chat_id, method, text in stamps]
    assert got[:3] == [(A, "sendDocument"), (B, "给 B 的卡片"), (C, "给 C 的卡片")]  # within A's first second
    received = [(m.document or {}).get("file_name") or m.text for m in chat.tg.sent[A]]
    assert received == ["表1.docx", "扫描1.pdf", "卡片 1", "表2.docx", "扫描2.pdf", "卡片 2"]
    assert [(r.chat_id, r.status, r.parts_sent) for r in await rows(app)] == [
        (A, "sent", 3), (A, "sent", 3), (B, "sent", 1), (C, "sent", 1)]
    (card1, card2) = [r for r in await rows(app) if r.chat_id == A]
    assert (card1.result_message_id, card2.result_message_id) == (chat.tg.sent[A][2].message_id,
                                                                  chat.tg.sent[A][5].message_id)
    assert_paced(stamps)


async def test_rows_beyond_the_first_batch_do_not_wait_behind_one_chat_s(app):
    """More rows to one chat than the sender takes at once: the next chat's row, further down the
    queue, is fetched and sent while that chat waits."""
    chat = Conversation(app.dispatcher)
    sender, _, stamps = paced(app, chat)
    many = 60  # more than queue.due's batch (50)
    async with app.sessionmaker.begin() as session:
        await queue.enqueue_many(session, [(A, {"kind": "message", "text": f"A{n}"}) for n in range(many)])
        await notify(session, [B], "B1")
    assert await sender.drain(chat.bot) == many + 1
    texts = [text for *_, text in stamps]
    assert texts.index("B1") == 1  # after A0, not after A49
    assert [m.text for m in chat.tg.sent[A]] == [f"A{n}" for n in range(many)]
    assert {r.status for r in await rows(app)} == {"sent"}
    assert_paced(stamps)


async def test_notifications_still_go_before_a_broadcast_s_copies(app):
    chat = Conversation(app.dispatcher)
    sender, _, stamps = paced(app, chat)
    async with app.sessionmaker.begin() as session:
        await queue.enqueue_many(session, [(C, {"kind": "message", "text": "copy"})], broadcast=1)
        await notify(session, [A], "decision 1")
        await notify(session, [A], "decision 2")
        await notify(session, [B], "decision B")
    await sender.drain(chat.bot)
    assert [text for *_, text in stamps] == ["decision 1", "decision B", "copy", "decision 2"]


async def test_a_scan_s_reminders_wait_behind_notifications_and_go_before_broadcasts(app):
    """A start-up scan queues reminders for everyone (40,000 at 100,000 creators): an operator's
    card queued after them must not wait its turn behind all of them."""
    from bot.services.reminders import Kind, Reminder, send_once

    chat = Conversation(app.dispatcher)
    sender, _, stamps = paced(app, chat)
    async with app.sessionmaker.begin() as session:
        await queue.enqueue_many(session, [(D, {"kind": "message", "text": "群发"})], broadcast=1)
        for n, to in enumerate((A, B, A)):
            assert await send_once(session, app.campaign, Reminder(to, Kind.deadline, f"deadline:{to}:{n}", f"提醒{n}",
                                                                   urgent=True), now=utcnow())
        await notify(session, [C], "待审核的注册")
    await sender.drain(chat.bot)
    assert [text for *_, text in stamps] == ["待审核的注册", "提醒0", "提醒1", "群发", "提醒2"]
    assert [(r.chat_id, r.bulk, r.status) for r in await rows(app)] == [
        (D, False, "sent"), (A, True, "sent"), (B, True, "sent"), (A, True, "sent"), (C, False, "sent")]


async def test_the_overall_rate_is_kept_across_chats(app):
    chat = Conversation(app.dispatcher)
    sender, _, stamps = paced(app, chat, gap=0.1)
    async with app.sessionmaker.begin() as session:
        for n in range(3):
            await notify(session, [A], f"A{n}")
        await notify(session, [3000 + i for i in range(30)], "群发")
    assert await sender.drain(chat.bot) == 33
    assert len(stamps) == 33
    assert_paced(stamps, gap=0.1)
    assert stamps[-1][0] - stamps[0][0] >= 32 * 0.1 - 1e-9  # 33 messages: never faster than 10/s


async def test_a_429_for_one_chat_does_not_hold_up_the_others(app):
    chat = Conversation(app.dispatcher)
    sender, _, stamps = paced(app, chat)
    async with app.sessionmaker.begin() as session:
        await notify(session, [A], "A1")
        await notify(session, [B], "B1")
    chat.tg.fail_next["sendMessage"] = {"status": 429, "body": {
        "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7}}}
    assert await sender.drain(chat.bot) == 2
    first, second = await rows(app)
    assert (first.status, first.attempts, first.parts_sent) == ("pending", 0, 0)  # waits as Telegram said
    assert second.status == "sent" and [text for *_, text in stamps] == ["B1"]


async def test_a_chat_s_rows_wait_for_one_that_failed_and_then_go_in_order(app):
    """A server error sends A1 back for a later try: A2 and A3 must not overtake it (a creator
    would read 已通过 before 请修改), while B's message goes."""
    from sqlalchemy import update

    chat = Conversation(app.dispatcher)
    sender, _, stamps = paced(app, chat)
    async with app.sessionmaker.begin() as session:
        for n in (1, 2, 3):
            await notify(session, [A], f"A{n}")
        await notify(session, [B], "B1")
    chat.tg.fail_next["sendMessage"] = {"status": 502, "body": {"ok": False, "error_code": 502,
                                                                "description": "Bad Gateway"}}
    await sender.drain(chat.bot)
    assert [text for *_, text in stamps] == ["B1"]
    assert [(r.chat_id, r.status, r.attempts) for r in await rows(app)] == [
        (A, "pending", 1), (A, "pending", 0), (A, "pending", 0), (B, "sent", 0)]
    async with app.sessionmaker.begin() as session:  # A1's back-off is over
        await session.execute(update(OutboxMessage).where(OutboxMessage.chat_id == A)
                              .values(not_before=utcnow() - timedelta(seconds=1)))
    await sender.drain(chat.bot)
    assert [text for *_, text in stamps] == ["B1", "A1", "A2", "A3"]
    assert [m.text for m in chat.tg.sent[A]] == ["A1", "A2", "A3"]


async def test_a_stop_in_the_middle_of_a_card_keeps_the_parts_that_went(app):
    """Stopped while a card's next part waits for its chat's second: the row goes back to pending
    with the part that went recorded, and the next sender sends only the rest."""
    chat = Conversation(app.dispatcher)
    sender, clock, stamps = paced(app, chat)
    waiting = asyncio.Event()

    async def sleep(seconds: float) -> None:
        if seconds > 0.5:  # A's second part: stop here
            waiting.set()
            await asyncio.Event().wait()
        await clock.sleep(seconds)

    sender.sleep = sleep
    async with app.sessionmaker.begin() as session:
        await notify(session, [A], "卡片", attachments=[("document", BufferedInputFile(b"1", filename="表.docx"))])
        await notify(session, [B], "B1")
    draining = asyncio.create_task(sender.drain(chat.bot))
    await asyncio.wait_for(waiting.wait(), 10)
    draining.cancel()
    try:
        await draining
    except asyncio.CancelledError:
        pass
    card, other = await rows(app)
    assert (card.status, card.parts_sent, other.status) == ("pending", 1, "sent")
    sender.sleep = clock.sleep
    assert await sender.drain(chat.bot) == 1
    assert [m.method for m in chat.tg.sent[A]] == ["sendDocument", "sendMessage"]  # the document went once
    (card, _) = await rows(app)
    assert (card.status, card.parts_sent) == ("sent", 2)


async def test_a_killed_sender_s_card_goes_on_from_the_part_that_went(app):
    """Killed (no clean stop) while a card's next part waits for its chat's second: the part that went
    is already recorded, so the next start sends only the rest (before, the document went twice)."""
    chat = Conversation(app.dispatcher)
    sender, clock, _ = paced(app, chat)
    waiting = asyncio.Event()

    async def sleep(seconds: float) -> None:
        if seconds > 0.5:  # A's second part waits: the process dies here
            waiting.set()
            await asyncio.Event().wait()
        await clock.sleep(seconds)

    async def killed(deliveries) -> None:  # a kill runs no clean-up
        return None

    sender.sleep, sender._put_back = sleep, killed
    async with app.sessionmaker.begin() as session:
        await notify(session, [A], "卡片", attachments=[("document", BufferedInputFile(b"1", filename="表.docx"))])
    draining = asyncio.create_task(sender.drain(chat.bot))
    await asyncio.wait_for(waiting.wait(), 10)
    (card,) = await rows(app)
    assert (card.status, card.parts_sent) == ("sending", 1)  # what a kill now leaves
    draining.cancel()
    try:
        await draining
    except asyncio.CancelledError:
        pass
    async with app.sessionmaker.begin() as session:  # the next process starts
        assert await queue.release_stuck(session) == 1
    sender.sleep = clock.sleep
    assert await sender.drain(chat.bot) == 1
    assert [m.method for m in chat.tg.sent[A]] == ["sendDocument", "sendMessage"]  # the document went once
    (card,) = await rows(app)
    assert (card.status, card.parts_sent) == ("sent", 2)


async def test_a_sender_that_loses_its_lease_finishes_the_card_on_its_way_and_starts_no_other_row(app):
    """The lease is another process's while a card's second part waits for its chat's second: that
    part still goes (the card was claimed; stopping halfway would leave it to be sent again), but the
    chat's next row stays pending for the new holder."""
    from sqlalchemy import update

    from storage.models import Lease

    chat = Conversation(app.dispatcher)
    sender, clock, _ = paced(app, chat)

    async def sleep(seconds: float) -> None:
        if seconds > 0.5 and sender.holding:  # the card's second part: meanwhile another took the lease
            async with app.sessionmaker.begin() as session:
                await session.execute(update(Lease).where(Lease.name == sender.LEASE).values(holder="another"))
            sender.valid_until = sender.renew_at = 0  # (the lease's time is up for this process)
        await clock.sleep(seconds)

    sender.sleep = sleep
    async with app.sessionmaker.begin() as session:
        await notify(session, [A], "卡片", attachments=[("document", BufferedInputFile(b"1", filename="表.docx"))])
        await notify(session, [A], "A2")
    assert await sender.drain(chat.bot) == 1
    card, second = await rows(app)
    assert (card.status, card.parts_sent) == ("sent", 2) and second.status == "pending"
    assert [m.method for m in chat.tg.sent[A]] == ["sendDocument", "sendMessage"] and not sender.holding
