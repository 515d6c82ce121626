"""A short seeded burst of valid random updates (tests/fuzz.py) through the real dispatcher (issue 14):
no update fails, every update is recorded as handled exactly once, nothing is sent twice for one update,
and a re-delivered update does nothing.

A failure names the seed and the update: run it again with
    pytest tests/test_fuzz.py -k <seed>
"""

from __future__ import annotations

import importlib.util
import json
import logging
import random
import traceback
from collections import Counter, defaultdict
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from storage.models import ProcessedUpdate
from tests.conftest import approve_creator
from tests.fuzz import burst

SEEDS = (7, 1401, 20240)
IN_WINDOW = datetime(2023, 6, 1, 4, 0, tzinfo=UTC)  # as tests/test_submissions.py
APPROVED = (1001, 1002, 1003, 1004, 1005, 1006)
PER_SEED = 100  # 300 updates in all
SENDS = {"sendMessage", "sendDocument", "sendPhoto", "sendVideo", "copyMessage"}
CURRENT: ContextVar[int | None] = ContextVar("fuzz_update", default=None)
HAS_INBOX = importlib.util.find_spec("bot.inbox") is not None


class Recorder:
    """Feeds updates, keeping for each what the bot called and any exception that escaped."""

    def __init__(self, conv: Any, feed: Any = None) -> None:
        self.conv = conv
        self.feed_fn = feed or conv.feed
        self.calls: dict[int, list[tuple[str, dict[str, Any]]]] = defaultdict(list)  # Bot API calls per update
        self.updates: dict[int, dict[str, Any]] = {}
        self.kinds: dict[int, str] = {}
        self.raised: list[tuple[int, str]] = []
        conv.dp.update.outer_middleware(self._tag)  # inside the unit of work: the handlers' own calls
        conv.tg.middleware(self._record)

    async def _tag(self, handler: Any, event: Any, data: dict[str, Any]) -> Any:
        token = CURRENT.set(event.update_id)
        try:
            return await handler(event, data)
        finally:
            CURRENT.reset(token)

    async def _record(self, make_request: Any, bot: Any, method: Any) -> Any:
        before = len(self.conv.tg.calls)
        try:
            return await make_request(bot, method)
        finally:
            update_id = CURRENT.get()
            if update_id is not None:
                self.calls[update_id] += self.conv.tg.calls[before:]

    def note(self, update: dict[str, Any], kind: str) -> None:
        self.updates[update["update_id"]] = json.loads(json.dumps(update))
        self.kinds[update["update_id"]] = kind

    async def feed(self, update: dict[str, Any]) -> None:
        try:
            await self.feed_fn(update)
        except Exception:  # noqa: BLE001 - reported by the test with the update
            self.raised.append((update["update_id"], traceback.format_exc()))

    def sent_twice(self) -> list[tuple[int, Any]]:
        """(update id, message) for a message sent twice to one chat while one update was handled."""
        twice = []
        for update_id, calls in self.calls.items():
            sends = Counter(json.dumps([name, p.get("chat_id"), p.get("text") or p.get("caption"),
                                        p.get("reply_markup")], sort_keys=True, default=str)
                            for name, p in calls if name in SENDS)
            twice += [(update_id, key) for key, n in sends.items() if n > 1]
        return twice

    def describe(self, update_id: int) -> str:
        text = json.dumps(self.updates.get(update_id), ensure_ascii=False)
        return f"update {update_id} ({self.kinds.get(update_id)}): {text[:600]}"


def bot_errors(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    """ERROR records (or any with an exception) from the bot's own loggers and aiogram's."""
    return [r for r in records if (r.levelno >= logging.ERROR or r.exc_info)
            and r.name.split(".")[0] in ("bot", "kepubot", "storage", "aiogram")]


def failure_report(seed: int, rec: Recorder, errors: list[logging.LogRecord]) -> str:
    lines = [f"seed {seed}:"]
    for update_id, tb in rec.raised[:5]:
        lines += [f"  raised: {rec.describe(update_id)}", "    " + tb.strip().replace("\n", "\n    ")[-2500:]]
    for record in errors[:5]:
        message = record.getMessage()
        update_id = next((int(w) for w in message.split() if w.isdigit() and int(w) in rec.updates), None)
        lines.append(f"  logged: {record.name}: {message[:300]}")
        if update_id is not None:
            lines.append(f"    {rec.describe(update_id)}")
        if record.exc_info:
            tb = "".join(traceback.format_exception(*record.exc_info))
            lines.append("    " + tb.strip().replace("\n", "\n    ")[-2500:])
    return "\n".join(lines)


async def _deadline_day(app: Any) -> None:
    """Inside the campaign's window, with half the people's 科普号 approved: /apply, forms and
    uploads are reachable by random presses and texts (the others meet registration)."""
    app.dispatcher["clock"] = lambda: IN_WINDOW
    for user_id in APPROVED:
        await approve_creator(app.sessionmaker, user_id, account_name=f"科普号{user_id}")


async def _redeliver(rec: Recorder, ids: list[int], seed: int) -> list[int]:
    """Telegram sends some updates again (after a timeout): each must do nothing the second time."""
    again = random.Random(seed).sample(ids, 8)
    noisy = []
    for update_id in again:
        before = len(rec.conv.tg.calls)
        await rec.conv.feed(json.loads(json.dumps(rec.updates[update_id])))
        if [c for c in rec.conv.tg.calls[before:] if c[0] not in ("getMe",)]:
            noisy.append(update_id)
    return noisy


@pytest.mark.parametrize("seed", SEEDS)
async def test_a_random_burst_is_handled_once_without_failures(seed, chat, app, caplog):
    caplog.set_level(logging.INFO)
    await _deadline_day(app)
    rec = Recorder(chat)
    ids = await burst(chat, PER_SEED, seed, feed=rec.feed, on_update=rec.note)
    errors = bot_errors(caplog.records)
    assert not rec.raised and not errors, failure_report(seed, rec, errors)

    async with app.sessionmaker() as session:
        recorded = (await session.execute(select(ProcessedUpdate.update_id)
                                          .where(ProcessedUpdate.update_id.in_(ids)))).scalars().all()
    assert sorted(recorded) == sorted(ids), f"seed {seed}: not recorded: {sorted(set(ids) - set(recorded))[:20]}"
    assert not rec.sent_twice(), f"seed {seed}: sent twice for one update: {rec.sent_twice()[:5]}"
    assert set(rec.kinds.values()) >= {"command", "text", "press"}, rec.kinds  # the mix really was mixed

    assert not await _redeliver(rec, ids, seed), f"seed {seed}: a re-delivered update did something again"


@pytest.mark.skipif(not HAS_INBOX, reason="bot/inbox.py (the update inbox) is not there yet")
async def test_a_random_burst_through_the_inbox_leaves_every_row_done(chat, app, caplog):
    """The same kind of burst written to the inbox in batches (as polling does) and drained by its
    workers: every row done, none dead, nothing sent twice."""
    from bot.inbox import Inbox
    from storage.models import InboxUpdate

    caplog.set_level(logging.INFO)
    await _deadline_day(app)
    seed = SEEDS[0] + 1
    intake = app.dispatcher.workflow_data.get("inbox") or Inbox(app.sessionmaker, app.dispatcher, workers=2)
    batch: list[dict[str, Any]] = []
    rng = random.Random(seed)

    async def flush() -> None:
        await intake.receive(list(batch))
        batch.clear()
        await intake.drain(chat.bot)
        checker = app.dispatcher.workflow_data.get("checker")
        if checker is not None:
            await checker.drain()
        await app.dispatcher["outbox"].drain(chat.bot)

    async def feed(update: dict[str, Any]) -> None:
        batch.append(update)
        if len(batch) >= rng.randint(1, 6):
            await flush()

    rec = Recorder(chat, feed)
    ids = await burst(chat, PER_SEED, seed, feed=rec.feed, on_update=rec.note)
    await flush()
    errors = bot_errors(caplog.records)
    assert not rec.raised and not errors, failure_report(seed, rec, errors)

    async with app.sessionmaker() as session:
        rows = (await session.execute(select(InboxUpdate.update_id, InboxUpdate.status, InboxUpdate.last_error)
                                      .where(InboxUpdate.update_id.in_(ids)))).all()
    statuses = Counter(row.status for row in rows)
    assert len(rows) == len(ids), f"seed {seed}: not in the inbox: {sorted(set(ids) - {r.update_id for r in rows})[:20]}"
    assert statuses == {"done": len(ids)}, (statuses, [(r.update_id, r.last_error) for r in rows
                                                       if r.status != "done"][:5])
    assert not rec.sent_twice(), f"seed {seed}: sent twice for one update: {rec.sent_twice()[:5]}"
