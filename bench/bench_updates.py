"""Updates per second through the sandbox: the real bot vs a bare aiogram echo bot.

    .venv/bin/python bench/bench_updates.py [--users 50] [--rounds 4]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench] [--redis-url redis://127.0.0.1:6379/5]

(a) the real bot (`python -m bot run`): each user sends /start, then presses the first callback button
    of the reply (menu navigation); (b) bench/echo_bot.py: each user sends two texts per round.
Both run as child processes against one in-process emulator; the real bot gets its own SQLite
file in a temp dir, or with --database-url a PostgreSQL database (its schema is dropped and made
anew: never point it at data you keep) and with --redis-url conversations in Redis (that Redis
database is flushed). An update counts as done when the bot's answer to it is seen on the control side. Also
printed: each process's CPU time per update during the load (user + system, from /proc), and its start to its first getUpdates (the real bot migrates its database, loads
the campaign and the lessons, checks the operators and installs its commands first).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.sandbox import start_server  # noqa: E402
from bot.sandbox.client import SandboxClient, inline_buttons  # noqa: E402

ANSWER_KINDS = ("message", "edit")
MENU_BUTTON = "申报类别与要求"  # menu navigation: a section that edits the menu message (--button)


@dataclass
class Result:
    name: str
    ok: bool = False
    error: str = ""
    updates: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    startup: float = 0.0  # the process's start to its first getUpdates
    cpu: float = 0.0  # the process's CPU seconds (user + system, all threads) during the load
    notes: set[str] = field(default_factory=set)

    @property
    def rate(self) -> float:
        return self.updates / self.elapsed if self.elapsed else 0.0


async def wait_answer(client: SandboxClient, user_id: int, after: int, timeout: float,
                      lone_answer: bool = False) -> list[dict]:
    """Events after `after` once a message/edit arrived (with lone_answer: or a callback answer
    followed by nothing else for 1 s)."""
    deadline = time.monotonic() + timeout
    seen: list[dict] = []
    cursor = after
    while time.monotonic() < deadline:
        only_answer = lone_answer and seen and all(e["kind"] == "callback_answer" for e in seen if e["kind"] != "chat_action")
        wait = min(1.0, deadline - time.monotonic()) if only_answer else deadline - time.monotonic()
        events = await client.wait(user_id, cursor, max(wait, 0))
        if not events:
            if only_answer and any(e["kind"] == "callback_answer" for e in seen):
                return seen
            continue
        seen += events
        cursor = events[-1]["seq"]
        if any(e["kind"] in ANSWER_KINDS for e in seen):
            return seen
    raise TimeoutError(f"user {user_id}: no answer within {timeout}s")


async def real_user(client: SandboxClient, user_id: int, rounds: int, res: Result, timeout: float) -> None:
    for _ in range(rounds):
        t0 = time.monotonic()
        sent = await client.send(user_id, "/start", first_name=f"Bench{user_id}")
        events = await wait_answer(client, user_id, sent["seq"], timeout)
        res.latencies.append(time.monotonic() - t0)
        res.updates += 1
        # the newest message carrying a callback button (the menu)
        target = None
        for e in reversed(events):
            buttons = [b for b in inline_buttons(e.get("message")) if "callback_data" in b]
            wanted = [b for b in buttons if MENU_BUTTON in b["text"]] or buttons
            if e["kind"] in ANSWER_KINDS and wanted:
                target = (e["message"]["message_id"], wanted[0]["callback_data"])
                break
        t0 = time.monotonic()
        if target is None:
            res.notes.add("the /start answer had no callback button: sent /start again instead")
            acted = await client.send(user_id, "/start")
        else:
            acted = await client.press(user_id, target[0], callback_data=target[1])
        await wait_answer(client, user_id, acted["seq"], timeout, lone_answer=target is not None)
        res.latencies.append(time.monotonic() - t0)
        res.updates += 1


async def echo_user(client: SandboxClient, user_id: int, rounds: int, res: Result, timeout: float) -> None:
    for r in range(rounds):
        for half in "ab":
            t0 = time.monotonic()
            sent = await client.send(user_id, f"ping {r}{half}")
            await wait_answer(client, user_id, sent["seq"], timeout)
            res.latencies.append(time.monotonic() - t0)
            res.updates += 1


async def fresh_services(database_url: str | None, redis_url: str | None) -> None:
    """An empty PostgreSQL schema and Redis database for the real bot (it migrates at start)."""
    if database_url:
        from sqlalchemy import text

        from storage.db import make_engine

        engine = make_engine(database_url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
    if redis_url:
        from redis.asyncio import Redis

        redis = Redis.from_url(redis_url)
        await redis.flushdb()
        await redis.aclose()


async def run_one(name: str, cmd: list[str], token: str, base_url: str, workdir: Path, args, scenario,
                  services: dict[str, str] | None = None) -> Result:
    res = Result(name)
    bot_id = int(token.split(":")[0])
    client = SandboxClient(base_url, bot_id=bot_id)
    slug = name.split()[0]
    log_path = workdir / f"{slug}.log"
    env = dict(os.environ, BOT_TOKEN=token, BOT_API_URL=base_url,
               DATABASE_URL=f"sqlite+aiosqlite:///{workdir / (slug + '.sqlite3')}", DATA_DIR=str(workdir / slug))
    for key in ("BOT_API_LOCAL", "WEBHOOK_URL", "REDIS_URL"):
        env.pop(key, None)
    env.update(services or {})
    spawned = time.monotonic()
    with open(log_path, "wb") as log:  # noqa: ASYNC230 - handed to the child once
        proc = await asyncio.create_subprocess_exec(*cmd, cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=log, stderr=log)
    try:
        # started = polling and answering a first message
        deadline = time.monotonic() + args.start_timeout
        while not (await client.calls()).get("getUpdates"):
            if proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError("did not start polling")
            await asyncio.sleep(0.02)
        res.startup = time.monotonic() - spawned
        warm = 9_000_000 + bot_id % 1000
        sent = await client.send(warm, "/start")
        await wait_answer(client, warm, sent["seq"], args.start_timeout)

        users = [10_000_000 + bot_id % 1000 * 10_000 + i for i in range(args.users)]
        t0, cpu0 = time.monotonic(), cpu_seconds(proc.pid)
        await asyncio.gather(*(scenario(client, u, args.rounds, res, args.step_timeout) for u in users))
        res.elapsed = time.monotonic() - t0
        res.cpu = cpu_seconds(proc.pid) - cpu0
        res.ok = True
    except Exception as e:  # noqa: BLE001 - reported below
        res.error = f"{type(e).__name__}: {e}"
        if proc.returncode is not None:
            res.error = f"failed to start (exit code {proc.returncode}): {res.error}"
        tail = log_path.read_text(errors="replace").splitlines()[-15:]
        res.error += f"\n    log {log_path}:\n      " + "\n      ".join(tail)
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
        await client.close()
    return res


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (Linux /proc; 0 elsewhere): less sensitive than a rate to other
    work on the machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def report(res: Result) -> None:
    if not res.ok:
        print(f"{res.name:>9}: FAILED {res.error}")
        return
    lat = sorted(res.latencies)
    p95 = lat[int(len(lat) * 0.95) - 1] if lat else 0
    print(f"{res.name:>9}: {res.updates} updates in {res.elapsed:.2f} s = {res.rate:7.1f} updates/s   "
          f"latency median {statistics.median(lat) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms; "
          f"start to first poll {res.startup:.2f} s; CPU {res.cpu / max(res.updates, 1) * 1000:.1f} ms/update")
    for note in sorted(res.notes):
        print(f"           note: {note}")


async def main(argv: list[str]) -> int:
    global MENU_BUTTON
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--bot-cmd", default=f"{shlex.quote(sys.executable)} -m bot run")
    ap.add_argument("--echo-cmd", default=f"{shlex.quote(sys.executable)} bench/echo_bot.py")
    ap.add_argument("--only", choices=("real", "echo"), default=None)
    ap.add_argument("--button", default="申报类别与要求", help="label (part) of the menu button the real bot's users press")
    ap.add_argument("--start-timeout", type=float, default=40)
    ap.add_argument("--step-timeout", type=float, default=20)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, SQLite files)")
    ap.add_argument("--database-url", default=None,
                    help="the real bot's PostgreSQL database (its schema is dropped first); default: SQLite")
    ap.add_argument("--redis-url", default=None, help="the real bot's conversations in Redis (the database is flushed)")
    args = ap.parse_args(argv)

    MENU_BUTTON = args.button

    runner, base_url, _ = await start_server()
    workdir = Path(tempfile.mkdtemp(prefix="kepubot-bench-"))
    services = {k: v for k, v in (("DATABASE_URL", args.database_url), ("REDIS_URL", args.redis_url)) if v}
    print(f"emulator {base_url}; {args.users} users x {args.rounds} rounds x 2 updates; work dir {workdir}; "
          f"real bot on {'PostgreSQL' if args.database_url else 'SQLite'}{' + Redis' if args.redis_url else ''}")
    results: dict[str, Result] = {}
    try:
        if args.only in (None, "real"):
            await fresh_services(args.database_url, args.redis_url)
            results["real"] = await run_one("real bot", shlex.split(args.bot_cmd), "123456:BENCH", base_url,
                                            workdir, args, real_user, services)
            report(results["real"])
        if args.only in (None, "echo"):
            results["echo"] = await run_one("echo bot", shlex.split(args.echo_cmd), "654321:ECHO", base_url,
                                            workdir, args, echo_user)
            report(results["echo"])
    finally:
        await runner.cleanup()
        if not args.keep and all(r.ok for r in results.values()):  # keep logs of a failure
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    real, echo = results.get("real"), results.get("echo")
    if real and echo and real.ok and echo.ok:
        print(f"ratio real/echo: {real.rate / echo.rate:.2f} (the real bot runs at {real.rate / echo.rate:.0%} "
              f"of a bare aiogram bot's rate); median latency {statistics.median(real.latencies) / statistics.median(echo.latencies):.1f}x; "
              f"start to first poll {real.startup / echo.startup:.1f}x; CPU per update "
              f"{real.cpu / max(real.updates, 1) / max(echo.cpu / max(echo.updates, 1), 1e-9):.1f}x")
    return 0 if all(r.ok for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
