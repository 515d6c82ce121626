"""`kepubot sandbox`: run the bot against the local emulator and chat with it in the terminal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from bot.waiting import within

from .client import SandboxClient, SandboxError, inline_buttons
from .emulator import FloodLimits
from .htmltext import render_terminal
from .http import start_server

DEFAULT_TOKEN = "123456:SANDBOX"

HELP = """\
Type a message to send it as the current user; the number of a shown button presses it
(other numbers are sent as text; `:say 6` sends a number that is also a button's, as text).
  :say TEXT                         send TEXT as it is
  :as ID [name]                     talk as another person (the user id is the chat id)
                                    an invite link …?start=inv_CODE: `:as 3001 新老师`, then `/start inv_CODE`
  :upload PATH [document|photo|video] [caption]   send a file (default: document)
  :contact [phone]                  share your phone number
  :vote N                           answer the newest quiz poll with option N (1 = the first)
  :reply N TEXT                     reply (Telegram's reply) to the bot's message #N with TEXT
  :buttons                          show the current buttons again
  :restart                          restart the bot process
  :log [N]                          show the last N lines of the bot's log
  :help                             this help
  :quit                             stop the bot and leave (also Ctrl-D)
Files the bot sends (the .docx, /mydata's JSON) are kept in the files folder shown at start."""


def _parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="kepubot sandbox",
                                 description="Run the bot against a local Telegram Bot API emulator.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--no-chat", action="store_true", help="no terminal chat; run until SIGINT/SIGTERM")
    ap.add_argument("--local", action="store_true", help="behave like a --local Bot API server (file paths)")
    ap.add_argument("--as", dest="user_id", type=int, default=1001, help="user id to chat as (default 1001)")
    ap.add_argument("--name", default=None, help="first name of that user")
    ap.add_argument("--token", default=DEFAULT_TOKEN, help="bot token given to the child (default %(default)s)")
    ap.add_argument("--bot-cmd", default=None,
                    help="command that runs the bot (default: python -m bot run); '' starts no bot")
    ap.add_argument("--log", default=None, help="bot log file (default: a file in the temp dir)")
    ap.add_argument("--operator", type=int, default=9000,
                    help="user id made operator (ADMIN_IDS) when ADMIN_IDS is not set (default %(default)s)")
    ap.add_argument("--files", default=None,
                    help="where to keep the files the bot sends (default: the sandbox's data folder/files, "
                         "i.e. data/sandbox/files)")
    ap.add_argument("--reset", action="store_true",
                    help="delete data/sandbox/ (the sandbox's database, conversations and kept files) first")
    ap.add_argument("--flood", action="store_true",
                    help="apply Telegram's flood limits (30 messages a second, one a second per chat: "
                         "429 retry after N over them)")
    ap.add_argument("--real-window", action="store_true",
                    help="keep the campaign's own application window (by default the sandbox extends its end "
                         "to next year so that applications can be tried)")
    return ap.parse_args(argv)


def sandbox_env(args: argparse.Namespace, base_url: str, work: Path) -> tuple[dict[str, str], list[str]]:
    """The bot child's environment, and lines telling the person what the sandbox set up."""
    import datetime
    import re

    env = dict(os.environ, BOT_TOKEN=args.token, BOT_API_URL=base_url)
    env.pop("BOT_API_LOCAL", None)
    if args.local:
        env["BOT_API_LOCAL"] = "1"
    said = []
    if not env.get("DATABASE_URL") and not env.get("DATA_DIR"):
        env["DATA_DIR"] = str(Path.cwd() / "data" / "sandbox")  # kept between sandbox runs, apart from a real bot's
        said.append(f"data: {env['DATA_DIR']}")
    if not env.get("ADMIN_IDS"):
        env["ADMIN_IDS"] = str(args.operator)
        if args.no_chat:
            said.append(f"operator: user {args.operator} (ADMIN_IDS)")
        else:
            said.append(f"operator: type ':as {args.operator} 运营' to act as the programme's staff")
    if not args.real_window and not env.get("CAMPAIGN_FILE"):
        from bot.campaign import DEFAULT_CAMPAIGN_PATH

        year = datetime.date.today().year + 1
        text = DEFAULT_CAMPAIGN_PATH.read_text(encoding="utf-8")
        text, changed = re.subn(r"(?m)^end = \d{4}-\d\d-\d\dT[\d:]+$", f"end = {year}-12-31T23:59:59", text, count=1)
        if changed:
            copy = work / "campaign-sandbox.toml"
            copy.write_text(text, encoding="utf-8")
            env["CAMPAIGN_FILE"] = str(copy)
            said.append(f"campaign: the application window is extended to {year}-12-31 here (--real-window keeps it)")
    return env, said


def sandbox_dir() -> Path:
    """The sandbox's own data folder (database, kept files) when DATA_DIR and DATABASE_URL are unset."""
    return Path.cwd() / "data" / "sandbox"


def files_dir(args: argparse.Namespace) -> Path:
    """Where the files the bot sends are kept: --files, else the bot's data folder/files."""
    if args.files:
        return Path(args.files).expanduser().resolve()
    return Path(os.environ.get("DATA_DIR") or sandbox_dir()).resolve() / "files"


def reset(args: argparse.Namespace) -> str:
    """--reset: delete data/sandbox/, only when the sandbox uses it (never a DATA_DIR or database set
    in the environment, which may be a real bot's). Returns what was done, to print."""
    if os.environ.get("DATA_DIR") or os.environ.get("DATABASE_URL"):
        raise SystemExit("sandbox: --reset deletes only data/sandbox/; DATA_DIR or DATABASE_URL is set, so the "
                         "data is elsewhere: delete it yourself if you mean to")
    folder = sandbox_dir()
    shown = _shown(folder)
    if not folder.exists():
        return f"reset: {shown}/ did not exist; starting empty"
    shutil.rmtree(folder)
    return f"reset: deleted {shown}/ (the sandbox's database, conversations and kept files); starting empty"


def _shown(path: Path | str) -> str:
    """A path relative to the current folder when it is inside it (shorter to read)."""
    path = Path(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


async def wait_ready(client: SandboxClient, bot: BotProcess | None, say, timeout: float = 120,
                     hint: str = "") -> bool:
    """Tell the person when the bot answers: it has called getMe and polls for updates. Until then
    what they type waits in the emulator, so a first /start does not seem to hang unexplained."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if bot is not None and bot.proc is not None and bot.proc.returncode is not None:
            return False  # the exit is reported by BotProcess.on_exit
        with contextlib.suppress(Exception):
            state = await client.state()
            polling = [b for b in state["bots"] if b["polling"]]
            if polling:
                say(f"✅ bot ready (@{polling[0]['username']}){hint}")
                return True
        await asyncio.sleep(0.2)
    say(f"the bot has not started polling after {timeout:.0f} s; :log shows its log")
    return False


class BotProcess:
    """The bot as a child process, its output going to a log file."""

    def __init__(self, cmd: list[str], env: dict[str, str], log_path: Path) -> None:
        self.cmd, self.env, self.log_path = cmd, env, log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.on_exit = None  # callback(returncode)
        self._watch: asyncio.Task | None = None

    async def start(self) -> None:
        with open(self.log_path, "ab") as log:  # noqa: ASYNC230 - opened once, handed to the child
            self.proc = await asyncio.create_subprocess_exec(
                *self.cmd, env=self.env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log
            )
        self._watch = asyncio.create_task(self._wait(self.proc))

    async def _wait(self, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if self.on_exit is not None and proc is self.proc:
            self.on_exit(code)

    async def stop(self, timeout: float = 10) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        if not await within(timeout, proc.wait()):
            proc.kill()
            await proc.wait()

    def tail(self, n: int = 20) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


class TerminalChat:
    def __init__(self, client: SandboxClient, bot: BotProcess | None, user_id: int, name: str | None) -> None:
        self.client = client
        self.bot = bot
        self.user_id = user_id
        self.names: dict[int, str | None] = {user_id: name}
        self.cursors: dict[int, int] = {}
        self.tty = sys.stdin.isatty() and sys.stdout.isatty()
        self.inline: list[tuple[int, dict]] = []  # (message_id, button) of the newest inline keyboard
        self.reply: list[dict] = []  # buttons of the current reply keyboard
        self._poller: asyncio.Task | None = None
        self._readline = None
        self._reading = False  # the input thread shows the prompt and waits
        if self.tty:
            with contextlib.suppress(ImportError):
                import readline

                self._readline = readline

    # ----------------------------------------------------------------- output
    @property
    def prompt(self) -> str:
        name = self.names.get(self.user_id) or f"user{self.user_id}"
        return f"{name}({self.user_id})> " if self.tty else ""

    def out(self, text: str) -> None:
        if self.tty:
            again = ""
            if self._reading:  # redraw the prompt and what was typed so far
                again = self.prompt + (self._readline.get_line_buffer() if self._readline else "")
            sys.stdout.write("\r\033[K" + text + "\n" + again)
        else:
            sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def _style(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.tty else text

    def show_event(self, ev: dict) -> None:
        kind, msg = ev["kind"], ev.get("message") or {}
        tag = self._style("35", "[bot]")
        if kind == "chat_action":
            self.out(self._style("2", f"[bot] … {ev.get('action')}"))
            return
        if kind == "callback_answer":
            if ev.get("text"):
                self.out(f"{tag} {'⚠ ' if ev.get('show_alert') else '» '}{ev['text']}")
            return
        mid = msg.get("message_id")
        if kind == "delete":
            self.out(f"{tag} #{mid} deleted")
            return
        head = f"{tag} #{mid}" + (" (edited)" if kind == "edit" else "")
        lines = []
        if "document" in msg:
            d = msg["document"]
            lines.append(f"📎 {d.get('file_name')} ({_size(d.get('file_size', 0))})")
        if ev.get("saved"):
            lines.append(self._style("2", f"(saved: {_shown(ev['saved'])})"))
        if "photo" in msg:
            p = msg["photo"][-1]
            lines.append(f"🖼 photo {p['width']}x{p['height']}")
        if "video" in msg:
            v = msg["video"]
            lines.append(f"🎬 video {v['width']}x{v['height']} {v['duration']}s")
        if "forward_origin" in msg:
            lines.append("(forwarded)")
        if "poll" in msg:
            poll = msg["poll"]
            lines.append(f"📊 {poll.get('question')}  (:vote N to answer)")
            lines += [f"  {n}. {o.get('text')}" for n, o in enumerate(poll.get("options", []), start=1)]
        text = msg.get("text") or msg.get("caption") or ""
        entities = msg.get("entities") or msg.get("caption_entities")
        if text:
            lines.append(render_terminal(text, entities, ansi=self.tty))
        body = "\n".join(lines) or "(empty)"
        self.out(head + " " + body.replace("\n", "\n      "))
        markup = msg.get("reply_markup") or {}
        if "inline_keyboard" in markup:
            self.inline = [(mid, b) for b in inline_buttons(msg)]
        elif kind == "edit" and self.inline and self.inline[0][0] == mid:
            self.inline = []
            if self.reply:
                self.show_buttons()
        if "keyboard" in markup:
            self.reply = [b for row in markup["keyboard"] for b in row]
        elif markup.get("remove_keyboard"):
            self.reply = []
        if "inline_keyboard" in markup or "keyboard" in markup:
            self.show_buttons()

    def show_buttons(self) -> None:
        n = 0
        if self.inline:
            rows: dict[int, list[str]] = {}
            for mid, b in self.inline:
                n += 1
                mark = " ↗" if "url" in b else ""
                rows.setdefault(mid, []).append(self._style("36", f"[{n}] {b['text']}{mark}"))
            for labels in rows.values():
                self.out("      " + "  ".join(labels))
        if self.reply:
            labels = []
            for b in self.reply:
                n += 1
                labels.append(self._style("33", f"[{n}] {b['text']}"))
            self.out("      ⌨ " + "  ".join(labels))

    # ----------------------------------------------------------------- polling
    def _start_poller(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
        self._poller = asyncio.create_task(self._poll(self.user_id))

    async def _poll(self, user_id: int) -> None:
        while True:
            try:
                events = await self.client.wait(user_id, self.cursors.get(user_id, 0), 25)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - keep the chat alive
                self.out(f"(control error: {e})")
                await asyncio.sleep(1)
                continue
            for ev in events:
                self.cursors[user_id] = ev["seq"]
                self.show_event(ev)

    # ----------------------------------------------------------------- input
    async def lines(self):
        """Lines from stdin without blocking the loop; None at EOF."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        want = threading.Event()

        def reader() -> None:
            pending = b""
            while True:
                if self.tty:
                    want.wait()
                    want.clear()
                    self._reading = True
                    try:
                        line: str | None = input(self.prompt)
                    except EOFError:
                        line = None
                    finally:
                        self._reading = False
                    loop.call_soon_threadsafe(queue.put_nowait, line)
                    if line is None:
                        return
                    continue
                chunk = os.read(0, 65536)
                if not chunk:
                    if pending:
                        loop.call_soon_threadsafe(queue.put_nowait, pending.decode(errors="replace"))
                    loop.call_soon_threadsafe(queue.put_nowait, None)
                    return
                pending += chunk
                *full, pending = pending.split(b"\n")
                for raw in full:
                    loop.call_soon_threadsafe(queue.put_nowait, raw.decode(errors="replace"))

        threading.Thread(target=reader, daemon=True).start()
        while True:
            want.set()
            line = await queue.get()
            yield line
            if line is None:
                return

    async def handle(self, line: str) -> bool:
        """Act on one input line; False to quit."""
        line = line.strip()
        if not line:
            return True
        if line.isdigit() and 1 <= int(line) <= len(self.inline) + len(self.reply):
            await self.press(int(line))
            return True  # any other number (a phone number, a page count) is sent as text
        if not line.startswith(":"):
            await self.client.send(self.user_id, line, self.names.get(self.user_id))
            return True
        cmd, *rest = line.split(maxsplit=1)
        arg = rest[0] if rest else ""
        if cmd == ":say":
            await self.client.send(self.user_id, arg, self.names.get(self.user_id))
            return True
        if cmd in (":quit", ":q", ":exit"):
            return False
        if cmd == ":help":
            self.out(HELP)
        elif cmd == ":as":
            parts = arg.split(maxsplit=1)
            if not parts or not parts[0].lstrip("-").isdigit():
                self.out("usage: :as ID [name]")
                return True
            self.user_id = int(parts[0])
            if len(parts) > 1:
                self.names[self.user_id] = parts[1]
            self.names.setdefault(self.user_id, None)
            self.inline, self.reply = [], []
            self.out(f"now talking as {self.names[self.user_id] or 'user'} ({self.user_id})")
            self._start_poller()
        elif cmd == ":upload":
            parts = shlex.split(arg)
            if not parts:
                self.out("usage: :upload PATH [document|photo|video] [caption]")
                return True
            kind = parts[1] if len(parts) > 1 else "document"
            caption = " ".join(parts[2:]) or None
            await self.client.upload(self.user_id, Path(parts[0]).expanduser(), kind, caption)
        elif cmd == ":contact":
            await self.client.contact(self.user_id, arg or None)
        elif cmd == ":reply":
            number, _, text = arg.strip().lstrip("#").partition(" ")
            if not number.isdigit() or not text.strip():
                self.out("usage: :reply N TEXT (N: the #number of the bot's message to reply to)")
                return True
            await self.client.send(self.user_id, text.strip(), self.names.get(self.user_id), None, int(number))
        elif cmd == ":vote":
            if not arg.strip().isdigit() or int(arg) < 1:
                self.out("usage: :vote N (the option's number, 1 for the first)")
                return True
            await self.client.answer_poll(self.user_id, int(arg) - 1)
        elif cmd == ":buttons":
            self.show_buttons()
        elif cmd == ":restart" and self.bot is not None:
            await self.bot.stop()
            await self.bot.start()
            self.out("bot restarted")
        elif cmd == ":log" and self.bot is not None:
            self.out(self.bot.tail(int(arg) if arg.isdigit() else 20))
        else:
            self.out(f"unknown command {cmd}; :help lists them")
        return True

    async def press(self, n: int) -> None:
        buttons: list[tuple[int | None, dict]] = list(self.inline) + [(None, b) for b in self.reply]
        if not 1 <= n <= len(buttons):
            self.out(f"no button [{n}]")
            return
        mid, b = buttons[n - 1]
        if mid is None:  # reply keyboard: the button's text is sent as a message
            if b.get("request_contact"):
                await self.client.contact(self.user_id)
            else:
                await self.client.send(self.user_id, b["text"], self.names.get(self.user_id))
            return
        if "callback_data" not in b:
            self.out(f"(button {b['text']!r} opens {b.get('url') or 'something else'})")
            return
        await self.client.press(self.user_id, mid, callback_data=b["callback_data"])

    async def run(self, stop: asyncio.Event) -> None:
        self.out(f"Chatting as {self.names[self.user_id] or 'user'} ({self.user_id}). :help for commands.")
        self.out("⏳ bot starting… (what you type now is delivered when it is ready)")
        ready = asyncio.create_task(wait_ready(self.client, self.bot, self.out, hint=": type /start"))
        self._start_poller()
        inputs = self.lines()
        stop_wait = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                next_line = asyncio.ensure_future(anext(inputs))
                await asyncio.wait([next_line, stop_wait], return_when=asyncio.FIRST_COMPLETED)
                if not next_line.done():
                    next_line.cancel()
                    break
                line = next_line.result()
                if not self.tty:  # piped input: each line waits for the bot to answer the previous one
                    await self._settle(quiet=0.5)
                if line is None:
                    break
                try:
                    if not await self.handle(line):
                        break
                except SandboxError as e:
                    self.out(f"(sandbox: {e})")
        finally:
            stop_wait.cancel()
            ready.cancel()
            if self._poller is not None:
                self._poller.cancel()
            if self.tty:
                sys.stdout.write("\n")

    async def _settle(self, quiet: float = 1.0, limit: float = 30) -> None:
        """Wait until the bot has taken every update and then stayed quiet for a moment."""
        loop = asyncio.get_running_loop()
        end = loop.time() + limit
        while loop.time() < end:
            seen = self.cursors.get(self.user_id, 0)
            await asyncio.sleep(quiet)
            bots = (await self.client.state())["bots"]
            busy = any(b["pending_updates"] or not b["polling"] for b in bots)
            if not busy and self.cursors.get(self.user_id, 0) == seen:
                return


async def _run(args: argparse.Namespace) -> int:
    bot_id = int(args.token.split(":", 1)[0]) if args.token.split(":", 1)[0].isdigit() else 123456
    files = files_dir(args)
    flood = FloodLimits() if args.flood else None
    runner, base_url, _emulator = await start_server(args.host, args.port, local_mode=args.local,
                                                     default_bot_id=bot_id, save_dir=files, flood=flood)
    port = runner.addresses[0][1]
    if args.reset:  # after the port is ours: no other sandbox on it is using the folder
        try:
            print(reset(args), flush=True)
        except SystemExit:
            await runner.cleanup()
            raise
    print(f"Sandbox Bot API: {base_url}   control API: {base_url}/control/ (GET it for the list of endpoints)"
          f"   local mode: {args.local}" + (f"   flood limits: {flood.per_second:g}/s, one per chat every "
                                             f"{flood.per_chat_interval:g} s" if flood else ""), flush=True)
    print(f"Files the bot sends (the .docx, /mydata's JSON) are kept in {_shown(files)}/<user id>/", flush=True)
    bot = None
    if args.bot_cmd != "":
        cmd = shlex.split(args.bot_cmd) if args.bot_cmd else [sys.executable, "-m", "bot", "run"]
        work = Path(tempfile.mkdtemp(prefix=f"kepubot-sandbox-{port}-"))
        env, said = sandbox_env(args, base_url, work)
        log_path = Path(args.log) if args.log else work / "bot.log"
        bot = BotProcess(cmd, env, log_path)
        print(f"Bot: {shlex.join(cmd)}   log: {log_path}", flush=True)
        for line in said:
            print(f"  {line}", flush=True)

    client = SandboxClient(base_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    chat = None if args.no_chat else TerminalChat(client, bot, args.user_id, args.name)

    def bot_exited(code: int) -> None:
        if stop.is_set():  # Ctrl-C reached the child too
            return
        note = f"bot process exited with code {code}; log: {bot.log_path}" + (
            "  (:restart to start it again)" if chat else "")
        (chat.out if chat else print)(note)

    try:
        if bot is not None:
            bot.on_exit = bot_exited
            await bot.start()
        if chat is None:
            print("Running; Ctrl-C to stop.", flush=True)
            print("bot starting…", flush=True)
            ready = asyncio.create_task(wait_ready(client, bot, lambda line: print(line, flush=True)))
            await stop.wait()
            ready.cancel()
        else:
            await chat.run(stop)
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if bot is not None:
            bot.on_exit = None
            await bot.stop()
        await client.close()
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    saved = None
    if sys.stdin.isatty():
        with contextlib.suppress(Exception):
            import termios

            saved = termios.tcgetattr(0)
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        print(f"sandbox: {e}", file=sys.stderr)
        return 1
    finally:
        if saved is not None:  # readline may be mid-line in the input thread
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, saved)


if __name__ == "__main__":
    sys.exit(main())
