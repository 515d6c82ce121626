"""资源对接 forms: a creator's request (`resource_request`), its answer by whoever handles it
(`resource_answer`, refs request_id and about) and the creator's follow-up on an answer
(`resource_more`, refs request_id). Each confirms with the service, which re-reads the request
under its lock and asks the policy again (a request closed, or given to someone else, while the
form was open is refused and nothing changes); then the people concerned are told through the
outbox, in the same transaction."""

from __future__ import annotations

from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import ResAction, ResCB, ResStaffAction, ResStaffCB
from bot.campaign import Campaign
from bot.flows import fields as f
from bot.flows.engine import Done, Form, Turn
from bot.notices import operator_ids
from bot.outbox import notify
from bot.render import Texts
from bot.services import resources
from bot.services.resources import Result
from storage.models import ResourceRequest

KINDS = tuple(f.Choice(k, label=f"resources.kinds.{k}") for k in resources.KINDS)
EXCERPT = 600  # of a request's text in a notification or a form's intro


def _buttons(*pairs: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d)] for t, d in pairs])


def creator_buttons(texts: Texts, request: ResourceRequest) -> InlineKeyboardMarkup:
    """Under a notification to the creator: their request's card (and, answered, 补充 / 已解决)."""
    pairs = [(texts.label("resources.view", id=request.id), ResCB(id=request.id, action=ResAction.show).pack())]
    if request.status == resources.Status.answered:
        pairs += [(texts.label("resources.follow_up"), ResCB(id=request.id, action=ResAction.more).pack()),
                  (texts.label("resources.solved"), ResCB(id=request.id, action=ResAction.close).pack())]
    return _buttons(*pairs)


def handler_button(texts: Texts, request_id: int) -> InlineKeyboardMarkup:
    return _buttons((texts.label("resources.staff.open_request", id=request_id),
                     ResStaffCB(id=request_id, action=ResStaffAction.show).pack()))


def tail(text: str | None, limit: int) -> str:
    """The end of a long thread (the newest part), marked as cut."""
    text = text or ""
    return text if len(text) <= limit else "…" + text[-limit:]


# ---------------------------------------------------------------- notifications (shared with the handlers)


async def tell_creator(session: AsyncSession, texts: Texts, request: ResourceRequest, event: str, *,
                       tutor: bool = False) -> int:
    """The creator hears of a change: "assigned", "answered" (with the answer) or "closed"."""
    view = await resources.view(session, request)
    return await notify(session, [request.user_id], texts.render("resources/notice_creator", r=view, event=event,
                                                                 tutor=tutor),
                        creator_buttons(texts, request), about=request.user_id)


async def tell_handler(session: AsyncSession, texts: Texts, request: ResourceRequest, *,
                       follow_up: bool = False) -> int:
    """Whoever handles the request is told it is theirs (or that the creator followed up), with a button."""
    if request.assignee_id is None:
        return 0
    view = await resources.view(session, request)
    return await notify(session, [request.assignee_id],
                        texts.render("resources/notice_assigned", r=view, follow_up=follow_up,
                                     excerpt=tail(view.description, EXCERPT)),
                        handler_button(texts, request.id), about=request.user_id)


# ---------------------------------------------------------------- the creator's request


async def submit_request(turn: Turn, values: dict[str, Any]) -> Done:
    person, texts, session, settings = turn.person, turn.texts, turn.session, turn.settings
    assert person is not None and session is not None and settings is not None
    out = await resources.file(session, person, values["kind"], values["description"], now=turn.now)
    if out.result is not Result.done or out.request is None:
        return Done(texts.render("resources/refused", result=str(out.result), creator=True))
    view = await resources.view(session, out.request)
    await notify(session, await operator_ids(session, settings.admin_ids),
                 texts.render("resources/notice_new", r=view), handler_button(texts, view.id),
                 about=person.id)  # erased with the creator's data
    return Done(texts.render("resources/filed", r=view), _buttons(
        (texts.label("resources.view", id=view.id), ResCB(id=view.id, action=ResAction.show).pack()),
        (texts.label("resources.mine"), ResCB(id=0, action=ResAction.mine).pack())))


# ---------------------------------------------------------------- answering


async def request_shown(turn: Turn) -> dict[str, Any]:
    """The request a form is about (empty once gone: the creator erased their data)."""
    assert turn.draft is not None and turn.session is not None
    request_id = turn.draft.refs.get("request_id")
    request = await turn.session.get(ResourceRequest, int(request_id)) if request_id else None
    if request is None:
        return {"request_id": request_id or "", "kind": "", "creator": "", "description": "", "answer": ""}
    view = await resources.view(turn.session, request)
    return {"request_id": view.id, "kind": view.kind, "creator": view.creator,
            "description": tail(view.description, EXCERPT), "answer": tail(view.answer, EXCERPT)}


async def submit_answer(turn: Turn, values: dict[str, Any]) -> Done:
    person, texts, session = turn.person, turn.texts, turn.session
    assert person is not None and session is not None and turn.draft is not None
    request_id = int(turn.draft.refs.get("request_id") or 0)
    out = await resources.answer(session, person, request_id, values["answer"], now=turn.now)
    if out.result is not Result.done or out.request is None:
        return Done(texts.render("resources/refused", result=str(out.result), creator=False))
    await tell_creator(session, texts, out.request, "answered")
    return Done(texts.render("resources/answered", r=out.request), handler_button(texts, out.request.id))


# ---------------------------------------------------------------- the creator's follow-up


async def submit_more(turn: Turn, values: dict[str, Any]) -> Done:
    person, texts, session, settings = turn.person, turn.texts, turn.session, turn.settings
    assert person is not None and session is not None and settings is not None and turn.draft is not None
    request_id = int(turn.draft.refs.get("request_id") or 0)
    at = turn.now.astimezone(texts.tz).strftime("%Y-%m-%d %H:%M")

    def join(answer: str | None, text: str) -> str:  # plain text: stored with the request, escaped when shown
        said = f"{texts.label('resources.thread_answer', at=at)}\n{answer}\n\n" if answer else ""
        return f"{said}{texts.label('resources.thread_follow_up', at=at)}\n{text}"

    out = await resources.follow_up(session, person, request_id, values["text"], join, now=turn.now)
    if out.result is not Result.done or out.request is None:
        return Done(texts.render("resources/refused", result=str(out.result), creator=True))
    request = out.request
    assignee = request.assignee_id
    await tell_handler(session, texts, request, follow_up=True)
    if assignee is not None and not await resources.is_handler(session, assignee, settings.admin_ids):
        # whoever answered no longer handles requests: the operators hear of it, to give it to someone
        view = await resources.view(session, request)
        await notify(session, await operator_ids(session, settings.admin_ids),
                     texts.render("resources/notice_new", r=view), handler_button(texts, request.id),
                     about=request.user_id)
    return Done(texts.render("resources/followed_up", r=request), creator_buttons(texts, request))


def resource_forms(campaign: Campaign) -> tuple[Form, ...]:
    words = Texts()
    request = Form(
        name="resource_request",
        fields=(
            f.Field("kind", f.choice(KINDS, labels=words.label), accepts=frozenset({f.TEXT, f.CHOICE}),
                    choices=KINDS, columns=2),
            f.Field("description", f.text(resources.MAX_DESCRIPTION, min_len=resources.MIN_DESCRIPTION),
                    limits={"min_len": resources.MIN_DESCRIPTION, "max_len": resources.MAX_DESCRIPTION}),
        ),
        on_submit=submit_request,
        confirm_label="resources.confirm_request",
    )
    answer = Form(
        name="resource_answer",
        fields=(f.Field("answer", f.text(resources.MAX_ANSWER, min_len=resources.MIN_ANSWER),
                        limits={"max_len": resources.MAX_ANSWER}),),
        on_submit=submit_answer,
        confirm=False,
        details=request_shown,
    )
    more = Form(
        name="resource_more",
        fields=(f.Field("text", f.text(resources.MAX_FOLLOW_UP, min_len=resources.MIN_FOLLOW_UP),
                        limits={"max_len": resources.MAX_FOLLOW_UP}),),
        on_submit=submit_more,
        confirm=False,
        details=request_shown,
    )
    return request, answer, more

