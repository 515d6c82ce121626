"""The operators' broadcast form: to whom (a segment; the category or the ids when it needs one),
then the message itself (a text, or a photo or document with a caption, formatting kept), shown
back at once as the recipients will see it; the summary says how many people it reaches. Confirming
makes one broadcast row (bot/services/broadcasts.py); the job sends it. An empty segment, ids
nobody wrote to the bot with, or a caption longer than Telegram allows are refused with the reason,
and what was already chosen stays."""

from __future__ import annotations

from typing import Any

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import BroadcastAction, BroadcastCB
from bot.campaign import Campaign
from bot.flows import fields as f
from bot.flows.engine import Done, Form, Turn
from bot.outbox.sender import send_payload
from bot.render import Texts
from bot.services import broadcasts
from bot.services.broadcasts import Segment, SegmentKind

SEGMENTS = tuple(f.Choice(k.value, label=f"broadcasts.segments.{k.value}") for k in SegmentKind)
IDS_CHARS = 6000


def report_markup(texts: Texts, broadcast_id: int, *, final: bool) -> InlineKeyboardMarkup:
    """Under a report: 刷新 and 停止发送 while it runs; the list of broadcasts either way."""
    rows = []
    if not final:
        rows.append([InlineKeyboardButton(text=texts.label("broadcasts.refresh"),
                                          callback_data=BroadcastCB(id=broadcast_id, action=BroadcastAction.report).pack()),
                     InlineKeyboardButton(text=texts.label("broadcasts.cancel"),
                                          callback_data=BroadcastCB(id=broadcast_id, action=BroadcastAction.cancel).pack())])
    rows.append([InlineKeyboardButton(text=texts.label("broadcasts.list"),
                                      callback_data=BroadcastCB(id=0, action=BroadcastAction.list).pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def segment_of(values: dict[str, Any]) -> Segment:
    kind = SegmentKind(values["segment"])
    if kind is SegmentKind.category:
        return Segment(kind, category=values.get("category"))
    if kind is SegmentKind.ids:
        return Segment(kind, ids=tuple(values.get("ids") or ()))
    return Segment(kind)


def _admins(turn: Turn) -> tuple[int, ...]:
    return tuple(turn.settings.admin_ids) if turn.settings is not None else ()


async def _not_empty(segment: Segment, turn: Turn) -> None:
    assert turn.session is not None
    if not await broadcasts.count(turn.session, segment, _admins(turn)):
        blocked = await broadcasts.unreachable_in(turn.session, segment, _admins(turn))
        raise f.Invalid("broadcast_empty", segment=turn.texts.label(f"broadcasts.segments.{segment.kind.value}"),
                        blocked=blocked)


async def _segment_reaches_someone(value: str, turn: Turn) -> None:
    if value not in (SegmentKind.category, SegmentKind.ids):  # those are checked once their argument is given
        await _not_empty(Segment(SegmentKind(value)), turn)


async def _category_reaches_someone(value: str, turn: Turn) -> None:
    await _not_empty(Segment(SegmentKind.category, category=value), turn)


def parse_ids(answer: f.Answer, values: dict[str, Any]) -> list[int]:
    if answer.kind != f.TEXT or not answer.text:
        raise f.Invalid("need_text")
    if len(answer.text) > IDS_CHARS:
        raise f.Invalid("too_long", max_len=IDS_CHARS, length=len(answer.text))
    ids, bad = broadcasts.parse_ids(answer.text)
    if bad:
        raise f.Invalid("broadcast_bad_ids", bad=bad[:5], more=len(bad) - 5)
    if not ids:
        raise f.Invalid("broadcast_bad_ids", bad=[], more=0)
    if len(ids) > broadcasts.MAX_IDS:
        raise f.Invalid("broadcast_too_many_ids", limit=broadcasts.MAX_IDS, given=len(ids))
    return ids


async def _ids_known(value: list[int], turn: Turn) -> None:
    assert turn.session is not None
    unknown = await broadcasts.unknown_ids(turn.session, tuple(value))
    if unknown:  # Telegram lets a bot write only to people who opened it: say which, keep the list to fix
        raise f.Invalid("broadcast_unknown_ids", unknown=unknown[:10], more=len(unknown) - 10)
    await _not_empty(Segment(SegmentKind.ids, ids=tuple(value)), turn)


def parse_message(answer: f.Answer, values: dict[str, Any]) -> dict[str, Any]:
    """The message to send: {"html", "media", "file_id", "name"}; a caption over Telegram's limit
    is refused with its length (the text alone may be up to 4096 characters)."""
    text = answer.text or ""
    html = answer.html if answer.html is not None else ""
    if answer.kind == f.TEXT:
        if not text.strip():
            raise f.Invalid("need_text")
        if len(text) > broadcasts.TEXT_LIMIT:
            raise f.Invalid("too_long", max_len=broadcasts.TEXT_LIMIT, length=len(text))
        return {"html": html, "media": None, "file_id": None, "name": None, "length": len(text)}
    if answer.kind in (f.PHOTO, f.DOCUMENT) and answer.file is not None:
        if len(text) > broadcasts.CAPTION_LIMIT:
            raise f.Invalid("broadcast_caption_too_long", limit=broadcasts.CAPTION_LIMIT, length=len(text))
        media = "photo" if answer.kind == f.PHOTO else "document"
        return {"html": html, "media": media, "file_id": answer.file.file_id, "name": answer.file.file_name,
                "length": len(text)}
    raise f.Invalid("wrong_kind", got=answer.kind, accepts=["text", "photo", "document"])


def content_of(message: dict[str, Any]) -> dict[str, Any]:
    return broadcasts.payload(message["html"], message.get("media"), message.get("file_id"))


async def _preview(value: dict[str, Any], turn: Turn) -> str | None:
    """The message as the recipients will see it, then a word that it was a preview."""
    try:
        await send_payload(turn.bot, turn.chat_id, content_of(value))
    except TelegramBadRequest as exc:  # e.g. a document Telegram no longer knows: the confirm will say so too
        return turn.texts.render("broadcasts/preview_failed", error=str(exc)[:200])
    return turn.texts.render("broadcasts/preview_note")


async def details(turn: Turn) -> dict[str, Any]:
    """What the summary shows: the segment in words and how many it reaches now."""
    assert turn.session is not None and turn.draft is not None
    values = turn.draft.values
    if not values.get("segment"):
        return {}
    segment = segment_of(values)
    return {"count": await broadcasts.count(turn.session, segment, _admins(turn)),
            "blocked": await broadcasts.unreachable_in(turn.session, segment, _admins(turn)),
            "message": values.get("message")}


async def submit(turn: Turn, values: dict[str, Any]) -> Done:
    assert turn.session is not None and turn.person is not None
    texts = turn.texts
    segment = segment_of(values)
    total = await broadcasts.count(turn.session, segment, _admins(turn))
    if not total:  # everyone left the segment (or blocked the bot) since the summary
        raise f.Invalid("broadcast_empty", field="segment",
                        segment=texts.label(f"broadcasts.segments.{segment.kind.value}"), blocked=0)
    row = await broadcasts.create(turn.session, turn.person.id, segment, content_of(values["message"]), total,
                                  turn.now)
    rate = turn.settings.outbox_per_second if turn.settings is not None else 25
    return Done(texts.render("broadcasts/started", id=row.id, total=total, rate=rate),
                report_markup(texts, row.id, final=False))


def categories(campaign: Campaign) -> tuple[f.Choice, ...]:
    return tuple(f.Choice(c.id, text=c.name) for c in campaign.categories)


def broadcast_form(campaign: Campaign) -> Form:
    cats = categories(campaign)
    return Form(
        name="broadcast",
        fields=(
            f.Field("segment", f.choice(SEGMENTS), accepts=frozenset({f.CHOICE}), choices=SEGMENTS,
                    verify=_segment_reaches_someone, resets=("category", "ids"), columns=2),
            f.Field("category", f.choice(cats), accepts=frozenset({f.CHOICE}), choices=cats,
                    when=lambda v: v.get("segment") == SegmentKind.category, verify=_category_reaches_someone),
            f.Field("ids", parse_ids, when=lambda v: v.get("segment") == SegmentKind.ids, verify=_ids_known,
                    limits={"max_ids": broadcasts.MAX_IDS}),
            f.Field("message", parse_message, accepts=frozenset({f.TEXT, f.PHOTO, f.DOCUMENT}), after=_preview,
                    limits={"caption": broadcasts.CAPTION_LIMIT, "text": broadcasts.TEXT_LIMIT}),
        ),
        on_submit=submit,
        confirm_label="broadcasts.confirm",
        details=details,
    )
