"""What an outbox row carries, by kind, and the functions that queue one. Messages to people other than
the one who wrote (notifications) and relays between two people go through here: written in the
update's transaction, sent by bot/outbox/sender.py after it commits.

Kinds (the sender has one entry per kind in its dispatch table):
- "message": attachments first, then the text with its buttons (rows queued before kinds existed
  carry no "kind" and are messages);
- "copy": Telegram's copyMessage of a message someone sent the bot (a relay), optional buttons;
- "media": one photo, document or video by file_id with its caption (a broadcast).

Any payload may carry "ref" (a short tag such as "tutorship:12": what a reply to the delivered
message is about; the sender records the id Telegram gave the row's last message in
`result_message_id`, so `queue.by_result` finds the row a reply points at) and "on_failure"
({"chat_id", "text"}: a notice queued to someone, usually the relay's sender, when the row fails
for good, e.g. the recipient blocked the bot).

No aiogram at run time: the markup and files are read through their fields."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.outbox import queue

if TYPE_CHECKING:
    from aiogram.types import BufferedInputFile, InlineKeyboardMarkup

MESSAGE, COPY, MEDIA = "message", "copy", "media"

# an attachment sent before the text: ("document" | "photo" | "video", a file_id or a file made here)
Attachment = tuple[str, "str | BufferedInputFile"]


def _attachment(kind: str, file: str | BufferedInputFile) -> dict[str, Any]:
    if isinstance(file, str):
        return {"kind": kind, "file_id": file}
    return {"kind": kind, "filename": file.filename, "data": base64.b64encode(file.data).decode()}


def _markup(markup: InlineKeyboardMarkup | None) -> dict[str, Any] | None:
    return markup.model_dump(mode="json", exclude_none=True) if markup else None


def _extras(payload: dict[str, Any], ref: str | None, on_failure: tuple[int, str] | None) -> dict[str, Any]:
    if ref is not None:
        payload["ref"] = ref
    if on_failure is not None:
        payload["on_failure"] = {"chat_id": on_failure[0], "text": on_failure[1]}
    return payload


async def notify(session: AsyncSession, chat_ids: Iterable[int], text: str,
                 markup: InlineKeyboardMarkup | None = None, attachments: Sequence[Attachment] = (), *,
                 about: int | None = None, hold_until: datetime | None = None, ref: str | None = None) -> int:
    """Queue one notification per chat (attachments first, then the text with its buttons), all in one
    INSERT. `about`: the person whose data the notification carries (a registration card, a question
    sent to the staff): erasing their data deletes these copies too, sent or not. `hold_until`: kept
    back until then (quiet hours). `ref`: what a reply to it is about (see the module's docstring).
    Returns how many were queued."""
    payload = _extras({"kind": MESSAGE, "text": text, "reply_markup": _markup(markup),
                       "attachments": [_attachment(kind, file) for kind, file in attachments]}, ref, None)
    return await queue.enqueue_many(session, ((chat_id, payload) for chat_id in chat_ids), about=about,
                                    hold_until=hold_until)


async def relay(session: AsyncSession, to_chat: int, from_chat: int, message_id: int,
                markup: InlineKeyboardMarkup | None = None, *, about: int | None = None,
                hold_until: datetime | None = None, ref: str | None = None,
                on_failure: tuple[int, str] | None = None) -> int:
    """Queue a copy of message `message_id` of chat `from_chat` to `to_chat` (copyMessage: the
    recipient does not see who sent it, and nothing is downloaded, whatever the file's size), with
    optional buttons under it. `ref`: what a reply to the copy is about; `on_failure`: (chat id,
    text) told when the copy can't be delivered (blocked, refused). Returns the outbox row's id."""
    payload = _extras({"kind": COPY, "from_chat_id": from_chat, "message_id": message_id,
                       "reply_markup": _markup(markup)}, ref, on_failure)
    return await queue.enqueue(session, to_chat, payload, about=about, hold_until=hold_until)
