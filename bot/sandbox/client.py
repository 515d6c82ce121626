"""Client of the emulator's control side: act as users, read what the bot sent.

    client = SandboxClient(base_url)
    alice = client.user(1001, "Alice")
    await alice.send("/start")
    event = await alice.wait_for("欢迎")
    await alice.press("提交")
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout

Match = str | Callable[[dict], bool]


class SandboxError(RuntimeError):
    """The control side refused a request (HTTP 400 with {"error": ...})."""


class WaitTimeout(TimeoutError):
    pass


def event_text(event: dict) -> str:
    """Text or caption of an event's message ('' if none); a callback answer's text."""
    if event.get("kind") == "callback_answer":
        return event.get("text") or ""
    msg = event.get("message") or {}
    return msg.get("text") or msg.get("caption") or ""


def inline_buttons(message: dict | None) -> list[dict]:
    rows = ((message or {}).get("reply_markup") or {}).get("inline_keyboard") or []
    return [b for row in rows for b in row]


def _matcher(match: Match) -> Callable[[dict], bool]:
    if callable(match):
        return match
    return lambda e: e.get("kind") in ("message", "edit", "callback_answer") and match in event_text(e)


class SandboxClient:
    def __init__(self, base_url: str, bot_id: int | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.bot_id = bot_id
        self._session: ClientSession | None = None
        self._cursor: dict[int, int] = {}  # per user: wait_for starts after this seq
        self._action: dict[int, int] = {}  # per user: seq when the user last acted
        self._uploads: Path | None = None  # the sandbox's uploads folder (its data folder on this machine)

    async def _http(self) -> ClientSession:
        if self._session is None or self._session.closed:
            self._session = ClientSession(timeout=ClientTimeout(total=None))
        return self._session

    async def _request(self, _verb: str, _endpoint: str, /, **payload: Any) -> Any:
        payload = {k: v for k, v in payload.items() if v is not None}
        if self.bot_id is not None:
            payload.setdefault("bot_id", self.bot_id)
        session = await self._http()
        url = f"{self.base_url}/control/{_endpoint}"
        if _verb == "GET":
            ctx = session.get(url, params={k: str(v) for k, v in payload.items()})
        else:
            ctx = session.post(url, json=payload)
        async with ctx as resp:
            data = await resp.json()
        if resp.status != 200:
            raise SandboxError(data.get("error") if isinstance(data, dict) else str(data))
        return data

    def _acted(self, user_id: int, result: dict) -> dict:
        if "seq" in result:
            self._cursor[user_id] = self._action[user_id] = result["seq"]
        return result

    # ----------------------------------------------------------------- acting as a user
    async def send(self, user_id: int, text: str, first_name: str | None = None,
                   username: str | None = None, reply_to: int | None = None) -> dict:
        """Send a text message as the user (`reply_to`: a Telegram reply to that message of the
        chat); returns {update_id, message_id, seq}."""
        result = await self._request("POST", "send", user_id=user_id, text=text, first_name=first_name,
                                     username=username, reply_to_message_id=reply_to)
        return self._acted(user_id, result)

    async def press(self, user_id: int, message_id: int | None = None, text: str | None = None,
                    *, callback_data: str | None = None) -> dict:
        """Press a button by its text (exact, else unique substring) or data; default: newest message with it."""
        result = await self._request("POST", "press", user_id=user_id, message_id=message_id,
                                     button_text=text, callback_data=callback_data)
        return self._acted(user_id, result)

    async def contact(self, user_id: int, phone_number: str | None = None) -> dict:
        return self._acted(user_id, await self._request("POST", "contact", user_id=user_id,
                                                        phone_number=phone_number))

    async def answer_poll(self, user_id: int, option: int, poll_id: str | None = None) -> dict:
        """Answer the newest poll in the chat (or `poll_id`) with option `option` (0-based)."""
        return self._acted(user_id, await self._request("POST", "answer_poll", user_id=user_id, option=option,
                                                        poll_id=poll_id))

    async def upload(self, user_id: int, path: str | Path, as_: str = "document", caption: str | None = None,
                     file_name: str | None = None, media_group_id: str | None = None) -> dict:
        """Send a file of this machine as the user. The sandbox reads only its own data folder, so
        the file is first linked (or copied) into its uploads folder; the sandbox removes that copy."""
        source = Path(path).expanduser().resolve()
        if not source.is_file():
            raise SandboxError(f"no such file: {source}")
        if self._uploads is None:
            self._uploads = Path((await self.state())["data_dir"]) / "uploads"
        folder = self._uploads / secrets.token_hex(8)
        copy = folder / source.name
        await asyncio.to_thread(_link_or_copy, source, copy)
        try:
            result = await self._request("POST", "upload", user_id=user_id, path=str(copy), caption=caption,
                                         file_name=file_name or source.name, media_group_id=media_group_id,
                                         **{"as": as_})
        finally:  # refused or failed: don't leave the copy behind
            if copy.exists():
                shutil.rmtree(folder, ignore_errors=True)
        return self._acted(user_id, result)

    async def raw_update(self, update: dict) -> dict:
        return await self._request("POST", "raw_update", update=update)

    async def block(self, user_id: int, blocked: bool = True) -> dict:
        return await self._request("POST", "block", user_id=user_id, blocked=blocked)

    # ----------------------------------------------------------------- reading
    async def messages(self, user_id: int, after: int = 0) -> list[dict]:
        return await self._request("GET", "messages", user_id=user_id, after=after)

    async def wait(self, user_id: int, after: int = 0, timeout: float = 5) -> list[dict]:
        return await self._request("GET", "wait", user_id=user_id, after=after, timeout=timeout)

    async def wait_for(self, user_id: int, match: Match, timeout: float = 10, after: int | None = None) -> dict:
        """First event after `after` (default: the user's cursor) that matches; advances the cursor.

        A string matches a message/edit/callback answer whose text or caption contains it.
        """
        test = _matcher(match)
        after = self._cursor.get(user_id, 0) if after is None else after
        start = after
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            events = await self.wait(user_id, after, max(min(remaining, 30), 0))
            for event in events:
                if test(event):
                    self._cursor[user_id] = event["seq"]
                    return event
            if events:
                after = events[-1]["seq"]
            if time.monotonic() >= deadline:
                seen = [(e["kind"], event_text(e)[:80]) for e in await self.messages(user_id, start)]
                raise WaitTimeout(f"user {user_id}: nothing matched {match!r} in {timeout}s; seen: {seen}")

    async def last_message(self, user_id: int, timeout: float = 5, settle: float = 0.2) -> dict | None:
        """Newest bot message/edit in the chat, after waiting for a reply to the user's last action."""
        mark = self._action.get(user_id, 0)
        events = await self.messages(user_id, 0)
        if mark and not any(e["seq"] > mark for e in events):
            if not await self.wait(user_id, mark, timeout):
                raise WaitTimeout(f"user {user_id}: no answer from the bot within {timeout}s")
        while True:  # let the bot finish a burst of messages
            last = (await self.messages(user_id, 0) or [{"seq": 0}])[-1]["seq"]
            if not await self.wait(user_id, last, settle):
                break
        shown = [e for e in await self.messages(user_id, 0) if e["kind"] in ("message", "edit")]
        return shown[-1]["message"] if shown else None

    async def last_text(self, user_id: int, timeout: float = 5) -> str | None:
        msg = await self.last_message(user_id, timeout)
        return None if msg is None else (msg.get("text") or msg.get("caption") or "")

    # ----------------------------------------------------------------- emulator control
    async def fault(self, method: str = "*", kind: str = "429", count: int = 1, retry_after: int = 1,
                    hold: float = 60) -> dict:
        """Make the next `count` calls of `method` fail ("429", "500".."599", "timeout" or "stall")."""
        return await self._request("POST", "fault", method=method, kind=str(kind), count=count,
                                   retry_after=retry_after, hold=hold)

    async def unstall(self) -> dict:
        """Release the calls held by "stall" faults (each answered 502) and drop pending stall faults;
        returns {ok, released}."""
        return await self._request("POST", "unstall")

    async def flood(self, per_second: float = 30, per_chat_interval: float = 1.0, *, off: bool = False) -> dict:
        """Turn Telegram's flood limits on (these limits) or off; returns {ok, flood, refused}."""
        if off:
            return await self._request("POST", "flood", off=True)
        return await self._request("POST", "flood", per_second=per_second, per_chat_interval=per_chat_interval)

    async def users(self, first_id: int, count: int) -> int:
        """Make `count` users from `first_id` on, each having opened the bot's chat; returns how many."""
        return (await self._request("POST", "users", first_id=first_id, count=count))["count"]

    async def received(self, first_id: int | None = None, count: int | None = None) -> dict[int, int]:
        """{chat id: messages the bot sent there} for the chats (from `first_id`, `count` of them;
        default all) that got any."""
        got = await self._request("GET", "received", first_id=first_id, count=count)
        return {int(chat_id): n for chat_id, n in got.items()}

    async def reset(self, calls: bool = False) -> dict:
        """Clear pending faults, release stalled calls (and the call counters if `calls`)."""
        return await self._request("POST", "reset", calls=calls)

    async def calls(self) -> dict[str, int]:
        return await self._request("GET", "calls")

    async def state(self) -> dict:
        return await self._request("GET", "state")

    async def endpoints(self) -> list[dict]:
        """The control API's endpoints (GET /control/): method, path, fields, what each does."""
        return (await self._request("GET", ""))["endpoints"]

    async def wait_polling(self, timeout: float = 30) -> None:
        """Wait until the bot has called getUpdates at least once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            calls = await self.calls()
            if calls.get("getUpdates"):
                return
            await asyncio.sleep(0.1)
        raise WaitTimeout(f"the bot did not poll within {timeout}s")

    def user(self, user_id: int, first_name: str | None = None, username: str | None = None) -> User:
        return User(self, user_id, first_name, username)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> SandboxClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class User:
    """A person talking to the bot: `await alice.send("/start")`, `await alice.press("提交")`."""

    def __init__(self, client: SandboxClient, user_id: int, first_name: str | None = None,
                 username: str | None = None) -> None:
        self.client = client
        self.id = user_id
        self.first_name = first_name
        self.username = username

    async def send(self, text: str, *, reply_to: int | None = None) -> dict:
        return await self.client.send(self.id, text, self.first_name, self.username, reply_to)

    async def press(self, text: str | None = None, *, message_id: int | None = None,
                    callback_data: str | None = None) -> dict:
        return await self.client.press(self.id, message_id, text, callback_data=callback_data)

    async def contact(self, phone_number: str | None = None) -> dict:
        return await self.client.contact(self.id, phone_number)

    async def upload(self, path: str | Path, as_: str = "document", caption: str | None = None,
                     file_name: str | None = None) -> dict:
        return await self.client.upload(self.id, path, as_, caption, file_name)

    async def wait_for(self, match: Match, timeout: float = 10) -> dict:
        return await self.client.wait_for(self.id, match, timeout)

    async def messages(self, after: int = 0) -> list[dict]:
        return await self.client.messages(self.id, after)

    async def last_message(self, timeout: float = 5) -> dict | None:
        return await self.client.last_message(self.id, timeout)

    async def last_text(self, timeout: float = 5) -> str | None:
        return await self.client.last_text(self.id, timeout)

    async def buttons(self, timeout: float = 5) -> list[str]:
        """Texts of the inline buttons of the newest bot message."""
        return [b["text"] for b in inline_buttons(await self.last_message(timeout))]


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)  # instant for a big video on the same disk
    except OSError:
        shutil.copyfile(source, target)
