"""The form engine: a form is a list of fields; one engine walks any form with 上一步, 跳过,
/cancel, a summary where every field can be edited, and confirmation.

The draft lives in FSM data (SQL or Redis storage), so it survives a restart:
    {"form": name, "fid": nonce, "step": i, "values": {...}, "extra": {...}, "editing": bool}
Every button carries the draft's nonce and step: a button of an older prompt or of a finished
form is refused instead of acting on the wrong draft.

Editing from the summary: the first answer that changes keeps a copy of the last complete answers
("before", with "origin" the field changed). A dependent answer that is then missing is asked with
the reason; leaving the edit while one is missing restores that copy instead of asking again.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Router
from aiogram.filters import Filter, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.flows.fields import CHOICE, CONTACT, DOCUMENT, PHOTO, TEXT, Answer, Choice, Field, FileRef, Invalid
from bot.render import Texts
from bot.services.users import Person
from bot.ui import kind_of

log = logging.getLogger(__name__)


class FormSG(StatesGroup):
    asking = State()
    reviewing = State()


class FormCB(CallbackData, prefix="f"):
    fid: str
    step: int
    action: str  # back | skip | pick | edit | confirm | cancel | resume
    arg: str = ""


@dataclass
class SubmitContext:
    """What a form's on_submit gets: the answers and the update's means to act on them."""

    values: dict[str, Any]
    extra: dict[str, Any]
    person: Person
    session: AsyncSession
    bot: Bot
    texts: Texts
    chat_id: int
    # where the conversation goes after a successful submit (e.g. uploading the files of a new draft)
    next_state: State | None = None
    next_data: dict[str, Any] | None = None
    done_markup: InlineKeyboardMarkup | None = None  # buttons under the confirmation


@dataclass(frozen=True)
class Form:
    name: str
    fields: tuple[Field, ...]
    on_submit: Callable[[SubmitContext], Awaitable[str]]  # returns the text that confirms success
    confirm: bool = True  # show the summary before submitting
    confirm_label: str = "form.confirm"  # the summary's button (labels.toml key): what confirming does

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def index(self, name: str) -> int:
        return next(i for i, f in enumerate(self.fields) if f.name == name)


SUMMARY_CHARS = 200  # of each answer shown in the summary
CURRENT_CHARS = 100  # of the current answer shown when editing it
FORMS: dict[str, Form] = {}  # filled when the routers are built (some forms read the campaign)


def register(form: Form) -> Form:
    FORMS[form.name] = form
    return form


# ---------------------------------------------------------------- entering and walking a form


async def start_form(form: Form, chat_id: int, bot: Bot, state: FSMContext, texts: Texts,
                     *, extra: dict[str, Any] | None = None, values: dict[str, Any] | None = None,
                     edit_only: list[str] | None = None, at_summary: bool = False, force: bool = False) -> None:
    """Open `form` for this chat. `values` pre-fills a draft (e.g. a correction after rejection);
    with `edit_only` the person is asked just those fields, then sees the summary; `at_summary`
    opens a complete draft at its summary, to change any field. An unfinished draft of any form is
    never dropped silently: the person chooses to continue it or to start the new one."""
    if not force:
        open_draft = await draft_of(state, await state.get_state())
        if open_draft is not None:
            open_draft["pending"] = {"form": form.name, "extra": extra or {}, "values": values or {},
                                     "edit_only": edit_only or [], "at_summary": at_summary}
            await state.set_data(open_draft)
            fid, step = open_draft["fid"], open_draft["step"]
            markup = InlineKeyboardMarkup(inline_keyboard=[
                [resume_button(texts, open_draft)],
                [InlineKeyboardButton(text=texts.label("form.replace", title=texts.label(f"forms.titles.{form.name}")),
                                      callback_data=FormCB(fid=fid, step=step, action="replace").pack())]])
            await bot.send_message(chat_id, texts.render("forms/replace_draft", current=open_draft["form"],
                                                         new=form.name), reply_markup=markup)
            return
    data = {"form": form.name, "fid": secrets.token_hex(3), "step": 0, "values": dict(values or {}),
            "extra": dict(extra or {}), "editing": False}
    if edit_only:
        data["step"] = form.index(edit_only[0])
        data["editing"] = True
        data["queue"] = list(edit_only[1:])  # the other fields to correct, one after another
    if at_summary:
        await state.set_state(FormSG.reviewing)
        await state.set_data(data)
        await show_summary(form, data, chat_id, bot, texts)
        return
    await state.set_state(FormSG.asking)
    await state.set_data(data)
    # the intro counts what the steps will count: the questions that apply with the answers so far
    applying = sum(1 for f in form.fields if f.applies(data["values"]))
    varies = any(f.when is not None for f in form.fields)
    # the intro also closes a "share my phone" keyboard an earlier form may have left open
    await bot.send_message(chat_id, texts.render("forms/intro", form=form.name, extra=data["extra"],
                                                 total=applying, varies=varies), reply_markup=ReplyKeyboardRemove())
    await ask(form, data, chat_id, bot, texts)


def _missing(form: Form, values: dict[str, Any]) -> int | None:
    """The first required question that applies and has no answer (e.g. after an edit changed what applies)."""
    return next((i for i, f in enumerate(form.fields)
                 if f.applies(values) and values.get(f.name) is None and not f.optional), None)


def _next_step(form: Form, values: dict[str, Any], start: int, direction: int = 1) -> int | None:
    i = start
    while 0 <= i < len(form.fields):
        if form.fields[i].applies(values):
            return i
        i += direction
    return None


def prompt_text(form: Form, data: dict[str, Any], texts: Texts) -> str:
    """The current question as it is shown: why it is asked (after an edit), its header, the
    prompt, and the current answer when editing."""
    fld = form.fields[data["step"]]
    values = data["values"]
    shown = [f for f in form.fields if f.applies(values)]
    number = shown.index(fld) + 1 if fld in shown else data["step"] + 1
    prompt = texts.render(f"forms/{form.name}/{fld.name}", values=values, extra=data["extra"],
                          current=values.get(fld.name), limits=fld.limits)
    header = texts.render("forms/step", number=number, total=len(shown), editing=data["editing"],
                          optional=fld.optional, label=field_label(form, fld.name, texts))
    body = f"{header}\n{prompt}"
    origin = data.get("origin")
    if data["editing"] and origin and origin != fld.name and values.get(fld.name) is None and not fld.optional:
        before = data.get("before") or {}
        reason = texts.render("forms/because", changed=field_label(form, origin, texts),
                              field=field_label(form, fld.name, texts), again=before.get(fld.name) is not None,
                              choose=bool(fld.options(values)))
        body = f"{reason}\n\n{body}"
    if data["editing"] and values.get(fld.name) not in (None, "", []):
        current = display(fld, values[fld.name], values, texts, limit=CURRENT_CHARS)
        body += "\n\n" + texts.render("forms/current", value=current)
    return body


def field_label(form: Form, name: str, texts: Texts) -> str:
    return texts.label(f"forms.{form.name}.{name}")


def quoted(label: str) -> str:
    """A name inside a list joined by 、 (or beside others): one that contains 、 itself is quoted."""
    return f"「{label}」" if "、" in label else label


def bare(label: str) -> str:
    """A button's words without its leading emoji, to name the button in a sentence."""
    head, _, rest = label.partition(" ")
    return rest if rest and not any(c.isalnum() for c in head) else label


async def ask(form: Form, data: dict[str, Any], chat_id: int, bot: Bot, texts: Texts, *,
              error: Invalid | None = None) -> None:
    fld = form.fields[data["step"]]
    body = prompt_text(form, data, texts)
    if error is not None:
        body = texts.render(f"forms/errors/{error.template}", **error.context) + "\n\n" + body
    markup: InlineKeyboardMarkup | ReplyKeyboardMarkup
    if fld.share_contact:
        markup = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text=texts.label("form.share_phone"), request_contact=True)],
                                               [KeyboardButton(text=texts.label("form.back"))]],
                                     resize_keyboard=True, one_time_keyboard=True)
    else:
        markup = field_keyboard(form, fld, data, texts)
    await bot.send_message(chat_id, body, reply_markup=markup, disable_web_page_preview=True)


def field_keyboard(form: Form, fld: Field, data: dict[str, Any], texts: Texts) -> InlineKeyboardMarkup:
    fid, step = data["fid"], data["step"]
    kb = InlineKeyboardBuilder()
    options = fld.options(data["values"])
    chosen = data["values"].get(fld.name) or [] if fld.multi else ()
    for opt in options:
        mark = "✅ " if opt.value in chosen else ""
        kb.add(InlineKeyboardButton(text=mark + choice_text(opt, texts),
                                    callback_data=FormCB(fid=fid, step=step, action="pick", arg=opt.value).pack()))
    kb.adjust(1 if any(len(choice_text(o, texts)) > 9 for o in options) else 2)
    nav = []
    if fld.multi:
        kb.row(InlineKeyboardButton(text=texts.label("form.done"),
                                    callback_data=FormCB(fid=fid, step=step, action="done").pack()))
    if data["editing"]:
        # leaving the edit: back to the summary; while a dependent answer is missing, that means
        # restoring the answers from before the change (without such a copy, the answer is needed)
        missing = _missing(form, data["values"]) is not None
        if not missing or data.get("before"):
            nav.append(InlineKeyboardButton(text=texts.label("form.undo_edit" if missing else "form.to_summary"),
                                            callback_data=FormCB(fid=fid, step=step, action="summary").pack()))
    elif _next_step(form, data["values"], step - 1, -1) is not None:
        nav.append(InlineKeyboardButton(text=texts.label("form.back"),
                                        callback_data=FormCB(fid=fid, step=step, action="back").pack()))
    if fld.optional:
        nav.append(InlineKeyboardButton(text=texts.label("form.skip"),
                                        callback_data=FormCB(fid=fid, step=step, action="skip").pack()))
    if nav:
        kb.row(*nav)
    kb.row(InlineKeyboardButton(text=texts.label("form.cancel"),
                                callback_data=FormCB(fid=fid, step=step, action="cancel").pack()))
    return kb.as_markup()


def choice_text(opt: Choice, texts: Texts) -> str:
    return texts.label(opt.label) if opt.label else opt.text


def display(fld: Field, value: Any, values: dict[str, Any], texts: Texts, *, limit: int = SUMMARY_CHARS) -> str:
    if value is None or value == "" or value == []:
        return texts.label("form.empty")
    options = {opt.value: choice_text(opt, texts) for opt in fld.options(values)}
    if isinstance(value, list):
        return "、".join(quoted(options.get(v, str(v))) for v in value)
    if isinstance(value, str) and value in options:
        return options[value]
    if isinstance(value, dict) and "file_name" in value:
        return value.get("file_name") or texts.label("form.file")
    text = str(value)
    # a summary of long answers must still fit one message (4096 characters)
    return text if len(text) <= limit else texts.label("form.shortened", start=text[:limit], length=len(text))


async def show_summary(form: Form, data: dict[str, Any], chat_id: int, bot: Bot, texts: Texts) -> None:
    values = data["values"]
    # one name per row and per button: nothing to tell apart, so no quotes (lists quote: see quoted)
    rows = [{"name": f.name, "label": field_label(form, f.name, texts),
             "value": display(f, values.get(f.name), values, texts)}
            for f in form.fields if f.applies(values)]
    fid = data["fid"]
    kb = InlineKeyboardBuilder()
    for row in rows:
        kb.add(InlineKeyboardButton(text=texts.label("form.edit", label=row["label"]),
                                    callback_data=FormCB(fid=fid, step=-1, action="edit", arg=row["name"]).pack()))
    kb.adjust(2)
    kb.row(InlineKeyboardButton(text=texts.label(form.confirm_label),
                                callback_data=FormCB(fid=fid, step=-1, action="confirm").pack()))
    kb.row(InlineKeyboardButton(text=texts.label("form.cancel"),
                                callback_data=FormCB(fid=fid, step=-1, action="cancel").pack()))
    await bot.send_message(chat_id, texts.render("forms/summary", form=form.name, rows=rows, extra=data["extra"],
                                                 confirm=bare(texts.label(form.confirm_label))),
                           reply_markup=kb.as_markup(), disable_web_page_preview=True)


def keep(fld: Field, data: dict[str, Any], value: Any) -> None:
    """Store an answer; a changed answer drops the answers that depended on it. The same answer
    again changes nothing. The first change of an edit keeps the complete answers from before it."""
    values = data["values"]
    if fld.name in values and values[fld.name] != value:
        if data.get("editing") and "before" not in data:
            data["before"], data["origin"] = dict(values), fld.name
        for name in fld.resets:
            values.pop(name, None)
    values[fld.name] = value


async def advance(form: Form, data: dict[str, Any], state: FSMContext, chat_id: int, bot: Bot, texts: Texts,
                  ctx: SubmitContext | None) -> None:
    """After an answer: the next applicable field, or the summary (or submission when there is none)."""
    following = None if data["editing"] else _next_step(form, data["values"], data["step"] + 1)
    if data["editing"]:
        # an edit may reveal a field that now applies and has no answer yet; then the queued corrections
        following = _missing(form, data["values"])
        if following is None:  # complete again: nothing to restore any more
            data.pop("before", None)
            data.pop("origin", None)
        queue = data.get("queue") or []
        while following is None and queue:
            name = queue.pop(0)
            if form.field(name).applies(data["values"]):
                following = form.index(name)
    if following is not None:
        data["step"] = following
        await state.set_data(data)
        await ask(form, data, chat_id, bot, texts)
        return
    if form.confirm:
        data["editing"] = False
        await state.set_state(FormSG.reviewing)
        await state.set_data(data)
        await show_summary(form, data, chat_id, bot, texts)
    elif ctx is not None:
        await submit(form, data, state, ctx)


async def submit(form: Form, data: dict[str, Any], state: FSMContext, ctx: SubmitContext) -> None:
    # answers to fields that an edit made irrelevant are not submitted
    ctx.values = {f.name: data["values"].get(f.name) for f in form.fields if f.applies(data["values"])}
    try:
        done = await form.on_submit(ctx)
    except Invalid as problem:
        target = problem.context.pop("field", None)
        if target is None:
            raise
        data["step"], data["editing"] = form.index(target), True
        await state.set_state(FormSG.asking)
        await state.set_data(data)
        await ask(form, data, ctx.chat_id, ctx.bot, ctx.texts, error=problem)
        return
    await state.clear()
    if ctx.next_state is not None:
        await state.set_state(ctx.next_state)
        await state.set_data(ctx.next_data or {})
    await ctx.bot.send_message(ctx.chat_id, done, reply_markup=ctx.done_markup,
                               disable_web_page_preview=True)


# ---------------------------------------------------------------- turning a message into an Answer


def answer_of(message: Message) -> Answer:
    user_id = message.from_user.id if message.from_user else None
    if message.text is not None:
        return Answer(TEXT, text=message.text, from_user_id=user_id)
    if message.contact is not None:
        return Answer(CONTACT, phone=message.contact.phone_number, contact_user_id=message.contact.user_id,
                      from_user_id=user_id)
    if message.document is not None:
        d = message.document
        return Answer(DOCUMENT, text=message.caption, from_user_id=user_id,
                      file=FileRef(d.file_id, d.file_unique_id, d.file_name, d.mime_type, d.file_size))
    if message.photo:
        p = message.photo[-1]
        return Answer(PHOTO, text=message.caption, from_user_id=user_id,
                      file=FileRef(p.file_id, p.file_unique_id, None, "image/jpeg", p.file_size))
    return Answer(kind_of(message), from_user_id=user_id)


# ---------------------------------------------------------------- the router that runs every form


def build() -> Router:
    router = Router(name="forms")

    async def current(state: FSMContext) -> tuple[Form | None, dict[str, Any]]:
        data = await state.get_data()
        return FORMS.get(data.get("form", "")), data

    def context(data: dict[str, Any], person: Person, session: AsyncSession, bot: Bot, texts: Texts,
                chat_id: int) -> SubmitContext:
        return SubmitContext(values=data["values"], extra=data["extra"], person=person, session=session,
                             bot=bot, texts=texts, chat_id=chat_id)

    @router.message(StateFilter(FormSG.asking), NotCommand())
    async def on_answer(message: Message, state: FSMContext, bot: Bot, texts: Texts, person: Person,
                        session: AsyncSession) -> None:
        """An answer to the current field: parse it, keep it, move on; or say what is wrong."""
        form, data = await current(state)
        if form is None:
            await state.clear()
            await message.answer(texts.render("forms/lost"))
            return
        fld = form.fields[data["step"]]
        answer = answer_of(message)
        if answer.kind == TEXT and answer.text == texts.label("form.back"):
            if fld.share_contact:  # leaving the phone question: close its keyboard
                await message.answer(texts.render("forms/going_back"), reply_markup=ReplyKeyboardRemove())
            await go_back(form, data, state, message.chat.id, bot, texts)
            return
        if answer.kind not in fld.accepts:
            await message.answer(texts.render("forms/errors/wrong_kind", got=answer.kind,
                                              accepts=sorted(fld.accepts)))
            return
        ctx = context(data, person, session, bot, texts, message.chat.id)
        try:
            value = fld.parse(answer, data["values"])
            if fld.verify is not None:
                await fld.verify(value, ctx)
        except Invalid as problem:
            await message.answer(texts.render(f"forms/errors/{problem.template}", **problem.context))
            return
        keep(fld, data, value)
        if fld.share_contact:
            await message.answer(texts.render("forms/noted"), reply_markup=ReplyKeyboardRemove())
        await advance(form, data, state, message.chat.id, bot, texts, ctx)

    @router.message(StateFilter(FormSG.reviewing), NotCommand())
    async def on_text_at_summary(message: Message, state: FSMContext, texts: Texts) -> None:
        form, _ = await current(state)
        confirm = bare(texts.label(form.confirm_label if form else "form.confirm"))
        await message.answer(texts.render("forms/use_buttons", confirm=confirm))

    @router.callback_query(FormCB.filter())
    async def on_button(callback: CallbackQuery, callback_data: FormCB, state: FSMContext, bot: Bot,
                        texts: Texts, person: Person, session: AsyncSession) -> None:
        form, data = await current(state)
        cb = callback_data
        chat_id = callback.from_user.id
        if form is None or cb.fid != data.get("fid"):
            await callback.answer(texts.render("forms/stale"), show_alert=True)
            return
        reviewing = await state.get_state() == FormSG.reviewing.state
        if cb.action in ("back", "skip", "pick", "done", "summary") and (reviewing or cb.step != data["step"]):
            await callback.answer(texts.render("forms/stale"), show_alert=True)
            return
        fld = form.fields[data["step"]] if not reviewing else None
        if fld is not None and fld.multi and cb.action in ("pick", "done"):
            await multi_choice(callback, cb, form, fld, data, state, texts,
                               context(data, person, session, bot, texts, chat_id))
            return
        if cb.action == "summary" and _missing(form, data["values"]) is not None and not data.get("before"):
            # a required answer is missing and there is nothing to restore: say so instead of asking again
            needed = form.fields[_missing(form, data["values"]) or 0].name
            await callback.answer(texts.render("forms/errors/still_missing", field=field_label(form, needed, texts)),
                                  show_alert=True)
            return
        await callback.answer()
        if cb.action != "pick":  # a pick is echoed in its question instead
            await _drop_buttons(callback)
        if cb.action == "cancel":
            await state.clear()
            await bot.send_message(chat_id, texts.render("cancelled", had_state=True), reply_markup=ReplyKeyboardRemove())
        elif cb.action == "back":
            await go_back(form, data, state, chat_id, bot, texts)
        elif cb.action == "skip":
            fld = form.fields[data["step"]]
            if not fld.optional:
                return
            data["values"][fld.name] = None
            await advance(form, data, state, chat_id, bot, texts, context(data, person, session, bot, texts, chat_id))
        elif cb.action == "pick":
            fld = form.fields[data["step"]]
            try:
                value = fld.parse(Answer(CHOICE, text=cb.arg, from_user_id=chat_id), data["values"])
            except Invalid as problem:
                await _drop_buttons(callback)
                await ask(form, data, chat_id, bot, texts, error=problem)
                return
            await _echo(callback, prompt_text(form, data, texts), display(fld, value, data["values"], texts), texts)
            keep(fld, data, value)
            await advance(form, data, state, chat_id, bot, texts, context(data, person, session, bot, texts, chat_id))
        elif cb.action == "summary":
            if _missing(form, data["values"]) is not None and data.get("before"):
                # leaving while a dependent answer is missing: back to the answers before the change
                origin = data.pop("origin", None)
                data["values"] = data.pop("before")
                await bot.send_message(chat_id, texts.render(
                    "forms/restored", changed=field_label(form, origin, texts) if origin else ""))
            await advance(form, {**data, "editing": True}, state, chat_id, bot, texts, None)
        elif cb.action == "edit":
            if not reviewing or not any(f.name == cb.arg and f.applies(data["values"]) for f in form.fields):
                await bot.send_message(chat_id, texts.render("forms/stale"))
                return
            data["step"], data["editing"] = form.index(cb.arg), True
            await state.set_state(FormSG.asking)
            await state.set_data(data)
            await ask(form, data, chat_id, bot, texts)
        elif cb.action == "confirm":
            if not reviewing:
                return
            await submit(form, data, state, context(data, person, session, bot, texts, chat_id))
        elif cb.action == "replace":
            pending = data.get("pending")
            if not pending or pending.get("form") not in FORMS:
                await bot.send_message(chat_id, texts.render("forms/stale"))
                return
            await start_form(FORMS[pending["form"]], chat_id, bot, state, texts, extra=pending["extra"],
                             values=pending["values"], edit_only=pending["edit_only"] or None,
                             at_summary=pending["at_summary"], force=True)
        elif cb.action == "resume":
            if reviewing:
                await show_summary(form, data, chat_id, bot, texts)
            else:
                await ask(form, data, chat_id, bot, texts)

    return router


async def multi_choice(callback: CallbackQuery, cb: FormCB, form: Form, fld: Field, data: dict[str, Any],
                       state: FSMContext, texts: Texts, ctx: SubmitContext) -> None:
    """A press on a multi-choice field toggles one option in place; 完成 moves on."""
    chosen: list[str] = list(data["values"].get(fld.name) or [])
    if cb.action == "done":
        if not chosen and not fld.optional:
            await callback.answer(texts.render("forms/errors/pick_at_least_one"), show_alert=True)
            return
        await callback.answer()
        await _echo(callback, prompt_text(form, data, texts), display(fld, chosen, data["values"], texts), texts)
        data["values"][fld.name] = chosen
        await advance(form, data, state, ctx.chat_id, ctx.bot, texts, ctx)
        return
    try:
        value = fld.parse(Answer(CHOICE, text=cb.arg, from_user_id=ctx.chat_id), data["values"])
    except Invalid:
        await callback.answer(texts.render("forms/stale"), show_alert=True)
        return
    chosen.remove(value) if value in chosen else chosen.append(value)
    data["values"][fld.name] = chosen
    await state.set_data(data)
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.edit_reply_markup(reply_markup=field_keyboard(form, fld, data, texts))


async def go_back(form: Form, data: dict[str, Any], state: FSMContext, chat_id: int, bot: Bot, texts: Texts) -> None:
    previous = _next_step(form, data["values"], data["step"] - 1, -1)
    if previous is None:
        await ask(form, data, chat_id, bot, texts)
        return
    data["step"] = previous
    await state.set_data(data)
    await ask(form, data, chat_id, bot, texts)


async def _drop_buttons(callback: CallbackQuery) -> None:
    """Remove the pressed prompt's buttons so the chat shows only what can still be used."""
    if isinstance(callback.message, Message) and callback.message.reply_markup:
        try:
            await callback.message.edit_reply_markup(reply_markup=None)
        except Exception:  # already gone or too old to edit: nothing to tidy
            log.debug("could not remove buttons", exc_info=True)


async def _echo(callback: CallbackQuery, question: str, answer: str, texts: Texts) -> None:
    """Show the chosen answer in the question it answered (without its buttons), so the chat reads
    as questions and answers."""
    if not isinstance(callback.message, Message):
        return
    try:
        await callback.message.edit_text(question + "\n\n" + texts.render("forms/chosen", answer=answer),
                                         reply_markup=None, disable_web_page_preview=True)
    except Exception:  # too old to edit, or too long with the answer: just tidy the buttons
        log.debug("could not echo the choice", exc_info=True)
        await _drop_buttons(callback)


class NotCommand(Filter):
    """Let commands (/start, /cancel, /help …) through a form instead of taking them as answers."""

    async def __call__(self, message: Message) -> bool:
        return not (message.text or "").startswith("/")


async def draft_of(state: FSMContext, raw_state: str | None) -> dict[str, Any] | None:
    """The open draft, for /start to offer to continue it. `raw_state` is the state aiogram read
    for this update: most people have none, and then no query is made."""
    if raw_state not in (FormSG.asking.state, FormSG.reviewing.state):
        return None
    data = await state.get_data()
    return data if data.get("form") in FORMS else None


def resume_button(texts: Texts, data: dict[str, Any]) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=texts.label("form.resume"),
                                callback_data=FormCB(fid=data["fid"], step=data["step"], action="resume").pack())
