"""The real bot on a database of 100,000 creators: start-up, the answers people and operators wait
for, memory, and the query plans behind the lists.

    .venv/bin/python bench/bench_scale.py [--creators 100000] [--repeat 20] [--explain]
    .venv/bin/python bench/bench_scale.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/scale

A fresh database (a temp SQLite file, or the given PostgreSQL database: created if missing, its
public schema DROPPED and made again) is migrated and filled with SQLAlchemy Core executemany before
the bot starts: the creators' users rows, their registrations (most approved, some waiting for the
scan or for a decision, some rejected), their applications (drafts and every later status, in all
categories) with files, review rounds, reviewers' assignments and reviews, and the audit rows all
those status changes leave. Then `python -m bot run` starts against the in-process sandbox; measured,
each --repeat times (median and p95; an answer is the first message or edit after the command):
a creator's /start and /mywork, an operator's /start, /submissions (and its next page),
/review_queue and /pending (each /pending by another operator: its answer is the count message; its
cards then go through the outbox, and what arrived within --drain seconds is counted); then the
bot's VmHWM / VmRSS. Before the bot starts, the reminders due now are marked as sent (a bot that
has been running sent them; --fresh-reminders leaves them for its start-up scan). bench/echo_bot.py
runs the same way for the baseline (start to first poll, VmHWM). --explain: the query plans of the statements behind
the operators' lists and /mywork (SQLite EXPLAIN QUERY PLAN, PostgreSQL EXPLAIN), a SCAN of a big
table flagged.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, func, insert, select, text  # noqa: E402

from bench.bench_updates import wait_answer  # noqa: E402
from bot.campaign import load_campaign  # noqa: E402
from bot.config import async_db_url  # noqa: E402
from bot.sandbox import start_server  # noqa: E402
from bot.sandbox.client import SandboxClient, inline_buttons  # noqa: E402
from storage.db import make_engine, make_sessionmaker  # noqa: E402
from storage.migrate import upgrade_async  # noqa: E402
from storage.models import (  # noqa: E402
    AuditEntry,
    Registration,
    Review,
    ReviewAssignment,
    ReviewRound,
    Submission,
    SubmissionFile,
    User,
    UserRole,
)

TOKEN, ECHO_TOKEN = "123456:SCALE", "654321:ECHO"
CREATOR_FIRST, REVIEWER_FIRST, OPERATOR_FIRST = 30_000_000, 40_000_000, 50_000_000
CHUNK = 5000  # rows per executemany
BLOCK = 2000  # creators generated (and inserted, table by table) at a time
BIG_TABLES = ("users", "registrations", "submissions", "submission_files", "audit", "review_rounds",
              "review_assignments", "reviews", "user_roles")
NOW = datetime.now(UTC).replace(microsecond=0)

# a creator's registration, and an application's status, by weight
REG_MIX = (("approved", 80), ("pending_review", 6), ("awaiting_seal", 5), ("rejected", 4), (None, 5))
SUB_MIX = (("draft", 25), ("submitted", 8), ("under_review", 15), ("returned", 4), ("revise", 4),
           ("accepted", 14), ("rejected", 22), ("withdrawn", 6), ("disqualified", 2))
# the statuses an application went through to reach its own (its audit rows)
SUB_PATH = {"draft": [], "submitted": ["submitted"], "under_review": ["submitted", "under_review"],
            "returned": ["submitted", "returned"], "revise": ["submitted", "under_review", "revise"],
            "accepted": ["submitted", "under_review", "accepted"],
            "rejected": ["submitted", "under_review", "rejected"], "withdrawn": ["submitted", "withdrawn"],
            "disqualified": ["submitted", "under_review", "disqualified"]}
VERDICT = {"revise": "revise", "accepted": "accept", "rejected": "reject"}
# no "checking": a file left checking is checked again at start-up (the fill's file ids can't be downloaded)
FILE_MIX = (("passed", 70), ("warnings", 25), ("failed", 4), ("deep_pending", 1))


def pick(rng: random.Random, mix) -> str | None:
    return rng.choices([v for v, _ in mix], weights=[w for _, w in mix])[0]


# ---------------------------------------------------------------- filling the database


@dataclass
class Filled:
    counts: dict[str, int] = field(default_factory=dict)
    with_works: list[int] = field(default_factory=list)  # creators with 3 applications or more
    plain: list[int] = field(default_factory=list)  # approved creators (any number of applications)
    seconds: float = 0.0


class Block:
    """The rows of one block of creators, table by table, inserted in foreign-key order."""

    ORDER = (User, UserRole, Registration, Submission, SubmissionFile, ReviewRound, ReviewAssignment, Review,
             AuditEntry)

    def __init__(self) -> None:
        self.rows: dict[type, list[dict]] = {m: [] for m in self.ORDER}
        self.audit_id = 0

    def audit(self, entity: str, entity_id: int, path: list[tuple[str | None, str]], at: datetime, actor: int | None,
              step: timedelta) -> datetime:
        for from_status, to_status in path:
            self.rows[AuditEntry].append({"entity": entity, "entity_id": entity_id, "from_status": from_status,
                                          "to_status": to_status, "actor_id": actor, "at": at, "reason": None})
            at += step
        return at

    async def insert(self, conn, counts: dict[str, int]) -> None:
        for model in self.ORDER:
            rows = self.rows[model]
            for start in range(0, len(rows), CHUNK):
                await conn.execute(insert(model.__table__), rows[start:start + CHUNK])
            counts[model.__tablename__] = counts.get(model.__tablename__, 0) + len(rows)


class Ids:
    def __init__(self) -> None:
        self.sub = self.file = self.round = self.asg = 0

    def next(self, name: str) -> int:
        value = getattr(self, name) + 1
        setattr(self, name, value)
        return value


def fill_block(block: Block, first: int, last: int, ids: Ids, rng: random.Random, campaign, reviewers: list[int],
               operator: int, filled: Filled) -> None:
    cats = [(c.id, c.kind) for c in campaign.categories]
    criteria = [c.id for c in campaign.criteria]
    for i in range(first, last):
        uid = CREATOR_FIRST + i
        born = NOW - timedelta(days=90) + timedelta(seconds=rng.randrange(60 * 86400))
        block.rows[User].append({"id": uid, "first_name": f"创作者{i}", "last_name": None, "username": f"c{i}",
                                 "language_code": "zh-hans", "created_at": born,
                                 "last_seen_at": born + timedelta(days=rng.randrange(20))})
        status = pick(rng, REG_MIX)
        if status is None:
            continue
        reg_id = i + 1
        at = born + timedelta(hours=1)
        sealed = status != "awaiting_seal"
        decided = status in ("approved", "rejected")
        block.rows[Registration].append({
            "id": reg_id, "user_id": uid, "account_name": f"科普号{i}", "account_key": f"科普号{i}",
            "subject_type": "individual", "subject_name": f"作者{i}", "person_name": f"作者{i}", "unit": "某大学",
            "position": "教师", "title": "讲师", "field": "物理", "phone": f"+86138{i:08d}",
            "email": f"c{i}@example.org", "experience": "多年科普经历，制作多部作品。", "experience_file": None,
            "recommender": "中国物理学会", "status": status,
            "scan": json.dumps({"file_id": f"scan{i}", "kind": "document", "file_name": "盖章.pdf"}) if sealed else None,
            "decision_reason": "请补充单位盖章" if status == "rejected" else None,
            "fields_to_fix": json.dumps(["unit"]) if status == "rejected" else None,
            "reviewed_by": operator if decided else None, "reviewed_at": at + timedelta(days=2) if decided else None,
            "created_at": at, "updated_at": at + timedelta(days=2), "submitted_at": at + timedelta(days=1) if sealed else None,
            "round": 1, "history": None, "scan_count": 1 if sealed else 0})
        path = [(None, "awaiting_seal")]
        if sealed:
            path.append(("awaiting_seal", "pending_review"))
        if decided:
            path.append(("pending_review", status))
        block.audit("registrations", reg_id, path, at, uid, timedelta(days=1))
        if status != "approved":
            continue
        filled.plain.append(uid)
        works = rng.choice((0, 1, 1, 2, 3))
        if works >= 3:
            filled.with_works.append(uid)
        for _ in range(works):
            fill_submission(block, uid, ids, rng, cats, criteria, reviewers, operator, at + timedelta(days=3))


def fill_submission(block: Block, uid: int, ids: Ids, rng: random.Random, cats, criteria, reviewers: list[int],
                    operator: int, after: datetime) -> None:
    sid = ids.next("sub")
    status = pick(rng, SUB_MIX)
    cat, kind = rng.choice(cats)
    created = after + timedelta(seconds=rng.randrange(20 * 86400))
    steps = SUB_PATH[status]
    step = timedelta(hours=rng.randrange(2, 72))
    updated = created + step * len(steps)
    block.rows[Submission].append({
        "id": sid, "user_id": uid, "kind": kind, "category": cat, "title": f"作品{sid}：光的折射与全反射",
        "answers": json.dumps({"summary": "用生活中的例子讲清光的折射。", "audience": "中学生"}, ensure_ascii=False),
        "status": status, "created_at": created, "updated_at": updated,
        "submitted_at": created + step if steps else None, "staff_note": None, "round": 1})
    path = [(None, "draft"), *zip(["draft", *steps], steps, strict=False)]
    block.audit("submissions", sid, path, created, uid, step)
    for _ in range(rng.randrange(0, 3) if status == "draft" else rng.randrange(1, 4)):
        fid = ids.next("file")
        block.rows[SubmissionFile].append({
            "id": fid, "submission_id": sid, "file_id": f"f{fid}", "file_unique_id": f"u{fid}",
            "file_name": f"作品{fid}.mp4", "file_size": rng.randrange(10**6, 3 * 10**8), "sent_as": "document",
            "check_status": pick(rng, FILE_MIX), "report": None, "manual_reason": None, "report_message_id": None,
            "media_group_id": None, "round": 1, "created_at": created})
    if status in ("draft", "returned", "withdrawn"):
        return
    opened = created + step * 2 if len(steps) > 1 else created + step
    rid = ids.next("round")
    if status == "submitted":
        rnd_status = "waiting"
    elif status == "under_review":
        rnd_status = "reviewing"
    elif status == "disqualified":
        rnd_status = "stopped"
    else:
        rnd_status = "decided"
    decided_at = updated if rnd_status == "decided" else None
    rnd_row = {
        "id": rid, "submission_id": sid, "number": 1, "status": rnd_status, "opened_at": opened,
        "decision": VERDICT.get(status), "decision_message": "感谢投稿。" if decided_at else None,
        "decided_by": operator if decided_at else None, "decided_at": decided_at, "revise_until": None,
        # the round's counters of its assignments (as rounds.count_assignment keeps them), filled below
        "active_count": 0, "assigned_count": 0, "done_count": 0, "left_at": None, "reviewed_at": None}
    block.rows[ReviewRound].append(rnd_row)
    rpath = [(None, "waiting")] if rnd_status == "waiting" else [(None, "reviewing")]
    if rnd_status in ("decided", "stopped"):
        rpath.append(("reviewing", rnd_status))
    block.audit("review_rounds", rid, rpath, opened, None, step)
    if rnd_status == "waiting":
        return
    for reviewer in rng.sample(reviewers, 2):
        aid = ids.next("asg")
        if rnd_status == "reviewing":
            a_status = "submitted" if rng.random() < 0.5 else "assigned"
        elif rnd_status == "stopped":
            a_status = "stopped"
        else:
            a_status = "submitted"
        closed = opened + step / 2 if a_status != "assigned" else None
        block.rows[ReviewAssignment].append({
            "id": aid, "round_id": rid, "reviewer_id": reviewer, "status": a_status, "assigned_at": opened,
            "due_at": opened + timedelta(days=14), "closed_at": closed, "decline_reason": None})
        rnd_row["active_count"] += a_status in ("assigned", "submitted")
        rnd_row["assigned_count"] += a_status == "assigned"
        rnd_row["done_count"] += a_status == "submitted"
        if a_status == "submitted":
            rnd_row["reviewed_at"] = max(filter(None, (rnd_row["reviewed_at"], closed)))
        elif a_status != "assigned":
            rnd_row["left_at"] = max(filter(None, (rnd_row["left_at"], closed)))
        apath = [(None, "assigned")] + ([("assigned", a_status)] if a_status != "assigned" else [])
        block.audit("review_assignments", aid, apath, opened, reviewer, step / 2)
        if a_status == "submitted":
            block.rows[Review].append({
                "assignment_id": aid, "scores": json.dumps({c: rng.randrange(2, 6) for c in criteria}),
                "comment": "结构清楚，例子生动。", "staff_note": None,
                "recommendation": VERDICT.get(status) or rng.choice(("accept", "revise", "reject")),
                "submitted_at": closed})


async def prepare_postgres(url: str) -> None:
    """Create the database if missing (connecting to the database `test`, whose tables are never
    touched), then drop and make its public schema."""
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.database in ("test", "bcast"):
        raise SystemExit(f"refusing to use the database {u.database!r}")
    conn = await asyncpg.connect(user=u.username or "postgres", password=u.password, host=u.host or "127.0.0.1",
                                 port=u.port or 5432, database="test")
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", u.database):
            await conn.execute(f'CREATE DATABASE "{u.database}"')
    finally:
        await conn.close()
    engine = make_engine(url)
    async with engine.begin() as c:
        await c.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await c.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def fill(db_url: str, n: int, campaign, operator: int, seed: int) -> Filled:
    rng = random.Random(seed)
    filled = Filled()
    reviewers = [REVIEWER_FIRST + j for j in range(max(20, n // 500))]
    ids = Ids()
    t0 = time.monotonic()
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            head = Block()
            head.rows[User] += [{"id": r, "first_name": f"评审{r - REVIEWER_FIRST}", "created_at": NOW,
                                 "last_seen_at": NOW} for r in reviewers]
            head.rows[UserRole] += [{"user_id": r, "role": "reviewer", "granted_by": operator, "granted_at": NOW}
                                    for r in reviewers]
            await head.insert(conn, filled.counts)
        for first in range(0, n, BLOCK):
            block = Block()
            fill_block(block, first, min(n, first + BLOCK), ids, rng, campaign, reviewers, operator, filled)
            async with engine.begin() as conn:
                await block.insert(conn, filled.counts)
        if db_url.startswith("postgresql"):  # explicit ids: move the sequences past them
            async with engine.begin() as conn:
                for table in ("registrations", "submissions", "submission_files", "review_rounds",
                              "review_assignments"):
                    await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                            f"(SELECT coalesce(max(id), 1) FROM {table}))"))
            # VACUUM too (outside a transaction): the visibility map a running database's autovacuum
            # keeps lets the planner use index-only scans
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE"))
        else:
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
    filled.seconds = time.monotonic() - t0
    return filled


async def reminders_already_sent(db_url: str, campaign) -> tuple[int, float]:
    """A bot that has been running has sent the reminders due now (their keys are in reminders_sent):
    the scan's finders run here once (timed: the read part of the 15-minute job, without rendering:
    the scan renders only the reminders not sent before) and their keys are written, so the bot's
    start-up scan queues nothing. Returns (due, seconds)."""
    from bot.jobs.reminders import SCANS
    from bot.render import Texts
    from storage.models import ReminderSent

    engine = make_engine(db_url)
    texts = Texts()
    try:
        async with make_sessionmaker(engine)() as session:
            t0 = time.monotonic()
            due = []
            for find in SCANS:
                due += [r async for r in find(session, campaign, texts, NOW)]
            took = time.monotonic() - t0
        rows = list({r.key: {"key": r.key, "user_id": r.user_id, "kind": r.kind.value, "sent_at": NOW}
                     for r in due}.values())
        async with engine.begin() as conn:
            for start in range(0, len(rows), CHUNK):
                await conn.execute(insert(ReminderSent.__table__), rows[start:start + CHUNK])
    finally:
        await engine.dispose()
    return len(rows), took


# ---------------------------------------------------------------- measuring through the sandbox


@dataclass
class Series:
    name: str
    times: list[float] = field(default_factory=list)
    note: str = ""

    def line(self) -> str:
        if not self.times:
            return f"{self.name:>22}: no answer {self.note}"
        lat = sorted(self.times)
        p95 = lat[max(0, -(-len(lat) * 95 // 100) - 1)]
        return (f"{self.name:>22}: median {statistics.median(lat) * 1000:7.0f} ms  p95 {p95 * 1000:7.0f} ms  "
                f"(n={len(lat)}) {self.note}")


async def settle(client: SandboxClient, user_id: int, after: int, quiet: float = 0.3, limit: float = 30) -> int:
    """Wait until nothing more comes to the user for `quiet` seconds; the last seq seen."""
    deadline = time.monotonic() + limit
    cursor = after
    while time.monotonic() < deadline:
        events = await client.wait(user_id, cursor, quiet)
        if not events:
            return cursor
        cursor = events[-1]["seq"]
    return cursor


async def timed_send(client: SandboxClient, user_id: int, textline: str, timeout: float) -> tuple[float, list[dict]]:
    t0 = time.monotonic()
    sent = await client.send(user_id, textline)
    events = await wait_answer(client, user_id, sent["seq"], timeout)
    return time.monotonic() - t0, events


def memory_of(pid: int) -> dict[str, float]:
    """VmHWM and VmRSS of a process, MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0]) / 1024
    return found


def rss_note(pid: int) -> str:
    """Where the bot's memory stands after each step (which step raised its high-water mark)."""
    try:
        mem = memory_of(pid)
    except OSError:
        return ""
    return f"[bot RSS {mem['VmRSS']:.0f} MiB, peak {mem['VmHWM']:.0f}]"


async def spawn(cmd: list[str], env: dict, log_path: Path):
    with open(log_path, "wb") as log:  # noqa: ASYNC230 - handed to the child once
        return await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=log, stderr=log)


async def stop(proc) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()


async def first_poll(client: SandboxClient, proc, spawned: float, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while not (await client.calls()).get("getUpdates"):
        if proc.returncode is not None or time.monotonic() > deadline:
            raise RuntimeError(f"did not start polling (exit code {proc.returncode})")
        await asyncio.sleep(0.02)
    return time.monotonic() - spawned


def base_env(token: str, base_url: str) -> dict:
    env = dict(os.environ, BOT_TOKEN=token, BOT_API_URL=base_url)
    for key in ("BOT_API_LOCAL", "WEBHOOK_URL", "INBOX_SHARED", "REDIS_URL"):
        env.pop(key, None)
    return env


def next_page_target(events: list[dict], data: str) -> tuple[int, str] | None:
    for e in reversed(events):
        if e["kind"] in ("message", "edit"):
            for b in inline_buttons(e.get("message")):
                if b.get("callback_data") == data:
                    return e["message"]["message_id"], data
    return None


async def run_bot(args, base_url: str, db_url: str, workdir: Path, filled: Filled, operators: list[int]) -> dict:
    from bot.callbacks import ListAction, SubListCB

    client = SandboxClient(base_url, bot_id=int(TOKEN.split(":")[0]))
    env = base_env(TOKEN, base_url) | {"DATABASE_URL": db_url, "DATA_DIR": str(workdir / "bot"),
                                        "ADMIN_IDS": ",".join(map(str, operators))}
    log_path = workdir / "bot.log"
    spawned = time.monotonic()
    proc = await spawn(shlex.split(args.bot_cmd), env, log_path)
    out: dict = {"series": [], "pid": proc.pid}
    try:
        out["startup"] = await first_poll(client, proc, spawned, args.start_timeout)
        print(f"{'bot start to first poll':>22}: {out['startup']:.2f} s; {rss_note(proc.pid)}", flush=True)
        timeout, n = args.step_timeout, args.repeat
        rng = random.Random(args.seed + 1)
        creators = rng.sample(filled.plain, min(n, len(filled.plain)))
        workers = rng.sample(filled.with_works, min(n, len(filled.with_works))) or creators
        op = operators[0]
        # a first update of each kind warms the process (imports, templates) as a running bot is warm;
        # every operator has opened the bot before
        for uid, line in ((creators[0], "/start"), (workers[0], "/mywork"), *((o, "/start") for o in operators)):
            _, events = await timed_send(client, uid, line, args.start_timeout)
            await settle(client, uid, events[-1]["seq"])

        async def series(name: str, runs) -> Series:
            s = Series(name)
            for k in range(n):
                try:
                    s.times.append(await runs(k))
                except TimeoutError as e:
                    s.note = f"TIMEOUT: {e}"
                    break
            print(s.line(), rss_note(proc.pid), flush=True)
            out["series"].append(s)
            return s

        def plain(uid_of, line):
            async def one(k: int) -> float:
                uid = uid_of(k)
                took, events = await timed_send(client, uid, line, timeout)
                await settle(client, uid, events[-1]["seq"])
                return took
            return one

        await series("creator /start", plain(lambda k: creators[k % len(creators)], "/start"))
        await series("creator /mywork", plain(lambda k: workers[k % len(workers)], "/mywork"))
        await series("operator /start", plain(lambda k: op, "/start"))
        next_data = SubListCB(q="-", action=ListAction.page, arg="1").pack()
        pages: list[float] = []

        async def submissions(k: int) -> float:
            took, events = await timed_send(client, op, "/submissions", timeout)
            await settle(client, op, events[-1]["seq"])
            target = next_page_target(events, next_data)
            if target is not None:
                t0 = time.monotonic()
                pressed = await client.press(op, target[0], callback_data=target[1])
                got = await wait_answer(client, op, pressed["seq"], timeout, lone_answer=True)
                pages.append(time.monotonic() - t0)
                await settle(client, op, got[-1]["seq"])
            return took

        await series("/submissions", submissions)
        nxt = Series("/submissions next page", pages, "" if pages else "(no next-page button)")
        print(nxt.line(), flush=True)
        out["series"].append(nxt)
        await series("/review_queue", plain(lambda k: op, "/review_queue"))

        # /pending: each by another operator (their cards go out one a second per chat); then wait
        # for every card to be delivered before reading the memory
        sent_at = time.monotonic()
        last_seq: dict[int, int] = {}

        async def pending(k: int) -> float:
            uid = operators[k % len(operators)]
            took, events = await timed_send(client, uid, "/pending", timeout)
            last_seq[uid] = events[-1]["seq"]
            # the handler goes on after its answer (each card's form is generated on the event loop):
            # let it finish before the next operator's /pending, so each answer is timed alone
            await asyncio.sleep(args.pending_gap)
            return took

        s = await series("/pending", pending)
        # the cards go out through the outbox (one sender, one message a second per chat): count what
        # arrived within --drain seconds rather than wait for all
        deadline = time.monotonic() + args.drain
        cards = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(1)
            cards = 0
            for uid in last_seq:
                cards += len([e for e in await client.messages(uid, last_seq[uid]) if e["kind"] == "message"])
        s.note = f"(cards: {cards} messages to {len(last_seq)} operators {time.monotonic() - sent_at:.0f} s after the first /pending)"
        print(f"{'/pending cards':>22}: {s.note[8:-1]}", flush=True)
        out["memory"] = memory_of(proc.pid)
        out["ok"] = True
    except Exception as e:  # noqa: BLE001 - reported below
        out["ok"] = False
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        out["error"] = f"{type(e).__name__}: {e}\n    log {log_path}:\n      " + "\n      ".join(tail)
        if proc.returncode is None:
            out["memory"] = memory_of(proc.pid)
    finally:
        await stop(proc)
        await client.close()
    return out


async def run_echo(args, base_url: str, workdir: Path) -> dict:
    bot_id = int(ECHO_TOKEN.split(":")[0])
    client = SandboxClient(base_url, bot_id=bot_id)
    log_path = workdir / "echo.log"
    spawned = time.monotonic()
    proc = await spawn(shlex.split(args.echo_cmd), base_env(ECHO_TOKEN, base_url), log_path)
    out: dict = {}
    try:
        out["startup"] = await first_poll(client, proc, spawned, args.start_timeout)
        times = []
        for k in range(max(5, args.repeat)):
            took, _ = await timed_send(client, 9_100_000 + k % 5, f"ping {k}", args.step_timeout)
            times.append(took)
        out["series"] = Series("echo answer", times)
        out["memory"] = memory_of(proc.pid)
        out["ok"] = True
    except Exception as e:  # noqa: BLE001 - reported below
        out["ok"] = False
        out["error"] = f"{type(e).__name__}: {e} (log {log_path})"
    finally:
        await stop(proc)
        await client.close()
    return out


# ---------------------------------------------------------------- query plans


async def explain(db_url: str, campaign, creator: int) -> None:
    """The statements behind /pending, /submissions (pages 1 and 2), /review_queue, an operator's
    /start counts and /mywork, each with its plan; a scan of a big table flagged."""
    from bot.services import listing, registration, rounds, staff, submissions

    engine = make_engine(db_url)
    sqlite = db_url.startswith("sqlite")
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    calls = [
        ("registration.py:pending (/pending)", lambda s: registration.pending(s)),
        ("listing.py:submissions_page (/submissions p1)",
         lambda s: listing.submissions_page(s, campaign, listing.Filters(), page=0, size=8, now=NOW)),
        ("listing.py:submissions_page (/submissions p2)",
         lambda s: listing.submissions_page(s, campaign, listing.Filters(), page=1, size=8, now=NOW)),
        ("rounds.py:queue (/review_queue)", lambda s: rounds.queue(s, campaign, now=NOW)),
        ("staff.py:waiting (operator /start)", lambda s: staff.waiting(s, campaign.review.reviewers)),
        ("submissions.py:mine (/mywork)", lambda s: submissions.mine(s, creator)),
    ]
    maker = make_sessionmaker(engine)
    flagged: list[str] = []
    try:
        for where, call in calls:
            captured.clear()
            async with maker() as session:
                conn = await session.connection()
                event.listen(conn.sync_connection, "before_cursor_execute", capture)
                t0 = time.monotonic()
                await call(session)
                took = time.monotonic() - t0
                event.remove(conn.sync_connection, "before_cursor_execute", capture)
                print(f"-- {where}: {len(captured)} statement(s), {took * 1000:.0f} ms")
                for k, (statement, params) in enumerate(list(captured), 1):
                    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
                    rows = (await conn.exec_driver_sql(prefix + statement, params)).all()
                    plan = [r[-1] for r in rows] if sqlite else [r[0] for r in rows]
                    short = " ".join(statement.split())
                    print(f"   [{k}] {short[:160]}{'…' if len(short) > 160 else ''}")
                    for line in plan:
                        bad = scan_of_big(line, sqlite)
                        mark = "  <-- SCAN of a big table" if bad else ""
                        print(f"       {line}{mark}")
                        if bad:
                            flagged.append(f"{where} [{k}]: {line.strip()}")
            await session.close()
    finally:
        await engine.dispose()
    print("-- scans of big tables:" if flagged else "-- no scan of a big table")
    for f in flagged:
        print(f"   {f}")


def scan_of_big(line: str, sqlite: bool) -> bool:
    words = line.strip().replace("->", "").split()
    if sqlite:
        # SCAN t (every row) and SCAN t USING [COVERING] INDEX (every index entry): both unbounded
        return len(words) >= 2 and words[0] == "SCAN" and words[1] in BIG_TABLES
    return "Seq Scan on" in line and any(f"Seq Scan on {t} " in line + " " for t in BIG_TABLES)


# ---------------------------------------------------------------- main


async def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--creators", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--database-url", default=None,
                    help="PostgreSQL instead of a temp SQLite file: created if missing, its public schema DROPPED")
    ap.add_argument("--explain", action="store_true", help="print the query plans of the lists' statements")
    ap.add_argument("--explain-only", action="store_true", help="fill, print the plans, start no bot")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--fresh-reminders", action="store_true",
                    help="leave the reminders due unsent: the bot's start-up scan queues them all")
    ap.add_argument("--bot-cmd", default=f"{shlex.quote(sys.executable)} -m bot run")
    ap.add_argument("--echo-cmd", default=f"{shlex.quote(sys.executable)} bench/echo_bot.py")
    ap.add_argument("--start-timeout", type=float, default=120)
    ap.add_argument("--step-timeout", type=float, default=60)
    ap.add_argument("--pending-gap", type=float, default=3, help="seconds between two operators' /pending")
    ap.add_argument("--drain", type=float, default=20, help="seconds to let /pending's cards go out before the end")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, SQLite file)")
    args = ap.parse_args(argv)

    campaign = load_campaign(ROOT / "content" / "campaign.toml")
    workdir = Path(tempfile.mkdtemp(prefix="kepubot-bench-scale-"))
    if args.database_url:
        db_url = async_db_url(args.database_url)
        if not db_url.startswith("postgresql"):
            ap.error("--database-url: a PostgreSQL URL (SQLite is the default)")
        await prepare_postgres(db_url)
    else:
        db_url = f"sqlite+aiosqlite:///{workdir / 'scale.sqlite3'}"
    operators = [OPERATOR_FIRST + k for k in range(max(1, args.repeat))]
    t0 = time.monotonic()
    await upgrade_async(db_url)
    migrated = time.monotonic() - t0
    filled = await fill(db_url, args.creators, campaign, operators[0], args.seed)
    total = sum(filled.counts.values())
    size = ""
    if db_url.startswith("sqlite"):
        size = f", {(workdir / 'scale.sqlite3').stat().st_size / 2**20:.0f} MiB"
    print(f"database {db_url.split('@')[-1]}; migrated in {migrated:.1f} s; filled {total} rows in "
          f"{filled.seconds:.1f} s{size}: " + ", ".join(f"{k} {v}" for k, v in filled.counts.items()), flush=True)
    async with _counted(db_url) as waiting:
        print(f"waiting: {waiting}", flush=True)
    if not args.fresh_reminders:
        due, took = await reminders_already_sent(db_url, campaign)
        print(f"reminders due now: {due} (their finders took {took:.1f} s); marked as already sent", flush=True)

    if args.explain or args.explain_only:
        await explain(db_url, campaign, filled.with_works[0] if filled.with_works else CREATOR_FIRST)
    if args.explain_only:
        return 0

    runner, base_url, _ = await start_server(adopt_unknown=True)  # the scans' file ids were never uploaded
    probe = SandboxClient(base_url, bot_id=int(TOKEN.split(":")[0]))
    await probe.users(OPERATOR_FIRST, len(operators))
    await probe.close()
    try:
        real = await run_bot(args, base_url, db_url, workdir, filled, operators)
        if not real["ok"]:
            print(f"real bot FAILED: {real['error']}")
        echo = await run_echo(args, base_url, workdir)
    finally:
        await runner.cleanup()
    if echo["ok"]:
        print(f"{'echo start to first poll':>22}: {echo['startup']:.2f} s; {echo['series'].line().strip()}")
    else:
        print(f"echo bot FAILED: {echo['error']}")
    rm, em = real.get("memory") or {}, echo.get("memory") or {}
    if rm and em:
        print(f"{'memory':>22}: bot VmHWM {rm['VmHWM']:.0f} MiB (VmRSS {rm['VmRSS']:.0f}), echo VmHWM "
              f"{em['VmHWM']:.0f} MiB (VmRSS {em['VmRSS']:.0f}); ratio {rm['VmHWM'] / em['VmHWM']:.2f} (goal <= 1.3)")
    if real.get("startup") and echo.get("startup"):
        print(f"{'start ratio':>22}: bot/echo start to first poll {real['startup'] / echo['startup']:.1f}x")
    ok = real["ok"] and echo["ok"]
    if args.keep or not ok:
        print(f"work dir kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


class _counted:
    """What an operator's /start counts, from the filled database (a sanity line)."""

    def __init__(self, db_url: str) -> None:
        self.engine = make_engine(db_url)

    async def __aenter__(self) -> str:
        async with self.engine.connect() as conn:
            regs = (await conn.execute(select(func.count()).select_from(Registration)
                                       .where(Registration.status == "pending_review"))).scalar_one()
            listed = (await conn.execute(select(func.count()).select_from(Submission)
                                         .where(Submission.status != "draft"))).scalar_one()
            open_rounds = (await conn.execute(select(func.count()).select_from(ReviewRound)
                                              .where(ReviewRound.status.in_(("waiting", "reviewing"))))).scalar_one()
        return f"{regs} registrations pending, {listed} applications listed, {open_rounds} open rounds"

    async def __aexit__(self, *exc: object) -> None:
        await self.engine.dispose()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
