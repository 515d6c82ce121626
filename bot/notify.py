"""Messages to people other than the one who wrote (notifications) go through the outbox: they are
written in the update's transaction and sent by bot/outbox.py after it commits."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from typing import Any

from aiogram.types import BufferedInputFile, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import outbox

# an attachment sent before the text: ("document" | "photo" | "video", a file_id or a file made here)
Attachment = tuple[str, str | BufferedInputFile]


def _attachment(kind: str, file: str | BufferedInputFile) -> dict[str, Any]:
    if isinstance(file, str):
        return {"kind": kind, "file_id": file}
    return {"kind": kind, "filename": file.filename, "data": base64.b64encode(file.data).decode()}


async def notify(session: AsyncSession, chat_ids: Iterable[int], text: str,
                 markup: InlineKeyboardMarkup | None = None, attachments: Sequence[Attachment] = (), *,
                 about: int | None = None) -> int:
    """Queue one notification per chat (attachments first, then the text with its buttons).
    `about`: the person whose data the notification carries (a registration card, a question sent
    to the staff): erasing their data deletes these copies too, sent or not."""
    payload = {"text": text, "reply_markup": markup.model_dump(mode="json", exclude_none=True) if markup else None,
               "attachments": [_attachment(kind, file) for kind, file in attachments]}
    count = 0
    for chat_id in chat_ids:
        outbox.enqueue(session, chat_id, payload, about=about)
        count += 1
    return count
