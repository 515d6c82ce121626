"""Who is told what in one-on-one tutoring, queued in the outbox in the caller's transaction: a
tutor assigned (both sides), a creator waiting (the operators), a tutor who left (their creators go
back to the queue), a tutorship ended (the other side), and the relay of a message between the two
(a header naming the sender when a burst starts, then copyMessage; the sender is told if it can't
be delivered). Templates: content/templates/tutoring/notice_*.j2 and header_*.j2."""

from __future__ import annotations

from collections.abc import Iterable

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import TutorAction, TutorCB
from bot.notices import operator_ids
from bot.outbox import notify, relay
from bot.render import Texts
from bot.services import tutoring
from bot.services.tutoring import Incoming, Route
from storage.models import TutorMessage, Tutorship
from storage.statuses import TutorshipStatus

EXCERPT = 60  # characters of a message quoted in a notice


def _button(texts: Texts, key: str, cb: TutorCB) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=texts.label(f"tutoring.{key}"),
                                                                       callback_data=cb.pack())]])


async def assigned(session: AsyncSession, texts: Texts, tutorships: Iterable[Tutorship], *,
                   previous_tutor: int | None = None, tell_creator: bool = True, request: bool = True) -> int:
    """Each active tutorship's creator hears who their tutor is (a button to start writing; not
    when they are told in the chat: `tell_creator`), the tutor who their new creator is and what
    they asked (`request`: False when the creator's first message is relayed right after); a tutor
    replaced (`previous_tutor`) is told the creator has moved on. Returns how many were queued."""
    sent = 0
    for t in tutorships:
        if t.status != TutorshipStatus.active or t.tutor_id is None:
            continue
        views = await tutoring.people(session, {t.creator_id, t.tutor_id})
        creator, tutor = views[t.creator_id], views[t.tutor_id]
        if tell_creator:
            sent += await notify(session, [t.creator_id], texts.render("tutoring/notice_assigned_creator", tutor=tutor),
                                 _button(texts, "enter_chat", TutorCB(id=t.id, action=TutorAction.chat)),
                                 about=t.creator_id)
        sent += await notify(session, [t.tutor_id], texts.render("tutoring/notice_assigned_tutor", creator=creator,
                                                                 request=t.request if request else None,
                                                                 first_follows=not request),
                             _button(texts, "history", TutorCB(id=t.id, action=TutorAction.history)),
                             about=t.creator_id, ref=tutoring.ref_of(t.id))
        if previous_tutor is not None and previous_tutor != t.tutor_id:
            sent += await notify(session, [previous_tutor], texts.render("tutoring/notice_taken_away", creator=creator),
                                 about=t.creator_id)
    return sent


async def waiting(session: AsyncSession, texts: Texts, admin_ids: Iterable[int], tutorships: Iterable[Tutorship],
                  *, why: str = "asked") -> int:
    """The operators hear of creators waiting for a tutor (`why`: "asked", "tutor_left"), with a
    button to the queue."""
    items = [t for t in tutorships if t.status == TutorshipStatus.waiting]
    if not items:
        return 0
    views = await tutoring.people(session, {t.creator_id for t in items})
    creators = [views[t.creator_id] for t in items]
    return await notify(session, await operator_ids(session, admin_ids),
                        texts.render("tutoring/notice_waiting", creators=creators, why=why),
                        _button(texts, "open_queue", TutorCB(id=0, action=TutorAction.queue)))


async def tutor_left(session: AsyncSession, texts: Texts, admin_ids: Iterable[int], tutorships: Iterable[Tutorship],
                     *, tell_creators: bool = True) -> int:
    """After `tutoring.release_tutor`: each creator hears their tutor is no longer available and
    that they wait for another one; the operators see them in the queue."""
    items = list(tutorships)
    sent = 0
    if tell_creators:
        for t in items:
            sent += await notify(session, [t.creator_id], texts.render("tutoring/notice_tutor_left"), about=t.creator_id)
    return sent + await waiting(session, texts, admin_ids, items, why="tutor_left")


async def ended(session: AsyncSession, texts: Texts, tutorship: Tutorship, *, by: int, tutor_id: int | None) -> int:
    """The other side (both, when an operator ended it) hears the tutorship ended, and by whom."""
    views = await tutoring.people(session, {tutorship.creator_id} | ({tutor_id} if tutor_id else set()))
    by_role = "creator" if by == tutorship.creator_id else "tutor" if by == tutor_id else "staff"
    sent = 0
    for who in (tutorship.creator_id, tutor_id):
        if who is None or who == by:
            continue
        other = tutor_id if who == tutorship.creator_id else tutorship.creator_id
        sent += await notify(session, [who], texts.render(
            "tutoring/notice_ended", by=by_role, other=views.get(other) if other else None,
            to_creator=who == tutorship.creator_id), about=tutorship.creator_id)
    return sent


async def relay_message(session: AsyncSession, texts: Texts, way: Route, message: Incoming, *,
                        now) -> TutorMessage:
    """Relay one message of the conversation: a header naming the sender when a burst starts, then
    Telegram's copy of the message (nothing downloaded, whatever its size), both through the
    outbox's per-chat pacing; kept in the history. Should the copy fail for good (the recipient
    blocked the bot), the sender is told."""
    t = way.tutorship
    views = await tutoring.people(session, {way.sender_id, way.recipient_id})
    sender, recipient = views[way.sender_id], views[way.recipient_id]
    ref = tutoring.ref_of(t.id)
    if way.header:
        template = "tutoring/header_to_creator" if way.from_tutor else "tutoring/header_to_tutor"
        await notify(session, [way.recipient_id], texts.render(template, sender=sender), about=t.creator_id, ref=ref)
    failed = texts.render("tutoring/relay_failed", recipient=recipient, from_tutor=way.from_tutor, kind=message.kind,
                          excerpt=(message.text or "")[:EXCERPT], cut=len(message.text or "") > EXCERPT)
    outbox_id = await relay(session, way.recipient_id, way.sender_id, message.message_id, about=t.creator_id,
                            ref=ref, on_failure=(way.sender_id, failed))
    return await tutoring.record(session, way, message, outbox_id=outbox_id, now=now)


async def tutor_removed(session: AsyncSession, texts: Texts, admin_ids: Iterable[int], tutor_id: int, *, now,
                        actor_id: int | None) -> list[Tutorship]:
    """A tutor lost the role (/revoke) or erased their data (/deletedata): their active creators go
    back to the queue (`tutoring.release_tutor`, audited); each creator is told, and the operators
    see them waiting. Returns the tutorships released. Call it before erasing the tutor's data."""
    released = await tutoring.release_tutor(session, tutor_id, now=now, actor_id=actor_id)
    await tutor_left(session, texts, admin_ids, released)
    return released
