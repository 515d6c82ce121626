"""Conversation harness: real Updates through the real Dispatcher, answered by the sandbox's
Telegram emulator (bot/sandbox/emulator.py) in process: no HTTP, no sockets, the same rules as
`kepubot sandbox` (limits, error texts, HTML entities, message ids, files, button presses).

    alice = chat.user(1001, "Alice")
    await alice.send("/start")
    await alice.press("申报类别与要求")
    assert "视频" in alice.last_text

What a person received, two ways:
- the words, where wording is the point (a number, a name, a rule): `alice.last_text`, `alice.new()`,
  `replies[0].text` (the HTML the bot sent), `.labels` (button labels);
- which template was rendered with which values, where it is not (a copy edit then breaks nothing):
      assert alice.rendered("application/submitted", sub_id=3)
  the newest render of that template (content/templates/<name>.j2) whose text this person received
  (in a message, an edit or a button-press alert) and whose values include those given (compared
  with ==); it is falsy when there is none, and its repr lists what the person was shown instead.
  `alice.templates()` lists the templates of everything she received, in order.

Telegram's side (`chat.tg`, a FakeTelegram; `chat.emu` is the emulator):
- `sent[chat_id]`: every message and edit in order (Sent); `messages[(chat_id, message_id)]`: each
  message as it is now; `calls`: (method, params) of every request; `alerts`: (query id, text,
  show_alert) of answered presses; `answered_twice`: presses a handler answered again (refused, as
  Telegram does; the `chat` fixture fails such a test);
- `blocked.add(chat_id)`: that person blocked the bot (sending there fails with 403);
- `fail_next[method] = {"status": 429, "body": {...}}`: the next call of `method` fails so (once);
- `store_file(data, name, announced=...)` and `files[file_id] = (bytes, name)`: files people sent;
  `announced` is the size Telegram states when not the bytes' (getFile refuses over 20 MB).
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
from collections import defaultdict
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.types import InputFile, Update

from bot.render import Texts
from bot.sandbox.emulator import ApiError, Emulator, Fault, Params, decode_complex

BOT_ID = 424242
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "科普号创作助手", "username": "kepu_test_bot"}
SENDS = {"sendMessage", "sendDocument", "sendPhoto", "sendVideo", "copyMessage", "forwardMessage", "sendPoll"}
EDITS = {"editMessageText", "editMessageReplyMarkup", "editMessageCaption"}


@dataclass
class Sent:
    """A message (or edit) the bot sent, as the user would see it."""

    method: str
    chat_id: int
    message_id: int
    text: str = ""  # the HTML the bot sent (a caption for a file)
    markup: dict[str, Any] | None = None
    document: dict[str, Any] | None = None  # the file Telegram shows (document, video or largest photo)
    file_bytes: bytes | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # the request's parameters

    @property
    def buttons(self) -> list[dict[str, Any]]:
        rows = (self.markup or {}).get("inline_keyboard") or (self.markup or {}).get("keyboard") or []
        return [b if isinstance(b, dict) else {"text": b} for row in rows for b in row]

    @property
    def labels(self) -> list[str]:
        return [b["text"] for b in self.buttons]


@dataclass
class Render:
    """One template rendered: its name, the values it was given and its text."""

    name: str
    values: dict[str, Any]
    text: str


@dataclass
class NotRendered:
    """What `ChatUser.rendered` answers when nothing matches: falsy, and says what was shown."""

    name: str
    values: dict[str, Any]
    shown: list[Render]

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        seen = "; ".join(f"{r.name} {_short(r.values)}" for r in self.shown[-12:]) or "nothing rendered"
        return f"<not shown: {self.name} {_short(self.values)}; shown: {seen}>"


def _short(values: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}={v!r}"[:60] for k, v in values.items()) + "}"


class _Fail(Exception):
    """Raised by a replaced `FakeTelegram._answer` to refuse a call: Telegram answers `status`, `body`."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body


class _Request(dict):
    """A request's parameters as the HTTP layer reads them (decoded), with its uploaded files."""

    files: dict[str, InputFile]


class FakeTelegram(BaseSession):
    """An aiogram session answered by the emulator in process; keeps per-chat history like a client."""

    def __init__(self, bot_id: int = BOT_ID, emulator: Emulator | None = None) -> None:
        super().__init__()
        self.emu = emulator or Emulator(adopt_unknown=True)
        self.state = self.emu.bot(bot_id, user={**BOT_USER, "id": bot_id})
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.sent: dict[int, list[Sent]] = defaultdict(list)  # chat -> messages and edits in order
        self.messages: dict[tuple[int, int], Sent] = {}  # current state of each message
        self.alerts: list[tuple[str, str | None, bool]] = []  # callback answers: (id, text, alert)
        self.alert_chats: dict[str, int] = {}  # callback query id -> the chat of the pressed message
        self.answered_twice: list[str] = []  # callback query ids a handler answered a second time
        self.blocked = _Blocked(self)
        self.files = _Files(self)
        self.fail_next = _FailNext(self)

    async def close(self) -> None:
        pass

    async def stream_content(self, url: str, headers=None, timeout: int = 30, chunk_size: int = 65536,
                             raise_for_status: bool = True):
        """A download (/file/bot<token>/<file_path>): the stored file's bytes."""
        file_path = url.split("/file/bot", 1)[-1].split("/", 1)[-1]
        path = self.emu.stored_at(self.state.id, file_path)
        if path is None:
            raise FileNotFoundError(f"404: no file {file_path}")
        yield path.read_bytes()

    def store_file(self, data: bytes, name: str, announced: int | None = None,
                   kind: str = "document") -> tuple[str, str]:
        """A file a person sends: (file_id, file_unique_id)."""
        file_id = f"F{hashlib.sha1(data).hexdigest()[:16]}{len(self.emu.files)}"
        stored = self.emu.store_bytes(self.state, data, kind, file_name=name, file_id=file_id, announced=announced)
        return stored.file_id, stored.file_unique_id

    async def make_request(self, bot: Bot, method: TelegramMethod, timeout: int | None = None) -> Any:
        name = method.__api_method__
        params = self._params(bot, method)
        self.calls.append((name, params))
        try:
            async with asyncio.timeout(self.timeout if timeout is None else timeout):
                result = await self._answer(name, method, params)
        except TimeoutError as error:  # as aiogram's HTTP session says it (a "timeout" fault)
            raise TelegramNetworkError(method=method, message="Request timeout error") from error
        except _Fail as fail:
            return self._respond(bot, method, fail.status, fail.body)
        except ApiError as error:
            return self._respond(bot, method, error.code, error.body())
        return self._respond(bot, method, 200, {"ok": True, "result": result})

    def _respond(self, bot: Bot, method: TelegramMethod, status: int, body: dict[str, Any]) -> Any:
        """As aiogram reads an HTTP answer: the result, or its exception for the status and body."""
        return self.check_response(bot, method, status, self.json_dumps(body)).result

    def _params(self, bot: Bot, method: TelegramMethod) -> _Request:
        """The request as aiogram's HTTP session sends it (defaults resolved, empty fields left out),
        read as the HTTP layer reads it."""
        files: dict[str, InputFile] = {}
        params = _Request()
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files)
            if prepared:
                params[key] = prepared
        decode_complex(params)
        params.files = files
        return params

    async def _answer(self, name: str, method: TelegramMethod, params: _Request) -> Any:
        """The emulator's answer to one request (a test may replace this to refuse calls)."""
        if name == "answerCallbackQuery":
            query = self.state.callback_queries.get(params.get("callback_query_id", ""))
            if query is not None and query["answered"]:  # Telegram takes one answer per press
                self.answered_twice.append(params["callback_query_id"])
        parts = {key: await self._part(key, upload) for key, upload in params.files.items()}
        p = Params(dict(params), parts)
        try:
            result = await self.emu.api_call(self.state, name, p)
        finally:
            for part in parts.values():
                if not part.get("consumed"):
                    part["path"].unlink(missing_ok=True)
        self._record(name, p, result)
        return result

    async def _part(self, key: str, upload: InputFile) -> dict[str, Any]:
        """An uploaded file, as the HTTP layer keeps a multipart part."""
        data = b"".join([chunk async for chunk in upload.read(None)])
        folder = self.emu.data_dir / "incoming"
        folder.mkdir(exist_ok=True)
        path = folder / f"{key}-{len(self.calls)}"
        path.write_bytes(data)
        return {"path": path, "filename": upload.filename or key, "size": len(data)}

    def _record(self, name: str, p: Params, result: Any) -> None:
        values = p.values
        if name in SENDS:
            chat_id = int(values["chat_id"])
            message = self.state.chats[chat_id].messages[result["message_id"]]
            text = (values.get("text") or values.get("caption") or message.get("text") or message.get("caption")
                    or (message.get("poll") or {}).get("question") or "")  # a poll: its question
            sent = Sent(name, chat_id, result["message_id"], text=text, markup=values.get("reply_markup"), raw=values)
            shown = message.get("document") or message.get("video") or (message.get("photo") or [None])[-1]
            if shown is not None:
                sent.document = dict(shown)
                stored = self.emu.files.get(shown["file_id"])
                sent.file_bytes = stored.disk_path.read_bytes() if stored is not None else None
            self._keep(sent)
        elif name in EDITS:
            chat_id, mid = int(values["chat_id"]), int(values["message_id"])
            old = self.messages.get((chat_id, mid))
            if name == "editMessageText":
                text = values.get("text", "")
            elif name == "editMessageCaption":
                text = values.get("caption", "")
            else:
                text = old.text if old else ""
            sent = Sent(name, chat_id, mid, text=text, markup=values.get("reply_markup"), raw=values)
            if old is not None:
                sent.document, sent.file_bytes = old.document, old.file_bytes
            self._keep(sent)
        elif name == "answerCallbackQuery":
            query_id = p.str("callback_query_id") or ""
            self.alerts.append((query_id, p.str("text"), p.bool("show_alert")))
            self.alert_chats[query_id] = self.state.callback_queries[query_id]["chat_id"]

    def _keep(self, sent: Sent) -> None:
        self.sent[sent.chat_id].append(sent)
        self.messages[(sent.chat_id, sent.message_id)] = sent


class _Blocked:
    """Chats whose person blocked the bot: `chat.tg.blocked.add(1001)`."""

    def __init__(self, tg: FakeTelegram) -> None:
        self.tg = tg

    def _chat(self, chat_id: int):
        chats = self.tg.state.chats
        if chat_id not in chats:
            self.tg.emu.chat_of(self.tg.state, self.tg.emu.users.get(chat_id) or {"id": chat_id, "first_name": "用户"})
        return chats[chat_id]

    def add(self, chat_id: int) -> None:
        self._chat(chat_id).blocked = True

    def discard(self, chat_id: int) -> None:
        self._chat(chat_id).blocked = False

    def __contains__(self, chat_id: object) -> bool:
        chat = self.tg.state.chats.get(chat_id)  # type: ignore[arg-type]
        return chat is not None and chat.blocked

    def __iter__(self) -> Iterator[int]:
        return iter([cid for cid, chat in self.tg.state.chats.items() if chat.blocked])


class _Files(MutableMapping):
    """file_id -> (bytes, name) of the files Telegram keeps (people's and the bot's)."""

    def __init__(self, tg: FakeTelegram) -> None:
        self.tg = tg

    def __getitem__(self, file_id: str) -> tuple[bytes, str]:
        stored = self.tg.emu.files[file_id]
        return stored.disk_path.read_bytes(), stored.file_name or Path(stored.file_path).name

    def __setitem__(self, file_id: str, value: tuple[bytes, str]) -> None:
        data, name = value
        self.tg.emu.store_bytes(self.tg.state, data, file_name=name, file_id=file_id)

    def __delitem__(self, file_id: str) -> None:
        del self.tg.emu.files[file_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tg.emu.files)

    def __len__(self) -> int:
        return len(self.tg.emu.files)


class _FailNext:
    """`fail_next["sendMessage"] = {"status": 429, "body": {...}}`: the next call fails so, once."""

    def __init__(self, tg: FakeTelegram) -> None:
        self.tg = tg

    def __setitem__(self, method: str, failure: dict[str, Any]) -> None:
        body = failure["body"]
        faults = self.tg.emu.faults
        faults[:] = [f for f in faults if f.method != method.lower()]
        faults.append(Fault(method.lower(), str(failure.get("status", body.get("error_code", 400))), 1,
                            retry_after=(body.get("parameters") or {}).get("retry_after", 1),
                            description=body.get("description")))

    def __contains__(self, method: object) -> bool:
        return any(f.method == str(method).lower() for f in self.tg.emu.faults)


class _UpdateIds:
    """Telegram's update ids: they keep growing (across restarts: `first_update_id`)."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def __iter__(self) -> _UpdateIds:
        return self

    def __next__(self) -> int:
        self.state.next_update_id += 1
        return self.state.next_update_id - 1


class Conversation:
    """A dispatcher and the emulated Telegram; users made here send updates like a Telegram client."""

    def __init__(self, dispatcher: Dispatcher, token: str = f"{BOT_ID}:TEST", first_update_id: int = 1) -> None:
        self.dp = dispatcher
        self.tg = FakeTelegram(int(token.split(":")[0]))
        self.emu = self.tg.emu
        from bot.middlewares import ExpiredQueries, SaveBeforeReplying

        self.tg.middleware(SaveBeforeReplying())  # as bot.app.build_bot sets up the real session
        self.tg.middleware(ExpiredQueries())
        self.bot = Bot(token, session=self.tg, default=_defaults())
        self.tg.state.next_update_id = first_update_id
        self.update_ids = _UpdateIds(self.tg.state)
        self.renders: list[Render] = []
        Texts.on_render = self._rendered  # the newest conversation hears every render

    def _rendered(self, name: str, values: dict[str, Any], text: str) -> None:
        self.renders.append(Render(name, values, text))

    def user(self, user_id: int, first_name: str = "用户", username: str | None = None) -> ChatUser:
        return ChatUser(self, user_id, first_name, username)

    async def feed(self, update: dict[str, Any]) -> Any:
        """Handle an update a test wrote by hand (its chat, message and press become Telegram's)."""
        update.setdefault("update_id", next(self.update_ids))
        state = self.tg.state
        state.next_update_id = max(state.next_update_id, int(update["update_id"]) + 1)
        self.emu.adopt(state, update)
        return await self._handle(update)

    async def deliver(self) -> None:
        """Hand the bot every update Telegram queued (a message, a press, an unblock), in order."""
        while self.tg.state.updates:
            await self._handle(self.tg.state.updates.pop(0))

    async def _handle(self, update: dict[str, Any]) -> Any:
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

    def _me(self) -> dict[str, Any]:
        user = self.conv.emu.users[self.id] = self.tg_user
        return user

    async def send(self, text: str, *, update_id: int | None = None) -> list[Sent]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return await self.send_message(content, update_id=update_id)

    async def send_message(self, content: dict[str, Any], *, update_id: int | None = None) -> list[Sent]:
        self.conv.emu.user_message(self.conv.tg.state, self._me(), content, update_id=update_id)
        await self.conv.deliver()
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
        file_id, unique = self.conv.tg.store_file(data, path.name, announced=size, kind=as_)
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
        if as_ != "document":  # Telegram made it once: sent again by file_id, it is the same
            self.conv.emu.files[file_id].meta = {as_: content[as_]}
        if caption:
            content["caption"] = caption
        if media_group_id:
            content["media_group_id"] = media_group_id
        return await self.send_message(content)

    async def press(self, label: str, *, message_id: int | None = None, data: str | None = None) -> list[Sent]:
        """Press the newest inline button whose label contains `label`, or send forged `data`: on
        message `message_id`, or on an older message of the bot's with that button."""
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
        emu, state = self.conv.emu, self.conv.tg.state
        chat = emu.chat_of(state, self._me())
        mid = target.message_id if target else message_id
        if mid is None:  # forged data: a message the bot sent before, with that button
            mid = emu.new_message(chat, state.user, {"text": "…", "reply_markup": {"inline_keyboard": [[
                {"text": "…", "callback_data": data}]]}})["message_id"]
        msg = chat.messages.get(mid)
        if msg is not None:
            message = emu.api_view(msg)
        else:  # a message since deleted (or none at all): as the person's client still shows it
            message = {"message_id": mid or 1, "date": 1700000000, "chat": dict(chat.chat), "from": state.user,
                       "text": target.text if target else "…"}
            if target is not None and target.markup and "inline_keyboard" in target.markup:
                message["reply_markup"] = target.markup
        emu.callback(state, self._me(), message, data)
        await self.conv.deliver()
        return self.new()

    async def answer_poll(self, *options: int, poll_id: str | None = None) -> list[Sent]:
        """Vote in the newest poll the bot sent this person (or `poll_id`): options counted from 0.
        The bot gets the poll_answer update (the poll is not anonymous)."""
        self.conv.emu.answer_poll(self.conv.tg.state, self._me(), list(options), poll_id)
        await self.conv.deliver()
        return self.new()

    @property
    def last_poll(self) -> dict[str, Any] | None:
        """The newest poll the bot sent this person, as Telegram shows it (id, question, options, …)."""
        chat = self.conv.tg.state.chats.get(self.id)
        polls = [m["poll"] for m in reversed(chat.messages.values()) if "poll" in m] if chat else []
        return polls[0] if polls else None

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

    # ------------------------------------------------------------------ templates
    def _received(self) -> list[str]:
        tg = self.conv.tg
        alerts = [text for query_id, text, _ in tg.alerts if text and tg.alert_chats.get(query_id) == self.id]
        return [s.text for s in self.history if s.text] + alerts

    def _shown(self) -> list[Render]:
        received = self._received()
        return [r for r in self.conv.renders if r.text and any(r.text in text for text in received)]

    def rendered(self, template: str, /, **values: Any) -> Render | NotRendered:
        """The newest render of `template` this person received whose values include `values`."""
        shown = self._shown()
        for r in reversed(shown):
            if r.name == template and all(k in r.values and r.values[k] == v for k, v in values.items()):
                return r
        return NotRendered(template, values, shown)

    def templates(self) -> list[str]:
        """The templates of what this person received, in the order they were rendered."""
        return [r.name for r in self._shown()]
