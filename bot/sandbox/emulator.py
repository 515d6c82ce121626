"""Telegram's side of the sandbox: bots, users, chats, messages, files, limits, error texts and entities.

One model of Telegram's rules, driven two ways: over HTTP by `kepubot sandbox` and the benches
(bot/sandbox/http.py), and in process by the tests (tests/harness.py). The Bot API methods are in
bot/sandbox/methods.py (`Emulator.api_call` runs one), the control API in bot/sandbox/control.py.

`Emulator.api_call` is where a request meets what is not the method's own rule: faults a test asked
for (an error, a timeout, a "stall" held until `unstall()`), then Telegram's flood limits when they
are on (`FloodLimits`: so many messages a second per bot, one per interval per chat; over them a
429 with retry_after, the call taking no effect).

Importing this module does not import aiogram.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout

from bot.waiting import within

from . import media
from .htmltext import EntityParseError, parse_html, strip_text, utf16_len

BOT_FIRST_NAME = "科普号创作助手(沙盒)"
CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024
CLOUD_UPLOAD_LIMIT = 50 * 1024 * 1024
LOCAL_UPLOAD_LIMIT = 2000 * 1024 * 1024
MAX_TEXT = 4096
MAX_CAPTION = 1024
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
# The methods that make a message: Telegram's flood limits count these (not edits, not answers).
FLOOD_METHODS = frozenset(m.lower() for m in (
    "sendMessage", "sendPhoto", "sendDocument", "sendVideo", "sendAudio", "sendVoice", "sendAnimation",
    "sendSticker", "sendMediaGroup", "sendPoll", "sendLocation", "sendContact", "copyMessage", "forwardMessage",
))
# Default update types when allowed_updates is empty or was never set (Telegram's rule).
NOT_DEFAULT_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}
INLINE_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)
COMPLEX_FIELDS = {
    "reply_markup", "allowed_updates", "commands", "scope", "entities", "caption_entities",
    "reply_parameters", "link_preview_options", "menu_button", "media", "results", "permissions",
    "message_ids", "options", "rights", "reaction", "question_entities", "explanation_entities",
    "correct_option_ids",
}


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict:
        """The answer's JSON, sent with HTTP status `code`."""
        body: dict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


class ControlError(Exception):
    pass


class Forbidden(ControlError):
    """A path outside the sandbox's data folder (HTTP 403)."""


class _Pulse:
    """Wake every waiter on each fire(); waiters re-check their condition."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        await within(timeout, self._event.wait())


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    bot_id: int
    disk_path: Path
    file_path: str  # relative path as getFile reports it in cloud mode
    size: int
    kind: str  # document | photo | video | thumbnail
    file_name: str | None = None  # the name it was uploaded with
    announced: int | None = None  # the size Telegram states, when not the bytes' (tests: a file too big)
    meta: dict | None = None  # the message field Telegram made for it once ({"photo": [...]}, {"video": {...}})


@dataclass
class Fault:
    """The next `count` calls of `method` fail: "429", a status code ("500", "502", "403", ...)
    answered with `description` (or Telegram's usual words), "timeout" (no answer for `hold` s), or
    "stall": held until `Emulator.unstall()`, then answered 502 Bad Gateway without taking effect
    (a request that never reached Telegram, while its sender may be killed)."""

    method: str  # lower-case method name or "*"
    kind: str  # "429" | "400".."599" | "timeout" | "stall"
    count: int
    retry_after: int = 1
    hold: float = 60.0
    description: str | None = None

    def error(self) -> ApiError:
        if self.kind == "timeout":
            return ApiError(500, "Internal Server Error: timeout")
        if self.kind == "stall":
            return ApiError(502, self.description or "Bad Gateway")
        code = int(self.kind) if self.kind.isdigit() else 500
        if code == 429:
            return ApiError(429, self.description or f"Too Many Requests: retry after {self.retry_after}",
                            {"retry_after": self.retry_after})
        return ApiError(code, self.description or ("Internal Server Error" if code == 500 else f"Error {code}"))


@dataclass
class FloodLimits:
    """Telegram's flood limits: per bot at most `per_second` messages in any sliding second, per chat
    one message per `per_chat_interval` seconds (Telegram: about 30 and 1)."""

    per_second: float = 30
    per_chat_interval: float = 1.0


@dataclass
class ChatState:
    chat: dict
    next_message_id: int = 1
    messages: dict[int, dict] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    reply_keyboard: dict | None = None
    blocked: bool = False
    chat_instance: str = field(default_factory=lambda: str(secrets.randbits(62)))
    pulse: _Pulse = field(default_factory=_Pulse)


@dataclass
class BotState:
    id: int
    user: dict
    token: str | None = None
    updates: list[dict] = field(default_factory=list)
    delivered: set[int] = field(default_factory=set)  # id() of queued updates already handed out
    next_update_id: int = 0
    allowed_updates: list[str] | None = None
    webhook: dict | None = None
    webhook_task: asyncio.Task | None = None
    poll_generation: int = 0
    polling_since: float | None = None
    chats: dict[int, ChatState] = field(default_factory=dict)
    commands: dict[str, list] = field(default_factory=dict)
    menu_buttons: dict[str, dict] = field(default_factory=dict)
    callback_queries: dict[str, dict] = field(default_factory=dict)
    polls: dict[str, dict] = field(default_factory=dict)  # poll id -> {"chat_id", "message_id", "voters"}
    settings: dict[str, Any] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)
    pulse: _Pulse = field(default_factory=_Pulse)
    sent_times: deque = field(default_factory=deque)  # flood limits: when recent messages were made
    chat_sent: dict[Any, float] = field(default_factory=dict)  # flood limits: chat -> its last message's time


class Params:
    """Request parameters: strings from forms, native values from JSON; files from multipart."""

    def __init__(self, values: dict[str, Any], files: dict[str, dict]) -> None:
        self.values = values
        self.files = files  # part name -> {"path", "filename", "size"}

    def has(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def str(self, name: str, default: str | None = None) -> str | None:
        v = self.values.get(name)
        if v is None:
            return default
        return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else str(v)

    def int(self, name: str, default: int | None = None, required: bool = False) -> int | None:
        v = self.values.get(name)
        if v in (None, ""):
            if required:
                raise bad(f"{name} is empty")
            return default
        try:
            return int(v)
        except (TypeError, ValueError):
            raise bad(f"invalid {name} specified") from None

    def bool(self, name: str, default: bool = False) -> bool:
        v = self.values.get(name)
        if v is None or v == "":
            return default
        if isinstance(v, bool):
            return v
        return str(v).lower() in ("true", "1", "yes")

    def json(self, name: str, default: Any = None) -> Any:
        v = self.values.get(name)
        if v in (None, ""):
            return default
        if isinstance(v, str):
            try:
                return json.loads(v)
            except ValueError:
                raise bad(f"can't parse {name} JSON object") from None
        return v


def decode_complex(values: dict[str, Any]) -> dict[str, Any]:
    """Object and array fields sent as JSON strings (a form, multipart) decoded, as Telegram reads them."""
    for key in COMPLEX_FIELDS & values.keys():
        v = values[key]
        if isinstance(v, str) and v[:1] in "[{":
            with contextlib.suppress(ValueError):
                values[key] = json.loads(v)
    return values


def _now() -> int:
    return int(time.time())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _update_type(update: dict) -> str:
    return next((k for k in update if k != "update_id"), "")


class Emulator:
    """All state of the emulated Telegram: bots, users, chats, files, faults."""

    def __init__(
        self,
        *,
        local_mode: bool = False,
        data_dir: str | os.PathLike | None = None,
        default_bot_id: int = 123456,
        save_dir: str | os.PathLike | None = None,
        adopt_unknown: bool = False,
        flood: FloodLimits | None = None,
    ) -> None:
        self.local_mode = local_mode
        # tests: a chat id never seen, and a chat, message or button press in an update a test wrote
        # by hand, are taken as real (as if the person had written earlier), not refused
        self.adopt_unknown = adopt_unknown
        # a copy of each file the bot uploads (the .docx, /mydata's JSON) is kept here, by chat and
        # name, so a person can open it; the store in data_dir is the emulator's own (file_N names)
        self.save_dir = Path(save_dir).resolve() if save_dir is not None else None
        self._tmp: tempfile.TemporaryDirectory | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="kepubot-sandbox-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.default_bot_id = default_bot_id
        self.bots: dict[int, BotState] = {}
        self.users: dict[int, dict] = {}
        self.files: dict[str, StoredFile] = {}
        self._by_unique: dict[tuple[int, str], StoredFile] = {}
        self._file_counter = 0
        self.faults: list[Fault] = []
        self._release = asyncio.Event()  # set by unstall(): the calls held by a "stall" fault go on
        self.stalled = 0  # calls held now
        self.flood: FloodLimits | None = None
        self.flood_refused = 0  # calls refused with 429 by the flood limits
        self.set_flood(flood)
        self.calls: Counter = Counter()
        self.seq = 0
        self._http: ClientSession | None = None

    # ----------------------------------------------------------------- its own folder
    @property
    def uploads_dir(self) -> Path:
        """Where the control client puts a copy of a file a user sends (see SandboxClient.upload)."""
        return self.data_dir / "uploads"

    def own_file(self, path: str | os.PathLike) -> Path | None:
        """`path` with symlinks and `..` resolved, when it is a file inside the data folder; None for
        anything else (/etc/passwd, ../.., a symlink leading out): the emulator reads and serves
        only its own folder, never any file of the machine a request names."""
        try:
            real = Path(path).expanduser().resolve(strict=True)
        except (OSError, RuntimeError, ValueError):
            return None
        return real if real.is_relative_to(self.data_dir) and real.is_file() else None

    # ----------------------------------------------------------------- lifecycle
    async def close(self) -> None:
        for bot in self.bots.values():
            if bot.webhook_task is not None:
                bot.webhook_task.cancel()
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # ----------------------------------------------------------------- bots, users, chats
    def bot(self, bot_id: int, token: str | None = None, *, user: dict | None = None) -> BotState:
        bot = self.bots.get(bot_id)
        if bot is None:
            bot = BotState(
                id=bot_id,
                user=user or {
                    "id": bot_id,
                    "is_bot": True,
                    "first_name": BOT_FIRST_NAME,
                    "username": f"sandbox_{bot_id}_bot",
                },
                next_update_id=secrets.randbelow(10**8) + 10**8,
            )
            self.bots[bot_id] = bot
        if token is not None:
            bot.token = token
        return bot

    def resolve_bot(self, bot_id: Any = None) -> BotState:
        if bot_id not in (None, ""):
            return self.bot(int(bot_id))
        if len(self.bots) == 1:
            return next(iter(self.bots.values()))
        return self.bot(self.default_bot_id)

    def user(self, user_id: int, first_name: str | None = None, username: str | None = None) -> dict:
        u = self.users.get(user_id)
        if u is None:
            u = {
                "id": user_id,
                "is_bot": False,
                "first_name": first_name or f"User{user_id}",
                "username": username or f"user{user_id}",
                "language_code": "zh-hans",
            }
            self.users[user_id] = u
        else:
            if first_name:
                u["first_name"] = first_name
            if username:
                u["username"] = username
        return u

    def chat_of(self, bot: BotState, user: dict) -> ChatState:
        chat = bot.chats.get(user["id"])
        if chat is None:
            chat = ChatState(chat={"id": user["id"], "type": "private"})
            bot.chats[user["id"]] = chat
        chat.chat["first_name"] = user["first_name"]
        if user.get("username"):
            chat.chat["username"] = user["username"]
        return chat

    def add_users(self, bot: BotState, first_id: int, count: int) -> int:
        """`count` people from `first_id` on, each having opened the bot's chat (so the bot may write
        to them) without writing anything: no update is queued. Returns how many."""
        for user_id in range(first_id, first_id + count):
            self.chat_of(bot, self.user(user_id))
        return max(count, 0)

    @staticmethod
    def received(bot: BotState, chat_ids: range | None = None) -> dict[int, int]:
        """How many messages the bot made in each chat (of `chat_ids`, default all) that got any:
        its "message" events, so a message deleted since still counts."""
        counts = {}
        for chat_id, chat in bot.chats.items():
            if chat_ids is not None and chat_id not in chat_ids:
                continue
            n = sum(1 for e in chat.events if e["kind"] == "message")
            if n:
                counts[chat_id] = n
        return counts

    def target_chat(self, bot: BotState, p: Params, name: str = "chat_id") -> ChatState:
        raw = p.values.get(name)
        if raw in (None, ""):
            raise bad(f"{name} is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            for chat in bot.chats.values():
                if chat.chat.get("username", "").lower() == raw[1:].lower():
                    return chat
            raise bad("chat not found")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise bad("chat not found") from None
        chat = bot.chats.get(chat_id)
        if chat is None and self.adopt_unknown and chat_id > 0:
            chat = self.chat_of(bot, self.user(chat_id))
        if chat is None:
            if chat_id in self.users:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise bad("chat not found")
        return chat

    def _writable(self, chat: ChatState) -> ChatState:
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    # ----------------------------------------------------------------- updates and events
    def enqueue(self, bot: BotState, update: dict) -> dict:
        if "update_id" not in update:
            update = {"update_id": bot.next_update_id, **update}
        bot.next_update_id = max(bot.next_update_id, int(update["update_id"]) + 1)
        bot.updates.append(update)
        bot.pulse.fire()
        return update

    def event(self, chat: ChatState, kind: str, message: dict | None, **extra: Any) -> dict:
        self.seq += 1
        ev = {"seq": self.seq, "kind": kind, "message": copy.deepcopy(message), **extra}
        chat.events.append(ev)
        chat.pulse.fire()
        return ev

    def last_seq(self, chat: ChatState) -> int:
        return chat.events[-1]["seq"] if chat.events else 0

    def new_message(self, chat: ChatState, sender: dict, content: dict) -> dict:
        msg = {
            "message_id": chat.next_message_id,
            "from": sender,
            "chat": dict(chat.chat),
            "date": _now(),
            **content,
        }
        chat.next_message_id += 1
        chat.messages[msg["message_id"]] = msg
        return msg

    @staticmethod
    def api_view(msg: dict) -> dict:
        """The message as the Bot API returns it: only inline keyboards are part of a Message."""
        out = copy.deepcopy(msg)
        markup = out.get("reply_markup")
        if markup is not None and "inline_keyboard" not in markup:
            del out["reply_markup"]
        return out

    # ----------------------------------------------------------------- files
    def _new_file_id(self, kind: str) -> str:
        prefix = {"document": "BQAC", "photo": "AgAC", "video": "BAAC", "thumbnail": "AAMC"}.get(kind, "CQAC")
        return prefix + _b64(secrets.token_bytes(36))

    async def store_file(
        self, bot: BotState, src: Path, kind: str, *, move: bool = False, ext: str | None = None,
        file_name: str | None = None,
    ) -> StoredFile:
        """Put a file into the store; identical bytes share file_unique_id and disk copy."""
        digest = await asyncio.to_thread(_sha256, src)
        unique = "AgAD" + _b64(digest[:12])
        existing = self._by_unique.get((bot.id, unique))
        if existing is not None and existing.disk_path.exists():
            if move:
                src.unlink(missing_ok=True)
            disk, rel, size = existing.disk_path, existing.file_path, existing.size
        else:
            rel, disk = self._new_slot(bot, kind, ext if ext is not None else src.suffix.lower())
            if move:
                await asyncio.to_thread(shutil.move, str(src), str(disk))
            else:
                try:
                    os.link(src, disk)
                except OSError:
                    await asyncio.to_thread(shutil.copyfile, src, disk)
            size = disk.stat().st_size
        return self._register(StoredFile(self._new_file_id(kind), unique, bot.id, disk, rel, size, kind, file_name))

    def store_bytes(
        self, bot: BotState, data: bytes, kind: str = "document", *, file_name: str | None = None,
        file_id: str | None = None, announced: int | None = None, meta: dict | None = None,
    ) -> StoredFile:
        """A file a person sends, put into the store at once (tests make many small ones).
        `announced`: the size Telegram states when not the bytes' (getFile refuses over 20 MB);
        `meta`: the message field Telegram made for it ({"photo": [...]}), reused when it is sent again."""
        unique = "AgAD" + _b64(hashlib.sha256(data).digest()[:12])
        existing = self._by_unique.get((bot.id, unique))
        if existing is not None and existing.disk_path.exists():
            rel, disk = existing.file_path, existing.disk_path
        else:
            rel, disk = self._new_slot(bot, kind, Path(file_name or "").suffix.lower())
            disk.write_bytes(data)
        return self._register(StoredFile(file_id or self._new_file_id(kind), unique, bot.id, disk, rel, len(data),
                                         kind, file_name, announced, meta))

    def _new_slot(self, bot: BotState, kind: str, ext: str) -> tuple[str, Path]:
        self._file_counter += 1
        rel = f"{kind}s/file_{self._file_counter}{ext}"
        disk = self.data_dir / str(bot.id) / rel
        disk.parent.mkdir(parents=True, exist_ok=True)
        return rel, disk

    def _register(self, f: StoredFile) -> StoredFile:
        self.files[f.file_id] = f
        self._by_unique.setdefault((f.bot_id, f.file_unique_id), f)
        return f

    def stored_at(self, bot_id: int, file_path: str) -> Path | None:
        """The file a download URL names (/file/bot<token>/<file_path>): its own, in the data folder."""
        for f in self.files.values():
            if f.bot_id == bot_id and (f.file_path == file_path or str(f.disk_path) == "/" + file_path.lstrip("/")):
                return self.own_file(f.disk_path)  # a stored file replaced by a link out is not served
        return None

    async def photo_sizes(self, bot: BotState, stored: StoredFile) -> list[dict]:
        dims = await asyncio.to_thread(media.image_size, stored.disk_path)
        if dims is None:
            raise bad("IMAGE_PROCESS_FAILED")
        sizes = []
        thumb_path = self.data_dir / "tmp" / f"thumb_{secrets.token_hex(6)}.jpg"
        thumb = await asyncio.to_thread(media.make_thumbnail, stored.disk_path, thumb_path)
        if thumb is not None:
            t = await self.store_file(bot, thumb_path, "photo", move=True, ext=".jpg")
            sizes.append(_size_dict(t, *thumb))
        sizes.append(_size_dict(stored, *dims))
        return sizes

    async def media_content(
        self, bot: BotState, stored: StoredFile, kind: str, file_name: str | None, p: Params | None = None
    ) -> dict:
        """The message field for a stored file: {"document": ...} / {"photo": [...]} / {"video": ...}.
        Telegram processes a photo or video once: sent again by file_id, it has the sizes it had."""
        known = (stored.meta or {}).get(kind)
        if known is not None and kind != "document":
            return {kind: copy.deepcopy(known)}
        base = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": stored.announced or stored.size}
        name = file_name or stored.file_name or Path(stored.file_path).name
        if kind == "photo":
            content: dict = {"photo": await self.photo_sizes(bot, stored)}
        elif kind == "video":
            info = await asyncio.to_thread(media.video_info, stored.disk_path)
            if p is not None:
                for key in ("width", "height", "duration"):
                    if p.has(key):
                        info[key] = p.int(key)
            content = {"video": {**base, **info, "file_name": name,
                                 "mime_type": media.guess_mime(name, "video/mp4")}}
        else:
            return {"document": {**base, "file_name": name, "mime_type": media.guess_mime(name)}}
        stored.meta = {**(stored.meta or {}), **copy.deepcopy(content)}
        return content

    # ----------------------------------------------------------------- text, markup
    def parse_text(self, p: Params, text_field: str, entities_field: str) -> tuple[str, list[dict]]:
        raw = p.str(text_field, "") or ""
        mode = (p.str("parse_mode") or "").lower()
        entities = p.json(entities_field) or []
        if mode == "html" and not entities:
            try:
                raw, entities = parse_html(raw)
            except EntityParseError as e:
                raise bad(f"can't parse entities: {e}") from None
        # Markdown modes are stored as given (not parsed by the sandbox)
        return strip_text(raw, entities)

    def check_markup(self, p: Params) -> dict | None:
        markup = p.json("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list):
                raise bad("field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array")
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or not button.get("text"):
                        raise bad("can't parse inline keyboard button: Text is not specified")
                    actions = [a for a in INLINE_ACTIONS if a in button]
                    if not actions:
                        raise bad(
                            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                        )
                    if "callback_data" in button:
                        data = button["callback_data"]
                        if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
                            raise bad("BUTTON_DATA_INVALID")
                    if "url" in button and not re.match(r"^(https?|tg)://", str(button["url"])):
                        raise bad(f"inline keyboard button URL '{button['url']}' is invalid: Wrong HTTP URL")
            if not any(rows):
                return None  # an empty inline keyboard is no keyboard
        elif "keyboard" in markup:
            markup = dict(markup)
            markup["keyboard"] = [
                [b if isinstance(b, dict) else {"text": str(b)} for b in row] for row in markup["keyboard"]
            ]
        elif not ("remove_keyboard" in markup or "force_reply" in markup):
            raise bad("can't find field \"inline_keyboard\"")
        return markup

    def reply_target(self, chat: ChatState, p: Params) -> dict:
        rp = p.json("reply_parameters") or {}
        reply_id = rp.get("message_id") or p.int("reply_to_message_id")
        if not reply_id:
            return {}
        target = chat.messages.get(int(reply_id))
        if target is None:
            if rp.get("allow_sending_without_reply") or p.bool("allow_sending_without_reply"):
                return {}
            raise bad("message to be replied not found")
        replied = self.api_view(target)
        replied.pop("reply_to_message", None)
        return {"reply_to_message": replied}

    def apply_markup(self, chat: ChatState, markup: dict | None) -> None:
        if markup is None:
            return
        if "keyboard" in markup:
            chat.reply_keyboard = markup
        elif markup.get("remove_keyboard"):
            chat.reply_keyboard = None

    async def bot_send(self, bot: BotState, p: Params, content: dict, markup: dict | None, **extra: Any) -> dict:
        chat = self._writable(self.target_chat(bot, p))
        content = {**self.reply_target(chat, p), **content}
        if markup is not None:
            content["reply_markup"] = markup
        msg = self.new_message(chat, bot.user, content)
        self.apply_markup(chat, markup)
        self.event(chat, "message", msg, **extra)
        return self.api_view(msg)

    async def save_copy(self, chat: ChatState, stored: StoredFile, name: str) -> Path | None:
        """Keep a file the bot uploaded as save_dir/<chat id>/<name> (name (2).ext when another file
        already has that name); None when no save_dir is set."""
        if self.save_dir is None:
            return None
        folder = self.save_dir / str(chat.chat["id"])
        safe = Path(name).name.strip() or Path(stored.file_path).name
        target, n = folder / safe, 1
        while target.exists():
            if target.stat().st_size == stored.size and await asyncio.to_thread(_sha256, target) == \
                    await asyncio.to_thread(_sha256, stored.disk_path):
                return target  # the same bytes again
            n += 1
            target = folder / f"{Path(safe).stem} ({n}){Path(safe).suffix}"
        folder.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.copyfile, stored.disk_path, target)
        return target

    def find_message(self, bot: BotState, p: Params, missing: str) -> tuple[ChatState, dict]:
        if p.has("inline_message_id"):
            raise bad("MESSAGE_ID_INVALID")
        chat = self.target_chat(bot, p)
        msg = chat.messages.get(p.int("message_id", required=True))
        if msg is None:
            raise bad(missing)
        return chat, msg

    # ----------------------------------------------------------------- control helpers
    def user_message(
        self, bot: BotState, user: dict, content: dict, *, update_id: int | None = None
    ) -> tuple[dict, dict, ChatState]:
        """A person writes to the bot (writing unblocks it): the message and its update, queued."""
        chat = self.chat_of(bot, user)
        if chat.blocked:
            chat.blocked = False
            self._member_update(bot, chat, user, blocked=False)
        msg = self.new_message(chat, user, content)
        update = self.enqueue(bot, {"message": msg} if update_id is None else {"update_id": update_id, "message": msg})
        return update, msg, chat

    def callback(self, bot: BotState, user: dict, message: dict, data: str) -> dict:
        """A press of a callback button on `message` (as the Bot API shows it), queued; Telegram then
        takes one answerCallbackQuery for it."""
        chat = self.chat_of(bot, user)
        query_id = str(secrets.randbits(63))
        query = {"id": query_id, "from": user, "message": message, "chat_instance": chat.chat_instance, "data": data}
        self.remember_query(bot, query_id, user["id"], message["message_id"])
        return self.enqueue(bot, {"callback_query": query})

    @staticmethod
    def remember_query(bot: BotState, query_id: str, chat_id: int, message_id: int | None) -> None:
        bot.callback_queries[query_id] = {"chat_id": chat_id, "message_id": message_id, "answered": False}

    def adopt(self, bot: BotState, update: dict) -> None:
        """Take in what an update a test wrote by hand implies (with adopt_unknown): its chat, its
        message (when the id is free) and its button press, as if Telegram had made them."""
        if not self.adopt_unknown:
            return
        query = update.get("callback_query")
        if query is not None:
            message = query.get("message") or {}
            if query.get("id") not in bot.callback_queries:
                self.remember_query(bot, query["id"], (message.get("chat") or {}).get("id", query["from"]["id"]),
                                    message.get("message_id"))
            return
        msg = update.get("message")
        if not isinstance(msg, dict) or not isinstance(msg.get("chat"), dict):
            return
        chat_id = msg["chat"]["id"]
        chat = bot.chats.get(chat_id)
        if chat is None:
            chat = bot.chats[chat_id] = ChatState(chat=dict(msg["chat"]))
        mid = msg.get("message_id")
        if isinstance(mid, int) and mid not in chat.messages:
            chat.messages[mid] = copy.deepcopy(msg)
            chat.next_message_id = max(chat.next_message_id, mid + 1)

    def _member_update(self, bot: BotState, chat: ChatState, user: dict, blocked: bool) -> dict:
        old, new = ("member", "kicked") if blocked else ("kicked", "member")
        return self.enqueue(
            bot,
            {
                "my_chat_member": {
                    "chat": dict(chat.chat),
                    "from": user,
                    "date": _now(),
                    "old_chat_member": {"status": old, "user": bot.user},
                    "new_chat_member": {"status": new, "user": bot.user}
                    | ({"until_date": 0} if blocked else {}),
                }
            },
        )

    def block(self, bot: BotState, user: dict, blocked: bool) -> dict | None:
        chat = self.chat_of(bot, user)
        if chat.blocked == blocked:
            return None
        chat.blocked = blocked
        return self._member_update(bot, chat, user, blocked)

    def press(
        self, bot: BotState, user: dict, message_id: int | None, text: str | None, data: str | None
    ) -> dict:
        chat = self.chat_of(bot, user)
        if message_id is not None:
            msg = chat.messages.get(message_id)
            if msg is None or msg["from"].get("id") != bot.id:
                raise ControlError(f"no bot message {message_id} in chat {user['id']}")
            candidates = [msg]
        else:
            candidates = [m for m in reversed(chat.messages.values()) if m["from"].get("id") == bot.id]
        for msg in candidates:
            button = _find_button(msg.get("reply_markup", {}).get("inline_keyboard") or [], text, data)
            if button is None:
                continue
            if "callback_data" not in button:
                action = next((a for a in INLINE_ACTIONS if a in button), "?")
                raise ControlError(f"button {button['text']!r} is a {action} button, not a callback button")
            update = self.callback(bot, user, self.api_view(msg), button["callback_data"])
            query_id = update["callback_query"]["id"]
            return {"update_id": update["update_id"], "callback_query_id": query_id,
                    "message_id": msg["message_id"], "data": button["callback_data"]}
        # A reply keyboard button sends its text (or the user's contact).
        if message_id is None and data is None and chat.reply_keyboard is not None:
            button = _find_button(chat.reply_keyboard.get("keyboard") or [], text, None)
            if button is not None:
                if chat.reply_keyboard.get("one_time_keyboard"):
                    chat.reply_keyboard = None
                if button.get("request_contact"):
                    content = {"contact": self.own_contact(user, None)}
                else:
                    content = {"text": button["text"], **command_entities(button["text"])}
                update, msg, _ = self.user_message(bot, user, content)
                return {"update_id": update["update_id"], "message_id": msg["message_id"], "sent_text": button["text"]}
        available = [
            b["text"] for m in candidates for row in (m.get("reply_markup", {}).get("inline_keyboard") or [])
            for b in row
        ][:30]
        if chat.reply_keyboard:
            available += [b["text"] for row in chat.reply_keyboard.get("keyboard", []) for b in row]
        wanted = text if text is not None else f"callback_data={data!r}"
        raise ControlError(f"no button {wanted!r}; buttons: {available}")

    def answer_poll(self, bot: BotState, user: dict, option_ids: list[int], poll_id: str | None = None) -> dict:
        """The person votes in a poll of the bot's in their chat (the newest one, or `poll_id`): the
        message's counts change and, the poll not being anonymous, the bot gets a poll_answer update.
        A quiz takes one vote per person, never changed; a closed poll takes none."""
        chat = self.chat_of(bot, user)
        if poll_id is None:
            polls = [m for m in reversed(chat.messages.values()) if "poll" in m and m["from"].get("id") == bot.id]
            if not polls:
                raise ControlError(f"no poll of the bot's in chat {user['id']}")
            poll_id = polls[0]["poll"]["id"]
        state = bot.polls.get(poll_id)
        msg = chat.messages.get(state["message_id"]) if state is not None and state["chat_id"] == chat.chat["id"] else None
        if msg is None:
            raise ControlError(f"no poll {poll_id} in chat {user['id']}")
        poll = msg["poll"]
        options = [int(o) for o in option_ids]
        if poll["is_closed"]:
            raise ControlError("the poll is closed")
        if not options or len(set(options)) != len(options) or not all(0 <= o < len(poll["options"]) for o in options):
            raise ControlError(f"options must be distinct numbers from 0 to {len(poll['options']) - 1}")
        if len(options) > 1 and not poll["allows_multiple_answers"]:
            raise ControlError("the poll takes one answer")
        if user["id"] in state["voters"] and poll["type"] == "quiz":
            raise ControlError("a quiz takes one answer, which can not be changed")
        for o in state["voters"].get(user["id"], []):
            poll["options"][o]["voter_count"] -= 1
        if user["id"] not in state["voters"]:
            poll["total_voter_count"] += 1
        state["voters"][user["id"]] = options
        for o in options:
            poll["options"][o]["voter_count"] += 1
        if poll["is_anonymous"]:
            return {"update_id": None, "poll_id": poll_id}
        answer = {"poll_id": poll_id, "user": user, "option_ids": options,
                  "option_persistent_ids": [poll["options"][o]["persistent_id"] for o in options]}
        update = self.enqueue(bot, {"poll_answer": answer})
        return {"update_id": update["update_id"], "poll_id": poll_id}

    @staticmethod
    def own_contact(user: dict, phone: str | None) -> dict:
        return {
            "phone_number": phone or "+86138" + str(user["id"]).zfill(8)[-8:],
            "first_name": user["first_name"],
            "user_id": user["id"],
        }

    # ----------------------------------------------------------------- webhook delivery
    def _start_webhook(self, bot: BotState) -> None:
        if bot.webhook_task is None or bot.webhook_task.done():
            bot.webhook_task = asyncio.get_running_loop().create_task(self._deliver(bot))

    async def _deliver(self, bot: BotState) -> None:
        if self._http is None:
            self._http = ClientSession(timeout=ClientTimeout(total=30))
        while bot.webhook:
            self._drop_disallowed(bot)
            if not bot.updates:
                await bot.pulse.wait(30)
                continue
            hook = bot.webhook
            update = bot.updates[0]
            headers = {}
            if hook.get("secret_token"):
                headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
            try:
                async with self._http.post(hook["url"], json=update, headers=headers) as resp:
                    body = await resp.read()
                    if resp.status >= 300:
                        raise RuntimeError(f"Wrong response from the webhook: {resp.status} {resp.reason}")
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - keep retrying like Telegram
                hook["last_error_date"] = _now()
                hook["last_error_message"] = str(e) or type(e).__name__
                await asyncio.sleep(1)
                continue
            if bot.updates and bot.updates[0] is update:
                bot.updates.pop(0)
            await self._webhook_reply(bot, body)

    async def _webhook_reply(self, bot: BotState, body: bytes) -> None:
        """A webhook may answer with a method call in its response body."""
        try:
            data = json.loads(body) if body else None
        except ValueError:
            return
        if isinstance(data, dict) and isinstance(data.get("method"), str):
            values = {k: v for k, v in data.items() if k != "method"}
            with contextlib.suppress(ApiError):
                await self.call(bot, data["method"], Params(values, {}))

    def _drop_disallowed(self, bot: BotState) -> None:
        allowed = bot.allowed_updates
        if allowed:
            bot.updates = [u for u in bot.updates if _update_type(u) in allowed]
        else:
            bot.updates = [u for u in bot.updates if _update_type(u) not in NOT_DEFAULT_UPDATES]
        bot.delivered &= {id(u) for u in bot.updates}

    # ----------------------------------------------------------------- method dispatch
    async def api_call(self, bot: BotState, method: str, p: Params) -> Any:
        """One Bot API request as the bot makes it (counted, faults and flood limits applied): its
        result, or ApiError with Telegram's status code, description and parameters."""
        self.calls[method] += 1
        bot.calls[method] += 1
        fault = self.take_fault(method)
        if fault is not None:
            if fault.kind == "timeout":
                await asyncio.sleep(fault.hold)
            elif fault.kind == "stall":
                await self._held()
            raise fault.error()
        if self.flood is None or method.lower() not in FLOOD_METHODS:
            return await self.call(bot, method, p)
        slot = self._flood_slot(bot, p)
        try:
            return await self.call(bot, method, p)
        except BaseException:
            self._flood_release(bot, *slot)  # a call that failed made no message: it does not count
            raise

    async def call(self, bot: BotState, method: str, p: Params) -> Any:
        from .methods import METHODS

        handler = METHODS.get(method.lower())
        if handler is None:
            raise ApiError(404, "Not Found")
        return await handler(self, bot, p)

    # ----------------------------------------------------------------- stalls
    async def _held(self) -> None:
        """Wait for the next unstall() (or reset)."""
        release = self._release
        self.stalled += 1
        try:
            await release.wait()
        finally:
            self.stalled -= 1

    def unstall(self) -> int:
        """Release every call held by a "stall" fault (each is then answered 502) and drop the stall
        faults still pending. Returns how many calls were held."""
        held = self.stalled
        self.faults[:] = [f for f in self.faults if f.kind != "stall"]
        self._release.set()
        self._release = asyncio.Event()
        return held

    # ----------------------------------------------------------------- flood limits
    def set_flood(self, limits: FloodLimits | None) -> None:
        """Turn Telegram's flood limits on (with these limits) or off (None); the count starts afresh."""
        if limits is not None and limits.per_second < 1:
            raise ValueError("per_second must be at least 1")
        self.flood = limits
        for bot in self.bots.values():
            bot.sent_times.clear()
            bot.chat_sent.clear()

    def _flood_slot(self, bot: BotState, p: Params) -> tuple[Any, float, float | None]:
        """Take the call's place under the flood limits, or raise Telegram's 429 (the call refused,
        not counted). Returns what _flood_release needs to give the place back."""
        limits, now = self.flood, time.monotonic()
        while bot.sent_times and bot.sent_times[0] <= now - 1:
            bot.sent_times.popleft()
        wait, cap = 0.0, int(limits.per_second)
        if len(bot.sent_times) >= cap:  # allowed when the oldest that keeps it at the cap leaves the window
            wait = bot.sent_times[-cap] + 1 - now
        chat = _chat_key(p.values.get("chat_id"))
        last = bot.chat_sent.get(chat)
        if last is not None:
            wait = max(wait, last + limits.per_chat_interval - now)
        if wait > 0:
            self.flood_refused += 1
            retry = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        bot.sent_times.append(now)
        bot.chat_sent[chat] = now
        return chat, now, last

    @staticmethod
    def _flood_release(bot: BotState, chat: Any, at: float, before: float | None) -> None:
        with contextlib.suppress(ValueError):
            bot.sent_times.remove(at)
        if bot.chat_sent.get(chat) == at:
            if before is None:
                del bot.chat_sent[chat]
            else:
                bot.chat_sent[chat] = before

    def take_fault(self, method: str) -> Fault | None:
        name = method.lower()
        for fault in self.faults:
            if fault.method == name or (fault.method == "*" and name != "getupdates"):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None


def _chat_key(raw: Any) -> Any:
    """A chat as the flood limits count it: its id, or its @username in lower case."""
    try:
        return int(raw)
    except (TypeError, ValueError):
        return str(raw).lower()


def _sha256(path: Path) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.digest()


def _size_dict(f: StoredFile, width: int, height: int) -> dict:
    return {"file_id": f.file_id, "file_unique_id": f.file_unique_id, "file_size": f.size,
            "width": int(width), "height": int(height)}


def _find_button(rows: list, text: str | None, data: str | None) -> dict | None:
    buttons = [b for row in rows for b in row if isinstance(b, dict)]
    if data is not None:
        return next((b for b in buttons if b.get("callback_data") == data), None)
    if text is None:
        return next((b for b in buttons if "callback_data" in b), None)
    exact = [b for b in buttons if b.get("text") == text]
    if exact:
        return exact[0]
    loose = [b for b in buttons if text.strip() and text.strip() in b.get("text", "")]
    return loose[0] if len(loose) == 1 else None


def command_entities(text: str) -> dict:
    if not text.startswith("/") or len(text) < 2:
        return {}
    command = text.split(maxsplit=1)[0]
    return {"entities": [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]}
