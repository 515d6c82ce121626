"""A seeded generator of valid random Telegram updates (issue 14): a burst from 13 people and the
operator, as on deadline day.

Every update is a dict in the Bot API's JSON shape that aiogram's `Update.model_validate` takes:
texts and commands with odd characters (emoji, RTL marks, zero-width characters, HTML-like tags, up to
4096 characters), the bot's commands, presses of the bot's real buttons (read from what the bot sent
to that chat) and of mutated ones (truncated, other ids, random bytes within 64), documents, photos and
videos with random metadata, contacts (one's own and someone else's), edited messages, messages in a
group, block/unblock (my_chat_member) and poll answers.

    fuzzer = UpdateFuzzer(seed, buttons=conversation_buttons(conv), store_file=conv.tg.store_file)
    update = fuzzer.next_update()            # no update_id: the feeder sets it

    ids = await burst(conv, 300, seed=7)      # through Conversation.feed (or another feed function)

The generator is stateful only in what a Telegram client would know: its own message ids, what it
sent (for edits), whether the person blocked the bot, and the bot's buttons, asked for through the
`buttons` callback (chat id -> the callback buttons of the bot's newest messages there).
"""

from __future__ import annotations

import itertools
import random
import string
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PEOPLE = tuple(range(1001, 1014))  # 13 people
OPERATOR = 9001  # tests.conftest.ADMIN_ID
EVERYONE = (*PEOPLE, OPERATOR)
GROUP_CHAT = {"id": -1001234567890, "type": "supergroup", "title": "科普号 <b>交流群</b> \u202e群"}
BOT_ID = 424242
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "科普号创作助手", "username": "kepu_test_bot"}
DATE = 1700000000

COMMANDS = ("/start", "/help", "/register", "/apply", "/mywork", "/ask", "/cancel", "/profile", "/mydata",
            "/pending", "/bigfiles", "/questions", "/invite", "/rules", "/contact", "/staff", "/deletedata",
            "/deadletters")
ODD_PIECES = (
    "😀", "🧪", "👩‍🔬", "🇨🇳", "❤️", "\u200b", "\u200c", "\u200d", "\ufeff", "\u200e", "\u200f", "\u202e", "\u2066",
    "<b>", "</b>", "<i>x</i>", "<script>alert(1)</script>", "&amp;", "&lt;", "&", "<", ">", "<a href='x'>",
    "e\u0301", "ﷺ", "مرحبا", "שלום", "科学", "普及", "视频", "作品", "\n", "\n\n", "\t", "  ", "' OR 1=1 --",
    "${jndi:x}", "{{7*7}}", "%s%n", "\\", "\"", "`", "*bold*", "_it_", "[link](http://x)", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "ｆｕｌｌ",
    "Ⅻ", "０１２", "12345678901234567890", "-1", "0", "NaN", "null", "/start", "@kepu_test_bot",
)
FIRST_NAMES = ("Alice", "李雷", "\u202eevilname", "😀😀", "<b>Bob</b>", "Zoë\u200d", "مريم", "O'Brien", "韩梅梅",
               "ℌ𝔢𝔩𝔩𝔬", "x" * 64, "Dana & Co", "科普 🧪 号", "Boss")
FILE_NAMES = ("作品.mp4", "video.MP4", "稿件 final (2).docx", "a.pdf", "scan.jpg", "<b>x</b>.txt", "\u202egpj.exe",
              "😀.mov", "noext", ".hidden", "a" * 200 + ".mp4", "archive.zip", "report.PDF", "图.png",
              "../../etc/passwd", "con.txt", "x.mkv", "résumé.doc", "稿件.md")
MIME_TYPES = ("video/mp4", "application/pdf", "image/jpeg", "image/png", "text/plain", "application/zip",
              "application/octet-stream", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
              "video/quicktime", "", "x/<b>")
PHONES = ("+8613800138000", "13800138000", "+86 138 0013 8000", "+1 (555) 010-9999", "+447700900123", "8613900139000",
          "+000", "+861380013800012345")


@dataclass(frozen=True)
class Button:
    """A callback button of a message the bot sent (as the chat shows it now)."""

    message_id: int
    data: str
    text: str = ""
    message_text: str = ""
    markup: dict[str, Any] | None = None


ButtonLookup = Callable[[int], list[Button]]  # chat id -> buttons of the newest bot messages, newest first
StoreFile = Callable[..., tuple[str, str]]  # (data, name, announced=None) -> (file_id, file_unique_id)

# (kind, weight): what a person does next
KINDS = (
    ("command", 18), ("text", 12), ("press", 24), ("press_mutated", 6), ("document", 6), ("photo", 4),
    ("video", 4), ("contact", 3), ("contact_other", 2), ("edit", 4), ("group", 3), ("block", 2),
    ("poll_answer", 2), ("sticker", 1),
)


class UpdateFuzzer:
    """Random valid updates, reproducible from the seed (given the same answers of the bot)."""

    def __init__(self, seed: int, *, buttons: ButtonLookup | None = None, store_file: StoreFile | None = None,
                 media: dict[str, bytes] | None = None, people: tuple[int, ...] = EVERYONE,
                 kinds: tuple[tuple[str, int], ...] = KINDS, stay: float = 0.6) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.buttons = buttons or (lambda chat_id: [])
        self.store_file = store_file or _no_store
        self.media = media or {}
        self.people = people
        self.kinds = [k for k, _ in kinds]
        self.weights = [w for _, w in kinds]
        self.names = {uid: ("Boss" if uid == OPERATOR else self.rng.choice(FIRST_NAMES)) for uid in people}
        self.message_ids: dict[int, Iterator[int]] = defaultdict(lambda: itertools.count(1))
        self.said: dict[int, list[tuple[int, str]]] = defaultdict(list)  # chat -> (message id, text) sent
        self.blocked: set[int] = set()
        self.queries = itertools.count(1)
        self.polls = itertools.count(1)
        self.count = 0
        self.last_kind = ""
        self.stay = stay  # chance that the same person acts again (people work in sessions: forms get deep)
        self.current = self.rng.choice(people)

    # ------------------------------------------------------------------ the pieces

    def user(self, uid: int) -> dict[str, Any]:
        user: dict[str, Any] = {"id": uid, "is_bot": False, "first_name": self.names[uid]}
        if uid % 3:
            user["username"] = f"user_{uid}"
        lang = self.rng.choice(("zh-hans", "zh-hans", "en", "ar", None))
        if lang:
            user["language_code"] = lang
        return user

    def private_chat(self, uid: int) -> dict[str, Any]:
        return {"id": uid, "type": "private", "first_name": self.names[uid]}

    def odd_text(self, longest: int = 4096) -> str:
        r = self.rng.random()
        if r < 0.05:  # a very long text, right up to the limit
            base = "".join(self.rng.choice(ODD_PIECES) for _ in range(40))
            text = (base * (longest // max(len(base), 1) + 1))[:longest]
        elif r < 0.15:
            text = "".join(self.rng.choice(ODD_PIECES + tuple(string.printable[:94])) for _ in range(
                self.rng.randint(50, 600)))[:longest]
        else:
            text = "".join(self.rng.choice(ODD_PIECES) for _ in range(self.rng.randint(1, 12)))
        text = text.strip() or "😀"  # Telegram does not deliver an empty or blank message
        return text

    def command_text(self, uid: int) -> str:
        command = self.rng.choice(COMMANDS)
        r = self.rng.random()
        if command == "/invite" and r < 0.6:
            return f"/invite {self.rng.choice(('reviewer', 'admin', 'creator', 'owner', '', '😀', 'reviewer x'))}".strip()
        if command == "/start" and r < 0.3:
            payload = self.rng.choice(("inv_" + "".join(self.rng.choices(string.ascii_letters + string.digits, k=16)),
                                       "inv_", "apply", "x" * 64, "%F0%9F%98%80", "reg"))
            return f"/start {payload}"
        if r < 0.1:
            return f"{command}@kepu_test_bot"
        if r < 0.2:
            return f"{command} {self.odd_text(200)}"
        if r < 0.25:
            return command.upper()
        return command

    def message(self, uid: int, chat: dict[str, Any] | None = None, **content: Any) -> dict[str, Any]:
        chat = chat or self.private_chat(uid)
        mid = next(self.message_ids[chat["id"]])
        return {"message_id": mid, "date": DATE + self.count, "chat": chat, "from": self.user(uid), **content}

    def text_content(self, text: str) -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            word = text.split()[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(word)}]
        return content

    def file_bytes(self, kind: str) -> tuple[bytes, str]:
        wanted = {"photo": (".png", ".jpg"), "video": (".mp4",), "document": ()}[kind]
        real = [name for name in self.media if not wanted or name.endswith(wanted)]
        if real and self.rng.random() < 0.6:
            name = self.rng.choice(real)
            return self.media[name], name
        return self.rng.randbytes(self.rng.randint(0, 4096)), self.rng.choice(FILE_NAMES)

    def stored(self, data: bytes, name: str) -> dict[str, Any]:
        r = self.rng.random()
        announced = None
        if r < 0.1:
            announced = self.rng.choice((20 * 1024 * 1024 + 1, 300 * 1024 * 1024, 2 * 1024 ** 3 - 1, 4 * 1024 ** 3))
        file_id, unique = self.store_file(data, Path(name).name or "file", announced=announced)
        size = announced if announced is not None else len(data)
        out: dict[str, Any] = {"file_id": file_id, "file_unique_id": unique}
        if self.rng.random() < 0.95:
            out["file_size"] = size
        return out

    def file_content(self, kind: str) -> dict[str, Any]:
        data, real_name = self.file_bytes(kind)
        base = self.stored(data, real_name)
        rng = self.rng
        if kind == "document":
            doc = {**base, "file_name": rng.choice((real_name, rng.choice(FILE_NAMES)))}
            if rng.random() < 0.9:
                doc["mime_type"] = rng.choice(MIME_TYPES) or "application/octet-stream"
            content: dict[str, Any] = {"document": doc}
        elif kind == "photo":
            sizes = []
            for scale in sorted(rng.sample((1, 2, 4, 8), rng.randint(1, 3)), reverse=True):
                w, h = rng.choice(((1280, 720), (720, 1280), (1, 1), (10000, 10), (1920, 1080), (90, 90)))
                sizes.append({**base, "width": max(1, w // scale), "height": max(1, h // scale)})
            content = {"photo": sizes[::-1]}  # smallest first, as Telegram sends them
        else:
            w, h = rng.choice(((1920, 1080), (1080, 1920), (0, 0), (1, 1), (7680, 4320), (640, 480)))
            video = {**base, "width": w, "height": h, "duration": rng.choice((0, 1, 59, 600, 7200, 2 ** 31 - 1))}
            if rng.random() < 0.7:
                video["file_name"] = rng.choice((real_name, *FILE_NAMES))
            if rng.random() < 0.8:
                video["mime_type"] = rng.choice(("video/mp4", "video/quicktime", "application/octet-stream"))
            content = {"video": video}
        if rng.random() < 0.4:
            content["caption"] = self.odd_text(1024)
        if rng.random() < 0.1:
            content["media_group_id"] = str(rng.randint(10 ** 17, 10 ** 18))
        return content

    def mutate(self, data: str) -> str:
        rng = self.rng
        how = rng.choice(("truncate", "ids", "random", "prefix", "append", "swap"))
        if how == "truncate" and len(data) > 1:
            out = data[:rng.randint(1, len(data) - 1)]
        elif how == "ids":
            parts = data.split(":")
            out = ":".join(str(rng.choice((0, -1, 1, 2, 3, 7, 99, 2 ** 31, 2 ** 63, 10 ** 30))) if p.lstrip("-").isdigit()
                           else p for p in parts)
            if out == data:
                out = data + ":" + str(rng.randint(0, 100))
        elif how == "random":
            alphabet = string.printable[:94] + "😀科\u200b\u202e"
            out = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 64)))
        elif how == "prefix":
            rest = data.split(":", 1)[1] if ":" in data else data
            out = rng.choice(("m", "cat", "inv", "q", "r", "tq", "p", "mc", "s", "sf", "mw", "zz")) + ":" + rest
        elif how == "append":
            out = data + ":" + rng.choice(("x", "1", "", "approve", "submit_yes", "delete_yes"))
        else:
            out = rng.choice(("m:home", "m:pending", "m:big", "m:qs", "m:staff", "r:1:approve", "r:2:reject",
                              "s:1:delete_yes", "s:1:submit_yes", "sf:1:remove_yes", "mc:1:1", "inv:admin",
                              "p:erase_yes.0", "q:1", "tq:1", "mw:-1", "mw:99999"))
        return _fit64(out) or "x"

    # ------------------------------------------------------------------ one update

    def next_update(self) -> dict[str, Any]:
        """One random update (without update_id)."""
        self.count += 1
        for _ in range(20):
            kind = self.rng.choices(self.kinds, self.weights)[0]
            if self.rng.random() >= self.stay:
                self.current = self.rng.choice(self.people)
            uid = self.current
            update = self._make(kind, uid)
            if update is not None:
                self.last_kind = kind
                return update
        self.last_kind = "command"
        return {"message": self.message(uid, **self.text_content("/start"))}

    def _make(self, kind: str, uid: int) -> dict[str, Any] | None:
        rng = self.rng
        if kind in ("command", "text"):
            text = self.command_text(uid) if kind == "command" else self.odd_text()
            msg = self.message(uid, **self.text_content(text))
            self.said[uid].append((msg["message_id"], text))
            self.blocked.discard(uid)  # writing to the bot unblocks it
            return {"message": msg}
        if kind in ("press", "press_mutated"):
            buttons = self.buttons(uid)
            if not buttons:
                return None
            # mostly the newest message's buttons, as people do; sometimes an old one
            newest = buttons[0].message_id
            pool = [b for b in buttons if b.message_id == newest] if rng.random() < 0.75 else buttons
            button = rng.choice(pool)
            data = button.data if kind == "press" else self.mutate(button.data)
            message = {"message_id": button.message_id, "date": DATE, "chat": self.private_chat(uid),
                       "from": BOT_USER, "text": button.message_text or "…"}
            if button.markup and "inline_keyboard" in button.markup:
                message["reply_markup"] = button.markup
            return {"callback_query": {"id": f"fz{self.seed}-{next(self.queries)}", "from": self.user(uid),
                                       "chat_instance": f"ci{uid}", "message": message, "data": data}}
        if kind in ("document", "photo", "video"):
            self.blocked.discard(uid)
            return {"message": self.message(uid, **self.file_content(kind))}
        if kind == "contact":
            contact = {"phone_number": rng.choice(PHONES), "first_name": self.names[uid], "user_id": uid}
            return {"message": self.message(uid, contact=contact)}
        if kind == "contact_other":
            contact: dict[str, Any] = {"phone_number": rng.choice(PHONES), "first_name": rng.choice(FIRST_NAMES)}
            if rng.random() < 0.7:
                contact["user_id"] = rng.choice([p for p in EVERYONE if p != uid] + [uid + 100000])
            if rng.random() < 0.3:
                contact["vcard"] = "BEGIN:VCARD\nVERSION:3.0\nFN:别人\nEND:VCARD"
            return {"message": self.message(uid, contact=contact)}
        if kind == "edit":
            said = self.said.get(uid)
            if not said:
                return None
            mid, old = rng.choice(said)
            text = self.command_text(uid) if rng.random() < 0.3 else self.odd_text()
            msg = {"message_id": mid, "date": DATE, "edit_date": DATE + self.count, "chat": self.private_chat(uid),
                   "from": self.user(uid), **self.text_content(text)}
            return {"edited_message": msg}
        if kind == "group":
            text = self.command_text(uid) if rng.random() < 0.5 else self.odd_text(500)
            return {"message": self.message(uid, chat=GROUP_CHAT, **self.text_content(text))}
        if kind == "block":
            blocked = uid not in self.blocked
            self.blocked.symmetric_difference_update({uid})
            old, new = ("member", "kicked") if blocked else ("kicked", "member")
            new_member: dict[str, Any] = {"status": new, "user": BOT_USER}
            if blocked:
                new_member["until_date"] = 0
            return {"my_chat_member": {"chat": self.private_chat(uid), "from": self.user(uid), "date": DATE + self.count,
                                       "old_chat_member": {"status": old, "user": BOT_USER},
                                       "new_chat_member": new_member}}
        if kind == "poll_answer":
            options = sorted(rng.sample(range(10), rng.randint(0, 3)))  # [] = the vote was retracted
            return {"poll_answer": {"poll_id": str(next(self.polls) * 7919 + self.seed), "user": self.user(uid),
                                    "option_ids": options,
                                    "option_persistent_ids": [f"o{self.seed}x{i}" for i in options]}}
        if kind == "sticker":
            return {"message": self.message(uid, sticker={"file_id": "stk", "file_unique_id": "stku",
                                                          "type": "regular", "width": 512, "height": 512,
                                                          "is_animated": False, "is_video": False})}
        raise ValueError(kind)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            yield self.next_update()

    def updates(self, n: int) -> Iterator[dict[str, Any]]:
        for _ in range(n):
            yield self.next_update()


# ---------------------------------------------------------------------- glue for tests and benches


def _no_store(data: bytes, name: str, announced: int | None = None) -> tuple[str, str]:
    import hashlib

    unique = hashlib.sha1(data).hexdigest()[:16]
    return f"FZ{unique}", unique


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fit64(data: str) -> str:
    """Cut to at most 64 bytes of UTF-8 (Telegram's limit for callback data), on a character boundary."""
    raw = data.encode()[:64]
    return raw.decode(errors="ignore")


def buttons_of_markup(message_id: int, text: str, markup: dict[str, Any] | None) -> list[Button]:
    rows = (markup or {}).get("inline_keyboard") or []
    return [Button(message_id, b["callback_data"], b.get("text", ""), text, markup)
            for row in rows for b in row if isinstance(b, dict) and "callback_data" in b]


def conversation_buttons(conv: Any, newest: int = 5) -> ButtonLookup:
    """Buttons of the `newest` bot messages with buttons in a chat of tests.harness.Conversation."""

    def lookup(chat_id: int) -> list[Button]:
        seen: set[int] = set()
        out: list[Button] = []
        for sent in reversed(conv.tg.sent.get(chat_id, [])):
            if sent.message_id in seen:
                continue
            seen.add(sent.message_id)
            current = conv.tg.messages.get((chat_id, sent.message_id), sent)
            found = buttons_of_markup(current.message_id, current.text, current.markup)
            if found:
                out += found
                newest_left = newest - len({b.message_id for b in out})
                if newest_left <= 0:
                    break
        return out

    return lookup


_MEDIA: dict[str, bytes] | None = None


def tiny_media() -> dict[str, bytes]:
    """A few real files, made once per process (tests/media.py): a PNG, a JPEG, a short MP4, a text."""
    global _MEDIA
    if _MEDIA is None:
        import tempfile

        from tests import media

        media_dir = Path(tempfile.mkdtemp(prefix="kepubot-fuzz-media-"))
        files = [media.make_image(media_dir / "tiny.png", 32, 24), media.make_image(media_dir / "wide.jpg", 320, 180),
                 media.make_text(media_dir / "稿件.txt", 300)]
        try:
            files.append(media.make_video(media_dir / "clip.mp4", 64, 48, 0.5))
        except Exception:  # noqa: BLE001 - PyAV missing: no real video, random bytes stand in
            pass
        _MEDIA = {p.name: p.read_bytes() for p in files}
        for p in files:
            p.unlink(missing_ok=True)
        media_dir.rmdir()
    return dict(_MEDIA)


async def burst(conv: Any, n: int, seed: int, *,
                feed: Callable[[dict[str, Any]], Awaitable[Any]] | None = None,
                media: dict[str, bytes] | None = None,
                on_update: Callable[[dict[str, Any], str], Any] | None = None) -> list[int]:
    """Feed n random updates (seeded) through `feed` (default: conv.feed, one at a time; the next
    update sees the bot's answers to the previous ones). Returns the update ids in order."""
    fuzzer = UpdateFuzzer(seed, buttons=conversation_buttons(conv), store_file=conv.tg.store_file,
                          media=tiny_media() if media is None else media)
    feed = feed or conv.feed
    ids: list[int] = []
    for _ in range(n):
        update = fuzzer.next_update()
        update["update_id"] = next(conv.update_ids)
        ids.append(update["update_id"])
        if on_update is not None:
            on_update(update, fuzzer.last_kind)
        await feed(update)
    return ids
