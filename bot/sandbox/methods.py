"""The Bot API methods the emulator answers: a registry of `name -> async fn(emu, bot, params)`.

Each method checks its parameters and the chat's state the way Telegram does and answers with the
result Telegram would give, or raises ApiError with Telegram's status code and words.
"""

from __future__ import annotations

import copy
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from .emulator import (
    CLOUD_DOWNLOAD_LIMIT,
    CLOUD_UPLOAD_LIMIT,
    LOCAL_UPLOAD_LIMIT,
    MAX_CAPTION,
    MAX_TEXT,
    NOT_MODIFIED,
    ApiError,
    BotState,
    ChatState,
    Emulator,
    Params,
    StoredFile,
    _now,
    _size_dict,
    bad,
)
from .htmltext import utf16_len

Method = Callable[[Emulator, BotState, Params], Awaitable[Any]]
METHODS: dict[str, Method] = {}  # lower-case name -> method


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
    if stored is None and emu.adopt_unknown and not value.startswith("attach://"):
        stored = _adopted_file(emu, bot, value, kind)  # an id a test wrote into the database
    if stored is None or stored.bot_id != bot.id:
        raise bad("wrong file identifier/HTTP URL specified")
    if stored.kind != kind and not (kind == "document" or stored.kind == "document"):
        raise bad(f"can't use file of type {stored.kind.capitalize()} as {kind.capitalize()}")
    return stored, None


def _adopted_file(emu: Emulator, bot: BotState, file_id: str, kind: str) -> StoredFile:
    """With adopt_unknown: a file id Telegram never made, taken as a file a person sent (no bytes)."""
    stored = emu.store_bytes(bot, b"", kind, file_name=file_id, file_id=file_id)
    if kind == "photo":  # no bytes to read its size from
        stored.meta = {"photo": [_size_dict(stored, 1, 1)]}
    return stored


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


POLL_QUESTION_MAX, POLL_OPTION_MAX, POLL_OPTIONS_MAX, POLL_EXPLANATION_MAX = 300, 100, 12, 200


@method("sendPoll")
async def send_poll(emu: Emulator, bot: BotState, p: Params) -> dict:
    """A poll (regular or quiz) as Telegram checks and shows it; the bot sees who voted in one that is
    not anonymous as poll_answer updates (the control API's answer_poll)."""
    chat = emu._writable(emu.target_chat(bot, p))
    question, q_entities = emu.parse_text(_with_mode(p, "question_parse_mode"), "question", "question_entities")
    if not question.strip():
        raise bad("poll question must be non-empty")
    if utf16_len(question) > POLL_QUESTION_MAX:
        raise bad("poll question length must not exceed 300")
    raw = p.json("options")
    if not isinstance(raw, list):
        raise bad("can't parse options JSON object")
    options = []
    for n, option in enumerate(raw):
        text = option.get("text") if isinstance(option, dict) else option
        if not isinstance(text, str) or not text.strip():
            raise bad("poll options must be non-empty")
        if utf16_len(text) > POLL_OPTION_MAX:
            raise bad("poll options length must not exceed 100")
        options.append({"persistent_id": str(n), "text": text, "voter_count": 0})
    if len(options) < 2:
        raise bad("poll must have at least 2 option")
    if len(options) > POLL_OPTIONS_MAX:
        raise bad(f"poll can't have more than {POLL_OPTIONS_MAX} options")
    kind = p.str("type") or "regular"
    if kind not in ("regular", "quiz"):
        raise bad("wrong poll type specified")
    multiple = p.bool("allows_multiple_answers")
    poll: dict = {"id": str(secrets.randbits(62)), "question": question, "options": options,
                  "total_voter_count": 0, "is_closed": p.bool("is_closed"),
                  "is_anonymous": p.bool("is_anonymous", True), "type": kind, "allows_multiple_answers": multiple,
                  "allows_revoting": kind != "quiz", "members_only": False}
    if q_entities:
        poll["question_entities"] = q_entities
    if kind == "quiz":
        if multiple:
            raise bad("quiz poll can't allow multiple answers")
        correct = p.json("correct_option_ids")
        if correct is None and p.has("correct_option_id"):
            correct = [p.int("correct_option_id")]
        if not isinstance(correct, list) or len(correct) != 1 or not all(
                isinstance(c, int) and 0 <= c < len(options) for c in correct):
            raise bad("wrong correct option ID specified")
        poll["correct_option_id"], poll["correct_option_ids"] = correct[0], correct
        explanation, e_entities = emu.parse_text(_with_mode(p, "explanation_parse_mode"), "explanation",
                                                 "explanation_entities")
        if utf16_len(explanation) > POLL_EXPLANATION_MAX:
            raise bad("explanation length must not exceed 200")
        if explanation:
            poll["explanation"] = explanation
        if e_entities:
            poll["explanation_entities"] = e_entities
    elif p.has("explanation"):
        raise bad("explanation can be specified only for quiz polls")
    markup = emu.check_markup(p)
    sent = await emu.bot_send(bot, p, {"poll": poll}, markup)
    bot.polls[poll["id"]] = {"chat_id": chat.chat["id"], "message_id": sent["message_id"], "voters": {}}
    return sent


def _with_mode(p: Params, mode_field: str) -> Params:
    """The request as parse_text reads it, with this field's own parse mode in `parse_mode`."""
    values = {k: v for k, v in p.values.items() if k != "parse_mode"}
    if p.has(mode_field):
        values["parse_mode"] = p.values[mode_field]
    return Params(values, p.files)


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
    query_id = p.str("callback_query_id") or ""
    query = bot.callback_queries.get(query_id)
    if query is None and emu.adopt_unknown:  # a press in an update a test wrote by hand
        emu.remember_query(bot, query_id, 0, None)
        query = bot.callback_queries[query_id]
    if query is None or query["answered"]:
        raise bad("query is too old and response timeout expired or query ID is invalid")
    query["answered"] = True
    chat = bot.chats.get(query["chat_id"])
    if chat is None:
        return True
    emu.event(
        chat, "callback_answer", chat.messages.get(query["message_id"]),
        callback_query_id=p.str("callback_query_id"), text=p.str("text"),
        show_alert=p.bool("show_alert"), url=p.str("url"),
    )
    return True


def _copy_content(msg: dict) -> dict:
    keys = ("text", "entities", "caption", "caption_entities", "document", "photo", "video", "contact",
            "link_preview_options", "voice", "audio", "sticker", "animation", "video_note", "location", "poll")
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
    size = stored.announced or stored.size
    if not emu.local_mode and size > CLOUD_DOWNLOAD_LIMIT:
        raise bad("file is too big")
    path = str(stored.disk_path) if emu.local_mode else stored.file_path
    return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": size, "file_path": path}


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
