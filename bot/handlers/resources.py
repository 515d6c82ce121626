"""资源对接 in the chat (notice 三(三)).

Creators: /resources (and 资源对接 on the menu) lists their requests, 新建需求 opens the request
form; a request's card offers 补充/追问 once answered and 已解决/撤销 until closed.
Operators: /requests lists requests (oldest first, filtered by status, paged); a card shows the
creator, their 科普号, the thread, the answer and the audit trail, with 指派 (a tutor or a staff
member), 回复 and 关闭. A tutor's /requests and cards show the requests assigned to them, which
they may answer and close.

Every id a button carries is looked up again by the service (`resources.own` / `for_handler`)
and the policy asked about the request itself: a forged id, someone else's request, a closed one
get a kind alert and nothing changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import (
    CONFIRM_MINUTES,
    MenuCB,
    Pressed,
    ResAction,
    ResCB,
    ResStaffAction,
    ResStaffCB,
    Section,
    fresh,
    minute_stamp,
)
from bot.config import Settings
from bot.filters import Can
from bot.flows.engine import start_form, turn_of
from bot.flows.resources import tail, tell_creator, tell_handler
from bot.handlers.applications.common import page_of, pager
from bot.keyboards import back_to_menu
from bot.outbox import notify
from bot.render import Texts
from bot.services import resources
from bot.services.policy import Action, can
from bot.services.resources import Result, Status
from bot.services.users import Person, Role
from bot.ui import not_allowed, show, stale_button
from storage.models import ResourceRequest

MINE_PER_PAGE = 8
QUEUE_PER_PAGE = 6  # each item also shows an excerpt of its description
PICK_PER_PAGE = 10
THREAD_CHARS, ANSWER_CHARS = 1200, 1200  # of a card (the newest part of a long thread)
MESSAGE_LIMIT = 4096


def _b(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


async def _reply(event: Message | CallbackQuery, bot: Bot, chat_id: int, text: str,
                 markup: InlineKeyboardMarkup | None, *, new: bool = False) -> None:
    """A command's answer, or a button's: in place of the message pressed (or a new message)."""
    if isinstance(event, CallbackQuery) and not new:
        await show(event, text, markup)
        return
    if isinstance(event, CallbackQuery):
        await event.answer()
    await bot.send_message(chat_id, text, reply_markup=markup, disable_web_page_preview=True)


async def _refuse(callback: CallbackQuery, texts: Texts, result: Result | str, *, creator: bool,
                  **values: Any) -> None:
    await callback.answer(texts.render("resources/refused", result=str(result), creator=creator, **values),
                          show_alert=True)


# ---------------------------------------------------------------- creators


def _mine_view(texts: Texts, page: resources.Page) -> tuple[str, InlineKeyboardMarkup]:
    rows = [[_b(texts.label("resources.item", icon=texts.label(f"resources.icons.{r.status}"), id=r.id,
                            kind=texts.label(f"resources.kinds.{r.kind}")),
                ResCB(id=r.id, action=ResAction.open).pack())] for r in page.items]
    rows += pager(texts, page.page, page.pages, lambda to: ResCB(id=0, action=ResAction.mine, arg=str(to)).pack())
    rows.insert(0, [_b(texts.label("resources.new"), ResCB(id=0, action=ResAction.new).pack())])
    return texts.render("resources/mine", page=page), back_to_menu(texts, rows=rows)


async def my_requests(event: Message | CallbackQuery, bot: Bot, texts: Texts, session: AsyncSession,
                      person: Person) -> None:
    """/resources, or 资源对接 on the menu: one's requests with their status, and 新建需求."""
    page = await resources.mine(session, person, page=0, size=MINE_PER_PAGE)
    await _reply(event, bot, person.id, *_mine_view(texts, page))


async def mine_page(callback: CallbackQuery, callback_data: ResCB, texts: Texts, session: AsyncSession,
                    person: Person) -> None:
    page = int(callback_data.arg) if callback_data.arg.isdigit() else 0
    await show(callback, *_mine_view(texts, await resources.mine(session, person, page=page, size=MINE_PER_PAGE)))


async def new_request(callback: CallbackQuery, person: Person, **data: Any) -> None:
    """新建需求: the request form (it asks before replacing any unfinished form)."""
    await callback.answer()
    await start_form(turn_of(person.id, person=person, **data), "resource_request")


def _card_values(r: resources.RequestView) -> dict[str, Any]:
    return {"r": r, "thread": tail(r.description, THREAD_CHARS), "answer": (r.answer or "")[:ANSWER_CHARS]}


async def own_card(texts: Texts, session: AsyncSession, request: ResourceRequest) -> tuple[str, InlineKeyboardMarkup]:
    view = await resources.view(session, request)
    rows = []
    if request.status == Status.answered:
        rows.append([_b(texts.label("resources.follow_up"), ResCB(id=request.id, action=ResAction.more).pack())])
    if request.status != Status.closed:
        key = "resources.solved" if request.status == Status.answered else "resources.withdraw"
        rows.append([_b(texts.label(key), ResCB(id=request.id, action=ResAction.close).pack())])
    rows.append([_b(texts.label("resources.back_mine"), ResCB(id=0, action=ResAction.mine).pack())])
    return texts.render("resources/card", **_card_values(view)), back_to_menu(texts, rows=rows)


async def open_own(callback: CallbackQuery, callback_data: ResCB, bot: Bot, texts: Texts, session: AsyncSession,
                   person: Person) -> None:
    """A request's card (a notification's button: as a new message, the notification stays)."""
    request = await resources.own(session, person, callback_data.id)
    if request is None:
        await _refuse(callback, texts, Result.missing, creator=True)
        return
    await _reply(callback, bot, person.id, *await own_card(texts, session, request),
                 new=callback_data.action == ResAction.show)


async def follow_up(callback: CallbackQuery, callback_data: ResCB, texts: Texts, session: AsyncSession,
                    person: Person, **data: Any) -> None:
    """补充/追问 on an answered request: the follow-up form (the service checks again when it is sent)."""
    request = await resources.own(session, person, callback_data.id)
    if request is None or request.status != Status.answered:
        result = Result.missing if request is None else (
            Result.closed if request.status == Status.closed else Result.not_answered)
        await _refuse(callback, texts, result, creator=True)
        return
    await callback.answer()
    await start_form(turn_of(person.id, texts=texts, session=session, person=person, **data), "resource_more",
                     refs={"request_id": request.id})


Card = Callable[[ResourceRequest], Awaitable[tuple[str, InlineKeyboardMarkup]]]


async def _ask_close(callback: CallbackQuery, texts: Texts, request: ResourceRequest, kind: type[ResCB | ResStaffCB],
                     now: datetime) -> None:
    """关闭 asks first (the confirmation works for CONFIRM_MINUTES): the creator's buttons (ResCB) or
    the handler's (ResStaffCB), whose actions share their names."""
    creator = kind is ResCB
    yes = kind(id=request.id, action="close_yes", arg=minute_stamp(now)).pack()
    back = kind(id=request.id, action="open").pack()
    markup = InlineKeyboardMarkup(inline_keyboard=[[_b(texts.label("resources.close_yes"), yes)],
                                                   [_b(texts.label("resources.back_card"), back)]])
    await show(callback, texts.render("resources/close_confirm", r=request, creator=creator, minutes=CONFIRM_MINUTES),
               markup)


async def _close(callback: CallbackQuery, texts: Texts, session: AsyncSession, person: Person,
                 request: ResourceRequest, stamp: str, now: datetime, card: Card, *,
                 creator: bool) -> ResourceRequest | None:
    """A confirmed 关闭: the request closed (None: the confirmation was stale, or the service refused,
    and the person was told)."""
    if not fresh(stamp, now):  # a confirmation pressed long after
        text, markup = await card(request)
        await show(callback, texts.render("forms/errors/confirm_expired", minutes=CONFIRM_MINUTES) + "\n\n" + text,
                   markup)
        return None
    out = await resources.close(session, person, request.id, now=now)
    if out.result is not Result.done or out.request is None:
        await _refuse(callback, texts, out.result, creator=creator)
        return None
    return out.request


async def _show_closed(callback: CallbackQuery, texts: Texts, request: ResourceRequest, card: Card, *,
                       creator: bool) -> None:
    text, markup = await card(request)
    await show(callback, texts.render("resources/closed", r=request, creator=creator) + "\n\n" + text, markup)


async def close_own(callback: CallbackQuery, callback_data: ResCB, texts: Texts, session: AsyncSession,
                    person: Person, clock: Callable[[], datetime]) -> None:
    """已解决 / 撤销 (until it is closed)."""
    request = await resources.own(session, person, callback_data.id)
    if request is None or request.status == Status.closed:
        await _refuse(callback, texts, Result.missing if request is None else Result.closed, creator=True)
        return
    await _ask_close(callback, texts, request, ResCB, clock())


async def close_own_yes(callback: CallbackQuery, callback_data: ResCB, texts: Texts, session: AsyncSession,
                        person: Person, clock: Callable[[], datetime]) -> None:
    """The creator closes their request; whoever handled it is told there is nothing more to do."""
    request = await resources.own(session, person, callback_data.id)
    if request is None:
        await _refuse(callback, texts, Result.missing, creator=True)
        return

    async def card(r: ResourceRequest) -> tuple[str, InlineKeyboardMarkup]:
        return await own_card(texts, session, r)

    closed = await _close(callback, texts, session, person, request, callback_data.arg, clock(), card, creator=True)
    if closed is None:
        return
    if closed.assignee_id is not None and closed.assignee_id != person.id:
        await notify(session, [closed.assignee_id], texts.render("resources/notice_closed", r=closed),
                     about=person.id)
    await _show_closed(callback, texts, closed, card, creator=True)


# ---------------------------------------------------------------- operators and tutors


FILTER_ROWS = (("act", "open", "asg"), ("ans", "cls", "all"))


def _list_data(flt: str, page: int) -> str:
    return ResStaffCB(id=0, action=ResStaffAction.page, arg=f"{flt}-{page}").pack()


async def queue_view(texts: Texts, session: AsyncSession, person: Person, flt: str,
                     page: int) -> tuple[str, InlineKeyboardMarkup] | None:
    found = await resources.queue(session, person, flt, page=page, size=QUEUE_PER_PAGE)
    if found is None:
        return None
    flt = flt if flt in resources.FILTERS else resources.DEFAULT_FILTER
    rows = [[_b(texts.label("resources.staff.item", icon=texts.label(f"resources.icons.{r.status}"), id=r.id,
                            kind=texts.label(f"resources.kinds.{r.kind}"), name=(r.creator or str(r.user_id))[:20]),
                ResStaffCB(id=r.id, action=ResStaffAction.open).pack())] for r in found.items]
    rows += pager(texts, found.page, found.pages, lambda to: _list_data(flt, to))
    rows += [[_b(texts.label("resources.staff.filter", mark="✅ " if code == flt else "",
                             text=texts.label(f"resources.filters.{code}")), _list_data(code, 0)) for code in row]
             for row in FILTER_ROWS]
    text = texts.render("resources/queue", page=found, flt=flt, staff=can(person, Action.list_resources))
    return text, back_to_menu(texts, rows=rows)


async def requests_list(message: Message, texts: Texts, session: AsyncSession, person: Person) -> None:
    """/requests: operators' requests still to handle (open and assigned), oldest first; a tutor's
    own assigned requests."""
    view = await queue_view(texts, session, person, resources.DEFAULT_FILTER, 0)
    assert view is not None  # the filter let only those who handle requests through
    await message.answer(view[0], reply_markup=view[1], disable_web_page_preview=True)


async def queue_page(callback: CallbackQuery, callback_data: ResStaffCB, texts: Texts, session: AsyncSession,
                     person: Person) -> None:
    """Another page, or another filter (garbled: the first page of what needs handling)."""
    flt, _, page = callback_data.arg.partition("-")
    view = await queue_view(texts, session, person, flt, int(page) if page.isdigit() else 0)
    if view is None:
        await not_allowed(callback, texts)
        return
    await show(callback, *view)


async def _handled(callback: CallbackQuery, texts: Texts, session: AsyncSession, person: Person,
                   request_id: int, *, open_only: bool = False) -> ResourceRequest | None:
    """The request a handler's button names, if the person handles it (and, `open_only`, it is not
    closed); otherwise the alert says why."""
    request = await resources.for_handler(session, person, request_id)
    if request is None:
        exists = await session.get(ResourceRequest, request_id) is not None
        await _refuse(callback, texts, Result.forbidden if exists else Result.missing, creator=False)
    elif open_only and request.status == Status.closed:
        await _refuse(callback, texts, Result.closed, creator=False)
        return None
    return request


async def staff_card(texts: Texts, session: AsyncSession, person: Person,
                     request: ResourceRequest) -> tuple[str, InlineKeyboardMarkup]:
    """The handler's card: the creator and their 科普号, the thread, the answer, the audit trail; 回复,
    指派 (operators) and 关闭 while it is not closed."""
    view = await resources.view(session, request)
    lines, total = await resources.trail(session, request.id)
    values = {**_card_values(view), "lines": lines, "total": total}
    text = texts.render("resources/staff_card", **values)
    if len(text) > MESSAGE_LIMIT:  # a long thread and answer: shorter excerpts
        values.update(thread=tail(view.description, 400), answer=(view.answer or "")[:400], lines=lines[-6:])
        text = texts.render("resources/staff_card", **values)[:MESSAGE_LIMIT]
    rows = []
    if request.status != Status.closed:
        rows.append([_b(texts.label("resources.staff.answer"),
                        ResStaffCB(id=request.id, action=ResStaffAction.answer).pack())])
        if can(person, Action.list_resources):
            key = "resources.staff.reassign" if request.assignee_id else "resources.staff.assign"
            rows.append([_b(texts.label(key), ResStaffCB(id=request.id, action=ResStaffAction.assign).pack())])
        rows.append([_b(texts.label("resources.staff.close"),
                        ResStaffCB(id=request.id, action=ResStaffAction.close).pack())])
    rows.append([_b(texts.label("resources.staff.back_list"), _list_data(resources.DEFAULT_FILTER, 0))])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def staff_open(callback: CallbackQuery, callback_data: ResStaffCB, bot: Bot, texts: Texts,
                     session: AsyncSession, person: Person) -> None:
    """A request's card for whoever handles it (a notification's button: as a new message)."""
    request = await _handled(callback, texts, session, person, callback_data.id)
    if request is not None:
        await _reply(callback, bot, person.id, *await staff_card(texts, session, person, request),
                     new=callback_data.action == ResStaffAction.show)


async def assign_pick(callback: CallbackQuery, callback_data: ResStaffCB, texts: Texts, session: AsyncSession,
                      person: Person, settings: Settings) -> None:
    """指派: the tutors and staff members it can go to (staff first, then the least loaded), page by page."""
    if not can(person, Action.list_resources):
        await not_allowed(callback, texts)
        return
    request = await _handled(callback, texts, session, person, callback_data.id, open_only=True)
    if request is None:
        return
    people = await resources.handlers(session, settings.admin_ids)
    shown, page, pages = page_of(people, int(callback_data.arg) if callback_data.arg.isdigit() else 0, PICK_PER_PAGE)
    rows = [[_b(texts.label("resources.staff.pick_staff" if h.role == Role.admin else "resources.staff.pick_tutor",
                            name=h.name[:20], load=h.load),
                ResStaffCB(id=request.id, action=ResStaffAction.pick, arg=str(h.user_id)).pack())] for h in shown]
    rows += pager(texts, page, pages, lambda to: ResStaffCB(id=request.id, action=ResStaffAction.assign,
                                                            arg=str(to)).pack())
    rows.append([_b(texts.label("resources.back_card"), ResStaffCB(id=request.id, action=ResStaffAction.open).pack())])
    view = await resources.view(session, request)
    await show(callback, texts.render("resources/assign_pick", r=view, people=shown, page=page, pages=pages),
               InlineKeyboardMarkup(inline_keyboard=rows))


async def assign_to(callback: CallbackQuery, callback_data: ResStaffCB, texts: Texts, session: AsyncSession,
                    person: Person, settings: Settings, clock: Callable[[], datetime]) -> None:
    """A person picked: the request is theirs (assigned); they are told, with a button to it, and so is
    the creator. A refusal (closed meanwhile, no longer a tutor, the same person) changes nothing."""
    if not callback_data.arg.isdigit():
        await stale_button(callback, texts)
        return
    to = int(callback_data.arg)
    out = await resources.assign(session, person, callback_data.id, to, settings.admin_ids, now=clock())
    if out.result is Result.forbidden:
        await not_allowed(callback, texts)
        return
    names = await resources.handlers(session, settings.admin_ids)
    picked = next((h for h in names if h.user_id == to), None)
    name = picked.name if picked else str(to)
    if out.result is not Result.done or out.request is None:
        await _refuse(callback, texts, out.result, creator=False, name=name)
        return
    request = out.request
    notified = request.assignee_id != person.id
    if notified:
        await tell_handler(session, texts, request)
    await tell_creator(session, texts, request, "assigned", tutor=picked is not None and picked.role == Role.tutor)
    text, markup = await staff_card(texts, session, person, request)
    await show(callback, texts.render("resources/assigned", r=request, name=name, notified=notified) + "\n\n" + text,
               markup)


async def answer_start(callback: CallbackQuery, callback_data: ResStaffCB, texts: Texts, session: AsyncSession,
                       person: Person, **data: Any) -> None:
    """回复: the answer form (the service checks again when it is sent)."""
    request = await _handled(callback, texts, session, person, callback_data.id, open_only=True)
    if request is None:
        return
    await callback.answer()
    await start_form(turn_of(person.id, texts=texts, session=session, person=person, **data), "resource_answer",
                     refs={"request_id": request.id, "about": request.user_id})  # dropped if the creator erases


async def staff_close(callback: CallbackQuery, callback_data: ResStaffCB, texts: Texts, session: AsyncSession,
                      person: Person, clock: Callable[[], datetime]) -> None:
    """关闭 by whoever handles the request."""
    request = await _handled(callback, texts, session, person, callback_data.id, open_only=True)
    if request is None:
        return
    await _ask_close(callback, texts, request, ResStaffCB, clock())


async def staff_close_yes(callback: CallbackQuery, callback_data: ResStaffCB, texts: Texts, session: AsyncSession,
                          person: Person, clock: Callable[[], datetime]) -> None:
    """The request closed; the creator is told."""
    request = await _handled(callback, texts, session, person, callback_data.id)
    if request is None:
        return

    async def card(r: ResourceRequest) -> tuple[str, InlineKeyboardMarkup]:
        return await staff_card(texts, session, person, r)

    closed = await _close(callback, texts, session, person, request, callback_data.arg, clock(), card, creator=False)
    if closed is not None:
        await tell_creator(session, texts, closed, "closed")
        await _show_closed(callback, texts, closed, card, creator=False)


def build() -> Router:
    router = Router(name="resources")
    filing, handling = Can(Action.request_resource), Can(Action.handle_resource)
    router.message.register(my_requests, Command("resources"), filing)
    router.message.register(requests_list, Command("requests"), handling)  # others: "unknown command"
    on = router.callback_query.register
    on(my_requests, MenuCB.filter(F.section == Section.resources), filing)
    on(mine_page, ResCB.filter(F.action == ResAction.mine))
    on(new_request, ResCB.filter(F.action == ResAction.new), filing)
    on(open_own, ResCB.filter(F.action.in_({ResAction.open, ResAction.show})))
    on(follow_up, ResCB.filter(F.action == ResAction.more))
    on(close_own, ResCB.filter(F.action == ResAction.close))
    on(close_own_yes, ResCB.filter(F.action == ResAction.close_yes))
    on(queue_page, ResStaffCB.filter(F.action == ResStaffAction.page), handling)
    on(staff_open, ResStaffCB.filter(F.action.in_({ResStaffAction.open, ResStaffAction.show})), handling)
    on(assign_pick, ResStaffCB.filter(F.action == ResStaffAction.assign), handling)
    on(assign_to, ResStaffCB.filter(F.action == ResStaffAction.pick), handling)
    on(answer_start, ResStaffCB.filter(F.action == ResStaffAction.answer), handling)
    on(staff_close, ResStaffCB.filter(F.action == ResStaffAction.close), handling)
    on(staff_close_yes, ResStaffCB.filter(F.action == ResStaffAction.close_yes), handling)
    # the handlers' buttons pressed by someone the policy does not allow (forged, or no longer a tutor)
    on(not_allowed, Pressed(ResStaffCB), ~handling)
    on(stale_button, Pressed(ResCB, ResStaffCB))  # data no handler above reads (garbled)
    return router
