"""A deadline-day burst through the sandbox (issue 14): N valid random updates (tests/fuzz.py) from 13
people and the operator, sent at a fixed rate to the bot running as its own process(es).

    .venv/bin/python bench/bench_burst.py [--updates 1500] [--rate 60] [--seed 1]
    .venv/bin/python bench/bench_burst.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test --workers 2

The emulator runs in this process (127.0.0.1, a free port); the bot is `python -m bot run` with
BOT_API_URL pointing at it, on a fresh SQLite file in a temp dir (or the given PostgreSQL database,
its public schema dropped and created again first).

How updates are sent: texts and commands with the control API's `send`, presses of real buttons with
`press` (message id + callback data), files with `upload` (random bytes, or tiny real media; a photo
that is not an image goes as a document), one's own contact with `contact`, block/unblock with `block`;
the rest (someone else's contact, stickers, group messages, edits, poll answers, presses of mutated
buttons) as raw updates. A mutated press gets a callback query id registered in the emulator, as
Telegram gives one to every press, so the bot can answer it.

When an update counts as handled: when the bot has recorded it in the database, i.e. its row in
`processed_updates` (written in the update's own transaction by the unit of work) or its `inbox` row
is `done`; the handling time is that row's timestamp (processed_at / finished_at) minus the moment it
was sent. An inbox row `dead` counts as a dead letter, not handled. The database is read every 0.5 s
(SQLite read-only, WAL: the reads never wait for or block the bot's writes). Updates of a type the bot
does not ask Telegram for (allowed_updates: edits, poll answers, block/unblock unless it handles them)
are never delivered by the sandbox; they are counted apart and not in the total.

From the bot's log: failures ("update N failed"), retries ("will be tried again", "on attempt"), dead
letters ("failed for good"), tracebacks, and the most frequent error lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import shlex
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.sandbox import start_server  # noqa: E402
from bot.sandbox.client import SandboxClient, SandboxError  # noqa: E402
from bot.sandbox.emulator import NOT_DEFAULT_UPDATES  # noqa: E402
from tests.fuzz import OPERATOR, Button, UpdateFuzzer, buttons_of_markup, tiny_media  # noqa: E402

TOKEN = "777001:BURST"
BOT_ID = 777001
WARM_USER = 8_000_001
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
FAILED = re.compile(r"update (\d+) failed")
RETRY = re.compile(r"will be tried again|on attempt \d+")
DEAD = re.compile(r"failed for good")
ERROR_LINE = re.compile(r"^\s*([\w.]*(?:Error|Exception|Timeout)\w*: .{0,120})")


@dataclass
class Sent:
    update_id: int
    kind: str
    utype: str
    at: float  # time.time() when the control call returned


@dataclass
class Run:
    sent: dict[int, Sent] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)  # generated but not sendable (e.g. block with no change)
    refused: Counter = field(default_factory=Counter)  # the control API refused
    handled: dict[int, float] = field(default_factory=dict)  # update id -> handling time (s)
    dead: set[int] = field(default_factory=set)
    inbox_statuses: Counter = field(default_factory=Counter)
    inbox_retried: int = 0
    burst_start: float = 0.0
    burst_end: float = 0.0
    last_handled_at: float = 0.0


def emulator_buttons(emu: Any, newest: int = 5):
    """chat id -> the callback buttons of the bot's newest messages there (read from the emulator)."""

    def lookup(chat_id: int) -> list[Button]:
        bot = emu.bots.get(BOT_ID)
        chat = bot.chats.get(chat_id) if bot else None
        if chat is None:
            return []
        out: list[Button] = []
        taken = 0
        for msg in reversed(list(chat.messages.values())):
            if msg.get("from", {}).get("id") != BOT_ID:
                continue
            found = buttons_of_markup(msg["message_id"], msg.get("text") or msg.get("caption") or "",
                                      msg.get("reply_markup"))
            if found:
                out += found
                taken += 1
                if taken >= newest:
                    break
        return out

    return lookup


def _safe_name(name: str) -> str:
    base = Path(name.replace("\\", "/")).name.strip().strip(".") or "file"
    while len(base.encode()) > 200:
        base = base[:-1]
    return base


class Sender:
    """Turns a generated update into the sandbox call a person's client would cause."""

    def __init__(self, client: SandboxClient, emu: Any, workdir: Path, media: dict[str, bytes]) -> None:
        self.client = client
        self.emu = emu
        self.files = workdir / "to-upload"
        self.files.mkdir(parents=True, exist_ok=True)
        self.media = media
        self.blobs: dict[str, tuple[bytes, str]] = {}  # generator's file id -> bytes, name

    def store_file(self, data: bytes, name: str, announced: int | None = None) -> tuple[str, str]:
        file_id = f"FZ{len(self.blobs)}"
        self.blobs[file_id] = (data, name)
        return file_id, file_id

    async def send(self, update: dict[str, Any]) -> int | None:
        bot = self.emu.bots[BOT_ID]
        if "message" in update and update["message"]["chat"]["type"] == "private":
            msg = update["message"]
            uid, name = msg["from"]["id"], msg["from"]["first_name"]
            if "text" in msg:
                return (await self.client.send(uid, msg["text"], first_name=name))["update_id"]
            if "contact" in msg and msg["contact"].get("user_id") == uid:
                return (await self.client.contact(uid, msg["contact"]["phone_number"]))["update_id"]
            for kind in ("document", "photo", "video"):
                if kind in msg:
                    return await self._upload(uid, kind, msg)
            # someone else's contact, a sticker: the message as the emulator would build it
            user = self.emu.user(uid, name)
            content = {k: v for k, v in msg.items() if k not in ("message_id", "date", "chat", "from")}
            update_, _, _ = self.emu.user_message(bot, user, content)
            return update_["update_id"]
        if "callback_query" in update:
            return await self._press(update["callback_query"])
        if "my_chat_member" in update:
            cm = update["my_chat_member"]
            result = await self.client.block(cm["from"]["id"], cm["new_chat_member"]["status"] == "kicked")
            return result["update_id"]
        return (await self.client.raw_update(update))["update_id"]  # group messages, edits, poll answers

    async def _upload(self, uid: int, kind: str, msg: dict[str, Any]) -> int:
        obj = msg[kind][-1] if kind == "photo" else msg[kind]
        data, name = self.blobs.get(obj["file_id"], (b"", "file"))
        if kind == "photo" and self.media.get(name) != data:
            kind = "document"  # the sandbox (like Telegram) makes no photo of bytes that are not an image
        shown = obj.get("file_name") or name
        folder = self.files / secrets.token_hex(6)
        folder.mkdir()
        path = folder / _safe_name(name)
        path.write_bytes(data)
        try:
            result = await self.client.upload(uid, path, as_=kind, caption=msg.get("caption"),
                                              file_name=None if kind == "photo" else shown)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return result["update_id"]

    async def _press(self, query: dict[str, Any]) -> int:
        uid = query["from"]["id"]
        mid, data = query["message"]["message_id"], query["data"]
        bot = self.emu.bots[BOT_ID]
        chat = self.emu.chat_of(bot, self.emu.user(uid))
        msg = chat.messages.get(mid)
        real = msg is not None and any(b.data == data for b in buttons_of_markup(mid, "", msg.get("reply_markup")))
        if real:
            return (await self.client.press(uid, mid, callback_data=data))["update_id"]
        # a mutated button: a press of it as a changed client would send it, with a query id Telegram knows
        query_id = str(secrets.randbits(63))
        bot.callback_queries[query_id] = {"chat_id": uid, "message_id": mid, "answered": False}
        raw = {"callback_query": {"id": query_id, "from": self.emu.user(uid), "chat_instance": chat.chat_instance,
                                  "message": self.emu.api_view(msg) if msg else query["message"], "data": data}}
        return (await self.client.raw_update(raw))["update_id"]


def _parse_time(value: Any) -> float | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        try:
            value = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


class Watcher:
    """Reads which updates the bot has recorded (processed_updates, inbox) from its database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite_path = url.split(":///", 1)[1] if url.startswith("sqlite") else None
        self.engine = None
        self.has_inbox: bool | None = None

    async def rows(self, since: int) -> tuple[list[tuple], list[tuple]]:
        """(processed: (update_id, processed_at)), (inbox: (update_id, status, attempts, finished_at))."""
        q_processed = f"SELECT update_id, processed_at FROM processed_updates WHERE update_id >= {int(since)}"
        q_inbox = f"SELECT update_id, status, attempts, finished_at FROM inbox WHERE update_id >= {int(since)}"
        if self.sqlite_path is not None:
            return await asyncio.to_thread(self._sqlite, q_processed, q_inbox)
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        if self.engine is None:
            self.engine = create_async_engine(self.url, pool_size=1, max_overflow=0)
        async with self.engine.connect() as conn:
            processed = [tuple(r) for r in (await conn.execute(text(q_processed))).all()]
            inbox: list[tuple] = []
            if self.has_inbox is not False:
                try:
                    inbox = [tuple(r) for r in (await conn.execute(text(q_inbox))).all()]
                    self.has_inbox = True
                except Exception:  # noqa: BLE001 - no inbox table in this version of the bot
                    self.has_inbox = False
        return processed, inbox

    def _sqlite(self, q_processed: str, q_inbox: str) -> tuple[list[tuple], list[tuple]]:
        if not Path(self.sqlite_path).exists():
            return [], []
        conn = sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True, timeout=1)
        try:
            processed = conn.execute(q_processed).fetchall()
            inbox: list[tuple] = []
            if self.has_inbox is not False:
                try:
                    inbox = conn.execute(q_inbox).fetchall()
                    self.has_inbox = True
                except sqlite3.OperationalError as exc:
                    if "no such table" not in str(exc):
                        raise
                    self.has_inbox = False
            return processed, inbox
        finally:
            conn.close()

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()


def update_type(update: dict[str, Any]) -> str:
    return next((k for k in update if k != "update_id"), "")


async def reset_postgres(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def start_bots(args, base_url: str, db_url: str, workdir: Path) -> list[tuple[asyncio.subprocess.Process, Path]]:
    env = dict(os.environ, BOT_TOKEN=TOKEN, BOT_API_URL=base_url, DATABASE_URL=db_url, ADMIN_IDS=str(OPERATOR),
               LOG_LEVEL="INFO")
    for key in ("BOT_API_LOCAL", "WEBHOOK_URL", "REDIS_URL"):
        env.pop(key, None)
    procs = []
    for i in range(args.workers):
        cmd = shlex.split(args.bot_cmd if i == 0 else (args.worker_cmd or args.bot_cmd))
        log_path = workdir / f"bot{i}.log"
        with open(log_path, "wb") as log:  # noqa: ASYNC230 - handed to the child once
            proc = await asyncio.create_subprocess_exec(
                *cmd, cwd=ROOT, env=dict(env, DATA_DIR=str(workdir / f"data{i}")),
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)
        procs.append((proc, log_path))
        if i == 0 and args.workers > 1:  # the first one migrates the database; the others start after
            await asyncio.sleep(3)
    return procs


async def burst(args, client: SandboxClient, emu: Any, workdir: Path, run: Run) -> None:
    sender = Sender(client, emu, workdir, tiny_media())
    fuzzer = UpdateFuzzer(args.seed, buttons=emulator_buttons(emu), store_file=sender.store_file, media=sender.media)
    run.burst_start = time.monotonic()
    for i in range(args.updates):
        due = run.burst_start + i / args.rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        update = fuzzer.next_update()
        try:
            update_id = await sender.send(update)
        except SandboxError as exc:
            run.refused[f"{fuzzer.last_kind}: {str(exc)[:80]}"] += 1
            continue
        if update_id is None:
            run.skipped[fuzzer.last_kind] += 1
            continue
        run.sent[update_id] = Sent(update_id, fuzzer.last_kind, update_type(update), time.time())
    run.burst_end = time.monotonic()


def delivered_types(emu: Any) -> set[str] | None:
    allowed = emu.bots[BOT_ID].allowed_updates
    return set(allowed) if allowed else None


def expected_ids(run: Run, emu: Any) -> set[int]:
    allowed = delivered_types(emu)
    return {u for u, s in run.sent.items()
            if (s.utype in allowed if allowed is not None else s.utype not in NOT_DEFAULT_UPDATES)}


async def watch(args, watcher: Watcher, run: Run, emu: Any, procs, sending: asyncio.Task) -> None:
    """Poll the database until every update is handled or dead, the bots died, or the timeout."""
    first = min(run.sent, default=0)
    deadline = None
    while True:
        await asyncio.sleep(0.5)
        try:
            processed, inbox = await watcher.rows(first if run.sent else 0)
        except Exception as exc:  # noqa: BLE001 - a busy moment; read again
            print(f"  (reading the database failed: {type(exc).__name__}: {exc}; again)", file=sys.stderr)
            continue
        now = time.time()
        done_at = {u: _parse_time(t) for u, t in processed}
        run.inbox_statuses = Counter(status for _, status, _, _ in inbox)
        run.inbox_retried = sum(1 for _, _, attempts, _ in inbox if (attempts or 0) > 1)
        for u, status, _, finished in inbox:
            if status == "done" and u not in done_at:
                done_at[u] = _parse_time(finished)
            elif status == "dead":
                run.dead.add(u)
        for u, at in done_at.items():
            sent = run.sent.get(u)
            if sent is not None and u not in run.handled:
                run.handled[u] = max((at if at is not None else now) - sent.at, 0.0)
                run.last_handled_at = time.monotonic()
        if sending.done():
            if deadline is None:
                deadline = time.monotonic() + args.timeout
            open_ = expected_ids(run, emu) - set(run.handled) - run.dead
            if not open_:
                return
            if time.monotonic() > deadline:
                print(f"  timeout: {len(open_)} updates not handled after {args.timeout:.0f} s", file=sys.stderr)
                return
            if all(p.returncode is not None for p, _ in procs):
                print("  every bot process has exited", file=sys.stderr)
                return


def read_logs(procs) -> dict[str, Any]:
    out: dict[str, Any] = {"failed": set(), "retries": 0, "dead": set(), "tracebacks": 0, "errors": Counter(),
                           "aiogram": 0}
    for _, path in procs:
        text = path.read_text(errors="replace") if path.exists() else ""
        for line in text.splitlines():
            m = FAILED.search(line)
            if m and DEAD.search(line):
                out["dead"].add(int(m.group(1)))
            elif m and not RETRY.search(line):
                out["failed"].add(int(m.group(1)))
            if RETRY.search(line):
                out["retries"] += 1
            if "Traceback (most recent call last)" in line:
                out["tracebacks"] += 1
            if "Cause exception while process update" in line:
                out["aiogram"] += 1
            e = ERROR_LINE.match(line)
            if e:
                out["errors"][e.group(1)[:140]] += 1
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered))) - 1))]


def report(args, run: Run, emu: Any, procs, logs: dict[str, Any], workdir: Path) -> bool:
    expected = expected_ids(run, emu)
    handled = [run.handled[u] for u in expected if u in run.handled]
    not_delivered = Counter(s.utype for u, s in run.sent.items() if u not in expected)
    span = run.burst_end - run.burst_start
    print(f"\nburst: {len(run.sent)} updates sent in {span:.1f} s ({len(run.sent) / span if span else 0:.1f}/s; "
          f"seed {args.seed}, {len(set(s.kind for s in run.sent.values()))} kinds)")
    print("  kinds: " + ", ".join(f"{k} {n}" for k, n in Counter(s.kind for s in run.sent.values()).most_common()))
    if not_delivered:
        print("  not delivered by the sandbox (type not in the bot's allowed_updates "
              f"{sorted(delivered_types(emu) or [])}): " + ", ".join(f"{k} {n}" for k, n in not_delivered.items()))
    if run.skipped or run.refused:
        print(f"  not sent: {dict(run.skipped)} refused by the control API: {dict(run.refused)}")
    print(f"handled: {len(handled)}/{len(expected)}  (with the warm-up /start, answered before the burst: "
          f"{len(handled) + 1}/{len(expected) + 1})")
    if handled:
        after_end = run.last_handled_at - run.burst_end
        print(f"  the last one {max(after_end, 0):.1f} s after the burst's end")
        print(f"  handling time (send → recorded): p50 {pct(handled, 0.5):.2f} s, p99 {pct(handled, 0.99):.2f} s, "
              f"max {max(handled):.2f} s, mean {statistics.fmean(handled):.2f} s")
    missing = sorted(expected - set(run.handled) - run.dead)
    if missing:
        print(f"  not handled: {len(missing)} (first: {missing[:10]})")
    print(f"failures ('update N failed' in the log): {len(logs['failed'])}"
          + (f"  ids {sorted(logs['failed'])[:10]}" if logs["failed"] else ""))
    print(f"retries (log lines): {logs['retries']}; inbox rows taken more than once: {run.inbox_retried}")
    dead_db = len(run.dead)
    print(f"dead letters: {dead_db} in the inbox table, {len(logs['dead'])} in the log")
    if run.inbox_statuses:
        print(f"  inbox rows from the burst's first update id on: {dict(run.inbox_statuses)}")
    else:
        print("  (no inbox rows: handled = recorded in processed_updates)")
    print(f"tracebacks in the log: {logs['tracebacks']}; aiogram 'Cause exception' lines: {logs['aiogram']}")
    if logs["errors"]:
        print("  most frequent error lines:")
        for line, n in logs["errors"].most_common(6):
            print(f"    {n:5d}  {line}")
    for p, path in procs:
        state = "running" if p.returncode is None else f"exit code {p.returncode}"
        print(f"bot process {path.name}: {state}")
    ok = len(handled) == len(expected) and not logs["failed"] and not dead_db and not logs["tracebacks"]
    print(("OK" if ok else "NOT OK") + f"; logs and database in {workdir}" * (not ok or args.keep))
    return ok


async def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--updates", type=int, default=1500)
    ap.add_argument("--rate", type=float, default=60, help="updates per second")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--database-url", default="", help="PostgreSQL on 127.0.0.1 (its public schema is dropped first); "
                                                       "default: a fresh SQLite file")
    ap.add_argument("--workers", type=int, default=1, help="bot processes (PostgreSQL only)")
    ap.add_argument("--bot-cmd", default=f"{shlex.quote(sys.executable)} -m bot run")
    ap.add_argument("--worker-cmd", default="", help="command of the 2nd.. process (default: --bot-cmd)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds to wait after the burst")
    ap.add_argument("--start-timeout", type=float, default=60)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, SQLite file)")
    args = ap.parse_args(argv)
    if args.updates < 1 or args.rate <= 0:
        ap.error("--updates and --rate must be positive")

    workdir = Path(tempfile.mkdtemp(prefix="kepubot-burst-"))
    if args.database_url:
        from bot.config import async_db_url

        db_url = async_db_url(args.database_url)
        host = urlsplit(db_url).hostname or ""
        if host not in LOCAL_HOSTS:
            ap.error(f"--database-url must be on 127.0.0.1, not {host!r}")
        await reset_postgres(db_url)
    else:
        if args.workers != 1:
            ap.error("SQLite: one process (--workers 1)")
        db_url = f"sqlite+aiosqlite:///{workdir / 'bot.sqlite3'}"

    runner, base_url, emu = await start_server(host="127.0.0.1")
    client = SandboxClient(base_url, bot_id=BOT_ID)
    procs: list = []
    watcher = Watcher(db_url)
    run = Run()
    ok = False
    print(f"emulator {base_url}; database {db_url.split('@')[-1]}; {args.workers} bot process(es); "
          f"{args.updates} updates at {args.rate:g}/s, seed {args.seed}; work dir {workdir}")
    try:
        procs = await start_bots(args, base_url, db_url, workdir)
        deadline = time.monotonic() + args.start_timeout
        while not (await client.calls()).get("getUpdates"):
            if any(p.returncode is not None for p, _ in procs) or time.monotonic() > deadline:
                raise RuntimeError("the bot did not start polling")
            await asyncio.sleep(0.2)
        warm = await client.send(WARM_USER, "/start", first_name="Warm")
        await client.wait_for(WARM_USER, lambda e: e.get("kind") in ("message", "edit"), timeout=args.start_timeout,
                              after=warm["seq"])
        sending = asyncio.create_task(burst(args, client, emu, workdir, run))
        watching = asyncio.create_task(watch(args, watcher, run, emu, procs, sending))
        await sending
        print(f"  burst sent in {run.burst_end - run.burst_start:.1f} s; waiting up to {args.timeout:.0f} s "
              "for the bot ...", file=sys.stderr)
        await watching
    except Exception as exc:  # noqa: BLE001 - reported with the log's tail
        print(f"FAILED: {type(exc).__name__}: {exc}")
        for _, path in procs:
            tail = path.read_text(errors="replace").splitlines()[-15:] if path.exists() else []
            print(f"  {path}:\n    " + "\n    ".join(tail))
    finally:
        for proc, _ in procs:
            if proc.returncode is None:
                proc.terminate()
        for proc, _ in procs:
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if run.sent:
            ok = report(args, run, emu, procs, read_logs(procs), workdir)
        await watcher.close()
        await client.close()
        await runner.cleanup()
        if ok and not args.keep:
            with contextlib.suppress(OSError):
                shutil.rmtree(workdir)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
