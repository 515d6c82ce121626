"""Conversation harness: real Updates through the real Dispatcher, and a fake Bot API session
that answers like Telegram (message ids, file ids) and records everything the bot sent.

    alice = chat.user(1001, "Alice")
    await alice.send("/start")
    await alice.press("申报类别与要求")
    assert "视频" in alice.last_text
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import mimetypes
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.types import InputFile, Update

BOT_ID = 424242
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "科普号创作助手", "username": "kepu_test_bot"}
EDITS = {"editMessageText", "editMessageReplyMarkup", "editMessageCaption"}


@dataclass
class Sent:
    """A message (or edit) the bot sent, as the user would see it."""

    method: str
    chat_id: int
    message_id: int
    text: str = ""
    markup: dict[str, Any] | None = None
    document: dict[str, Any] | None = None
    file_bytes: bytes | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def buttons(self) -> list[dict[str, Any]]:
        rows = (self.markup or {}).get("inline_keyboard") or (self.markup or {}).get("keyboard") or []
        return [b if isinstance(b, dict) else {"text": b} for row in rows for b in row]

    @property
    def labels(self) -> list[str]:
        return [b["text"] for b in self.buttons]


class FakeTelegram(BaseSession):
    """Answers Bot API methods from memory; keeps per-chat history like a Telegram client."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.sent: dict[int, list[Sent]] = defaultdict(list)  # chat -> messages and edits in order
        self.messages: dict[tuple[int, int], Sent] = {}  # current state of each message
        self.alerts: list[tuple[str, str | None, bool]] = []  # callback answers: (id, text, alert)
        self.answered_twice: list[str] = []  # callback query ids a handler answered a second time
        self.blocked: set[int] = set()  # chats whose person blocked the bot: sending there fails (403)
        self.files: dict[str, tuple[bytes, str]] = {}  # file_id -> bytes, name
        self.next_message_id: dict[int, itertools.count] = defaultdict(lambda: itertools.count(1000))
        self.fail_next: dict[str, dict[str, Any]] = {}
        self.announced: dict[str, int] = {}  # file_id -> size Telegram states (when not the bytes' length)

    async def close(self) -> None:
        pass

    async def stream_content(self, url: str, headers=None, timeout: int = 30, chunk_size: int = 65536,
                             raise_for_status: bool = True):
        file_path = url.rsplit("/", 1)[-1]
        yield self.files[file_path][0]

    def new_message_id(self, chat_id: int) -> int:
        return next(self.next_message_id[chat_id])

    def store_file(self, data: bytes, name: str, announced: int | None = None) -> tuple[str, str]:
        unique = hashlib.sha1(data).hexdigest()[:16]
        file_id = f"F{unique}{len(self.files)}"
        self.files[file_id] = (data, name)
        if announced is not None:
            self.announced[file_id] = announced
        return file_id, unique

    async def make_request(self, bot: Bot, method: TelegramMethod, timeout: int | None = None) -> Any:
        name = method.__api_method__
        params = self._params(bot, method)
        self.calls.append((name, params))
        if name in self.fail_next:
            failure = self.fail_next.pop(name)
            return self.check_response(bot, method, failure.get("status", 400), json.dumps(failure["body"])).result
        try:
            result = await self._answer(name, method, params)
        except _Fail as fail:
            return self.check_response(bot, method, fail.status, json.dumps(fail.body)).result
        return self.check_response(bot, method, 200, json.dumps({"ok": True, "result": result})).result

    def _params(self, bot: Bot, method: TelegramMethod) -> dict[str, Any]:
        """The method's fields as the real session would send them (defaults resolved), decoded."""
        files: dict[str, InputFile] = {}
        params: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files)
            if prepared is None:
                continue
            if isinstance(prepared, str) and prepared[:1] in "[{":
                prepared = json.loads(prepared)
            params[key] = prepared
        return params

    def _message(self, chat_id: int, message_id: int, **extra: Any) -> dict[str, Any]:
        return {"message_id": message_id, "date": 1700000000, "chat": {"id": chat_id, "type": "private"},
                "from": BOT_USER, **extra}

    async def _answer(self, name: str, method: TelegramMethod, p: dict[str, Any]) -> Any:
        if name == "getMe":
            return BOT_USER
        if "chat_id" in p and str(p["chat_id"]).lstrip("-").isdigit() and int(p["chat_id"]) in self.blocked:
            raise _Fail(403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})
        if name in ("sendMessage", "sendDocument", "sendPhoto", "sendVideo", "copyMessage"):
            chat_id = int(p["chat_id"])
            too_long(p.get("text"), 4096) or too_long(p.get("caption"), 1024)
            mid = self.new_message_id(chat_id)
            sent = Sent(name, chat_id, mid, text=p.get("text") or p.get("caption") or "", markup=p.get("reply_markup"),
                        raw=p)
            extra: dict[str, Any] = {"text": sent.text} if sent.text else {}
            upload = getattr(method, "document", None) or getattr(method, "photo", None) or getattr(method, "video", None)
            if upload is not None:
                data, fname = await self._read_input(upload)
                file_id, unique = self.store_file(data, fname)
                sent.document = {"file_id": file_id, "file_unique_id": unique, "file_name": fname,
                                 "file_size": len(data), "mime_type": mimetypes.guess_type(fname)[0]}
                sent.file_bytes = data
                extra["document"] = sent.document
            if sent.markup and "inline_keyboard" in sent.markup:  # Telegram returns only inline keyboards
                extra["reply_markup"] = sent.markup
            self.sent[chat_id].append(sent)
            self.messages[(chat_id, mid)] = sent
            if name == "copyMessage":
                return {"message_id": mid}
            return self._message(chat_id, mid, **extra)
        if name in EDITS:
            chat_id, mid = int(p["chat_id"]), int(p["message_id"])
            too_long(p.get("text"), 4096)
            old = self.messages.get((chat_id, mid))
            text = p.get("text", old.text if old else "")
            markup = p.get("reply_markup") if name != "editMessageText" or "reply_markup" in p else None
            if name == "editMessageReplyMarkup":
                markup = p.get("reply_markup")
            if old and old.text == text and old.markup == markup:
                body = {"ok": False, "error_code": 400,
                        "description": "Bad Request: message is not modified: specified new message content and "
                                       "reply markup are exactly the same as a current content and reply markup of the message"}
                raise _Fail(400, body)
            sent = Sent(name, chat_id, mid, text=text, markup=markup, raw=p)
            self.sent[chat_id].append(sent)
            self.messages[(chat_id, mid)] = sent
            return self._message(chat_id, mid, text=text, **({"reply_markup": markup} if markup else {}))
        if name == "answerCallbackQuery":
            # Telegram takes one answer per button press; a second one fails ("query is too old …").
            # The `chat` fixture fails a test whose handler answered twice (a bug; a retried update may)
            if any(a[0] == p["callback_query_id"] for a in self.alerts):
                self.answered_twice.append(p["callback_query_id"])
                raise _Fail(400, {"ok": False, "error_code": 400, "description": "Bad Request: query is too old "
                                  "and response timeout expired or query ID is invalid"})
            self.alerts.append((p["callback_query_id"], p.get("text"), bool(p.get("show_alert"))))
            return True
        if name == "getFile":
            data, fname = self.files[p["file_id"]]
            if self.announced.get(p["file_id"], len(data)) > 20 * 1024 * 1024:  # the cloud Bot API's limit
                raise _Fail(400, {"ok": False, "error_code": 400, "description": "Bad Request: file is too big"})
            return {"file_id": p["file_id"], "file_unique_id": hashlib.sha1(data).hexdigest()[:16],
                    "file_size": len(data), "file_path": p["file_id"]}
        if name in ("setMyCommands", "deleteWebhook", "sendChatAction", "deleteMessage", "setChatMenuButton",
                    "deleteMyCommands"):
            return True
        raise AssertionError(f"the fake Telegram does not know {name}")

    async def _read_input(self, upload: Any) -> tuple[bytes, str]:
        if isinstance(upload, InputFile):
            chunks = [chunk async for chunk in upload.read(None)]
            return b"".join(chunks), upload.filename or "file"
        return self.files.get(str(upload), (b"", str(upload)))  # sent again by file_id


def too_long(text: str | None, limit: int) -> None:
    """Telegram counts the text after parsing HTML: refuse like it does when over the limit."""
    if text and len(html.unescape(re.sub(r"<[^>]+>", "", text))) > limit:
        raise _Fail(400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"})


class _Fail(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body


class Conversation:
    """A dispatcher and a fake Telegram; users made here send updates like a Telegram client."""

    def __init__(self, dispatcher: Dispatcher, token: str = f"{BOT_ID}:TEST", first_update_id: int = 1) -> None:
        self.dp = dispatcher
        self.tg = FakeTelegram()
        from bot.middlewares import ExpiredQueries, SaveBeforeReplying

        self.tg.middleware(SaveBeforeReplying())  # as bot.app.build_bot sets up the real session
        self.tg.middleware(ExpiredQueries())
        self.bot = Bot(token, session=self.tg, default=_defaults())
        self.update_ids = itertools.count(first_update_id)  # Telegram's ids keep growing across restarts
        self.user_message_ids: dict[int, itertools.count] = defaultdict(lambda: itertools.count(1))

    def user(self, user_id: int, first_name: str = "用户", username: str | None = None) -> ChatUser:
        return ChatUser(self, user_id, first_name, username)

    async def feed(self, update: dict[str, Any]) -> Any:
        update.setdefault("update_id", next(self.update_ids))
        result = await self.dp.feed_update(self.bot, Update.model_validate(update, context={"bot": self.bot}))
        checker = self.dp.workflow_data.get("checker")
        if checker is not None:  # finish the file checks the update started, as the running bot would soon
            await checker.drain()
        sender = self.dp.workflow_data.get("outbox")
        if sender is not None:  # deliver the notifications the update queued, as the running bot would
            await sender.drain(self.bot)
        return result


def _defaults():
    from aiogram.client.default import DefaultBotProperties
    from aiogram.enums import ParseMode

    return DefaultBotProperties(parse_mode=ParseMode.HTML)


class ChatUser:
    def __init__(self, conv: Conversation, user_id: int, first_name: str, username: str | None) -> None:
        self.conv = conv
        self.id = user_id
        self.first_name = first_name
        self.username = username
        self.seen = 0  # how many of the bot's messages to this chat were already read by `new`

    @property
    def tg_user(self) -> dict[str, Any]:
        user = {"id": self.id, "is_bot": False, "first_name": self.first_name, "language_code": "zh-hans"}
        if self.username:
            user["username"] = self.username
        return user

    def _message(self, **content: Any) -> dict[str, Any]:
        return {"message_id": next(self.conv.user_message_ids[self.id]), "date": 1700000000,
                "chat": {"id": self.id, "type": "private", "first_name": self.first_name},
                "from": self.tg_user, **content}

    async def send(self, text: str, *, update_id: int | None = None) -> list[Sent]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return await self.send_message(content, update_id=update_id)

    async def send_message(self, content: dict[str, Any], *, update_id: int | None = None) -> list[Sent]:
        update: dict[str, Any] = {"message": self._message(**content)}
        if update_id is not None:
            update["update_id"] = update_id
        await self.conv.feed(update)
        return self.new()

    async def sticker(self) -> list[Sent]:
        return await self.send_message({"sticker": {"file_id": "stk", "file_unique_id": "stku", "type": "regular",
                                                    "width": 512, "height": 512, "is_animated": False,
                                                    "is_video": False}})

    async def voice(self) -> list[Sent]:
        return await self.send_message({"voice": {"file_id": "vc", "file_unique_id": "vcu", "duration": 3}})

    async def contact(self, phone: str = "+8613800138000") -> list[Sent]:
        return await self.send_message({"contact": {"phone_number": phone, "first_name": self.first_name,
                                                    "user_id": self.id}})

    async def contact_of_someone_else(self, phone: str = "+8613900139000") -> list[Sent]:
        return await self.send_message({"contact": {"phone_number": phone, "first_name": "别人",
                                                    "user_id": self.id + 1}})

    async def upload_bytes(self, data: bytes, name: str, *, as_: str = "document") -> list[Sent]:
        return await self.upload(Path(name), as_=as_, data=data)

    async def upload(self, path: str | Path, *, as_: str = "document", caption: str | None = None,
                     data: bytes | None = None, size: int | None = None, media_group_id: str | None = None,
                     **meta: int) -> list[Sent]:
        """Send a file as a Telegram client would: as a document (name, type, size), a photo
        (width/height: given, or read from the image) or a video (width, height, duration given).
        `size` overrides the announced size (a file too big for the cloud Bot API)."""
        path = Path(path)
        data = path.read_bytes() if data is None else data
        file_id, unique = self.conv.tg.store_file(data, path.name, announced=size)
        base = {"file_id": file_id, "file_unique_id": unique, "file_size": size if size is not None else len(data)}
        if as_ == "document":
            content: dict[str, Any] = {"document": {**base, "file_name": path.name,
                                                    "mime_type": mimetypes.guess_type(path.name)[0] or
                                                    "application/octet-stream"}}
        elif as_ == "photo":
            if "width" not in meta:
                from PIL import Image

                with Image.open(path) as image:
                    meta = {"width": image.width, "height": image.height}
            content = {"photo": [{**base, "width": meta["width"], "height": meta["height"]}]}
        elif as_ == "video":
            content = {"video": {**base, "width": meta["width"], "height": meta["height"],
                                 "duration": meta.get("duration", 1), "file_name": path.name, "mime_type": "video/mp4"}}
        else:
            raise ValueError(as_)
        if caption:
            content["caption"] = caption
        if media_group_id:
            content["media_group_id"] = media_group_id
        return await self.send_message(content)

    async def press(self, label: str, *, message_id: int | None = None, data: str | None = None) -> list[Sent]:
        """Press the newest inline button whose label contains `label` (or send forged `data`)."""
        target = None
        if data is None:
            for sent in reversed(self.conv.tg.sent[self.id]):
                current = self.conv.tg.messages[(self.id, sent.message_id)]
                if message_id is not None and current.message_id != message_id:
                    continue
                for b in current.buttons:
                    if label in b["text"] and "callback_data" in b:
                        target, data = current, b["callback_data"]
                        break
                if target:
                    break
            if target is None:
                raise AssertionError(f"no button {label!r}; last buttons: {self.last.labels if self.history else []}")
        mid = target.message_id if target else (message_id or 1)
        message = {"message_id": mid, "date": 1700000000, "chat": {"id": self.id, "type": "private"},
                   "from": BOT_USER, "text": target.text if target else "…"}
        if target is not None and target.markup and "inline_keyboard" in target.markup:
            message["reply_markup"] = target.markup
        update = {"callback_query": {"id": f"cq{next(self.conv.update_ids)}", "from": self.tg_user,
                                     "chat_instance": "ci", "message": message, "data": data}}
        await self.conv.feed(update)
        return self.new()

    def new(self) -> list[Sent]:
        history = self.conv.tg.sent[self.id]
        fresh = history[self.seen:]
        self.seen = len(history)
        return fresh

    @property
    def history(self) -> list[Sent]:
        return self.conv.tg.sent[self.id]

    @property
    def last(self) -> Sent:
        return self.history[-1]

    @property
    def last_text(self) -> str:
        return self.history[-1].text if self.history else ""

    @property
    def last_alert(self) -> str | None:
        return self.conv.tg.alerts[-1][1] if self.conv.tg.alerts else None
