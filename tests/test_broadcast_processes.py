"""Broadcasts delivered exactly once across hard kills and two processes: the bot runs as its own
process(es) against the sandbox Telegram over real HTTP, 1,000 people get a broadcast, and what the
emulator's chats received and what the database holds are checked.

The kill is made safe to check: a "stall" fault holds every later Bot API call (a request that never
reached Telegram), so whatever Telegram answered is committed before the SIGKILL; the held call is
answered 502 without effect after the kill, and its row (left in 'sending') goes out again when the
next sender takes the lease. Any duplicate or loss is then the code's, not the timing's."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from bot.sandbox import SandboxClient, start_server
from bot.sandbox.client import event_text
from bot.services import broadcasts
from storage.db import make_engine, make_sessionmaker
from storage.models import Broadcast, Lease, OutboxMessage, User, utcnow
from storage.statuses import BroadcastStatus, OutboxStatus
from tests.conftest import ADMIN_ID
from tests.test_e2e import stop_bot as stop

TOKEN = "123456:SANDBOX"
FIRST = 700_000_000
N = 1_000
REPORTED = "已送达"  # the report's "sent" line (content/templates/broadcasts/report.j2)


@pytest.fixture
async def sandbox(settings):
    """The emulator (`settings` resets the database), its client, and the emulator itself."""
    runner, base_url, emulator = await start_server(default_bot_id=123456)
    client = SandboxClient(base_url)
    yield base_url, client, emulator
    await client.close()
    await runner.cleanup()


async def spawn(command: str, base_url: str, db_url: str, log: Path, **extra_env: str) -> asyncio.subprocess.Process:
    """`python -m bot run|worker` against the sandbox (like tests/test_e2e.py's start_bot)."""
    env = {**os.environ, "BOT_TOKEN": TOKEN, "BOT_API_URL": base_url, "DATABASE_URL": db_url,
           "ADMIN_IDS": str(ADMIN_ID), "LOG_LEVEL": "INFO", "DATA_DIR": str(log.parent / "data"), **extra_env}
    for key in ("WEBHOOK_URL", "BOT_API_LOCAL"):
        env.pop(key, None)
    fh = open(log, "ab")  # noqa: ASYNC230 - handed to the child
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", command, env=env, stdout=fh, stderr=fh)




async def prepare(client: SandboxClient, db_url: str) -> int:
    """N people who opened the bot (in the emulator and in the database), the operator too, and a
    broadcast to all of them, sending from now. Returns its id."""
    assert await client.users(FIRST, N) == N
    assert await client.users(ADMIN_ID, 1) == 1  # the author opened the bot: the report reaches them
    engine = make_engine(db_url)
    try:
        maker = make_sessionmaker(engine)
        async with maker.begin() as session:
            await session.execute(insert(User), [{"id": FIRST + i, "first_name": f"U{i}"} for i in range(N)])
        async with maker.begin() as session:
            segment = broadcasts.Segment(broadcasts.SegmentKind.all)
            total = await broadcasts.count(session, segment, (ADMIN_ID,))
            assert total == N
            row = await broadcasts.create(session, ADMIN_ID, segment, broadcasts.payload("<b>通知</b>：群发测试"),
                                          total, utcnow())
            await session.flush()
            return row.id
    finally:
        await engine.dispose()


async def received(client: SandboxClient) -> dict[int, int]:
    return await client.received(FIRST, N)


async def until_received(client: SandboxClient, at_least: int, timeout: float, procs=()) -> dict[int, int]:
    """Wait until `at_least` of the N chats got a message; fails with the figures on a timeout or
    when every process we started has died."""
    deadline = time.monotonic() + timeout
    got: dict[int, int] = {}
    while time.monotonic() < deadline:
        got = await received(client)
        if len(got) >= at_least:
            return got
        if procs and all(p.returncode is not None for p in procs):
            pytest.fail(f"every bot process exited (codes {[p.returncode for p in procs]}) with {len(got)} of "
                        f"{N} chats served")
        await asyncio.sleep(0.2)
    pytest.fail(f"after {timeout:.0f} s only {len(got)} of {N} chats got the broadcast (waited for {at_least}); "
                f"{sum(1 for n in got.values() if n > 1)} got it more than once")


async def reports(client: SandboxClient) -> list[str]:
    """The final reports the author got."""
    texts = [event_text(e) for e in await client.messages(ADMIN_ID, 0) if e["kind"] == "message"]
    return [t for t in texts if REPORTED in t]


async def until_report(client: SandboxClient, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if got := await reports(client):
            return got[-1]
        await asyncio.sleep(0.3)
    pytest.fail(f"the author got no report within {timeout:.0f} s")


async def database_figures(db_url: str, broadcast_id: int) -> tuple[BroadcastStatus, dict[str, int], int]:
    """(the broadcast's status, its outbox rows by status, the N chats that have a row)."""
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            status = (await conn.execute(select(Broadcast.status).where(Broadcast.id == broadcast_id))).scalar_one()
            rows = dict((await conn.execute(select(OutboxMessage.status, func.count())
                                            .where(OutboxMessage.broadcast_id == broadcast_id)
                                            .group_by(OutboxMessage.status))).all())
            chats = (await conn.execute(select(func.count(func.distinct(OutboxMessage.chat_id)))
                                        .where(OutboxMessage.broadcast_id == broadcast_id))).scalar()
    finally:
        await engine.dispose()
    return BroadcastStatus(status), {str(getattr(k, "value", k)): n for k, n in rows.items()}, chats


async def until_done(db_url: str, broadcast_id: int, timeout: float) -> tuple[dict[str, int], int]:
    deadline = time.monotonic() + timeout
    status, rows, chats = BroadcastStatus.sending, {}, 0
    while time.monotonic() < deadline:
        status, rows, chats = await database_figures(db_url, broadcast_id)
        if status == BroadcastStatus.done:
            return rows, chats
        await asyncio.sleep(0.3)
    pytest.fail(f"broadcast {broadcast_id} is still {status} after {timeout:.0f} s; outbox rows {rows}")


def assert_exactly_once(got: dict[int, int]) -> None:
    lost = [FIRST + i for i in range(N) if FIRST + i not in got]
    twice = {chat: n for chat, n in got.items() if n != 1}
    assert not lost and not twice, f"{len(lost)} chats got nothing (e.g. {lost[:5]}), {len(twice)} got it more " \
                                   f"than once (e.g. {dict(list(twice.items())[:5])})"


async def kill_mid_call(client: SandboxClient, proc: asyncio.subprocess.Process) -> int:
    """Hold every later Bot API call, let what was answered commit, SIGKILL, then release the held
    calls (answered 502, no effect). Returns how many chats had the broadcast at the kill."""
    await client.fault("*", "stall", count=10**9)
    await asyncio.sleep(1.5)
    at_kill = len(await received(client))
    await stop(proc, signal.SIGKILL)
    await client.unstall()
    return at_kill


def assert_report(text: str, every: list[str]) -> None:
    # two processes finishing the broadcast at once would each queue a report
    assert len(every) == 1, f"the author got {len(every)} reports"
    figures = dict(re.findall(r"(已送达|已屏蔽机器人|发送失败)：(\d+)", text))
    assert figures == {"已送达": str(N), "已屏蔽机器人": "0", "发送失败": "0"}, text


async def test_a_broadcast_survives_a_hard_kill_exactly_once(sandbox, db_url, tmp_path):
    """1,000 people; the bot is killed with SIGKILL in the middle of a call after about 300 of them,
    and started again: each gets the broadcast once, the outbox holds 1,000 sent copies, the
    broadcast is done and its author has the report."""
    base_url, client, emulator = sandbox
    broadcast_id = await prepare(client, db_url)
    log = tmp_path / "bot.log"
    started = time.monotonic()
    proc = await spawn("run", base_url, db_url, log, OUTBOX_PER_SECOND="30")
    try:
        await until_received(client, 300, timeout=60, procs=[proc])
        at_kill = await kill_mid_call(client, proc)
        assert at_kill < N, "the broadcast was over before the kill: nothing was tested"
        proc = await spawn("run", base_url, db_url, log, OUTBOX_PER_SECOND="30")
        got = await until_received(client, N, timeout=75, procs=[proc])
        rows, chats = await until_done(db_url, broadcast_id, timeout=20)
        report = await until_report(client, timeout=20)
        got = await received(client)  # anything sent twice after the last one came would show now
        every = await reports(client)
    finally:
        await stop(proc)
    assert_exactly_once(got)
    assert rows == {OutboxStatus.sent.value: N} and chats == N
    assert_report(report, every)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "left by a stopped sender go out again" in text  # the held call's row went out again
    print(f"kill after {at_kill} chats; whole test {time.monotonic() - started:.1f} s")


async def test_two_workers_on_postgres_one_sender_and_a_takeover(sandbox, db_url, tmp_path):
    """Two `kepubot worker` processes on one PostgreSQL database against one emulator with Telegram's
    flood limits on: only the lease holder sends, it stays under the limits (no 429), and when it is
    killed mid-call the other takes the lease over once it expires: each of 1,000 people gets the
    broadcast once."""
    if not db_url.startswith("postgresql"):
        pytest.skip("several processes on one database: PostgreSQL only (set DATABASE_URL)")
    base_url, client, emulator = sandbox
    await client.flood(per_second=30, per_chat_interval=1)
    broadcast_id = await prepare(client, db_url)
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    procs = [await spawn("worker", base_url, db_url, log, INBOX_SHARED="true") for log in logs]
    try:
        await until_received(client, 300, timeout=60, procs=procs)
        took = ["took the sender's lease" in log.read_text(encoding="utf-8", errors="replace") for log in logs]
        assert took.count(True) == 1, f"processes that took the lease: {took}"
        engine = make_engine(db_url)
        try:
            async with engine.connect() as conn:
                holder = (await conn.execute(select(Lease.holder).where(Lease.name == "outbox"))).scalar_one()
        finally:
            await engine.dispose()
        pid = int(holder.split(":")[-2])
        pids = [p.pid for p in procs]
        assert pid in pids and pids.index(pid) == took.index(True), (holder, pids, took)
        killed = pids.index(pid)
        at_kill = await kill_mid_call(client, procs[killed])
        assert at_kill < N, "the broadcast was over before the kill: nothing was tested"
        survivor = procs[1 - killed]
        # the lease expires within 15 s of its last renewal, then ~700 copies at 25 a second
        got = await until_received(client, N, timeout=90, procs=[survivor])
        rows, chats = await until_done(db_url, broadcast_id, timeout=20)
        report = await until_report(client, timeout=20)
        await asyncio.sleep(5)  # the other worker's fan-out job runs too: one report only
        got = await received(client)
        every = await reports(client)
        state = await client.state()
    finally:
        for proc in procs:
            await stop(proc)
    assert_exactly_once(got)
    assert rows == {OutboxStatus.sent.value: N} and chats == N
    assert_report(report, every)
    survivor_log = logs[1 - killed].read_text(encoding="utf-8", errors="replace")
    assert "took the sender's lease" in survivor_log and "left by a stopped sender go out again" in survivor_log
    print(f"kill after {at_kill} chats; 429s refused by the emulator: {state['flood_refused']}")
    assert state["flood_refused"] == 0, f"the sender went over Telegram's limits {state['flood_refused']} times"


async def test_a_hung_call_longer_than_the_lease_sends_nothing_twice(sandbox, db_url, tmp_path):
    """Two workers; Telegram holds every call for 20 s (longer than the lease's 15 s) and then answers
    them 502, no process is killed: each person still gets the broadcast once."""
    if not db_url.startswith("postgresql"):
        pytest.skip("several processes on one database: PostgreSQL only (set DATABASE_URL)")
    base_url, client, emulator = sandbox
    await client.flood(per_second=30, per_chat_interval=1)
    await prepare(client, db_url)
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    procs = [await spawn("worker", base_url, db_url, log, INBOX_SHARED="true") for log in logs]
    try:
        await until_received(client, 100, timeout=60, procs=procs)
        await client.fault("*", "stall", count=10**9)
        await asyncio.sleep(20)
        await client.unstall()
        got = await until_received(client, N, timeout=90, procs=procs)
        await asyncio.sleep(3)
        got = await received(client)
    finally:
        for proc in procs:
            await stop(proc)
    assert_exactly_once(got)
