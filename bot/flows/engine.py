"""The form engine: a form is a list of fields; one engine walks any form with 上一步, 跳过,
/cancel, a summary where every field can be edited, and confirmation.

The draft (bot/flows/draft.py) lives in FSM data (SQL or Redis storage), so it survives a restart.
Every button carries the draft's nonce and step: a button of an older prompt or of a finished
form is refused instead of acting on the wrong draft.

Editing from the summary: the first answer that changes keeps a copy of the last complete answers
("before", with "origin" the field changed). A dependent answer that is then missing is asked with
the reason; leaving the edit while one is missing restores that copy instead of asking again.

Several drafts: opening a `parallel` form while another draft is open parks the open one (FSM data
"parked"); a button of a parked draft, or /start's offer, brings it back. Opening any other form
while a draft is open asks whether to continue it or drop it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from html import escape
from typing import TYPE_CHECKING, Any

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

from bot.flows.draft import Draft, Pending
from bot.flows.fields import CHOICE, CONTACT, DOCUMENT, PHOTO, TEXT, Answer, Choice, Field, FileRef, Invalid
from bot.render import Texts
from bot.services.users import Person
from bot.ui import kind_of
from storage.models import utcnow

if TYPE_CHECKING:
    from bot.campaign import Campaign
    from bot.config import Settings

log = logging.getLogger(__name__)

SUMMARY_CHARS = 200  # of each answer shown in the summary
CURRENT_CHARS = 100  # of the current answer shown when editing it
MAX_PARKED = 10  # parked drafts kept per person; opening more drops the oldest


class FormSG(StatesGroup):
    asking = State()
    reviewing = State()
    parked = State()  # no draft open, parked ones wait (FSM data: {"parked": [...]})


FORM_STATES = (FormSG.asking.state, FormSG.reviewing.state)


class FormAction(StrEnum):
    back = "back"
    skip = "skip"
    pick = "pick"
    done = "done"  # a multi-choice field's 完成
    summary = "summary"  # leave an edit for the summary
    edit = "edit"
    confirm = "confirm"
    cancel = "cancel"
    replace = "replace"  # drop the open draft for the form asked for meanwhile
    resume = "resume"


class FormCB(CallbackData, prefix="f"):
    fid: str  # the draft's nonce
    step: int
    action: FormAction
    arg: str = ""


# actions of a question: refused at the summary, and from an older question's buttons
STEP_ACTIONS = frozenset({FormAction.back, FormAction.skip, FormAction.pick, FormAction.done, FormAction.summary})


@dataclass(frozen=True)
class Done:
    """What a submitted form says, and where the conversation goes next (e.g. uploading the files
    of a new draft: `then_state` with `then_data`)."""

    text: str
    markup: InlineKeyboardMarkup | None = None
    then_state: State | None = None
    then_data: dict[str, Any] | None = None


@dataclass(frozen=True)
class Form:
    name: str
    fields: tuple[Field, ...]
    on_submit: Callable[[Turn, dict[str, Any]], Awaitable[Done]]  # (turn, answers that apply)
    confirm: bool = True  # show the summary before submitting
    confirm_label: str = "form.confirm"  # the summary's button (labels.toml key): what confirming does
    parallel: bool = False  # opening it parks an open draft instead of asking "continue or drop"
    title: str | None = None  # its name in sentences, instead of labels.toml forms.titles.<name>
    # what the prompts show of the records in the draft's refs, read when rendering: (turn) -> dict
    details: Callable[[Turn], Awaitable[dict[str, Any]]] | None = None

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def index(self, name: str) -> int:
        return next(i for i, f in enumerate(self.fields) if f.name == name)


class Forms(Mapping[str, Form]):
    """The forms a router runs, by name (built by the composition root, given to `build`)."""

    def __init__(self, *forms: Form) -> None:
        self._forms = {form.name: form for form in forms}

    def __getitem__(self, name: str) -> Form:
        return self._forms[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._forms)

    def __len__(self) -> int:
        return len(self._forms)


@dataclass
class Turn:
    """One update's means to act on a form: given to the engine's steps and to the hooks
    (verify, after, details, on_submit). Built only where a form is involved."""

    bot: Bot
    state: FSMContext
    texts: Texts
    chat_id: int
    forms: Forms
    session: AsyncSession | None = None
    person: Person | None = None
    settings: Settings | None = None
    campaign: Campaign | None = None
    clock: Callable[[], datetime] | None = None
    draft: Draft | None = None
    parked: list[Draft] = field(default_factory=list)
    _details: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def now(self) -> datetime:
        return (self.clock or utcnow)()

    @property
    def form(self) -> Form:
        assert self.draft is not None
        return self.forms[self.draft.form]

    async def details(self) -> dict[str, Any]:
        """What the open form shows of its records (read once per update)."""
        if self._details is None:
            form = self.form
            self._details = await form.details(self) if form.details is not None else {}
        return self._details


# ---------------------------------------------------------------- the draft at the FSM edge


async def load(turn: Turn, raw_state: str | None) -> None:
    """The open draft and the parked ones, from the FSM. `raw_state` is what aiogram read."""
    if raw_state not in (*FORM_STATES, FormSG.parked.state):
        turn.draft, turn.parked = None, []
        return
    data = await turn.state.get_data()
    draft = Draft.load(data, reviewing=raw_state == FormSG.reviewing.state) if raw_state in FORM_STATES else None
    turn.draft = draft if draft is not None and draft.form in turn.forms else None
    turn.parked = [d for d in (Draft.load(p) for p in data.get("parked") or ()) if d and d.form in turn.forms]


def _parked_dump(turn: Turn) -> dict[str, Any]:
    return {"parked": [d.dump() for d in turn.parked[:MAX_PARKED]]} if turn.parked else {}


async def save(turn: Turn) -> None:
    """Write the open draft (its state: asking or at the summary) and the parked ones."""
    state = turn.state
    if turn.draft is not None:
        await state.set_state(FormSG.reviewing if turn.draft.reviewing else FormSG.asking)
        await state.set_data({**turn.draft.dump(), **_parked_dump(turn)})
    elif turn.parked:
        await state.set_state(FormSG.parked)
        await state.set_data(_parked_dump(turn))
    else:
        await state.clear()


def _unpark(turn: Turn, nonce: str) -> bool:
    """Bring a parked draft back as the open one (the open one, if any, is parked instead)."""
    found = next((d for d in turn.parked if d.nonce == nonce), None)
    if found is None:
        return False
    turn.parked.remove(found)
    if turn.draft is not None:
        turn.parked.insert(0, turn.draft)
    turn.draft, turn._details = found, None
    return True


async def leave_open(state: FSMContext) -> bool:
    """/cancel and the end of a step outside forms (the upload step closing): drop whatever is
    open but keep parked drafts, which the person left on purpose to come back to. Returns whether
    anything was open."""
    raw_state = await state.get_state()
    if raw_state is None:
        return False
    parked = (await state.get_data()).get("parked")
    await state.clear()
    if parked:
        await state.set_state(FormSG.parked)
        await state.set_data({"parked": parked})
    return raw_state != FormSG.parked.state


async def move_to(state: FSMContext, new_state: State, data: dict[str, Any]) -> None:
    """Enter a conversation state outside forms (e.g. the upload step) with `data`, keeping the
    parked drafts (a form's Done.then_data carries them the same way)."""
    parked = (await state.get_data()).get("parked")
    await state.set_state(new_state)
    await state.set_data({**data, "parked": parked} if parked else data)


async def draft_of(state: FSMContext, raw_state: str | None, forms: Forms) -> Draft | None:
    """The draft /start offers to continue: the open one, else the last one parked. `raw_state` is
    the state aiogram read for this update: most people have none, and then no query is made."""
    if raw_state not in (*FORM_STATES, FormSG.parked.state):
        return None
    data = await state.get_data()
    if raw_state in FORM_STATES:
        draft = Draft.load(data, reviewing=raw_state == FormSG.reviewing.state)
        if draft is not None and draft.form in forms:
            return draft
    return next((d for d in (Draft.load(p) for p in data.get("parked") or ()) if d and d.form in forms), None)


def resume_button(texts: Texts, draft: Draft) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=texts.label("form.resume"),
                                callback_data=FormCB(fid=draft.nonce, step=draft.step, action=FormAction.resume).pack())


# ---------------------------------------------------------------- entering and walking a form


async def start_form(turn: Turn, form: Form | str, *, values: dict[str, Any] | None = None,
                     refs: dict[str, int] | None = None, edit_only: list[str] | None = None,
                     at_summary: bool = False, force: bool = False) -> None:
    """Open `form` for this chat. `values` pre-fills a draft (e.g. a correction after rejection);
    `refs` names the records it is about, by id; with `edit_only` the person is asked just those
    fields, then sees the summary; `at_summary` opens a complete draft at its summary, to change any
    field. An unfinished draft is never dropped silently: a `parallel` form parks it, any other
    form lets the person choose to continue it or to start the new one."""
    form = turn.forms[form] if isinstance(form, str) else form
    await load(turn, await turn.state.get_state())
    if turn.draft is not None and not force:
        if not form.parallel:
            await _offer_replace(turn, form, Pending(form.name, dict(values or {}), dict(refs or {}),
                                                     list(edit_only or []), at_summary))
            return
        turn.parked.insert(0, turn.draft)
    draft = Draft(form=form.name, values=dict(values or {}), refs=dict(refs or {}))
    turn.draft, turn._details = draft, None
    if edit_only:
        draft.step, draft.editing = form.index(edit_only[0]), True
        draft.queue = list(edit_only[1:])  # the other fields to correct, one after another
    if at_summary:
        draft.reviewing = True
        await save(turn)
        await show_summary(turn)
        return
    await save(turn)
    # the intro also closes a "share my phone" keyboard an earlier form may have left open
    await turn.bot.send_message(turn.chat_id, await intro_text(turn), reply_markup=ReplyKeyboardRemove())
    await ask(turn)


async def intro_text(turn: Turn) -> str:
    """forms/<form>/_intro.j2 (or the generic forms/intro.j2). It counts what the steps will count:
    the questions that apply with the answers so far."""
    form, draft = turn.form, turn.draft
    assert draft is not None
    applying = sum(1 for f in form.fields if f.applies(draft.values))
    varies = any(f.when is not None for f in form.fields)
    return turn.texts.render(_own_template(turn.texts, form, "intro"), form=form.name, total=applying,
                             varies=varies, details=await turn.details())


async def _offer_replace(turn: Turn, form: Form, pending: Pending) -> None:
    draft, texts = turn.draft, turn.texts
    assert draft is not None
    draft.pending = pending
    await save(turn)
    markup = InlineKeyboardMarkup(inline_keyboard=[
        [resume_button(texts, draft)],
        [InlineKeyboardButton(text=texts.label("form.replace", title=form_title(form, texts)),
                              callback_data=FormCB(fid=draft.nonce, step=draft.step,
                                                   action=FormAction.replace).pack())]])
    await turn.bot.send_message(turn.chat_id, texts.render("forms/replace_draft", current=form_title(turn.form, texts),
                                                           new=form_title(form, texts)), reply_markup=markup)


def form_title(form: Form, texts: Texts) -> str:
    return form.title or texts.label(f"forms.titles.{form.name}")


_TEMPLATES: dict[tuple[str, str, str], str] = {}


def _own_template(texts: Texts, form: Form, kind: str) -> str:
    """forms/<form>/_<kind>.j2 when the form has one, else the generic forms/<kind>.j2."""
    key = (str(texts.folder), form.name, kind)
    if key not in _TEMPLATES:
        own = texts.folder / "forms" / form.name / f"_{kind}.j2"
        _TEMPLATES[key] = f"forms/{form.name}/_{kind}" if own.exists() else f"forms/{kind}"
    return _TEMPLATES[key]


def _missing(form: Form, values: dict[str, Any]) -> int | None:
    """The first required question that applies and has no answer (e.g. after an edit changed what applies)."""
    return next((i for i, f in enumerate(form.fields)
                 if f.applies(values) and values.get(f.name) is None and not f.skippable(values)), None)


def _next_step(form: Form, values: dict[str, Any], start: int, direction: int = 1) -> int | None:
    i = start
    while 0 <= i < len(form.fields):
        if form.fields[i].applies(values):
            return i
        i += direction
    return None


def field_label(form: Form, name: str, texts: Texts) -> str:
    own = next((f.label for f in form.fields if f.name == name), None)
    return own or texts.label(f"forms.{form.name}.{name}")


def quoted(label: str) -> str:
    """A name inside a list joined by 、 (or beside others): one that contains 、 itself is quoted."""
    return f"「{label}」" if "、" in label else label


def bare(label: str) -> str:
    """A button's words without its leading emoji, to name the button in a sentence."""
    head, _, rest = label.partition(" ")
    return rest if rest and not any(c.isalnum() for c in head) else label


async def prompt_text(turn: Turn) -> str:
    """The current question as it is shown: why it is asked (after an edit), its header, the
    prompt, and the current answer when editing."""
    form, draft, texts = turn.form, turn.draft, turn.texts
    assert draft is not None
    fld = form.fields[draft.step]
    values = draft.values
    shown = [f for f in form.fields if f.applies(values)]
    number = shown.index(fld) + 1 if fld in shown else draft.step + 1
    if fld.prompt is not None:
        prompt = escape(fld.prompt, quote=False)
    else:
        prompt = texts.render(f"forms/{form.name}/{fld.name}", values=values, details=await turn.details(),
                              current=values.get(fld.name), limits=fld.limits)
    header = texts.render("forms/step", number=number, total=len(shown), editing=draft.editing,
                          optional=fld.skippable(values), label=field_label(form, fld.name, texts))
    body = f"{header}\n{prompt}"
    origin = draft.origin
    if draft.editing and origin and origin != fld.name and values.get(fld.name) is None and not fld.skippable(values):
        before = draft.before or {}
        reason = texts.render("forms/because", changed=field_label(form, origin, texts),
                              field=field_label(form, fld.name, texts), again=before.get(fld.name) is not None,
                              choose=bool(fld.options(values)))
        body = f"{reason}\n\n{body}"
    if draft.editing and values.get(fld.name) not in (None, "", []):
        current = display(fld, values[fld.name], values, texts, limit=CURRENT_CHARS)
        body += "\n\n" + texts.render("forms/current", value=current)
    return body


async def ask(turn: Turn, *, error: Invalid | None = None) -> None:
    assert turn.draft is not None
    fld = turn.form.fields[turn.draft.step]
    texts = turn.texts
    body = await prompt_text(turn)
    if error is not None:
        body = texts.render(f"forms/errors/{error.template}", **error.context) + "\n\n" + body
    markup: InlineKeyboardMarkup | ReplyKeyboardMarkup
    if fld.share_contact:
        markup = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text=texts.label("form.share_phone"), request_contact=True)],
                                               [KeyboardButton(text=texts.label("form.back"))]],
                                     resize_keyboard=True, one_time_keyboard=True)
    else:
        markup = field_keyboard(turn, fld)
    await turn.bot.send_message(turn.chat_id, body, reply_markup=markup, disable_web_page_preview=True)


def field_keyboard(turn: Turn, fld: Field) -> InlineKeyboardMarkup:
    form, draft, texts = turn.form, turn.draft, turn.texts
    assert draft is not None
    fid, step = draft.nonce, draft.step

    def button(text: str, action: FormAction, arg: str = "") -> InlineKeyboardButton:
        return InlineKeyboardButton(text=text, callback_data=FormCB(fid=fid, step=step, action=action, arg=arg).pack())

    kb = InlineKeyboardBuilder()
    options = fld.options(draft.values)
    chosen = _chosen(draft, fld) if fld.multi else ()
    for opt in options:
        mark = "✅ " if opt.value in chosen else ""
        kb.add(button(mark + choice_text(opt, texts), FormAction.pick, opt.value))
    kb.adjust(fld.columns or (1 if any(len(choice_text(o, texts)) > 9 for o in options) else 2))
    nav = []
    if fld.multi:
        kb.row(button(texts.label("form.done"), FormAction.done))
    if draft.editing:
        # leaving the edit: back to the summary; while a dependent answer is missing, that means
        # restoring the answers from before the change (without such a copy, the answer is needed)
        missing = _missing(form, draft.values) is not None
        if not missing or draft.before:
            nav.append(button(texts.label("form.undo_edit" if missing else "form.to_summary"), FormAction.summary))
    elif _next_step(form, draft.values, step - 1, -1) is not None:
        nav.append(button(texts.label("form.back"), FormAction.back))
    if fld.skippable(draft.values):
        nav.append(button(texts.label("form.skip"), FormAction.skip))
    if nav:
        kb.row(*nav)
    kb.row(button(texts.label("form.cancel"), FormAction.cancel))
    return kb.as_markup()


def _chosen(draft: Draft, fld: Field) -> list[str]:
    """A multi-choice field's selection: the presses so far on this question, else its answer."""
    return list(draft.picking if draft.picking is not None else draft.values.get(fld.name) or [])


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


async def show_summary(turn: Turn) -> None:
    text, markup = await summary_view(turn)
    await turn.bot.send_message(turn.chat_id, text, reply_markup=markup, disable_web_page_preview=True)


async def summary_view(turn: Turn) -> tuple[str, InlineKeyboardMarkup]:
    """forms/<form>/_summary.j2 (or the generic forms/summary.j2) with a button per answer."""
    form, draft, texts = turn.form, turn.draft, turn.texts
    assert draft is not None
    values = draft.values
    # one name per row and per button: nothing to tell apart, so no quotes (lists quote: see quoted)
    rows = [{"name": f.name, "label": field_label(form, f.name, texts),
             "value": display(f, values.get(f.name), values, texts)}
            for f in form.fields if f.applies(values)]
    fid = draft.nonce
    kb = InlineKeyboardBuilder()
    for row in rows:
        kb.add(InlineKeyboardButton(text=texts.label("form.edit", label=row["label"]),
                                    callback_data=FormCB(fid=fid, step=-1, action=FormAction.edit,
                                                         arg=row["name"]).pack()))
    kb.adjust(2)
    kb.row(InlineKeyboardButton(text=texts.label(form.confirm_label),
                                callback_data=FormCB(fid=fid, step=-1, action=FormAction.confirm).pack()))
    kb.row(InlineKeyboardButton(text=texts.label("form.cancel"),
                                callback_data=FormCB(fid=fid, step=-1, action=FormAction.cancel).pack()))
    text = texts.render(_own_template(texts, form, "summary"), form=form.name, rows=rows,
                        details=await turn.details(), confirm=bare(texts.label(form.confirm_label)))
    return text, kb.as_markup()


def keep(draft: Draft, fld: Field, value: Any) -> None:
    """Store an answer (typed, picked, skipped or a multi-choice's 完成: every answer comes here).
    A changed answer drops the answers that depended on it (`resets`); the same answer again
    changes nothing. The first change of an edit keeps the complete answers from before it."""
    values = draft.values
    draft.picking = None
    if fld.name in values and values[fld.name] != value:
        if draft.editing and draft.before is None:
            draft.before, draft.origin = dict(values), fld.name
        for name in fld.resets:
            values.pop(name, None)
    values[fld.name] = value


async def answered(turn: Turn, fld: Field, value: Any) -> None:
    """An accepted answer: keep it, give the field's feedback (if it has any), move on."""
    assert turn.draft is not None
    keep(turn.draft, fld, value)
    if fld.after is not None and value is not None:
        feedback = await fld.after(value, turn)
        if feedback:
            await turn.bot.send_message(turn.chat_id, feedback, disable_web_page_preview=True)
    await advance(turn)


def _goto(draft: Draft, step: int) -> None:
    draft.step, draft.picking = step, None


async def advance(turn: Turn, *, may_submit: bool = True) -> None:
    """After an answer: the next applicable field, or the summary (or submission when there is none)."""
    form, draft = turn.form, turn.draft
    assert draft is not None
    following = None if draft.editing else _next_step(form, draft.values, draft.step + 1)
    if draft.editing:
        # an edit may reveal a field that now applies and has no answer yet; then the queued corrections
        following = _missing(form, draft.values)
        if following is None:  # complete again: nothing to restore any more
            draft.before = draft.origin = None
        while following is None and draft.queue:
            name = draft.queue.pop(0)
            if form.field(name).applies(draft.values):
                following = form.index(name)
    if following is not None:
        _goto(draft, following)
        await save(turn)
        await ask(turn)
        return
    if form.confirm:
        draft.editing, draft.reviewing = False, True
        await save(turn)
        await show_summary(turn)
    elif may_submit:
        await submit(turn)


async def submit(turn: Turn) -> None:
    form, draft = turn.form, turn.draft
    assert draft is not None
    # answers to fields that an edit made irrelevant are not submitted
    values = {f.name: draft.values.get(f.name) for f in form.fields if f.applies(draft.values)}
    try:
        done = await form.on_submit(turn, values)
    except Invalid as problem:
        target = problem.context.pop("field", None)
        if target is None:
            raise
        _goto(draft, form.index(target))
        draft.editing, draft.reviewing = True, False
        await save(turn)
        await ask(turn, error=problem)
        return
    turn.draft = None
    if done.then_state is not None:
        await turn.state.set_state(done.then_state)
        await turn.state.set_data({**(done.then_data or {}), **_parked_dump(turn)})
    else:
        await save(turn)
    await turn.bot.send_message(turn.chat_id, done.text, reply_markup=done.markup, disable_web_page_preview=True)


async def go_back(turn: Turn) -> None:
    assert turn.draft is not None
    previous = _next_step(turn.form, turn.draft.values, turn.draft.step - 1, -1)
    if previous is not None:
        _goto(turn.draft, previous)
        await save(turn)
    await ask(turn)


async def resume(turn: Turn) -> None:
    """Show the open draft where it stopped: its question, or its summary."""
    if turn.draft is not None and turn.draft.reviewing:
        await show_summary(turn)
    else:
        await ask(turn)


# ---------------------------------------------------------------- turning a message into an Answer


def answer_of(message: Message) -> Answer:
    user_id = message.from_user.id if message.from_user else None
    if message.text is not None:
        return Answer(TEXT, text=message.text, from_user_id=user_id, html=message.html_text)
    if message.contact is not None:
        return Answer(CONTACT, phone=message.contact.phone_number, contact_user_id=message.contact.user_id,
                      from_user_id=user_id)
    if message.document is not None:
        d = message.document
        return Answer(DOCUMENT, text=message.caption, from_user_id=user_id, html=message.html_text,
                      file=FileRef(d.file_id, d.file_unique_id, d.file_name, d.mime_type, d.file_size))
    if message.photo:
        p = message.photo[-1]
        return Answer(PHOTO, text=message.caption, from_user_id=user_id, html=message.html_text,
                      file=FileRef(p.file_id, p.file_unique_id, None, "image/jpeg", p.file_size))
    return Answer(kind_of(message), from_user_id=user_id)


# ---------------------------------------------------------------- the buttons: one small function per action


async def _stale(callback: CallbackQuery, texts: Texts) -> None:
    await callback.answer(texts.render("forms/stale"), show_alert=True)


async def _ack(callback: CallbackQuery, *, drop: bool = True) -> None:
    await callback.answer()
    if drop:
        await _drop_buttons(callback)


async def on_cancel(turn: Turn, callback: CallbackQuery, cb: FormCB) -> None:
    await _ack(callback)
    turn.draft = None  # parked drafts stay
    await save(turn)
    await turn.bot.send_message(turn.chat_id, turn.texts.render("cancelled", had_state=True),
                                reply_markup=ReplyKeyboardRemove())


async def on_back(turn: Turn, callback: CallbackQuery, cb: FormCB) -> None:
    await _ack(callback)
    await go_back(turn)


async def on_skip(turn: Turn, callback: CallbackQuery, cb: FormCB) -> None:
    await _ack(callback)
    assert turn.draft is not None
    fld = turn.form.fields[turn.draft.step]
    if fld.skippable(turn.draft.values):
        await answered(turn, fld, None)


async def on_pick(turn: Turn, callback: CallbackQuery, cb: FormCB) -> None:
    draft, texts = turn.draft, turn.texts
    assert draft is not None
    fld = turn.form.fields[draft.step]
    try:
        value = fld.parse(Answer(CHOICE, text=cb.arg, from_user_id=turn.chat_id), draft.values)
        if fld.verify is not None and not fld.multi:  # a pick is checked like a typed answer
            await fld.verify(value, turn)
    except Invalid as problem:
        if fld.multi:
            await _stale(callback, texts)
            return
        await _ack(callback)
        await ask(turn, error=problem)
        return
    if fld.multi:  # a press toggles one option in place; 完成 writes the answer
        chosen = _chosen(draft, fld)
        chosen.remove(value) if value in chosen else chosen.append(value)
        draft.picking = chosen
        await save(turn)
        await callback.answer()
        if isinstance(callback.message, Message):
            await callback.message.edit_reply_markup(reply_markup=field_keyboard(turn, fld))
        return
    await callback.answer()  # a pick is echoed in its question instead of dropping the buttons
    await _echo(callback, await prompt_text(turn), display(fld, value, draft.values, texts), texts)
    await answered(turn, fld, value)


async def on_done(turn: Turn, callback: CallbackQuery, cb: FormCB) -> None:
    draft, texts = turn.draft, turn.texts
    assert draft is not None
    fld = turn.form.fields[draft.step]
    if not fld.multi:
        await _stale(callback, texts)
        return
    chosen = _chosen(draft, fld)
    if not chosen and not fld.skippable(draft.values):
        await callback.answer(texts.render("forms/errors/pick_at_least_one"), show_alert=True)
        return
    await callback.answer()
    if chosen:
        await _echo(callback, await prompt_text(turn), display(fld, chosen, draft.values, texts), texts)
    else:  # nothing chosen (an optional one): as 跳过, not "✅ （未填写）"
        await _drop_buttons(callback)
    await answered(turn, fld, chosen)


async def on_summary(turn: Turn, callback: CallbackQuery, cb: FormCB) -> None:
    form, draft, texts = turn.form, turn.draft, turn.texts
    assert draft is not None
    missing = _missing(form, draft.values)
    if missing is not None and not draft.before:
        # a required answer is missing and there is nothing to restore: say so instead of asking again
        await callback.answer(texts.render("forms/errors/still_missing",
                                           field=field_label(form, form.fields[missing].name, texts)),
                              show_alert=True)
        return
    await _ack(callback)
    if missing is not None and draft.before:
        # leaving while a dependent answer is missing: back to the answers before the change
        origin = draft.origin
        draft.values, draft.before, draft.origin = draft.before, None, None
        await turn.bot.send_message(turn.chat_id, texts.render(
            "forms/restored", changed=field_label(form, origin, texts) if origin else ""))
    draft.editing = True
    await advance(turn, may_submit=False)


async def on_edit(turn: Turn, callback: CallbackQuery, cb: FormCB) -> None:
    form, draft = turn.form, turn.draft
    assert draft is not None
    await _ack(callback)
    if not draft.reviewing or not any(f.name == cb.arg and f.applies(draft.values) for f in form.fields):
        await turn.bot.send_message(turn.chat_id, turn.texts.render("forms/stale"))
        return
    _goto(draft, form.index(cb.arg))
    draft.editing, draft.reviewing = True, False
    await save(turn)
    await ask(turn)


async def on_confirm(turn: Turn, callback: CallbackQuery, cb: FormCB) -> None:
    await _ack(callback)
    assert turn.draft is not None
    if turn.draft.reviewing:
        await submit(turn)


async def on_replace(turn: Turn, callback: CallbackQuery, cb: FormCB) -> None:
    await _ack(callback)
    assert turn.draft is not None
    pending = turn.draft.pending
    if pending is None or pending.form not in turn.forms:
        await turn.bot.send_message(turn.chat_id, turn.texts.render("forms/stale"))
        return
    turn.draft = None  # dropped, as the button says
    await start_form(turn, pending.form, values=pending.values, refs=pending.refs,
                     edit_only=pending.edit_only or None, at_summary=pending.at_summary, force=True)


async def on_resume(turn: Turn, callback: CallbackQuery, cb: FormCB) -> None:
    await _ack(callback)
    await resume(turn)


ACTIONS: dict[FormAction, Callable[[Turn, CallbackQuery, FormCB], Awaitable[None]]] = {
    FormAction.cancel: on_cancel,
    FormAction.back: on_back,
    FormAction.skip: on_skip,
    FormAction.pick: on_pick,
    FormAction.done: on_done,
    FormAction.summary: on_summary,
    FormAction.edit: on_edit,
    FormAction.confirm: on_confirm,
    FormAction.replace: on_replace,
    FormAction.resume: on_resume,
}


# ---------------------------------------------------------------- the router that runs every form


def turn_of(chat_id: int, *, bot: Bot, state: FSMContext, texts: Texts, forms: Forms,
            session: AsyncSession | None = None, person: Person | None = None, settings: Settings | None = None,
            campaign: Campaign | None = None, clock: Callable[[], datetime] | None = None, **_: Any) -> Turn:
    """A Turn for `chat_id` from a handler's data: `turn_of(chat_id, **data)` (the rest is ignored)."""
    return Turn(bot=bot, state=state, texts=texts, chat_id=chat_id, forms=forms, session=session, person=person,
                settings=settings, campaign=campaign, clock=clock)


def build(forms: Forms) -> Router:
    """The router that runs `forms` (the registry is this router's: nothing global)."""
    router = Router(name="forms")

    async def on_answer(message: Message, state: FSMContext, bot: Bot, texts: Texts, raw_state: str | None,
                        **data: Any) -> None:
        """An answer to the current field: parse it, keep it, move on; or say what is wrong."""
        turn = turn_of(message.chat.id, **{**data, "bot": bot, "state": state, "texts": texts, "forms": forms})
        await load(turn, raw_state)
        if turn.draft is None:
            await save(turn)  # parked drafts stay
            await message.answer(texts.render("forms/lost"))
            return
        fld = turn.form.fields[turn.draft.step]
        answer = answer_of(message)
        if answer.kind == TEXT and answer.text == texts.label("form.back"):
            if fld.share_contact:  # leaving the phone question: close its keyboard
                await message.answer(texts.render("forms/going_back"), reply_markup=ReplyKeyboardRemove())
            await go_back(turn)
            return
        if answer.kind not in fld.accepts:
            await message.answer(texts.render("forms/errors/wrong_kind", got=answer.kind,
                                              accepts=sorted(fld.accepts)))
            return
        try:
            value = fld.parse(answer, turn.draft.values)
            if fld.verify is not None:
                await fld.verify(value, turn)
        except Invalid as problem:
            if fld.options(turn.draft.values) and not fld.share_contact:
                # the answer is one of the buttons: the question again with them, under what was
                # wrong (those of the question may be far up by now)
                await ask(turn, error=problem)
            else:
                await message.answer(texts.render(f"forms/errors/{problem.template}", **problem.context))
            return
        if fld.share_contact:
            await message.answer(texts.render("forms/noted"), reply_markup=ReplyKeyboardRemove())
        await answered(turn, fld, value)

    async def on_text_at_summary(message: Message, state: FSMContext, texts: Texts) -> None:
        data = await state.get_data()
        form = forms.get(data.get("form", ""))
        confirm = bare(texts.label(form.confirm_label if form else "form.confirm"))
        await message.answer(texts.render("forms/use_buttons", confirm=confirm))

    async def on_button(callback: CallbackQuery, callback_data: FormCB, state: FSMContext, bot: Bot,
                        texts: Texts, raw_state: str | None, **data: Any) -> None:
        turn = turn_of(callback.from_user.id, **{**data, "bot": bot, "state": state, "texts": texts, "forms": forms})
        await load(turn, raw_state)
        cb = callback_data
        if turn.draft is None or cb.fid != turn.draft.nonce:
            # a button of a parked draft brings that draft back, where it stopped
            if not _unpark(turn, cb.fid):
                await _stale(callback, texts)
                return
            await save(turn)
            await on_resume(turn, callback, cb)
            return
        if cb.action in STEP_ACTIONS and (turn.draft.reviewing or cb.step != turn.draft.step):
            await _stale(callback, texts)
            return
        await ACTIONS[cb.action](turn, callback, cb)

    router.message.register(on_answer, StateFilter(FormSG.asking), NotCommand())
    router.message.register(on_text_at_summary, StateFilter(FormSG.reviewing), NotCommand())
    router.callback_query.register(on_button, FormCB.filter())
    return router


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
