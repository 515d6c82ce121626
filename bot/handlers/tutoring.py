"""One-on-one tutoring in the chat (通知三(三), issue 11).

Creators: /tutor (or 找导师 on the menu) asks for a tutor with a first message, matched at once or
queued; with a tutor, the 对话中 mode relays every message they send (any kind) to the tutor with
copyMessage, under a header naming them and their 科普号 when a burst starts. /cancel or 退出对话
leaves the mode (the tutorship stays); 结束对话 ends it.
Tutors: answer by replying (Telegram's reply) to a relayed message or its header; /mycreators lists
their creators, each opening the conversation's history; /tutorprofile sets their fields and how
many creators they take.
Operators: /tutoring (the waiting queue, assign from it), /assign_tutor CREATOR_ID TUTOR_ID.

Every id a button carries is looked up again and checked against the policy by the service: a
tutor sees only their own creators, a creator writes only to their own tutor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, Filter, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot import tutoring_notices as notices
from bot.callbacks import CONFIRM_MINUTES, MenuCB, Pressed, Section, TutorAction, TutorCB, fresh, minute_stamp
from bot.config import Settings
from bot.filters import Can
from bot.flows import engine
from bot.flows.engine import FORM_STATES, FormSG, NotCommand, leave_open, move_to, start_form, turn_of
from bot.flows.tutoring import PROFILE
from bot.handlers.applications.common import page_of, pager
from bot.render import Texts
from bot.services import tutoring
from bot.services.policy import Action, can
from bot.services.tutoring import AskResult, AssignResult, EndResult, Incoming
from bot.services.users import Person
from bot.ui import kind_of, not_allowed, show, stale_button
from storage.models import Tutorship
from storage.statuses import TutorshipStatus

CREATORS_PER_PAGE = 5  # /mycreators: each with up to SUBS_SHOWN applications
SUBS_SHOWN = 3
HISTORY_PER_PAGE = 10  # messages of the history per page (each cut to HISTORY_CHARS)
HISTORY_CHARS = 200
QUEUE_PER_PAGE = 10  # /tutoring
TUTORS_PER_PAGE = 8  # tutors offered when assigning
NAME_CHARS = 16  # of a name on a button
FILE_KINDS = ("photo", "video", "document", "voice", "audio", "sticker", "animation", "video_note")


class TutorSG(StatesGroup):
    asking = State()  # the creator writes what they want help with (their first message)
    chatting = State()  # 对话中: every message goes to the tutor (FSM data: {"tutorship": id})


def _button(texts: Texts, key: str, cb: TutorCB, **fmt: Any) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=texts.label(f"tutoring.{key}", **fmt), callback_data=cb.pack())


def _markup(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup | None:
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def incoming_of(message: Message) -> Incoming:
    """A message as the conversation keeps it: its kind, text or caption, file id and id."""
    kind = kind_of(message)
    file_id = None
    if message.photo:
        file_id = message.photo[-1].file_id
    else:
        for name in FILE_KINDS:
            item = getattr(message, name, None)
            if item is not None and hasattr(item, "file_id"):
                file_id = item.file_id
                break
    return Incoming(kind=kind, text=message.text if message.text is not None else message.caption,
                    file_id=file_id, message_id=message.message_id)


def chat_markup(texts: Texts, tutorship: Tutorship) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [_button(texts, "end", TutorCB(id=tutorship.id, action=TutorAction.end)),
         _button(texts, "leave", TutorCB(id=tutorship.id, action=TutorAction.leave))],
        [_button(texts, "history_own", TutorCB(id=tutorship.id, action=TutorAction.history))]])


# ---------------------------------------------------------------- creators: /tutor


async def _park_open_form(person: Person, raw_state: str | None, data: dict[str, Any]) -> None:
    """Entering the mode from a menu while a form is open: the draft is parked, not lost."""
    if raw_state not in FORM_STATES:
        return
    turn = turn_of(person.id, person=person, **data)
    await engine.load(turn, raw_state)
    if turn.draft is not None:
        turn.parked.insert(0, turn.draft)
        turn.draft = None
        await engine.save(turn)


async def open_tutor(event: Message | CallbackQuery, texts: Texts, session: AsyncSession, person: Person,
                     state: FSMContext, raw_state: str | None = None, **data: Any) -> None:
    """/tutor, 找导师, or 进入对话 on a notice: ask for a tutor (no tutorship), see the queue
    (waiting), or enter the conversation with one's tutor (active)."""
    if isinstance(event, CallbackQuery):
        await event.answer()
    await _park_open_form(person, raw_state, {**data, "texts": texts, "session": session, "state": state,
                                              "bot": event.bot})
    t = await tutoring.current(session, person.id)
    if t is None:
        await move_to(state, TutorSG.asking, {})
        text, markup = texts.render("tutoring/ask_intro"), None
    elif t.status == TutorshipStatus.waiting:
        text = texts.render("tutoring/waiting", tutorship=t)
        markup = _markup([[_button(texts, "cancel_request", TutorCB(id=t.id, action=TutorAction.end))]])
    else:
        await move_to(state, TutorSG.chatting, {"tutorship": t.id})
        tutor = (await tutoring.people(session, {t.tutor_id}))[t.tutor_id]
        text, markup = texts.render("tutoring/chatting", tutor=tutor), chat_markup(texts, t)
    await event.bot.send_message(person.id, text, reply_markup=markup, disable_web_page_preview=True)


async def first_message(message: Message, texts: Texts, session: AsyncSession, person: Person, state: FSMContext,
                        campaign, settings: Settings, clock: Callable[[], datetime]) -> None:
    """The creator's first message says what they want help with: a tutorship is made, matched to a
    tutor (who gets this message too) or queued for the operators."""
    incoming = incoming_of(message)
    request = (incoming.text or "").strip()
    if len(request) < tutoring.MIN_REQUEST:
        await message.answer(texts.render("tutoring/need_words", kind=incoming.kind, minimum=tutoring.MIN_REQUEST))
        return
    if len(request) > tutoring.MAX_REQUEST:
        await message.answer(texts.render("tutoring/request_too_long", maximum=tutoring.MAX_REQUEST,
                                          length=len(request)))
        return
    now = clock()
    asked = await tutoring.ask(session, campaign, person, request, now=now)
    t = asked.tutorship
    if asked.result is AskResult.exists and t.status == TutorshipStatus.waiting:
        await leave_open(state)
        await message.answer(texts.render("tutoring/waiting", tutorship=t),
                             reply_markup=_markup([[_button(texts, "cancel_request",
                                                            TutorCB(id=t.id, action=TutorAction.end))]]))
        return
    if asked.result is AskResult.waiting:
        await leave_open(state)
        await notices.waiting(session, texts, settings.admin_ids, [t])
        await message.answer(texts.render("tutoring/queued", tutorship=t, kind=incoming.kind))
        return
    if asked.result is AskResult.matched:
        await notices.assigned(session, texts, [t], tell_creator=False, request=False)
    way = await tutoring.route(session, person, t, now=now)
    if way is not None:  # the tutor's notice just named the creator: no header before their first message
        way = way.without_header() if asked.result is AskResult.matched else way
        await notices.relay_message(session, texts, way, incoming, now=now)
    await move_to(state, TutorSG.chatting, {"tutorship": t.id})
    tutor = (await tutoring.people(session, {t.tutor_id}))[t.tutor_id]
    await message.answer(texts.render("tutoring/matched", tutor=tutor, new=asked.result is AskResult.matched),
                         reply_markup=chat_markup(texts, t))


async def _not_active(message: Message, texts: Texts, session: AsyncSession, person: Person,
                      state: FSMContext) -> None:
    """A message in the mode whose tutorship is no longer active: not sent, the creator told why."""
    await leave_open(state)
    t = await tutoring.current(session, person.id)
    await message.answer(texts.render("tutoring/not_active", status=str(t.status) if t else "none"))


async def creator_message(message: Message, texts: Texts, session: AsyncSession, person: Person, state: FSMContext,
                          clock: Callable[[], datetime]) -> None:
    """对话中: whatever the creator sends (text, photo, file, video, voice, sticker, album parts) goes
    to their tutor as a copy; the first of a burst is acknowledged."""
    data = await state.get_data()
    tutorship_id = data.get("tutorship")
    now = clock()
    way = await tutoring.route(session, person, int(tutorship_id), now=now) if isinstance(tutorship_id, int) else None
    if way is None:
        await _not_active(message, texts, session, person, state)
        return
    await _relay(message, texts, session, way, now)


async def _relay(message: Message, texts: Texts, session: AsyncSession, way: tutoring.Route, now: datetime) -> None:
    await notices.relay_message(session, texts, way, incoming_of(message), now=now)
    if way.header:  # the first of a burst: say where it went (the rest go quietly)
        recipient = (await tutoring.people(session, {way.recipient_id}))[way.recipient_id]
        await message.answer(texts.render("tutoring/relayed", recipient=recipient, from_tutor=way.from_tutor))


# ---------------------------------------------------------------- replies to relayed messages


class RepliedTo(Filter):
    """A reply to a message the bot relayed (or its header) in this chat: the handler gets its
    tutorship as `tutorship`. Anything else passes on."""

    async def __call__(self, message: Message, session: AsyncSession) -> dict | bool:
        replied = message.reply_to_message
        if replied is None or (message.text or "").startswith("/"):
            return False
        tutorship = await tutoring.resolve_reply(session, message.chat.id, replied.message_id)
        return False if tutorship is None else {"tutorship": tutorship}


async def answer_reply(message: Message, tutorship: Tutorship, texts: Texts, session: AsyncSession, person: Person,
                       clock: Callable[[], datetime]) -> None:
    """A reply to a relayed message: the tutor's answer goes to the creator (导师回复), a creator's
    reply to their tutor. A tutorship that is not theirs (any more): told how to answer, nothing sent."""
    now = clock()
    way = await tutoring.route(session, person, tutorship, now=now)
    if way is not None:
        await _relay(message, texts, session, way, now)
        return
    if person.id == tutorship.creator_id:
        t = await tutoring.current(session, person.id)
        await message.answer(texts.render("tutoring/not_active", status=str(t.status) if t else "none"))
        return
    await message.answer(texts.render("tutoring/how_to_answer", why="not_yours"))


class TutorHint(Filter):
    """A tutor's message that is no answer: a reply to something not relayed, or, when they have
    creators, a message replying to nothing."""

    async def __call__(self, message: Message, session: AsyncSession, person: Person | None = None) -> dict | bool:
        if person is None or not can(person, Action.tutor_creators) or (message.text or "").startswith("/"):
            return False
        if message.reply_to_message is not None:
            return {"why": "not_relayed"}
        return {"why": "no_reply"} if await tutoring.active_count(session, person.id) else False


async def tutor_hint(message: Message, texts: Texts, why: str) -> None:
    """Told how to answer a creator (reply to their message); nothing was sent."""
    await message.answer(texts.render("tutoring/how_to_answer", why=why))


# ---------------------------------------------------------------- buttons on a tutorship


async def leave_mode(callback: CallbackQuery, texts: Texts, state: FSMContext, raw_state: str | None = None) -> None:
    """退出对话: the mode ends, the tutorship stays (/tutor enters it again)."""
    if raw_state == TutorSG.chatting.state:
        await leave_open(state)
    await show(callback, texts.render("tutoring/left_mode"))


async def end_ask(callback: CallbackQuery, callback_data: TutorCB, texts: Texts, session: AsyncSession,
                  person: Person, clock: Callable[[], datetime]) -> None:
    """结束对话 / 取消申请: asks to confirm (the confirmation carries the minute it was made)."""
    t = await session.get(Tutorship, callback_data.id)
    if t is None or not can(person, Action.end_tutorship, t):
        await callback.answer(texts.render("tutoring/not_yours"), show_alert=True)
        return
    views = await tutoring.people(session, {t.creator_id} | ({t.tutor_id} if t.tutor_id else set()))
    other = views.get(t.tutor_id) if person.id == t.creator_id and t.tutor_id else views.get(t.creator_id)
    markup = _markup([[_button(texts, "end_yes", TutorCB(id=t.id, action=TutorAction.end_yes,
                                                          arg=minute_stamp(clock())))],
                      [_button(texts, "end_no", TutorCB(id=t.id, action=TutorAction.end_no))]])
    await callback.answer()
    await callback.bot.send_message(person.id, texts.render("tutoring/end_confirm", tutorship=t, other=other,
                                                            as_creator=person.id == t.creator_id,
                                                            minutes=CONFIRM_MINUTES), reply_markup=markup)


async def end_no(callback: CallbackQuery, texts: Texts) -> None:
    """« 不结束 on the confirmation: it goes, and nothing changes (no id is acted on)."""
    await show(callback, texts.render("tutoring/end_kept"))


async def end_yes(callback: CallbackQuery, callback_data: TutorCB, texts: Texts, session: AsyncSession,
                  person: Person, state: FSMContext, clock: Callable[[], datetime],
                  raw_state: str | None = None) -> None:
    """The confirmation: the tutorship ends; the other side is told."""
    now = clock()
    if not fresh(callback_data.arg, now):
        await callback.answer(texts.render("forms/errors/confirm_expired", minutes=CONFIRM_MINUTES), show_alert=True)
        return
    out = await tutoring.end(session, person, callback_data.id, now=now)
    if out.result is EndResult.not_allowed:
        await callback.answer(texts.render("tutoring/not_yours"), show_alert=True)
        return
    if out.result is EndResult.done:
        assert out.tutorship is not None
        await notices.ended(session, texts, out.tutorship, by=person.id, tutor_id=out.tutor_id)
        if raw_state == TutorSG.chatting.state and person.id == out.tutorship.creator_id:
            await leave_open(state)
    await show(callback, texts.render("tutoring/ended", result=out.result.value,
                                      as_creator=out.tutorship is not None and person.id == out.tutorship.creator_id))


async def history(callback: CallbackQuery, callback_data: TutorCB, texts: Texts, session: AsyncSession,
                  person: Person) -> None:
    """The conversation's history, page by page (who, when, kind, text or caption): for its tutor
    while they tutor the creator, and for the creator. Another tutor's creator: refused."""
    t = await tutoring.visible(session, person, callback_data.id)
    if t is None:
        await callback.answer(texts.render("tutoring/not_yours"), show_alert=True)
        return
    items = await tutoring.history(session, t)
    page = int(callback_data.arg) if callback_data.arg.isdigit() else max(0, -(-len(items) // HISTORY_PER_PAGE) - 1)
    shown, page, pages = page_of(items, page, HISTORY_PER_PAGE)
    views = await tutoring.people(session, {t.creator_id} | ({t.tutor_id} if t.tutor_id else set()))
    text = texts.render("tutoring/history", tutorship=t, creator=views[t.creator_id],
                        tutor=views.get(t.tutor_id) if t.tutor_id else None, items=shown, total=len(items),
                        page=page, pages=pages, first=page * HISTORY_PER_PAGE, limit=HISTORY_CHARS,
                        as_creator=person.id == t.creator_id)
    rows = pager(texts, page, pages, lambda to: TutorCB(id=t.id, action=TutorAction.history, arg=str(to)).pack())
    if can(person, Action.end_tutorship, t) and t.status == TutorshipStatus.active:
        rows.append([_button(texts, "end", TutorCB(id=t.id, action=TutorAction.end))])
    if person.id != t.creator_id:
        rows.append([_button(texts, "to_mine", TutorCB(id=0, action=TutorAction.mine))])
    if callback_data.arg:
        await show(callback, text, _markup(rows))
        return
    await callback.answer()
    await callback.bot.send_message(person.id, text, reply_markup=_markup(rows), disable_web_page_preview=True)


# ---------------------------------------------------------------- tutors: /mycreators, /tutorprofile


async def my_creators(event: Message | CallbackQuery, texts: Texts, session: AsyncSession, person: Person,
                      callback_data: TutorCB | None = None) -> None:
    """/mycreators: the tutor's creators with their 科普号 (and its status) and applications, a
    button each to the conversation's history."""
    creators = await tutoring.creators_of(session, person)
    arg = callback_data.arg if callback_data is not None else ""
    shown, page, pages = page_of(creators, int(arg) if arg.isdigit() else 0, CREATORS_PER_PAGE)
    profile = await tutoring.profile_of(session, person.id)
    text = texts.render("tutoring/my_creators", creators=shown, total=len(creators), page=page, pages=pages,
                        first=page * CREATORS_PER_PAGE, subs_shown=SUBS_SHOWN, has_profile=profile is not None,
                        capacity=profile.capacity if profile else tutoring.DEFAULT_CAPACITY)
    rows = [[_button(texts, "creator", TutorCB(id=c.tutorship.id, action=TutorAction.history),
                     name=c.person.name[:NAME_CHARS], n=c.messages)] for c in shown]
    rows += pager(texts, page, pages, lambda to: TutorCB(id=0, action=TutorAction.mine, arg=str(to)).pack())
    rows.append([_button(texts, "set_profile" if profile is None else "edit_profile",
                         TutorCB(id=0, action=TutorAction.profile))])
    if isinstance(event, CallbackQuery) and arg:
        await show(event, text, _markup(rows))
        return
    if isinstance(event, CallbackQuery):
        await event.answer()
    await event.bot.send_message(person.id, text, reply_markup=_markup(rows), disable_web_page_preview=True)


async def tutor_profile(event: Message | CallbackQuery, session: AsyncSession, person: Person, **data: Any) -> None:
    """/tutorprofile: the profile form, pre-filled (a saved profile opens at its summary)."""
    if isinstance(event, CallbackQuery):
        await event.answer()
    profile = await tutoring.profile_of(session, person.id)
    turn = turn_of(person.id, session=session, person=person, **data)
    if profile is None:
        await start_form(turn, PROFILE)
        return
    values = {"fields": tutoring.fields_of(profile), "other_fields": profile.other_fields or None,
              "capacity": profile.capacity}
    await start_form(turn, PROFILE, values=values, at_summary=True)


# ---------------------------------------------------------------- operators: /tutoring, /assign_tutor


async def queue_view(texts: Texts, session: AsyncSession, page: int, now: datetime) -> tuple[str, InlineKeyboardMarkup | None]:
    items = await tutoring.waiting_queue(session, now=now)
    shown, page, pages = page_of(items, page, QUEUE_PER_PAGE)
    text = texts.render("tutoring/queue", items=shown, total=len(items), page=page, pages=pages,
                        first=page * QUEUE_PER_PAGE)
    rows = [[_button(texts, "assign_for", TutorCB(id=i.tutorship.id, action=TutorAction.pick),
                     name=i.person.name[:NAME_CHARS])] for i in shown]
    rows += pager(texts, page, pages, lambda to: TutorCB(id=0, action=TutorAction.queue, arg=str(to)).pack())
    return text, _markup(rows)


async def tutoring_queue(event: Message | CallbackQuery, texts: Texts, session: AsyncSession, person: Person,
                         clock: Callable[[], datetime], callback_data: TutorCB | None = None) -> None:
    """/tutoring: creators waiting for a tutor, oldest first, with how long; a button each to assign."""
    arg = callback_data.arg if callback_data is not None else ""
    text, markup = await queue_view(texts, session, int(arg) if arg.isdigit() else 0, clock())
    if isinstance(event, CallbackQuery) and arg:
        await show(event, text, markup)
        return
    if isinstance(event, CallbackQuery):
        await event.answer()
    await event.bot.send_message(person.id, text, reply_markup=markup, disable_web_page_preview=True)


async def pick_tutor(callback: CallbackQuery, callback_data: TutorCB, texts: Texts, session: AsyncSession) -> None:
    """The tutors to choose from for a waiting creator: load and capacity, those with room first."""
    t = await session.get(Tutorship, callback_data.id)
    if t is None or t.status != TutorshipStatus.waiting:
        await callback.answer(texts.render("tutoring/not_waiting"), show_alert=True)
        return
    pool = sorted((x for x in await tutoring.tutors(session) if x.user_id != t.creator_id),
                  key=lambda x: (not x.room, x.active, x.user_id))
    shown, page, pages = page_of(pool, int(callback_data.arg) if callback_data.arg.isdigit() else 0, TUTORS_PER_PAGE)
    creator = (await tutoring.people(session, {t.creator_id}))[t.creator_id]
    text = texts.render("tutoring/pick", tutorship=t, creator=creator, tutors=shown, total=len(pool))
    rows = [[_button(texts, "tutor_load", TutorCB(id=t.id, action=TutorAction.assign, arg=str(x.user_id)),
                     name=x.name[:NAME_CHARS], active=x.active, capacity=x.capacity)] for x in shown]
    rows += pager(texts, page, pages, lambda to: TutorCB(id=t.id, action=TutorAction.pick, arg=str(to)).pack())
    rows.append([_button(texts, "open_queue", TutorCB(id=0, action=TutorAction.queue))])
    await show(callback, text, _markup(rows))


async def _assign(session: AsyncSession, texts: Texts, person: Person, settings: Settings, creator_id: int,
                  tutor_id: int, now: datetime, tutorship_id: int | None = None) -> str:
    """Assign and tell both sides; returns what the operator is told."""
    out = await tutoring.assign(session, person, creator_id, tutor_id, now=now, tutorship_id=tutorship_id)
    views = await tutoring.people(session, {creator_id, tutor_id})
    if out.result is AssignResult.done:
        assert out.tutorship is not None
        await notices.assigned(session, texts, [out.tutorship], previous_tutor=out.previous_tutor)
    return texts.render("tutoring/assigned", result=out.result.value, creator=views.get(creator_id),
                        tutor=views.get(tutor_id), creator_id=creator_id, tutor_id=tutor_id,
                        over_capacity=out.over_capacity, previous=out.previous_tutor)


async def assign_button(callback: CallbackQuery, callback_data: TutorCB, texts: Texts, session: AsyncSession,
                        person: Person, settings: Settings, clock: Callable[[], datetime]) -> None:
    """A tutor picked for a waiting creator (both re-checked: still waiting, still a tutor)."""
    t = await session.get(Tutorship, callback_data.id)
    if t is None or not callback_data.arg.isdigit():
        await stale_button(callback, texts)
        return
    text = await _assign(session, texts, person, settings, t.creator_id, int(callback_data.arg), clock(),
                         tutorship_id=t.id)
    markup = _markup([[_button(texts, "open_queue", TutorCB(id=0, action=TutorAction.queue))]])
    await show(callback, text, markup)


async def assign_command(message: Message, command: CommandObject, texts: Texts, session: AsyncSession,
                         person: Person, settings: Settings, clock: Callable[[], datetime]) -> None:
    """/assign_tutor CREATOR_ID TUTOR_ID: the creator's waiting or active tutorship gets the tutor
    (a creator who never asked gets one); both are told."""
    parts = (command.args or "").split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        await message.answer(texts.render("tutoring/assigned", result="usage", creator=None, tutor=None,
                                          creator_id=0, tutor_id=0, over_capacity=False, previous=None))
        return
    await message.answer(await _assign(session, texts, person, settings, int(parts[0]), int(parts[1]), clock()))


def build() -> Router:
    router = Router(name="tutoring")
    msg, on = router.message.register, router.callback_query.register
    # creators
    msg(open_tutor, Command("tutor"), Can(Action.ask_tutor))
    on(open_tutor, MenuCB.filter(F.section == Section.tutor), Can(Action.ask_tutor))
    on(open_tutor, TutorCB.filter(F.action == TutorAction.chat), Can(Action.ask_tutor))
    # replies first: in the mode or outside it, a reply names the conversation it answers
    msg(answer_reply, StateFilter(None, FormSG.parked, TutorSG.chatting), RepliedTo())
    msg(first_message, StateFilter(TutorSG.asking), NotCommand())
    msg(creator_message, StateFilter(TutorSG.chatting), NotCommand())
    msg(tutor_hint, StateFilter(None, FormSG.parked), TutorHint())
    on(leave_mode, TutorCB.filter(F.action == TutorAction.leave))
    on(end_ask, TutorCB.filter(F.action == TutorAction.end))
    on(end_yes, TutorCB.filter(F.action == TutorAction.end_yes))
    on(end_no, TutorCB.filter(F.action == TutorAction.end_no))
    on(history, TutorCB.filter(F.action == TutorAction.history))
    # tutors
    msg(my_creators, Command("mycreators"), Can(Action.tutor_creators))
    msg(tutor_profile, Command("tutorprofile"), Can(Action.set_tutor_profile))
    on(my_creators, TutorCB.filter(F.action == TutorAction.mine), Can(Action.tutor_creators))
    on(tutor_profile, TutorCB.filter(F.action == TutorAction.profile), Can(Action.set_tutor_profile))
    # operators
    msg(tutoring_queue, Command("tutoring"), Can(Action.assign_tutor))
    msg(assign_command, Command("assign_tutor"), Can(Action.assign_tutor))
    staff = Can(Action.assign_tutor)
    on(tutoring_queue, TutorCB.filter(F.action == TutorAction.queue), staff)
    on(pick_tutor, TutorCB.filter(F.action == TutorAction.pick), staff)
    on(assign_button, TutorCB.filter(F.action == TutorAction.assign), staff)
    # the rest: a role's button pressed without the role (forged, or the role taken away), garbled data
    on(not_allowed, TutorCB.filter(F.action.in_({TutorAction.mine, TutorAction.profile, TutorAction.queue,
                                                  TutorAction.pick, TutorAction.assign})))
    on(stale_button, Pressed(TutorCB))
    return router
