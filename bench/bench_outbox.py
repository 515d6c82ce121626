"""The outbox sender on a mix of one busy chat and many others, against Telegram's flood limits.

    .venv/bin/python bench/bench_outbox.py [--cards 10] [--parts 3] [--others 50] [--rate 25]

The shape of /pending (an operator gets 10 registration cards, each a document, a scan and the text:
3 messages to one chat) queued before one message to each of 50 other people (cards to other
operators, a broadcast's copies). The emulator runs in this process (127.0.0.1, a free port) with its
flood limits on (30 messages in any sliding second per bot, one a second per chat; over them: 429);
the sender (bot/outbox/sender.py, `OutboxSender.drain`, per_second = --rate, one message a second
per chat) delivers the rows from a fresh SQLite file through the bot's own session (build_bot: the
same request middlewares as the bot) over HTTP.

Printed: messages delivered and the span (drain's start to the last message, as the emulator made
them) with the rate overall (the busy chat's one a second bounds it from below); when the last of the
other chats got its message and the rate until then (what head-of-line blocking slows down); when
the busy chat got its last part; the 429s the emulator answered; whether every chat got its messages
once and in order (row order, and each card's parts in order). `--sender FILE`: the OutboxSender of
another copy of bot/outbox/sender.py (a previous version, kept outside the tree) for a before/after.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiogram.client.telegram import TelegramAPIServer  # noqa: E402
from aiogram.types import BufferedInputFile  # noqa: E402

from bot.api_session import JsonSession  # noqa: E402
from bot.app import build_bot  # noqa: E402
from bot.outbox import notify  # noqa: E402
from bot.outbox.sender import OutboxSender  # noqa: E402
from bot.sandbox import start_server  # noqa: E402
from bot.sandbox.client import SandboxClient  # noqa: E402
from bot.sandbox.emulator import ChatState, Emulator, FloodLimits  # noqa: E402
from storage.db import make_engine, make_sessionmaker  # noqa: E402
from storage.migrate import upgrade_async  # noqa: E402

TOKEN = "123456:BENCH"
BUSY = 700_000_000  # the operator who gets the cards; the others follow


class TimedEmulator(Emulator):
    """The emulator, noting each message the bot made in a chat: (monotonic time, what it is)."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.made: dict[int, list[tuple[float, str]]] = {}

    def event(self, chat: ChatState, kind: str, message: dict | None, **extra):
        if kind == "message" and message is not None:
            label = message.get("text") or (message.get("document") or {}).get("file_name") or "?"
            self.made.setdefault(int(chat.chat["id"]), []).append((time.monotonic(), label))
        return super().event(chat, kind, message, **extra)


def sender_class(path: str | None) -> type[OutboxSender]:
    if not path:
        return OutboxSender
    spec = importlib.util.spec_from_file_location("bench_outbox_sender", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.OutboxSender


def expected(args: argparse.Namespace) -> dict[int, list[str]]:
    """What each chat must receive, in order."""
    want = {BUSY: [f"card{c}-part{p}.txt" if p < args.parts - 1 else f"卡片 {c}"
                   for c in range(args.cards) for p in range(args.parts)]}
    for i in range(args.others):
        want[BUSY + 1 + i] = [f"通知 {i}"]
    return want


async def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="kepubot-bench-outbox-"))
    db_url = f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
    await upgrade_async(db_url)
    flood = FloodLimits(args.per_second, args.per_chat_interval)
    emu = TimedEmulator(default_bot_id=int(TOKEN.split(":")[0]), flood=flood)
    runner, base_url, _ = await start_server(emulator=emu)
    client = SandboxClient(base_url)
    await client.users(BUSY, args.others + 1)
    engine = make_engine(db_url)
    maker = make_sessionmaker(engine)
    bot = build_bot(SimpleNamespace(bot_token=TOKEN), JsonSession(api=TelegramAPIServer.from_base(base_url)))
    try:
        async with maker.begin() as session:  # the cards first (one commit: /pending), then the others
            for c in range(args.cards):
                files = [("document", BufferedInputFile(b"x" * 64, filename=f"card{c}-part{p}.txt"))
                         for p in range(args.parts - 1)]
                await notify(session, [BUSY], f"卡片 {c}", attachments=files)
        async with maker.begin() as session:
            for i in range(args.others):
                await notify(session, [BUSY + 1 + i], f"通知 {i}")
        sender = sender_class(args.sender)(maker, per_second=args.rate, per_chat_interval=args.per_chat_interval)
        t0 = time.monotonic()
        handled = await sender.drain(bot)
        t1 = time.monotonic()
    finally:
        await bot.session.close()
        await engine.dispose()
        await client.close()
        await runner.cleanup()

    want = expected(args)
    got = {chat: [label for _, label in made] for chat, made in emu.made.items()}
    wrong = [chat for chat in want if got.get(chat) != want[chat]]
    times = sorted(t for made in emu.made.values() for t, _ in made)
    total = len(times)
    span = (times[-1] - t0) if times else 0.0
    others = [emu.made[chat][-1][0] - t0 for chat in want if chat != BUSY and chat in emu.made]
    busy = emu.made.get(BUSY, [])
    print(f"sender          : {args.sender or 'bot/outbox/sender.py'}")
    print(f"mix             : {args.cards} cards of {args.parts} parts to one chat (queued first), then 1 message "
          f"to each of {args.others} other chats; rate {args.rate:g}/s, 1 per {args.per_chat_interval:g} s per chat")
    print(f"rows handled    : {handled}; drain took {t1 - t0:.2f} s")
    print(f"messages        : {total} of {sum(len(v) for v in want.values())} in {span:.2f} s: "
          f"{total / span if span else 0:.1f} messages/s")
    if others:
        until = max(others)
        by_then = sum(1 for t in times if t - t0 <= until)
        print(f"other chats     : {len(others)}/{args.others} served, the last {until:.2f} s after the start; "
              f"{by_then} messages by then: {by_then / until if until else 0:.1f} messages/s")
    if busy:
        print(f"busy chat       : {len(busy)} messages, the last {busy[-1][0] - t0:.2f} s after the start")
    print(f"429s seen       : {emu.flood_refused}")
    print(f"order           : {'every chat once and in order' if not wrong else f'WRONG in {len(wrong)} chats'}")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if not wrong else 1


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cards", type=int, default=10, help="rows to the busy chat")
    ap.add_argument("--parts", type=int, default=3, help="messages in each card (files, then the text)")
    ap.add_argument("--others", type=int, default=50, help="other chats, one message each")
    ap.add_argument("--rate", type=float, default=25.0, help="the sender's messages/s overall (OUTBOX_PER_SECOND)")
    ap.add_argument("--per-second", type=float, default=30, help="the emulator's flood limit per bot")
    ap.add_argument("--per-chat-interval", type=float, default=1.0, help="flood limit per chat (and the sender's)")
    ap.add_argument("--sender", default=None, help="a sender.py to use instead of bot/outbox/sender.py")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (SQLite file)")
    args = ap.parse_args(argv)
    if args.parts < 1:
        ap.error("--parts: at least 1 (the text)")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
