"""What the application handlers share: the filters that find the application a button names, the
card of an application and its buttons, lists page by page, and what the upload service says
(`uploads.Say`) turned into text and buttons."""

from __future__ import annotations

import json
from collections.abc import Callable

from aiogram import Bot
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import (
    CONFIRM_MINUTES,
    FileAction,
    FileCB,
    MenuCB,
    RoundAction,
    RoundCB,
    Section,
    StaffAction,
    StaffSubCB,
    SubAction,
    SubCB,
)
from bot.campaign import Campaign
from bot.flows.engine import Forms, display
from bot.keyboards import back_to_menu
from bot.render import Texts
from bot.services import reviews, rounds, submissions
from bot.services.policy import Action, can
from bot.services.submissions import FileStatus, Status
from bot.services.uploads import Buttons, Say
from bot.services.users import Person
from bot.ui import show
from storage.models import Submission, SubmissionFile
from storage.statuses import RoundStatus

# Lists shown page by page so that every message stays under Telegram's 4096 characters
# (a file line is at most ~200 characters: its name is cut to 60, a reason to 80)
FILES_PER_PAGE = 10  # the creator's card
STAFF_FILES_PER_PAGE = 8  # the operators' card also lists each file's unmet requirements
MYWORK_PER_PAGE = 10  # /mywork: one button per application
FILE_ICONS = {FileStatus.passed: "✅", FileStatus.warnings: "⚠️", FileStatus.failed: "❌", FileStatus.deep_pending: "⏳"}


class Own(Filter):
    """The application a SubCB button names, if it is the pressing person's: the handler gets it as
    `sub`. A forged id, or one deleted meanwhile, falls through to the stale-button answer."""

    async def __call__(self, callback: CallbackQuery, callback_data: SubCB, session: AsyncSession,
                       person: Person) -> dict | bool:
        sub = await submissions.own(session, person.id, callback_data.id)
        return False if sub is None else {"sub": sub}


class OwnFile(Filter):
    """The file a FileCB button names, if its application is the pressing person's (`row`, `sub`)."""

    async def __call__(self, callback: CallbackQuery, callback_data: FileCB, session: AsyncSession,
                       person: Person) -> dict | bool:
        found = await submissions.file_of(session, person.id, callback_data.file)
        return False if found is None else {"row": found[0], "sub": found[1]}


class May(Filter):
    """The person may take `action` on the application found (policy's object-level rule: its
    status allows it now); a refusal falls through to `not_draft`, the last SubCB/FileCB handler."""

    def __init__(self, action: Action) -> None:
        self.action = action

    async def __call__(self, callback: CallbackQuery, sub: Submission, person: Person) -> bool:
        return can(person, self.action, sub)


async def not_draft(callback: CallbackQuery, texts: Texts, sub: Submission) -> None:
    """A button of an application whose status no longer allows its action (submitted meanwhile)."""
    await callback.answer(texts.render("application/not_draft", sub=sub), show_alert=True)


def expired(texts: Texts) -> str:
    return texts.render("forms/errors/confirm_expired", minutes=CONFIRM_MINUTES)


def page_of(items: list, page: int, size: int) -> tuple[list, int, int]:
    """The items of one page (the page number clamped), the page and how many pages."""
    pages = max(1, -(-len(items) // size))
    page = min(max(page, 0), pages - 1)
    return items[page * size:(page + 1) * size], page, pages


def pager(texts: Texts, page: int, pages: int, data: Callable[[int], str]) -> list[list[InlineKeyboardButton]]:
    """上一页 / 下一页 under a list shown page by page (no row when it fits one page)."""
    row = [InlineKeyboardButton(text=texts.label(f"application.{key}"), callback_data=data(to))
           for key, to, shown in (("prev_page", page - 1, page > 0), ("next_page", page + 1, page < pages - 1))
           if shown]
    return [row] if row else []


def button(texts: Texts, key: str, sub_id: int, action: SubAction, arg: str = "", **fmt: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=texts.label(f"application.{key}", **fmt),
                                callback_data=SubCB(id=sub_id, action=action, arg=arg).pack())


def all_applications(texts: Texts) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=texts.label("application.all"), callback_data=MenuCB(section=Section.mywork).pack())


def submit_button(texts: Texts, sub: Submission) -> InlineKeyboardButton:
    """提交申报, 重新提交申报 (returned by staff) or 提交第 N 轮评审 (修改后再审)."""
    if sub.status == Status.revise:
        return button(texts, "submit_round", sub.id, SubAction.submit, round=str(sub.round))
    return button(texts, "resubmit" if sub.status == Status.returned else "submit", sub.id, SubAction.submit)


def draft_keyboard(texts: Texts, sub: Submission, failed: bool = False) -> InlineKeyboardMarkup:
    first = ([button(texts, "drop_failed", sub.id, SubAction.drop_failed)] if failed
             else [submit_button(texts, sub)])
    return back_to_menu(texts, rows=[first, [button(texts, "mywork", sub.id, SubAction.open),
                                             button(texts, "later", sub.id, SubAction.later)]])


def confirm_keyboard(texts: Texts, sub: Submission, key: str, action: SubAction, arg: str = "") -> InlineKeyboardMarkup:
    """A confirmation (提交 / 撤回 / 删除) with 返回 to the card."""
    return InlineKeyboardMarkup(inline_keyboard=[[button(texts, key, sub.id, action, arg)],
                                                 [button(texts, "back", sub.id, SubAction.open)]])


def file_button(texts: Texts, row: SubmissionFile) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=texts.label("application.file", icon=FILE_ICONS.get(row.check_status, ""),
                                                 name=row.file_name[:40]),
                                callback_data=FileCB(file=row.id, action=FileAction.open).pack())


def fix_buttons(texts: Texts, sub: Submission, errors: list[submissions.FormError]) -> list[list[InlineKeyboardButton]]:
    """One button per form answer that breaks a rule: it opens the form at that answer."""
    names = dict.fromkeys(e.field for e in errors if e.field)
    return [[button(texts, "fix", sub.id, SubAction.fix, name, label=texts.label(f"forms.application.{name}"))]
            for name in names]


def card_keyboard(texts: Texts, sub: Submission, failed: bool = False, files: list[SubmissionFile] = (),
                  errors: list[submissions.FormError] = (), page: int = 0, pages: int = 1,
                  decided: list[int] = ()) -> InlineKeyboardMarkup:
    """The card's buttons: one per file of the page shown (`files`), 上一页/下一页, the actions, and
    the feedback of each decided review round (`decided`: their numbers)."""
    rows: list[list[InlineKeyboardButton]] = [[file_button(texts, row)] for row in files]
    rows += pager(texts, page, pages, lambda to: SubCB(id=sub.id, action=SubAction.page, arg=str(to)).pack())
    top = len(rows)
    if sub.status == Status.draft:
        rows += fix_buttons(texts, sub, list(errors))
        rows += [[button(texts, "upload", sub.id, SubAction.upload), button(texts, "edit", sub.id, SubAction.edit)],
                 [submit_button(texts, sub), button(texts, "delete", sub.id, SubAction.delete)]]
        if failed:
            rows.insert(top, [button(texts, "drop_failed", sub.id, SubAction.drop_failed)])
    elif sub.status == Status.returned:
        rows += [[button(texts, "upload_new", sub.id, SubAction.upload)],
                 [submit_button(texts, sub), button(texts, "withdraw", sub.id, SubAction.withdraw)]]
    elif sub.status == Status.revise:  # 修改后再审: the next round's answers and files, then submit
        rows += [[button(texts, "upload_new", sub.id, SubAction.upload), button(texts, "edit", sub.id, SubAction.edit)],
                 [submit_button(texts, sub)]]
    elif sub.status == Status.submitted:
        rows.append([button(texts, "withdraw", sub.id, SubAction.withdraw)])
    elif sub.status == Status.withdrawn:
        rows.append([button(texts, "copy", sub.id, SubAction.copy)])
    rows += [[button(texts, "feedback", sub.id, SubAction.feedback, str(n), round=str(n))] for n in decided]
    rows.append([all_applications(texts)])
    return back_to_menu(texts, rows=rows)


def staff_button(texts: Texts, sub: Submission, short_round: int | None = None) -> InlineKeyboardMarkup:
    """The operators' notice of a submission: its card; and its round when it is short of reviewers
    (where 增派评审专家 is)."""
    rows = [[InlineKeyboardButton(text=texts.label("application.staff_open"),
                                  callback_data=StaffSubCB(id=sub.id, action=StaffAction.open).pack())]]
    if short_round is not None:
        rows.append([InlineKeyboardButton(text=texts.label("review.open_round"),
                                          callback_data=RoundCB(id=short_round, action=RoundAction.open).pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def answer_rows(texts: Texts, forms: Forms, sub: Submission) -> list[dict[str, str]]:
    """The application's answers that apply, as {"label", "value"} rows (operators' and reviewers' cards)."""
    answers = submissions.answers_of(sub)
    return [{"label": texts.label(f"forms.application.{fld.name}"),
             "value": display(fld, answers.get(fld.name), answers, texts)}
            for fld in forms["application"].fields if fld.applies(answers)]


def upload_kind(row: SubmissionFile) -> str:
    return "video" if row.sent_as == "video" else ("photo" if row.sent_as == "photo" else "document")


async def send_files(bot: Bot, chat_id: int, texts: Texts, files: list[SubmissionFile]) -> None:
    """The application's files themselves (by their Telegram file ids), each with its check summary
    (application/staff_file): for operators and reviewers."""
    for row in files:
        caption = texts.render("application/staff_file", row=row, icon=FILE_ICONS.get(row.check_status, ""))
        kind = upload_kind(row)
        if kind == "video":
            await bot.send_video(chat_id, row.file_id, caption=caption)
        elif kind == "photo":
            await bot.send_photo(chat_id, row.file_id, caption=caption)
        else:
            await bot.send_document(chat_id, row.file_id, caption=caption)


def file_view(row: SubmissionFile) -> dict:
    return {"id": row.id, "name": row.file_name, "status": row.check_status, "size": row.file_size,
            "report": json.loads(row.report) if row.report else None,
            "reason": submissions.reason_of(row)}


async def card(session: AsyncSession, texts: Texts, campaign: Campaign, sub: Submission,
               page: int = 0) -> tuple[str, InlineKeyboardMarkup]:
    """The submission's card (its answers' problems and one page of its files) and its buttons."""
    files = await submissions.files_of(session, sub.id)
    shown, page, pages = page_of(files, page, FILES_PER_PAGE)
    answers = submissions.answers_of(sub)
    errors = submissions.form_errors(campaign, sub) if sub.status == Status.draft else []
    direction = next((d.name for d in campaign.topics.directions if d.id == answers.get("direction")), None)
    category = campaign.category(sub.category)
    history = await review_history(session, campaign, sub)
    text = texts.render("application/card", sub=sub, answers=answers, category=category, history=history,
                        direction=direction, files=[file_view(f) for f in shown], errors=errors,
                        note=submissions.staff_note_of(sub) if sub.status == Status.returned else None,
                        one_file=submissions.one_file(category),
                        total=len(files), page=page, pages=pages, first=page * FILES_PER_PAGE,
                        limit=submissions.MAX_FILES)
    failed = any(f.check_status == FileStatus.failed for f in files)
    decided = [r["number"] for r in history if r["feedback"] is not None]
    return text, card_keyboard(texts, sub, failed, shown, errors, page, pages, decided)


async def review_history(session: AsyncSession, campaign: Campaign, sub: Submission) -> list[dict]:
    """Each review round of the application: its number, status, and the feedback of a decided one."""
    history = []
    for rnd in await rounds.rounds_of(session, sub.id):
        fb = await reviews.feedback(session, campaign, rnd.id) if rnd.status == RoundStatus.decided else None
        history.append({"number": rnd.number, "status": rnd.status.value, "feedback": fb})
    return history


async def show_card(callback: CallbackQuery, texts: Texts, session: AsyncSession, campaign: Campaign,
                    sub: Submission, page: int = 0, before: str | None = None) -> None:
    """The card (one page of its files); `before`: a line shown above it (what just happened)."""
    text, markup = await card(session, texts, campaign, sub, page)
    await show(callback, f"{before}\n\n{text}" if before else text, markup)


def said(texts: Texts, say: Say, sub: Submission) -> tuple[str, InlineKeyboardMarkup | None]:
    """What the upload service says, as text and the buttons it names for this submission."""
    text = texts.render(say.template, **say.values)
    if say.buttons is Buttons.replace:
        return text, InlineKeyboardMarkup(inline_keyboard=[[button(texts, "replace", sub.id, SubAction.replace),
                                                            button(texts, "replace_no", sub.id, SubAction.replace_no)]])
    if say.buttons is Buttons.none:
        return text, None
    return text, draft_keyboard(texts, sub, failed=say.buttons is Buttons.draft_failed)
