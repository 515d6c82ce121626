"""A local Telegram Bot API emulator (aiohttp), for tests and for running the bot with no token.

Bot side:     POST|GET /bot<token>/<method>        (JSON, urlencoded or multipart, like api.telegram.org)
              GET      /file/bot<token>/<file_path>
Control side: /control/...  (JSON), to act as any user and read what the bot sent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

from . import media
from .htmltext import EntityParseError, parse_html, strip_text, utf16_len

TOKEN_RE = re.compile(r"^(\d+):([^/]+)$")
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
    "message_ids", "options", "rights", "reaction",
}


EMULATOR_KEY: web.AppKey[Emulator] = web.AppKey("emulator")


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


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
        event = self._event
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), max(timeout, 0))


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


@dataclass
class Fault:
    method: str  # lower-case method name or "*"
    kind: str  # "429" | "500".."599" | "timeout"
    count: int
    retry_after: int = 1
    hold: float = 60.0


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
    settings: dict[str, Any] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)
    pulse: _Pulse = field(default_factory=_Pulse)


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
    ) -> None:
        self.local_mode = local_mode
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
    def bot(self, bot_id: int, token: str | None = None) -> BotState:
        bot = self.bots.get(bot_id)
        if bot is None:
            bot = BotState(
                id=bot_id,
                user={
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
            self._file_counter += 1
            ext = ext if ext is not None else src.suffix.lower()
            rel = f"{kind}s/file_{self._file_counter}{ext}"
            disk = self.data_dir / str(bot.id) / rel
            disk.parent.mkdir(parents=True, exist_ok=True)
            if move:
                await asyncio.to_thread(shutil.move, str(src), str(disk))
            else:
                try:
                    os.link(src, disk)
                except OSError:
                    await asyncio.to_thread(shutil.copyfile, src, disk)
            size = disk.stat().st_size
        f = StoredFile(self._new_file_id(kind), unique, bot.id, disk, rel, size, kind, file_name)
        self.files[f.file_id] = f
        self._by_unique.setdefault((bot.id, unique), f)
        return f

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
        """The message field for a stored file: {"document": ...} / {"photo": [...]} / {"video": ...}."""
        base = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": stored.size}
        if kind == "photo":
            return {"photo": await self.photo_sizes(bot, stored)}
        name = file_name or stored.file_name or Path(stored.file_path).name
        if kind == "video":
            info = await asyncio.to_thread(media.video_info, stored.disk_path)
            if p is not None:
                for key in ("width", "height", "duration"):
                    if p.has(key):
                        info[key] = p.int(key)
            return {"video": {**base, **info, "file_name": name, "mime_type": media.guess_mime(name, "video/mp4")}}
        return {"document": {**base, "file_name": name, "mime_type": media.guess_mime(name)}}

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
    def user_message(self, bot: BotState, user: dict, content: dict) -> tuple[dict, dict, ChatState]:
        chat = self.chat_of(bot, user)
        if chat.blocked:
            chat.blocked = False
            self._member_update(bot, chat, user, blocked=False)
        msg = self.new_message(chat, user, content)
        update = self.enqueue(bot, {"message": msg})
        return update, msg, chat

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
            query_id = str(secrets.randbits(63))
            query = {
                "id": query_id,
                "from": user,
                "message": self.api_view(msg),
                "chat_instance": chat.chat_instance,
                "data": button["callback_data"],
            }
            bot.callback_queries[query_id] = {"chat_id": user["id"], "message_id": msg["message_id"], "answered": False}
            update = self.enqueue(bot, {"callback_query": query})
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
                    content = {"text": button["text"], **_command_entities(button["text"])}
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
    async def call(self, bot: BotState, method: str, p: Params) -> Any:
        handler = METHODS.get(method.lower())
        if handler is None:
            raise ApiError(404, "Not Found")
        return await handler(self, bot, p)

    def take_fault(self, method: str) -> Fault | None:
        name = method.lower()
        for fault in self.faults:
            if fault.method == name or (fault.method == "*" and name != "getupdates"):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None


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


def _command_entities(text: str) -> dict:
    if not text.startswith("/") or len(text) < 2:
        return {}
    command = text.split(maxsplit=1)[0]
    return {"entities": [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]}


# ===================================================================== Bot API methods
METHODS: dict[str, Any] = {}


def method(*names: str):
    def register(fn):
        for name in names:
            METHODS[name.lower()] = fn
        return fn

    return register


@method("getMe")
async def get_me(emu: Emulator, bot: BotState, p: Params) -> dict:
    return {
        **bot.user,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


@method("logOut", "close")
async def log_out(emu: Emulator, bot: BotState, p: Params) -> bool:
    return True


@method("getUpdates")
async def get_updates(emu: Emulator, bot: BotState, p: Params) -> list:
    if bot.webhook:
        raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                            "use deleteWebhook to delete the webhook first")
    offset = p.int("offset", 0)
    limit = min(max(p.int("limit", 100), 1), 100)
    timeout = min(max(p.int("timeout", 0), 0), 50)
    allowed = p.json("allowed_updates")
    if allowed is not None:
        bot.allowed_updates = list(allowed) or None
    # offset confirms delivered updates below it; a re-injected duplicate not yet handed out stays
    if offset > 0:
        bot.updates = [u for u in bot.updates if u["update_id"] >= offset or id(u) not in bot.delivered]
    elif offset < 0:
        bot.updates = bot.updates[offset:]
    bot.delivered &= {id(u) for u in bot.updates}
    bot.poll_generation += 1
    generation = bot.poll_generation
    bot.pulse.fire()  # an older poll still waiting ends with a conflict
    bot.polling_since = bot.polling_since or time.time()
    deadline = time.monotonic() + timeout
    while True:
        if bot.poll_generation != generation:
            raise ApiError(409, "Conflict: terminated by other getUpdates request; "
                                "make sure that only one bot instance is running")
        emu._drop_disallowed(bot)
        remaining = deadline - time.monotonic()
        if bot.updates or remaining <= 0 or bot.webhook:
            batch = bot.updates[:limit]
            bot.delivered.update(id(u) for u in batch)
            return copy.deepcopy(batch)
        await bot.pulse.wait(remaining)


@method("setWebhook")
async def set_webhook(emu: Emulator, bot: BotState, p: Params) -> bool:
    url = p.str("url", "") or ""
    if not url:
        return await delete_webhook(emu, bot, p)
    if not url.startswith(("http://", "https://")):
        raise bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
    if p.bool("drop_pending_updates"):
        bot.updates.clear()
    allowed = p.json("allowed_updates")
    if allowed is not None:
        bot.allowed_updates = list(allowed) or None
    bot.webhook = {"url": url, "secret_token": p.str("secret_token"),
                   "max_connections": p.int("max_connections", 40)}
    bot.pulse.fire()
    emu._start_webhook(bot)
    return True


@method("deleteWebhook")
async def delete_webhook(emu: Emulator, bot: BotState, p: Params) -> bool:
    bot.webhook = None
    if p.bool("drop_pending_updates"):
        bot.updates.clear()
    if bot.webhook_task is not None:
        bot.webhook_task.cancel()
        bot.webhook_task = None
    return True


@method("getWebhookInfo")
async def get_webhook_info(emu: Emulator, bot: BotState, p: Params) -> dict:
    hook = bot.webhook or {}
    info = {"url": hook.get("url", ""), "has_custom_certificate": False, "pending_update_count": len(bot.updates)}
    if hook:
        info["max_connections"] = hook.get("max_connections", 40)
        for key in ("last_error_date", "last_error_message"):
            if hook.get(key):
                info[key] = hook[key]
    if bot.allowed_updates:
        info["allowed_updates"] = bot.allowed_updates
    return info


@method("sendMessage")
async def send_message(emu: Emulator, bot: BotState, p: Params) -> dict:
    text, entities = emu.parse_text(p, "text", "entities")
    if not text:
        raise bad("message text is empty")
    if utf16_len(text) > MAX_TEXT:
        raise bad("message is too long")
    markup = emu.check_markup(p)
    content: dict = {"text": text}
    if entities:
        content["entities"] = entities
    lpo = p.json("link_preview_options")
    if lpo:
        content["link_preview_options"] = lpo
    return await emu.bot_send(bot, p, content, markup)


def _caption(emu: Emulator, p: Params) -> dict:
    caption, entities = emu.parse_text(p, "caption", "caption_entities")
    if utf16_len(caption) > MAX_CAPTION:
        raise bad("message caption is too long")
    out: dict = {}
    if caption:
        out["caption"] = caption
    if entities:
        out["caption_entities"] = entities
    return out


async def _input_file(emu: Emulator, bot: BotState, p: Params, name: str, kind: str) -> tuple[StoredFile, str | None]:
    """Resolve a file parameter: an uploaded part, attach://, a file_id, or file:// in local mode."""
    value = p.values.get(name)
    part = p.files.get(name)
    if isinstance(value, str) and value.startswith("attach://"):
        part = p.files.get(value[len("attach://"):])
        if part is None:
            raise bad(f"file attach://{value[9:]} not found")
    if part is not None:
        limit = LOCAL_UPLOAD_LIMIT if emu.local_mode else CLOUD_UPLOAD_LIMIT
        if part["size"] > limit:
            raise ApiError(413, "Request Entity Too Large")
        if part["size"] == 0:
            raise bad("file must be non-empty")
        stored = await emu.store_file(bot, part["path"], kind, move=True, ext=Path(part["filename"]).suffix.lower(),
                                      file_name=part["filename"])
        part["consumed"] = True
        return stored, part["filename"]
    if not isinstance(value, str) or not value:
        raise bad(f"there is no {name} in the request")
    if value.startswith("file://") and emu.local_mode:
        path = emu.own_file(value[len("file://"):])  # only files in the sandbox's own folder
        if path is None:
            raise bad("file not found")
        return await emu.store_file(bot, path, kind, file_name=path.name), path.name
    if value.startswith(("http://", "https://")):
        raise bad("failed to get HTTP URL content")
    stored = emu.files.get(value)
    if stored is None or stored.bot_id != bot.id:
        raise bad("wrong file identifier/HTTP URL specified")
    if stored.kind != kind and not (kind == "document" or stored.kind == "document"):
        raise bad(f"can't use file of type {stored.kind.capitalize()} as {kind.capitalize()}")
    return stored, None


def _media_method(kind: str):
    async def send_media(emu: Emulator, bot: BotState, p: Params) -> dict:
        chat = emu._writable(emu.target_chat(bot, p))
        caption = _caption(emu, p)
        markup = emu.check_markup(p)
        stored, filename = await _input_file(emu, bot, p, kind, kind)
        content = await emu.media_content(bot, stored, kind, filename, p)
        extra = {}
        if filename is not None:  # a new upload (a file sent again by file_id is the user's own)
            saved = await emu.save_copy(chat, stored, filename)
            if saved is not None:
                extra["saved"] = str(saved)
        return await emu.bot_send(bot, p, {**content, **caption}, markup, **extra)

    return send_media


method("sendDocument")(_media_method("document"))
method("sendPhoto")(_media_method("photo"))
method("sendVideo")(_media_method("video"))


@method("editMessageText")
async def edit_message_text(emu: Emulator, bot: BotState, p: Params) -> dict:
    chat, msg = emu.find_message(bot, p, "message to edit not found")
    if msg["from"].get("id") != bot.id:
        raise bad("message can't be edited")
    if "text" not in msg:
        raise bad("there is no text in the message to edit")
    text, entities = emu.parse_text(p, "text", "entities")
    if not text:
        raise bad("message text is empty")
    if utf16_len(text) > MAX_TEXT:
        raise bad("message is too long")
    markup = _inline_only(emu.check_markup(p))
    if text == msg["text"] and entities == msg.get("entities", []) and markup == msg.get("reply_markup"):
        raise bad(NOT_MODIFIED.removeprefix("Bad Request: "))
    msg["text"] = text
    _set_or_drop(msg, "entities", entities)
    return _edited(emu, chat, msg, markup)


@method("editMessageCaption")
async def edit_message_caption(emu: Emulator, bot: BotState, p: Params) -> dict:
    chat, msg = emu.find_message(bot, p, "message to edit not found")
    if msg["from"].get("id") != bot.id:
        raise bad("message can't be edited")
    if "text" in msg:
        raise bad("there is no caption in the message to edit")
    caption = _caption(emu, p)
    markup = _inline_only(emu.check_markup(p))
    if (caption.get("caption"), caption.get("caption_entities")) == (
        msg.get("caption"), msg.get("caption_entities")
    ) and markup == msg.get("reply_markup"):
        raise bad(NOT_MODIFIED.removeprefix("Bad Request: "))
    _set_or_drop(msg, "caption", caption.get("caption"))
    _set_or_drop(msg, "caption_entities", caption.get("caption_entities"))
    return _edited(emu, chat, msg, markup)


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(emu: Emulator, bot: BotState, p: Params) -> dict:
    chat, msg = emu.find_message(bot, p, "message to edit not found")
    if msg["from"].get("id") != bot.id:
        raise bad("message can't be edited")
    markup = _inline_only(emu.check_markup(p))
    if markup == msg.get("reply_markup"):
        raise bad(NOT_MODIFIED.removeprefix("Bad Request: "))
    return _edited(emu, chat, msg, markup)


def _inline_only(markup: dict | None) -> dict | None:
    if markup is not None and "inline_keyboard" not in markup:
        raise bad("inline keyboard expected")
    return markup


def _set_or_drop(msg: dict, key: str, value: Any) -> None:
    if value:
        msg[key] = value
    else:
        msg.pop(key, None)


def _edited(emu: Emulator, chat: ChatState, msg: dict, markup: dict | None) -> dict:
    _set_or_drop(msg, "reply_markup", markup)
    msg["edit_date"] = _now()
    emu.event(chat, "edit", msg)
    return emu.api_view(msg)


@method("deleteMessage")
async def delete_message(emu: Emulator, bot: BotState, p: Params) -> bool:
    chat = emu.target_chat(bot, p)
    msg = chat.messages.pop(p.int("message_id", required=True), None)
    if msg is None:
        raise bad("message to delete not found")
    emu.event(chat, "delete", msg)
    return True


@method("deleteMessages")
async def delete_messages(emu: Emulator, bot: BotState, p: Params) -> bool:
    chat = emu.target_chat(bot, p)
    for mid in p.json("message_ids") or []:
        msg = chat.messages.pop(int(mid), None)
        if msg is not None:
            emu.event(chat, "delete", msg)
    return True


@method("answerCallbackQuery")
async def answer_callback_query(emu: Emulator, bot: BotState, p: Params) -> bool:
    query = bot.callback_queries.get(p.str("callback_query_id") or "")
    if query is None or query["answered"]:
        raise bad("query is too old and response timeout expired or query ID is invalid")
    query["answered"] = True
    chat = bot.chats[query["chat_id"]]
    emu.event(
        chat, "callback_answer", chat.messages.get(query["message_id"]),
        callback_query_id=p.str("callback_query_id"), text=p.str("text"),
        show_alert=p.bool("show_alert"), url=p.str("url"),
    )
    return True


def _copy_content(msg: dict) -> dict:
    keys = ("text", "entities", "caption", "caption_entities", "document", "photo", "video", "contact",
            "link_preview_options")
    return {k: copy.deepcopy(msg[k]) for k in keys if k in msg}


@method("copyMessage")
async def copy_message(emu: Emulator, bot: BotState, p: Params) -> dict:
    source_chat = emu.target_chat(bot, p, "from_chat_id")
    src = source_chat.messages.get(p.int("message_id", required=True))
    if src is None:
        raise bad("message to copy not found")
    content = _copy_content(src)
    if "caption" in p.values:
        if "text" in content:
            raise bad("message text can't be given a caption")
        content.pop("caption", None)
        content.pop("caption_entities", None)
        content.update(_caption(emu, p))
    markup = emu.check_markup(p)
    msg = await emu.bot_send(bot, p, content, markup)
    return {"message_id": msg["message_id"]}


@method("forwardMessage")
async def forward_message(emu: Emulator, bot: BotState, p: Params) -> dict:
    source_chat = emu.target_chat(bot, p, "from_chat_id")
    src = source_chat.messages.get(p.int("message_id", required=True))
    if src is None:
        raise bad("message to forward not found")
    origin = {"type": "user", "sender_user": src["from"], "date": src["date"]}
    return await emu.bot_send(bot, p, {"forward_origin": origin, **_copy_content(src)}, None)


@method("sendChatAction")
async def send_chat_action(emu: Emulator, bot: BotState, p: Params) -> bool:
    chat = emu._writable(emu.target_chat(bot, p))
    action = p.str("action")
    if not action:
        raise bad("wrong parameter action in request")
    emu.event(chat, "chat_action", None, action=action)
    return True


@method("getFile")
async def get_file(emu: Emulator, bot: BotState, p: Params) -> dict:
    stored = emu.files.get(p.str("file_id") or "")
    if stored is None or stored.bot_id != bot.id:
        raise bad("wrong file_id or the file is temporarily unavailable")
    if not emu.local_mode and stored.size > CLOUD_DOWNLOAD_LIMIT:
        raise bad("file is too big")
    path = str(stored.disk_path) if emu.local_mode else stored.file_path
    return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
            "file_size": stored.size, "file_path": path}


def _commands_key(p: Params) -> str:
    scope = p.json("scope") or {"type": "default"}
    parts = [scope.get("type", "default"), str(scope.get("chat_id", "")), str(scope.get("user_id", ""))]
    return "|".join(parts) + "|" + (p.str("language_code") or "")


@method("setMyCommands")
async def set_my_commands(emu: Emulator, bot: BotState, p: Params) -> bool:
    commands = p.json("commands")
    if not isinstance(commands, list):
        raise bad("commands must be an Array")
    for c in commands:
        name = str(c.get("command", ""))
        if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
            raise bad("BOT_COMMAND_INVALID")
        if not 1 <= len(str(c.get("description", ""))) <= 256:
            raise bad("BOT_COMMAND_DESCRIPTION_INVALID" if c.get("description") else "command description is empty")
    bot.commands[_commands_key(p)] = commands
    return True


@method("getMyCommands")
async def get_my_commands(emu: Emulator, bot: BotState, p: Params) -> list:
    return bot.commands.get(_commands_key(p), [])


@method("deleteMyCommands")
async def delete_my_commands(emu: Emulator, bot: BotState, p: Params) -> bool:
    bot.commands.pop(_commands_key(p), None)
    return True


@method("setChatMenuButton")
async def set_chat_menu_button(emu: Emulator, bot: BotState, p: Params) -> bool:
    bot.menu_buttons[p.str("chat_id") or ""] = p.json("menu_button") or {"type": "default"}
    return True


@method("getChatMenuButton")
async def get_chat_menu_button(emu: Emulator, bot: BotState, p: Params) -> dict:
    key = p.str("chat_id") or ""
    return bot.menu_buttons.get(key) or bot.menu_buttons.get("") or {"type": "default"}


@method("setMyDescription", "setMyShortDescription", "setMyName", "setMyDefaultAdministratorRights")
async def set_my_setting(emu: Emulator, bot: BotState, p: Params) -> bool:
    bot.settings.update({k: v for k, v in p.values.items()})
    return True


@method("getChat")
async def get_chat(emu: Emulator, bot: BotState, p: Params) -> dict:
    chat = emu.target_chat(bot, p)
    return {
        **chat.chat,
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {"unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
                                "premium_subscription": False, "gifts_from_channels": False},
    }


# ===================================================================== HTTP layer
def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def _api_error(e: ApiError) -> web.Response:
    body: dict = {"ok": False, "error_code": e.code, "description": e.description}
    if e.parameters:
        body["parameters"] = e.parameters
    return _json(body, status=e.code)


async def _read_params(emu: Emulator, request: web.Request) -> Params:
    values: dict[str, Any] = dict(request.query)
    files: dict[str, dict] = {}
    ctype = request.content_type
    if request.method == "POST" and request.can_read_body:
        if ctype == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                values.update(body)
        elif ctype.startswith("multipart/"):
            incoming = emu.data_dir / "incoming"
            incoming.mkdir(exist_ok=True)
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if part.filename is not None:
                    path = incoming / secrets.token_hex(8)
                    size = 0
                    with open(path, "wb") as f:  # noqa: ASYNC230 - local temp file, chunked
                        while chunk := await part.read_chunk(1 << 20):
                            f.write(chunk)
                            size += len(chunk)
                    files[part.name] = {"path": path, "filename": part.filename, "size": size}
                else:
                    values[part.name] = await part.text()
        else:
            values.update(await request.post())
    for key in COMPLEX_FIELDS & values.keys():
        v = values[key]
        if isinstance(v, str) and v[:1] in "[{":
            with contextlib.suppress(ValueError):
                values[key] = json.loads(v)
    return Params(values, files)


def create_app(emulator: Emulator) -> web.Application:
    emu = emulator
    app = web.Application(client_max_size=CLOUD_UPLOAD_LIMIT)
    app[EMULATOR_KEY] = emu

    async def api(request: web.Request) -> web.Response:
        m = TOKEN_RE.match(request.match_info["token"])
        if m is None:
            return _json({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        bot = emu.bot(int(m.group(1)), request.match_info["token"])
        name = request.match_info["method"]
        if name.lower() not in METHODS:
            return _json({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        p = await _read_params(emu, request)
        try:
            emu.calls[name] += 1
            bot.calls[name] += 1
            fault = emu.take_fault(name)
            if fault is not None:
                if fault.kind == "timeout":
                    await asyncio.sleep(fault.hold)
                    raise ApiError(500, "Internal Server Error: timeout")
                if fault.kind == "429":
                    raise ApiError(429, f"Too Many Requests: retry after {fault.retry_after}",
                                   {"retry_after": fault.retry_after})
                code = int(fault.kind) if fault.kind.isdigit() else 500
                raise ApiError(code, "Internal Server Error" if code == 500 else f"Error {code}")
            result = await emu.call(bot, name, p)
            return _json({"ok": True, "result": result})
        except ApiError as e:
            return _api_error(e)
        finally:
            for part in p.files.values():
                if not part.get("consumed"):
                    Path(part["path"]).unlink(missing_ok=True)

    async def download(request: web.Request) -> web.StreamResponse:
        m = TOKEN_RE.match(request.match_info["token"])
        rel = request.match_info["path"]
        if m is not None:
            bot_id = int(m.group(1))
            for f in emu.files.values():
                if f.bot_id == bot_id and (f.file_path == rel or str(f.disk_path) == "/" + rel.lstrip("/")):
                    real = emu.own_file(f.disk_path)  # a stored file replaced by a link out is not served
                    if real is None:
                        break
                    return web.FileResponse(real)
        return _json({"ok": False, "error_code": 404, "description": "Not Found"}, 404)

    app.router.add_route("*", "/bot{token}/{method}", api)
    app.router.add_get("/file/bot{token}/{path:.+}", download)
    _add_control_routes(app, emu)

    async def on_cleanup(app: web.Application) -> None:
        await emu.close()

    app.on_cleanup.append(on_cleanup)
    return app


# ===================================================================== control side
# (verb, endpoint, fields, what it does): served as the list at GET /control/ and in the README
CONTROL_ENDPOINTS = (
    ("POST", "send", "user_id, text, [first_name, username]", "send a text message as that user"),
    ("POST", "press", "user_id, [message_id], button_text | callback_data",
     "press a button (inline: newest message with it, or message_id; reply keyboard: sends its text)"),
    ("POST", "contact", "user_id, [phone_number]", "share the user's own phone number"),
    ("POST", "upload", "user_id, path, [as=document|photo|video, caption, file_name, media_group_id]",
     "send a file as that user: path must lie in the sandbox's data folder (state: data_dir); "
     "the client copies the file into data_dir/uploads first"),
    ("POST", "raw_update", "update", "queue an Update object as it is (e.g. a duplicate)"),
    ("POST", "block", "user_id, [blocked=true]", "the user blocks (or unblocks) the bot"),
    ("POST", "fault", "[method=*, kind=429|5xx|timeout, count=1, retry_after=1, hold=60]",
     "make the next calls of a Bot API method fail"),
    ("POST", "reset", "[calls=false]", "clear pending faults (and the call counters)"),
    ("GET", "messages", "user_id, [after=0]",
     "events in the user's chat after a seq: message, edit, delete, callback_answer, chat_action "
     "(a file the bot uploaded carries 'saved': where its copy is kept)"),
    ("GET", "wait", "user_id, [after=0, timeout=5]", "like messages, but waits up to timeout s for a new one"),
    ("GET", "calls", "[bot_id]", "how many times the bot called each Bot API method"),
    ("GET", "state", "", "bots (polling?, pending updates, commands, chats), faults, data and files folders"),
    ("GET", "", "", "this list"),
)


def _add_control_routes(app: web.Application, emu: Emulator) -> None:
    def handler(fn):
        async def wrapped(request: web.Request) -> web.Response:
            try:
                data: dict = dict(request.query)
                if request.method == "POST" and request.can_read_body:
                    body = await request.json()
                    if not isinstance(body, dict):
                        raise ControlError("JSON object expected")
                    data.update(body)
                return _json(await fn(data))
            except (ControlError, ApiError, KeyError, ValueError, TypeError) as e:
                msg = e.description if isinstance(e, ApiError) else str(e)
                if isinstance(e, KeyError):
                    msg = f"missing field {e}"
                return _json({"ok": False, "error": msg}, 403 if isinstance(e, Forbidden) else 400)

        return wrapped

    def who(data: dict) -> tuple[BotState, dict]:
        bot = emu.resolve_bot(data.get("bot_id"))
        user = emu.user(int(data["user_id"]), data.get("first_name"), data.get("username"))
        return bot, user

    def answer(update: dict, msg: dict | None, chat: ChatState) -> dict:
        out = {"update_id": update["update_id"], "seq": emu.last_seq(chat)}
        if msg is not None:
            out["message_id"] = msg["message_id"]
        return out

    async def send(data: dict) -> dict:
        bot, user = who(data)
        text = str(data["text"])
        update, msg, chat = emu.user_message(bot, user, {"text": text, **_command_entities(text)})
        return answer(update, msg, chat)

    async def press(data: dict) -> dict:
        bot, user = who(data)
        mid = data.get("message_id")
        text = data.get("button_text", data.get("text"))
        result = emu.press(bot, user, int(mid) if mid not in (None, "") else None, text, data.get("callback_data"))
        result["seq"] = emu.last_seq(emu.chat_of(bot, user))
        return result

    async def contact(data: dict) -> dict:
        bot, user = who(data)
        update, msg, chat = emu.user_message(bot, user, {"contact": emu.own_contact(user, data.get("phone_number"))})
        return answer(update, msg, chat)

    async def upload(data: dict) -> dict:
        bot, user = who(data)
        kind = data.get("as", "document")
        if kind not in ("document", "photo", "video"):
            raise ControlError("as must be document, photo or video")
        path = emu.own_file(str(data["path"]))
        if path is None:  # missing, or outside the data folder: the same answer, nothing about the file
            raise Forbidden(f"not a file in the sandbox's data folder ({emu.data_dir}): copy it into "
                            f"{emu.uploads_dir} first (SandboxClient.upload does)")
        name = data.get("file_name") or path.name
        stored = await emu.store_file(bot, path, kind, file_name=name)
        if path.is_relative_to(emu.uploads_dir):  # the client's copy has been stored: drop it
            path.unlink(missing_ok=True)
            if path.parent != emu.uploads_dir:
                with contextlib.suppress(OSError):
                    path.parent.rmdir()
        content = await emu.media_content(bot, stored, kind, name)
        if data.get("caption"):
            content["caption"] = str(data["caption"])
        if data.get("media_group_id"):
            content["media_group_id"] = str(data["media_group_id"])
        update, msg, chat = emu.user_message(bot, user, content)
        out = answer(update, msg, chat)
        out["file_id"] = content["photo"][-1]["file_id"] if kind == "photo" else content[kind]["file_id"]
        return out

    async def raw_update(data: dict) -> dict:
        bot = emu.resolve_bot(data.get("bot_id"))
        update = data["update"]
        if not isinstance(update, dict):
            raise ControlError("update must be an object")
        update = emu.enqueue(bot, copy.deepcopy(update))
        return {"update_id": update["update_id"]}

    async def block(data: dict) -> dict:
        bot, user = who(data)
        update = emu.block(bot, user, bool(data.get("blocked", True)))
        return {"update_id": update["update_id"] if update else None}

    def events_after(data: dict) -> tuple[ChatState, int]:
        bot, user = who(data)
        return emu.chat_of(bot, user), int(data.get("after", 0))

    async def messages(data: dict) -> list:
        chat, after = events_after(data)
        return [e for e in chat.events if e["seq"] > after]

    async def wait(data: dict) -> list:
        chat, after = events_after(data)
        deadline = time.monotonic() + min(float(data.get("timeout", 5)), 120)
        while True:
            new = [e for e in chat.events if e["seq"] > after]
            remaining = deadline - time.monotonic()
            if new or remaining <= 0:
                return new
            await chat.pulse.wait(remaining)

    async def fault(data: dict) -> dict:
        kind = str(data.get("kind", "429"))
        if kind not in ("429", "timeout") and not (kind.isdigit() and 500 <= int(kind) <= 599):
            raise ControlError("kind must be 429, 5xx or timeout")
        f = Fault(str(data.get("method", "*")).lower(), kind, int(data.get("count", 1)),
                  int(data.get("retry_after", 1)), float(data.get("hold", 60)))
        emu.faults.append(f)
        return {"ok": True, "faults": len(emu.faults)}

    async def reset(data: dict) -> dict:
        emu.faults.clear()
        if data.get("calls"):
            emu.calls.clear()
            for bot in emu.bots.values():
                bot.calls.clear()
        return {"ok": True}

    async def calls(data: dict) -> dict:
        if data.get("bot_id"):
            return dict(emu.resolve_bot(data["bot_id"]).calls)
        return dict(emu.calls)

    async def index(data: dict) -> dict:
        return {"endpoints": [{"method": verb, "path": f"/control/{name}", "fields": fields, "does": does}
                              for verb, name, fields, does in CONTROL_ENDPOINTS],
                "notes": "GET takes query parameters, POST a JSON object; bot_id is optional everywhere "
                         "(the only bot by default). Errors: HTTP 400 with {\"ok\": false, \"error\": ...}."}

    async def state(data: dict) -> dict:
        return {
            "local_mode": emu.local_mode,
            "data_dir": str(emu.data_dir),
            "files_dir": str(emu.save_dir) if emu.save_dir else None,
            "bots": [
                {
                    "id": b.id,
                    "username": b.user["username"],
                    "polling": b.polling_since is not None,
                    "pending_updates": len(b.updates),
                    "webhook": (b.webhook or {}).get("url", ""),
                    "commands": b.commands,
                    "menu_buttons": b.menu_buttons,
                    "chats": sorted(b.chats),
                    "calls": dict(b.calls),
                }
                for b in emu.bots.values()
            ],
            "faults": [f.__dict__ for f in emu.faults],
        }

    routes = {
        "send": send, "press": press, "contact": contact, "upload": upload, "raw_update": raw_update,
        "block": block, "fault": fault, "reset": reset,
    }
    for name, fn in routes.items():
        app.router.add_post(f"/control/{name}", handler(fn))
    for name, fn in {"messages": messages, "wait": wait, "calls": calls, "state": state}.items():
        app.router.add_get(f"/control/{name}", handler(fn))
    app.router.add_get("/control/", handler(index))
    app.router.add_get("/control", handler(index))
    served = {(verb, name) for verb, name, *_ in CONTROL_ENDPOINTS}
    assert served == {("POST", n) for n in routes} | {("GET", n) for n in ("messages", "wait", "calls", "state", "")}


async def start_server(
    host: str = "127.0.0.1", port: int = 0, *, emulator: Emulator | None = None, **emulator_options: Any
) -> tuple[web.AppRunner, str, Emulator]:
    """Start the emulator; returns (runner, base_url, emulator). Stop with `await runner.cleanup()`."""
    emulator = emulator or Emulator(**emulator_options)
    runner = web.AppRunner(create_app(emulator), handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = runner.addresses[0][1]
    return runner, f"http://{host}:{bound_port}", emulator
