"""The sandbox's control API: act as any user (send, press, upload, block), make Bot API calls fail
or stall, turn Telegram's flood limits on, make many users at once for a bench, and read what the bot
sent. bot/sandbox/http.py serves it under /control/ (JSON)."""

from __future__ import annotations

import contextlib
import copy
import time

from .emulator import (
    ApiError,
    BotState,
    ChatState,
    ControlError,
    Emulator,
    Fault,
    FloodLimits,
    Forbidden,
    command_entities,
)

__all__ = ["CONTROL_ENDPOINTS", "Control", "ControlError", "Forbidden", "ApiError"]

# (verb, endpoint, fields, what it does): served as the list at GET /control/ and in the README
CONTROL_ENDPOINTS = (
    ("POST", "send", "user_id, text, [first_name, username, reply_to_message_id]",
     "send a text message as that user (a reply to one of the chat's messages with reply_to_message_id)"),
    ("POST", "press", "user_id, [message_id], button_text | callback_data",
     "press a button (inline: newest message with it, or message_id; reply keyboard: sends its text)"),
    ("POST", "contact", "user_id, [phone_number]", "share the user's own phone number"),
    ("POST", "upload", "user_id, path, [as=document|photo|video, caption, file_name, media_group_id]",
     "send a file as that user: path must lie in the sandbox's data folder (state: data_dir); "
     "the client copies the file into data_dir/uploads first"),
    ("POST", "answer_poll", "user_id, option_ids (or option), [poll_id]",
     "vote in the newest poll of the bot's in the user's chat (or poll_id): a poll_answer update when it is "
     "not anonymous; a quiz takes one vote"),
    ("POST", "raw_update", "update", "queue an Update object as it is (e.g. a duplicate)"),
    ("POST", "block", "user_id, [blocked=true]", "the user blocks (or unblocks) the bot"),
    ("POST", "fault", "[method=*, kind=429|4xx|5xx|timeout|stall, count=1, retry_after=1, hold=60, description]",
     "make the next calls of a Bot API method fail (with Telegram's words, or the description given); "
     "stall: held until unstall, then 502 Bad Gateway with no effect"),
    ("POST", "unstall", "", "release the calls held by stall faults (answered 502) and drop pending stall faults"),
    ("POST", "flood", "[per_second=30, per_chat_interval=1] | off=true",
     "Telegram's flood limits on (messages per second per bot, seconds between messages per chat: "
     "429 retry after N, no effect) or off"),
    ("POST", "users", "first_id, count, [bot_id]",
     "make count users from first_id on, each having opened the bot's chat (no update queued)"),
    ("POST", "reset", "[calls=false]", "clear pending faults, release stalled calls (and the call counters)"),
    ("GET", "messages", "user_id, [after=0]",
     "events in the user's chat after a seq: message, edit, delete, callback_answer, chat_action "
     "(a file the bot uploaded carries 'saved': where its copy is kept)"),
    ("GET", "wait", "user_id, [after=0, timeout=5]", "like messages, but waits up to timeout s for a new one"),
    ("GET", "calls", "[bot_id]", "how many times the bot called each Bot API method"),
    ("GET", "received", "[first_id, count, bot_id]",
     "{chat id: messages the bot sent there} for the chats (from first_id, count of them) that got any"),
    ("GET", "state", "", "bots (polling?, pending updates, commands, chats), faults, stalled calls, flood "
     "limits and calls they refused, data and files folders"),
    ("GET", "", "", "this list"),
)


class Control:
    """One function per endpoint of CONTROL_ENDPOINTS: `await Control(emu).run("send", data)`."""

    POSTS = ("send", "press", "contact", "upload", "answer_poll", "raw_update", "block", "fault", "unstall",
             "flood", "users", "reset")
    GETS = ("messages", "wait", "calls", "received", "state", "index")

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    async def run(self, endpoint: str, data: dict) -> dict | list:
        return await getattr(self, endpoint)(data)

    def who(self, data: dict) -> tuple[BotState, dict]:
        bot = self.emu.resolve_bot(data.get("bot_id"))
        user = self.emu.user(int(data["user_id"]), data.get("first_name"), data.get("username"))
        return bot, user

    def answer(self, update: dict, msg: dict | None, chat: ChatState) -> dict:
        out = {"update_id": update["update_id"], "seq": self.emu.last_seq(chat)}
        if msg is not None:
            out["message_id"] = msg["message_id"]
        return out

    async def send(self, data: dict) -> dict:
        bot, user = self.who(data)
        text = str(data["text"])
        content = {"text": text, **command_entities(text)}
        reply_to = data.get("reply_to_message_id")
        if reply_to not in (None, ""):  # a Telegram reply: the message replied to comes with it
            replied = self.emu.chat_of(bot, user).messages.get(int(reply_to))
            if replied is None:
                raise ControlError(f"no message {reply_to} in this chat to reply to")
            content["reply_to_message"] = copy.deepcopy(replied)
        update, msg, chat = self.emu.user_message(bot, user, content)
        return self.answer(update, msg, chat)

    async def press(self, data: dict) -> dict:
        bot, user = self.who(data)
        mid = data.get("message_id")
        text = data.get("button_text", data.get("text"))
        result = self.emu.press(bot, user, int(mid) if mid not in (None, "") else None, text, data.get("callback_data"))
        result["seq"] = self.emu.last_seq(self.emu.chat_of(bot, user))
        return result

    async def contact(self, data: dict) -> dict:
        bot, user = self.who(data)
        update, msg, chat = self.emu.user_message(bot, user, {"contact": self.emu.own_contact(user, data.get("phone_number"))})
        return self.answer(update, msg, chat)

    async def upload(self, data: dict) -> dict:
        bot, user = self.who(data)
        kind = data.get("as", "document")
        if kind not in ("document", "photo", "video"):
            raise ControlError("as must be document, photo or video")
        path = self.emu.own_file(str(data["path"]))
        if path is None:  # missing, or outside the data folder: the same answer, nothing about the file
            raise Forbidden(f"not a file in the sandbox's data folder ({self.emu.data_dir}): copy it into "
                            f"{self.emu.uploads_dir} first (SandboxClient.upload does)")
        name = data.get("file_name") or path.name
        stored = await self.emu.store_file(bot, path, kind, file_name=name)
        if path.is_relative_to(self.emu.uploads_dir):  # the client's copy has been stored: drop it
            path.unlink(missing_ok=True)
            if path.parent != self.emu.uploads_dir:
                with contextlib.suppress(OSError):
                    path.parent.rmdir()
        content = await self.emu.media_content(bot, stored, kind, name)
        if data.get("caption"):
            content["caption"] = str(data["caption"])
        if data.get("media_group_id"):
            content["media_group_id"] = str(data["media_group_id"])
        update, msg, chat = self.emu.user_message(bot, user, content)
        out = self.answer(update, msg, chat)
        out["file_id"] = content["photo"][-1]["file_id"] if kind == "photo" else content[kind]["file_id"]
        return out

    async def answer_poll(self, data: dict) -> dict:
        bot, user = self.who(data)
        raw = data.get("option_ids", data.get("option"))
        if raw is None:
            raise ControlError("option_ids (or option) is required")
        try:
            options = [int(o) for o in (raw if isinstance(raw, list) else str(raw).split(","))]
        except ValueError:
            raise ControlError("options are numbers, counted from 0") from None
        poll_id = data.get("poll_id")
        result = self.emu.answer_poll(bot, user, options, str(poll_id) if poll_id not in (None, "") else None)
        result["seq"] = self.emu.last_seq(self.emu.chat_of(bot, user))
        return result

    async def raw_update(self, data: dict) -> dict:
        bot = self.emu.resolve_bot(data.get("bot_id"))
        update = data["update"]
        if not isinstance(update, dict):
            raise ControlError("update must be an object")
        update = self.emu.enqueue(bot, copy.deepcopy(update))
        return {"update_id": update["update_id"]}

    async def block(self, data: dict) -> dict:
        bot, user = self.who(data)
        update = self.emu.block(bot, user, bool(data.get("blocked", True)))
        return {"update_id": update["update_id"] if update else None}

    def events_after(self, data: dict) -> tuple[ChatState, int]:
        bot, user = self.who(data)
        return self.emu.chat_of(bot, user), int(data.get("after", 0))

    async def messages(self, data: dict) -> list:
        chat, after = self.events_after(data)
        return [e for e in chat.events if e["seq"] > after]

    async def wait(self, data: dict) -> list:
        chat, after = self.events_after(data)
        deadline = time.monotonic() + min(float(data.get("timeout", 5)), 120)
        while True:
            new = [e for e in chat.events if e["seq"] > after]
            remaining = deadline - time.monotonic()
            if new or remaining <= 0:
                return new
            await chat.pulse.wait(remaining)

    async def fault(self, data: dict) -> dict:
        kind = str(data.get("kind", "429"))
        if kind not in ("timeout", "stall") and not (kind.isdigit() and 400 <= int(kind) <= 599):
            raise ControlError("kind must be 429, another 4xx or 5xx, timeout or stall")
        description = data.get("description")
        f = Fault(str(data.get("method", "*")).lower(), kind, int(data.get("count", 1)),
                  int(data.get("retry_after", 1)), float(data.get("hold", 60)),
                  str(description) if description else None)
        self.emu.faults.append(f)
        return {"ok": True, "faults": len(self.emu.faults)}

    async def unstall(self, data: dict) -> dict:
        return {"ok": True, "released": self.emu.unstall()}

    async def flood(self, data: dict) -> dict:
        if data.get("off") in (True, "true", "1", 1):
            self.emu.set_flood(None)
        else:
            limits = FloodLimits(float(data.get("per_second", 30)), float(data.get("per_chat_interval", 1.0)))
            if limits.per_second < 1 or limits.per_chat_interval < 0:
                raise ControlError("per_second must be at least 1 and per_chat_interval not negative")
            self.emu.set_flood(limits)
        return {"ok": True, "flood": self.flood_state(), "refused": self.emu.flood_refused}

    def flood_state(self) -> dict | None:
        return None if self.emu.flood is None else dict(self.emu.flood.__dict__)

    async def users(self, data: dict) -> dict:
        bot = self.emu.resolve_bot(data.get("bot_id"))
        count = int(data["count"])
        if not 0 <= count <= 1_000_000:
            raise ControlError("count must be from 0 to 1000000")
        return {"ok": True, "count": self.emu.add_users(bot, int(data["first_id"]), count)}

    async def received(self, data: dict) -> dict:
        bot = self.emu.resolve_bot(data.get("bot_id"))
        chats = None
        if data.get("first_id") not in (None, ""):
            first = int(data["first_id"])
            chats = range(first, first + int(data.get("count", 1)))
        return {str(chat_id): n for chat_id, n in self.emu.received(bot, chats).items()}

    async def reset(self, data: dict) -> dict:
        self.emu.faults.clear()
        self.emu.unstall()
        if data.get("calls"):
            self.emu.calls.clear()
            for bot in self.emu.bots.values():
                bot.calls.clear()
        return {"ok": True}

    async def calls(self, data: dict) -> dict:
        if data.get("bot_id"):
            return dict(self.emu.resolve_bot(data["bot_id"]).calls)
        return dict(self.emu.calls)

    async def index(self, data: dict) -> dict:
        return {"endpoints": [{"method": verb, "path": f"/control/{name}", "fields": fields, "does": does}
                              for verb, name, fields, does in CONTROL_ENDPOINTS],
                "notes": "GET takes query parameters, POST a JSON object; bot_id is optional everywhere "
                         "(the only bot by default). Errors: HTTP 400 with {\"ok\": false, \"error\": ...}."}

    async def state(self, data: dict) -> dict:
        return {
            "local_mode": self.emu.local_mode,
            "data_dir": str(self.emu.data_dir),
            "files_dir": str(self.emu.save_dir) if self.emu.save_dir else None,
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
                for b in self.emu.bots.values()
            ],
            "faults": [f.__dict__ for f in self.emu.faults],
            "stalled": self.emu.stalled,
            "flood": self.flood_state(),
            "flood_refused": self.emu.flood_refused,
        }
