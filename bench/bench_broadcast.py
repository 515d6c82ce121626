"""A broadcast to N people through the sandbox with Telegram's flood limits on: the rate it reaches.

    .venv/bin/python bench/bench_broadcast.py [--recipients 10000] [--rate 25]
    .venv/bin/python bench/bench_broadcast.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

The emulator runs in this process (127.0.0.1, a free port) with its flood limits on (30 messages in
any sliding second per bot, one a second per chat; a call over them is refused with 429 and retry
after); N people have opened the bot there. The bot is `python -m bot run` (OUTBOX_PER_SECOND =
--rate) on a fresh SQLite file in a temp dir (or the given PostgreSQL database, its public schema
dropped and created again first), holding the same N people and a broadcast to all of them made
through bot/services/broadcasts.py, as an operator's confirmation makes it: the bot's job queues its
copies in batches and the outbox sender sends them.

Printed: the configured rate, the achieved rate (recipients / (last copy's time - first copy's
time), as the emulator made the messages), their ratio, lost (recipients with no copy) and
duplicated (recipients with more than one), the 429s the emulator answered, the wall time (the
bot's start to the last copy) and whether the broadcast is done with its report sent to its author.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select, text  # noqa: E402

from bot.config import async_db_url, mask_url  # noqa: E402
from bot.sandbox import start_server  # noqa: E402
from bot.sandbox.client import SandboxClient, event_text  # noqa: E402
from bot.sandbox.emulator import ChatState, Emulator, FloodLimits  # noqa: E402
from bot.services import broadcasts  # noqa: E402
from storage.db import make_engine, make_sessionmaker  # noqa: E402
from storage.migrate import upgrade_async  # noqa: E402
from storage.models import Broadcast, OutboxMessage, User, utcnow  # noqa: E402

TOKEN = "123456:BENCH"
AUTHOR = 9001  # the operator (ADMIN_IDS) who made the broadcast: gets the report


class TimedEmulator(Emulator):
    """The emulator, noting when each message the bot made in a chat was made (monotonic time)."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.made: dict[int, list[float]] = {}

    def event(self, chat: ChatState, kind: str, message: dict | None, **extra):
        if kind == "message":
            self.made.setdefault(int(chat.chat["id"]), []).append(time.monotonic())
        return super().event(chat, kind, message, **extra)


async def reset_postgres(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def prepare(db_url: str, first: int, n: int) -> int:
    """The N people in the database and a broadcast to all of them, sending from now: its id."""
    engine = make_engine(db_url)
    try:
        maker = make_sessionmaker(engine)
        async with maker.begin() as session:
            for start in range(0, n, 5000):
                await session.execute(insert(User), [{"id": first + i, "first_name": f"B{i}"}
                                                     for i in range(start, min(n, start + 5000))])
        async with maker.begin() as session:
            segment = broadcasts.Segment(broadcasts.SegmentKind.all)
            total = await broadcasts.count(session, segment, (AUTHOR,))
            if total != n:
                raise RuntimeError(f"the segment counts {total} people, not {n}: is the database fresh?")
            row = await broadcasts.create(session, AUTHOR, segment, broadcasts.payload("<b>通知</b>：群发基准测试"),
                                          total, utcnow())
            await session.flush()
            return row.id
    finally:
        await engine.dispose()


async def database_figures(db_url: str, broadcast_id: int) -> tuple[str, dict[str, int]]:
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            status = (await conn.execute(select(Broadcast.status).where(Broadcast.id == broadcast_id))).scalar_one()
            rows = dict((await conn.execute(select(OutboxMessage.status, func.count())
                                            .where(OutboxMessage.broadcast_id == broadcast_id)
                                            .group_by(OutboxMessage.status))).all())
    finally:
        await engine.dispose()
    return str(getattr(status, "value", status)), {str(getattr(k, "value", k)): n for k, n in rows.items()}


async def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipients", type=int, default=10_000)
    ap.add_argument("--rate", type=float, default=25.0, help="OUTBOX_PER_SECOND of the bot (at most 30)")
    ap.add_argument("--per-second", type=float, default=30, help="the emulator's flood limit per bot")
    ap.add_argument("--per-chat-interval", type=float, default=1.0, help="the emulator's flood limit per chat")
    ap.add_argument("--no-flood", action="store_true", help="the emulator's flood limits off")
    ap.add_argument("--database-url", default=None,
                    help="PostgreSQL instead of a temp SQLite file: its public schema is DROPPED and made anew")
    ap.add_argument("--first-id", type=int, default=700_000_000)
    ap.add_argument("--bot-cmd", default=f"{shlex.quote(sys.executable)} -m bot run")
    ap.add_argument("--start-timeout", type=float, default=60, help="seconds to wait for the first copy")
    ap.add_argument("--stall-timeout", type=float, default=60, help="give up after this long without a new copy")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (log, SQLite file)")
    args = ap.parse_args(argv)
    if not 0 < args.rate <= 30:
        ap.error("--rate must be in (0, 30] (the bot's setting OUTBOX_PER_SECOND)")
    n, first = args.recipients, args.first_id

    workdir = Path(tempfile.mkdtemp(prefix="kepubot-bench-broadcast-"))
    if args.database_url:
        db_url = async_db_url(args.database_url)
        if not db_url.startswith("postgresql"):
            ap.error("--database-url: a PostgreSQL URL (SQLite is the default)")
        await reset_postgres(db_url)
    else:
        db_url = f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
    await upgrade_async(db_url)

    flood = None if args.no_flood else FloodLimits(args.per_second, args.per_chat_interval)
    emu = TimedEmulator(default_bot_id=int(TOKEN.split(":")[0]), flood=flood)
    runner, base_url, _ = await start_server(emulator=emu)
    client = SandboxClient(base_url)
    await client.users(first, n)
    await client.users(AUTHOR, 1)
    broadcast_id = await prepare(db_url, first, n)
    limits = "off" if flood is None else f"{flood.per_second:g}/s per bot, 1 per {flood.per_chat_interval:g} s per chat"
    print(f"emulator {base_url} (flood limits {limits}); {n} recipients; database {mask_url(db_url)}; "
          f"work dir {workdir}")

    log_path = workdir / "bot.log"
    env = dict(os.environ, BOT_TOKEN=TOKEN, BOT_API_URL=base_url, DATABASE_URL=db_url, ADMIN_IDS=str(AUTHOR),
               LOG_LEVEL="INFO", DATA_DIR=str(workdir / "data"), OUTBOX_PER_SECOND=f"{args.rate:g}")
    for key in ("BOT_API_LOCAL", "WEBHOOK_URL", "INBOX_SHARED"):
        env.pop(key, None)
    targets = range(first, first + n)
    ok, error = False, ""
    t0 = time.monotonic()
    with open(log_path, "wb") as log:  # noqa: ASYNC230 - handed to the child once
        proc = await asyncio.create_subprocess_exec(*shlex.split(args.bot_cmd), cwd=ROOT, env=env,
                                                    stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        served, last_progress, last_print = 0, time.monotonic(), time.monotonic()
        while True:
            await asyncio.sleep(0.5)
            now_served = sum(1 for chat in targets if chat in emu.made) if served < n else n
            if now_served != served:
                served, last_progress = now_served, time.monotonic()
            if served >= n:
                ok = True
                break
            if proc.returncode is not None:
                error = f"the bot exited (code {proc.returncode})"
                break
            limit = args.start_timeout if not served else args.stall_timeout
            if time.monotonic() - last_progress > limit:
                error = f"no new copy for {limit:.0f} s"
                break
            if time.monotonic() - last_print >= 30:
                print(f"  {served}/{n} after {time.monotonic() - t0:.0f} s")
                last_print = time.monotonic()
        # the report, and anything sent twice after the last new recipient
        deadline = time.monotonic() + 20
        report = ""
        while ok and time.monotonic() < deadline and not report:
            await asyncio.sleep(0.5)
            report = next((event_text(e) for e in await client.messages(AUTHOR, 0)
                           if e["kind"] == "message" and "已送达" in event_text(e)), "")
        await asyncio.sleep(2)
        status, rows = await database_figures(db_url, broadcast_id)
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
        await client.close()
        await runner.cleanup()

    times = {chat: emu.made[chat] for chat in targets if chat in emu.made}
    firsts = sorted(min(ts) for ts in times.values())
    lost = n - len(times)
    duplicated = sum(1 for ts in times.values() if len(ts) > 1)
    span = firsts[-1] - firsts[0] if len(firsts) > 1 else 0.0
    achieved = len(times) / span if span else 0.0
    wall = (firsts[-1] - t0) if firsts else time.monotonic() - t0
    print(f"configured rate : {args.rate:g} messages/s (OUTBOX_PER_SECOND)")
    print(f"achieved rate   : {achieved:.2f} messages/s ({len(times)} recipients in {span:.1f} s, first to last copy)")
    print(f"ratio           : {achieved / args.rate:.3f}")
    print(f"lost            : {lost}")
    print(f"duplicated      : {duplicated}")
    print(f"429s seen       : {emu.flood_refused} (refused by the emulator's flood limits)")
    print(f"wall time       : {wall:.1f} s (the bot's start to the last copy; start-up "
          f"{(firsts[0] - t0) if firsts else 0:.1f} s)")
    print(f"broadcast       : {status}; outbox rows {rows}; report to the author: "
          f"{' / '.join(line.strip() for line in report.splitlines() if '：' in line and any(c.isdigit() for c in line))}"
          if report else f"broadcast       : {status}; outbox rows {rows}; report to the author: NOT RECEIVED")
    if not ok:
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        print(f"FAILED: {error}\n    log {log_path}:\n      " + "\n      ".join(tail))
    good = ok and not lost and not duplicated and status == "done" and bool(report)
    if good and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
