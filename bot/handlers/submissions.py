"""Applying with works and topics: the application form, uploads checked against the category's
rules, /mywork, submitting and withdrawing."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import (
    CONFIRM_MINUTES,
    FileCB,
    ManualCheckCB,
    MenuCB,
    MyWorkCB,
    Section,
    StaffSubCB,
    SubCB,
    fresh,
    stamped,
    unstamped,
)
from bot.campaign import Campaign
from bot.checker import Checker
from bot.config import Settings
from bot.filters import Carries, HasRole
from bot.flows.application import UploadSG, application_form
from bot.flows.engine import NotCommand, SubmitContext, display, start_form
from bot.flows.manual_check import MANUAL_FAIL
from bot.keyboards import back_to_menu
from bot.notify import notify
from bot.render import Texts
from bot.services import registration, submissions
from bot.services.policy import Action, can
from bot.services.submissions import FileStatus, Status, SubmitOutcome, UploadMeta
from bot.services.users import Person, Role
from bot.ui import show
from storage.db import after_commit
from storage.models import Submission, SubmissionFile

log = logging.getLogger(__name__)

# Lists shown page by page so that every message stays under Telegram's 4096 characters
# (a file line is at most ~200 characters: its name is cut to 60, a reason to 80)
FILES_PER_PAGE = 10  # the creator's card
STAFF_FILES_PER_PAGE = 8  # the operators' card also lists each file's unmet requirements
MYWORK_PER_PAGE = 10  # /mywork: one button per application
EXPIRING = ("delete_yes", "withdraw_yes")  # confirmations refused after CONFIRM_MINUTES


def expired(texts: Texts) -> str:
    return texts.render("forms/errors/confirm_expired", minutes=CONFIRM_MINUTES)


def upload_meta(message: Message) -> UploadMeta | None:
    """The file a message carries, as plain data (a photo keeps its largest size)."""
    if message.document:
        d = message.document
        return UploadMeta("document", d.file_id, d.file_unique_id, submissions.clean_file_name(d.file_name),
                          d.mime_type, d.file_size,
                          media_group_id=message.media_group_id)
    if message.video:
        v = message.video
        return UploadMeta("video", v.file_id, v.file_unique_id,
                          submissions.clean_file_name(v.file_name, f"video-{v.file_unique_id}.mp4"),
                          v.mime_type, v.file_size, v.width, v.height, v.duration, message.media_group_id)
    if message.photo:
        p = message.photo[-1]
        return UploadMeta("photo", p.file_id, p.file_unique_id, f"photo-{p.file_unique_id}.jpg", "image/jpeg",
                          p.file_size, p.width, p.height, media_group_id=message.media_group_id)
    return None


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


def button(texts: Texts, key: str, sub_id: int, action: str, **fmt: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=texts.label(f"application.{key}", **fmt),
                                callback_data=SubCB(id=sub_id, action=action).pack())


def draft_keyboard(texts: Texts, sub: Submission, failed: bool = False) -> InlineKeyboardMarkup:
    first = [button(texts, "drop_failed", sub.id, "drop_failed")] if failed else [button(texts, "submit", sub.id, "submit")]
    return back_to_menu(texts, rows=[first, [button(texts, "mywork", sub.id, "open"),
                                             button(texts, "later", sub.id, "later")]])


def file_button(texts: Texts, row: SubmissionFile) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=texts.label("application.file", icon=FILE_ICONS.get(row.check_status, ""),
                                                 name=row.file_name[:40]),
                                callback_data=FileCB(file=row.id, action="open").pack())


def fix_buttons(texts: Texts, sub: Submission, errors: list[submissions.FormError]) -> list[list[InlineKeyboardButton]]:
    """One button per form answer that breaks a rule: it opens the form at that answer."""
    names = dict.fromkeys(e.field for e in errors if e.field)
    return [[button(texts, "fix", sub.id, f"fx_{name}", label=texts.label(f"forms.application.{name}"))]
            for name in names]


def card_keyboard(texts: Texts, sub: Submission, failed: bool = False, files: list[SubmissionFile] = (),
                  errors: list[submissions.FormError] = (), page: int = 0, pages: int = 1) -> InlineKeyboardMarkup:
    """The card's buttons: one per file of the page shown (`files`), 上一页/下一页, the actions."""
    rows: list[list[InlineKeyboardButton]] = [[file_button(texts, row)] for row in files]
    rows += pager(texts, page, pages, lambda to: SubCB(id=sub.id, action=f"pg_{to}").pack())
    top = len(rows)
    if sub.status == Status.draft.value:
        rows += fix_buttons(texts, sub, list(errors))
        rows += [[button(texts, "upload", sub.id, "upload"), button(texts, "edit", sub.id, "edit")],
                 [button(texts, "submit", sub.id, "submit"), button(texts, "delete", sub.id, "delete")]]
        if failed:
            rows.insert(top, [button(texts, "drop_failed", sub.id, "drop_failed")])
    elif sub.status == Status.returned.value:
        rows += [[button(texts, "upload_new", sub.id, "upload")],
                 [button(texts, "resubmit", sub.id, "submit"), button(texts, "withdraw", sub.id, "withdraw")]]
    elif sub.status == Status.submitted.value:
        rows.append([button(texts, "withdraw", sub.id, "withdraw")])
    elif sub.status == Status.withdrawn.value:
        rows.append([button(texts, "copy", sub.id, "copy")])
    rows.append([InlineKeyboardButton(text=texts.label("application.all"),
                                      callback_data=MenuCB(section=Section.mywork).pack())])
    return back_to_menu(texts, rows=rows)


def staff_button(texts: Texts, sub: Submission) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=texts.label("application.staff_open"), callback_data=StaffSubCB(id=sub.id, action="open").pack())]])


def upload_kind(row: SubmissionFile) -> str:
    return "video" if row.sent_as == "video" else ("photo" if row.sent_as == "photo" else "document")


FILE_ICONS = {"passed": "✅", "warnings": "⚠️", "failed": "❌", "deep_pending": "⏳"}


def report_message(texts: Texts, campaign: Campaign, sub: Submission, row: SubmissionFile,
                   album: list[SubmissionFile], *, downloaded: bool) -> tuple[str, InlineKeyboardMarkup]:
    """What the "正在检查…" message becomes: the file's report (or its album's card), with the draft's
    buttons. `downloaded` False: the Bot API refused the download, or the file was not kept."""
    if row.check_status == FileStatus.checking.value and not downloaded:  # the download failed
        return texts.render("application/download_failed", row=row), draft_keyboard(texts, sub)
    report = json.loads(row.report) if row.report else None
    if album:
        files = [{"name": f.file_name, "status": f.check_status, "problems": [
            i for i in (json.loads(f.report) if f.report else {}).get("items", [])
            if i["status"] != "pass" and i["level"] != "note"]} for f in album]
        failed = any(f["status"] == FileStatus.failed.value for f in files)
        return texts.render("application/album_report", files=files), draft_keyboard(texts, sub, failed=failed)
    if row.check_status == FileStatus.deep_pending.value:
        return texts.render("application/deep_pending", meta=row, first=report), draft_keyboard(texts, sub)
    failed = row.check_status == FileStatus.failed.value
    text = texts.render("application/report", meta=row, status=row.check_status, report=report,
                        compressed=row.sent_as == "video")
    return text, draft_keyboard(texts, sub, failed=failed)


def build(campaign: Campaign) -> Router:
    router = Router(name="submissions")

    async def on_saved(ctx: SubmitContext, sub: Submission) -> str:
        ctx.next_state, ctx.next_data = UploadSG.files, {"submission_id": sub.id}
        # the answers may have changed: the files already uploaded are judged again (no re-upload)
        rejudged = await submissions.rejudge_draft(ctx.session, campaign, sub)
        errors = submissions.form_errors(campaign, sub)
        ctx.done_markup = back_to_menu(ctx.texts, rows=[*fix_buttons(ctx.texts, sub, errors),
                                                         *draft_keyboard(ctx.texts, sub).inline_keyboard[:-1]])
        files = await submissions.files_of(ctx.session, sub.id)
        return ctx.texts.render("application/saved", sub=sub, category=campaign.category(sub.category),
                                files=len(files), local_api=ctx.extra.get("local_api", False),
                                rejudged=rejudged, errors=errors)

    form = application_form(campaign, on_saved)

    # ---------------------------------------------------------------- opening an application

    async def open_application(chat_id: int, bot: Bot, state: FSMContext, texts: Texts, session: AsyncSession,
                               person: Person, clock: Callable[[], datetime], settings: Settings) -> None:
        if not await registration.is_approved(session, person.id):
            reg = await registration.for_user(session, person.id)
            await bot.send_message(chat_id, texts.render("application/need_registration", reg=reg))
            return
        if not campaign.is_open(clock()):
            await bot.send_message(chat_id, texts.render("application/closed"))
            return
        if not await submissions.room_for_draft(session, person.id):
            await bot.send_message(chat_id, texts.render("application/too_many_drafts",
                                                         limit=submissions.MAX_OPEN_DRAFTS),
                                   reply_markup=back_to_menu(texts, rows=[[InlineKeyboardButton(
                                       text=texts.label("application.all"),
                                       callback_data=MenuCB(section=Section.mywork).pack())]]))
            return
        await start_form(form, chat_id, bot, state, texts, extra={"local_api": settings.bot_api_local})

    @router.message(Command("apply"))
    async def apply_command(message: Message, bot: Bot, state: FSMContext, texts: Texts, session: AsyncSession,
                            person: Person, clock: Callable[[], datetime], settings: Settings) -> None:
        """/apply: a new application (work or topic), for approved 科普号 within the campaign's window."""
        await open_application(message.chat.id, bot, state, texts, session, person, clock, settings)

    @router.callback_query(MenuCB.filter(F.section == Section.apply))
    async def apply_button(callback: CallbackQuery, bot: Bot, state: FSMContext, texts: Texts,
                           session: AsyncSession, person: Person, clock: Callable[[], datetime],
                           settings: Settings) -> None:
        await callback.answer()
        await open_application(callback.from_user.id, bot, state, texts, session, person, clock, settings)

    # ---------------------------------------------------------------- uploads

    @router.message(StateFilter(UploadSG.files), Carries("document", "photo", "video"))
    async def upload(message: Message, bot: Bot, state: FSMContext, texts: Texts, session: AsyncSession,
                     person: Person, settings: Settings, checker: Checker) -> None:
        """A file for the open draft: first verdict from Telegram's metadata, then the deep check of
        the downloaded file; the progress message becomes the report. A second version of a work
        that takes one file first asks whether to replace the first."""
        data = await state.get_data()
        sub = await submissions.own(session, person.id, int(data.get("submission_id", 0)))
        if sub is None or not submissions.files_editable(sub):
            await state.clear()
            await message.answer(texts.render("application/no_draft"))
            return
        meta = upload_meta(message)
        assert meta is not None
        category = campaign.category(sub.category)
        pre = submissions.precheck(meta, category, local_api=settings.bot_api_local)
        if not pre.accepted:
            await message.answer(texts.render("application/file_not_accepted", meta=meta, category=category))
            return
        seen = await submissions.file_seen(session, sub.id, meta.file_unique_id)
        files = await submissions.files_of(session, sub.id)
        if meta.sent_as == "photo":  # photos have no name: number them within the submission
            meta = replace(meta, file_name=texts.label("application.photo_name", n=len(files) + 1))
        if seen is not None:
            await message.answer(texts.render("application/duplicate", file=seen), reply_markup=draft_keyboard(texts, sub))
            return
        if not submissions.one_file(category) and not submissions.room_for_file(files):
            await message.answer(texts.render("application/too_many_files", meta=meta, sub=sub, files=len(files),
                                              limit=submissions.MAX_FILES), reply_markup=draft_keyboard(texts, sub))
            return
        if files and submissions.one_file(category):
            # the upload waits in FSM data (nothing is sent again) until the person chooses
            await state.update_data(pending_upload={"submission_id": sub.id, **asdict(meta)})
            choose = InlineKeyboardMarkup(inline_keyboard=[[button(texts, "replace", sub.id, "replace"),
                                                             button(texts, "replace_no", sub.id, "replace_no")]])
            await message.answer(texts.render("application/replace_confirm", meta=meta, files=files,
                                              category=category), reply_markup=choose)
            return
        await check_upload(bot, message.chat.id, state, texts, session, sub, meta, settings, data.get("album"),
                           checker)

    async def check_upload(bot: Bot, chat_id: int, state: FSMContext, texts: Texts, session: AsyncSession,
                           sub: Submission, meta: UploadMeta, settings: Settings, album: dict | None,
                           checker: Checker) -> None:
        """Record the file and show "正在检查…"; the check runs after this update commits (bot/checker.py)
        and turns that message into the report. A file too big to download here waits for staff."""
        category = campaign.category(sub.category)
        pre = submissions.precheck(meta, category, local_api=settings.bot_api_local)
        first = submissions.first_verdict(pre, category, campaign)
        # the files of one album (media group) share one card, edited as each is checked
        album = album if meta.media_group_id else None
        if album is not None and album.get("id") == meta.media_group_id:
            progress_id = album["message_id"]
        else:
            progress = await bot.send_message(chat_id, texts.render("application/progress", meta=meta, first=first,
                                                                    compressed=pre.compressed_video))
            progress_id = progress.message_id
            if meta.media_group_id:
                await state.update_data(album={"id": meta.media_group_id, "message_id": progress_id})
        status = FileStatus.checking if pre.downloadable else FileStatus.deep_pending
        row = await submissions.add_file(session, sub, meta, status, first, report_message_id=progress_id)
        if pre.downloadable:
            await bot.send_chat_action(chat_id, "upload_document")
            after_commit(session, lambda: checker.start(bot, row.id))
            return
        album_rows = await submissions.album_files(session, sub, meta.media_group_id) if meta.media_group_id else []
        text, markup = report_message(texts, campaign, sub, row, album_rows, downloaded=False)
        await bot.edit_message_text(text, chat_id=chat_id, message_id=progress_id, reply_markup=markup)

    @router.message(StateFilter(UploadSG.files), NotCommand())
    async def upload_hint(message: Message, state: FSMContext, texts: Texts, session: AsyncSession,
                          person: Person) -> None:
        data = await state.get_data()
        sub = await submissions.own(session, person.id, int(data.get("submission_id", 0)))
        if sub is None:
            await state.clear()
            await message.answer(texts.render("application/no_draft"))
            return
        await message.answer(texts.render("application/upload_hint", category=campaign.category(sub.category)),
                             reply_markup=draft_keyboard(texts, sub))

    # ---------------------------------------------------------------- staff: files too big for the check

    async def send_big_files(chat_id: int, bot: Bot, texts: Texts, session: AsyncSession) -> None:
        waiting, total = await submissions.awaiting_manual_check(session)
        await bot.send_message(chat_id, texts.render("application/big_files", shown=len(waiting), total=total))
        for row, sub in waiting:
            verdict = InlineKeyboardMarkup(inline_keyboard=[[
                InlineKeyboardButton(text=texts.label("application.manual_pass"),
                                     callback_data=ManualCheckCB(file=row.id, passed=True).pack()),
                InlineKeyboardButton(text=texts.label("application.manual_fail"),
                                     callback_data=ManualCheckCB(file=row.id, passed=False).pack())]])
            await notify(session, [chat_id], texts.render(
                "application/big_file", row=row, sub=sub, category=campaign.category(sub.category),
                first=json.loads(row.report) if row.report else None), verdict,
                attachments=[("video" if row.sent_as == "video" else "document", row.file_id)], about=sub.user_id)

    @router.message(Command("bigfiles"), HasRole(Role.admin))
    async def big_files(message: Message, bot: Bot, texts: Texts, session: AsyncSession) -> None:
        """Operators: files over the Bot API's download limit, sent to them to check by hand (for
        example with `kepubot check` on their computer), each with 通过 / 不通过."""
        await send_big_files(message.chat.id, bot, texts, session)

    @router.callback_query(MenuCB.filter(F.section == Section.bigfiles))
    async def big_files_button(callback: CallbackQuery, bot: Bot, texts: Texts, session: AsyncSession,
                               person: Person) -> None:
        """The same list from a button (the counts on an operator's /start)."""
        if not can(person, Action.check_file_by_hand):
            await callback.answer(texts.render("not_allowed"), show_alert=True)
            return
        await callback.answer()
        await send_big_files(callback.from_user.id, bot, texts, session)

    @router.callback_query(ManualCheckCB.filter())
    async def manual_check(callback: CallbackQuery, callback_data: ManualCheckCB, bot: Bot, state: FSMContext,
                           texts: Texts, session: AsyncSession, person: Person) -> None:
        """通过 is recorded at once; 不通过 asks the operator why (the rule and their words) first."""
        if not can(person, Action.check_file_by_hand):
            await callback.answer(texts.render("not_allowed"), show_alert=True)
            return
        if not callback_data.passed:
            waiting = await submissions.waiting_file(session, callback_data.file)
            if waiting is None:
                await callback.answer(texts.render("application/manual_done_already"), show_alert=True)
                return
            row, sub = waiting
            await callback.answer()
            await start_form(MANUAL_FAIL, callback.from_user.id, bot, state, texts,
                             extra={"file_id": row.id, "file_name": row.file_name, "submission_id": sub.id,
                                    "title": sub.title, "about": sub.user_id})
            return
        result = await submissions.record_manual_check(session, callback_data.file, True)
        if result is None:
            await callback.answer(texts.render("application/manual_done_already"), show_alert=True)
            return
        await show(callback, texts.render("application/manual_recorded", row=result.row, passed=True,
                                          reason=None, returned=False))
        await notify(session, [result.sub.user_id], texts.render("application/manual_result", row=result.row,
                                                                 sub=result.sub, passed=True, reason=None,
                                                                 returned=False), about=result.sub.user_id)

    # ---------------------------------------------------------------- staff: a submitted application

    @router.callback_query(StaffSubCB.filter())
    async def staff_open(callback: CallbackQuery, callback_data: StaffSubCB, bot: Bot, texts: Texts,
                         session: AsyncSession, person: Person) -> None:
        """Operators open someone's application: its answers, each file's check summary, the files."""
        if not can(person, Action.open_application):
            await callback.answer(texts.render("not_allowed"), show_alert=True)
            return
        sub = await submissions.for_staff(session, callback_data.id)
        action = callback_data.action
        if sub is None or not (action == "open" or action.startswith("pg_") and action[3:].isdigit()):
            await callback.answer(texts.render("stale_button"), show_alert=True)
            return
        files = await submissions.files_of(session, sub.id)
        if action != "open":  # another page of the card's file list
            await show(callback, *staff_card(texts, sub, files, int(action[3:])))
            return
        await callback.answer()
        chat_id = callback.from_user.id
        for row in files:  # the files themselves, by their Telegram file ids
            caption = texts.render("application/staff_file", row=row, icon=FILE_ICONS.get(row.check_status, ""))
            kind = upload_kind(row)
            if kind == "video":
                await bot.send_video(chat_id, row.file_id, caption=caption)
            elif kind == "photo":
                await bot.send_photo(chat_id, row.file_id, caption=caption)
            else:
                await bot.send_document(chat_id, row.file_id, caption=caption)
        text, markup = staff_card(texts, sub, files, 0)
        await bot.send_message(chat_id, text, reply_markup=markup, disable_web_page_preview=True)

    def staff_card(texts: Texts, sub: Submission, files: list[SubmissionFile],
                   page: int) -> tuple[str, InlineKeyboardMarkup | None]:
        """The operators' card: the answers and one page of the files with their unmet requirements."""
        answers = submissions.answers_of(sub)
        rows = [{"label": texts.label(f"forms.application.{fld.name}"),
                 "value": display(fld, answers.get(fld.name), answers, texts)}
                for fld in form.fields if fld.applies(answers)]
        shown, page, pages = page_of(files, page, STAFF_FILES_PER_PAGE)
        text = texts.render("application/staff_card", sub=sub, rows=rows, category=campaign.category(sub.category),
                            note=submissions.staff_note_of(sub), files=[file_view(f) for f in shown],
                            total=len(files), page=page, pages=pages, first=page * STAFF_FILES_PER_PAGE)
        buttons = pager(texts, page, pages, lambda to: StaffSubCB(id=sub.id, action=f"pg_{to}").pack())
        return text, InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None

    # ---------------------------------------------------------------- /mywork and each submission

    async def mywork_text(session: AsyncSession, texts: Texts, person: Person,
                          page: int = 0) -> tuple[str, InlineKeyboardMarkup]:
        """/mywork: how many applications, and a button for each of one page (newest first)."""
        subs = await submissions.mine(session, person.id)
        shown, page, pages = page_of(subs, page, MYWORK_PER_PAGE)
        rows = [[InlineKeyboardButton(text=texts.label("application.item", id=s.id, title=s.title[:20],
                                                       status=texts.label(f"application.status.{s.status}")),
                                      callback_data=SubCB(id=s.id, action="open").pack())] for s in shown]
        rows += pager(texts, page, pages, lambda to: MyWorkCB(page=to).pack())
        new = InlineKeyboardButton(text=texts.label("application.new"), callback_data=MenuCB(section=Section.apply).pack())
        return (texts.render("application/mywork", subs=subs, page=page, pages=pages),
                back_to_menu(texts, rows=[*rows, [new]]))

    @router.message(Command("mywork"))
    async def mywork(message: Message, texts: Texts, session: AsyncSession, person: Person) -> None:
        """Every application of this person with its status."""
        text, markup = await mywork_text(session, texts, person)
        await message.answer(text, reply_markup=markup)

    @router.callback_query(MenuCB.filter(F.section == Section.mywork))
    async def mywork_button(callback: CallbackQuery, texts: Texts, session: AsyncSession, person: Person) -> None:
        await show(callback, *await mywork_text(session, texts, person))

    @router.callback_query(MyWorkCB.filter())
    async def mywork_page(callback: CallbackQuery, callback_data: MyWorkCB, texts: Texts, session: AsyncSession,
                          person: Person) -> None:
        """Another page of /mywork (the list is the pressing person's own)."""
        await show(callback, *await mywork_text(session, texts, person, callback_data.page))

    async def show_card(callback: CallbackQuery, texts: Texts, session: AsyncSession, sub: Submission,
                        page: int = 0, before: str | None = None) -> None:
        """The card (one page of its files); `before`: a line shown above it (what just happened)."""
        text, markup = await card(session, texts, sub, page)
        await show(callback, f"{before}\n\n{text}" if before else text, markup)

    @router.callback_query(SubCB.filter())
    async def on_submission(callback: CallbackQuery, callback_data: SubCB, bot: Bot, state: FSMContext,
                            texts: Texts, session: AsyncSession, person: Person, clock: Callable[[], datetime],
                            settings: Settings, checker: Checker) -> None:
        sub = await submissions.own(session, person.id, callback_data.id)
        if sub is None:  # not this person's (forged) or deleted meanwhile
            await callback.answer(texts.render("stale_button"), show_alert=True)
            return
        action, stamp = unstamped(callback_data.action)
        files_actions = ("upload", "submit", "submit_yes", "drop_failed", "replace", "replace_no")
        draft_only = ("edit", "delete", "delete_yes")
        if action == "open":
            await show_card(callback, texts, session, sub)
        elif action.startswith("pg_") and action[3:].isdigit():
            await show_card(callback, texts, session, sub, int(action[3:]))
        elif action == "later":
            await state.clear()
            await show(callback, texts.render("application/later", sub=sub), back_to_menu(texts))
        elif (action in files_actions and not submissions.files_editable(sub)) or (
                (action in draft_only or action.startswith("fx_")) and sub.status != Status.draft.value):
            await callback.answer(texts.render("application/not_draft", sub=sub), show_alert=True)
        elif action in EXPIRING and not fresh(stamp, clock()):  # a confirmation pressed long after
            await show_card(callback, texts, session, sub, before=expired(texts))
        elif action == "upload":
            await state.set_state(UploadSG.files)
            await state.set_data({"submission_id": sub.id})
            await callback.answer()
            await bot.send_message(person.id, texts.render("application/upload_hint",
                                                           category=campaign.category(sub.category), sub=sub),
                                   reply_markup=draft_keyboard(texts, sub))
        elif action in ("replace", "replace_no"):
            await replace_upload(callback, action == "replace", bot, state, texts, session, sub, settings, checker)
        elif action == "edit":
            await callback.answer()
            await start_form(form, person.id, bot, state, texts, values=submissions.answers_of(sub),
                             extra={"submission_id": sub.id, "local_api": settings.bot_api_local}, at_summary=True)
        elif action.startswith("fx_"):
            name = action.removeprefix("fx_")
            answers = submissions.answers_of(sub)
            if not any(fld.name == name and fld.applies(answers) for fld in form.fields):
                await callback.answer(texts.render("stale_button"), show_alert=True)
                return
            await callback.answer()
            await start_form(form, person.id, bot, state, texts, values=answers, edit_only=[name],
                             extra={"submission_id": sub.id, "local_api": settings.bot_api_local})
        elif action == "submit":
            # not ready (or closed): say why at once; ready: ask to confirm first
            outcome, ready = await submissions.can_submit(session, campaign, sub, clock())
            await callback.answer()
            if outcome is SubmitOutcome.submitted:
                confirm = InlineKeyboardMarkup(inline_keyboard=[[button(texts, "submit_yes", sub.id, "submit_yes")],
                                                                [button(texts, "back", sub.id, "open")]])
                await bot.send_message(person.id, texts.render("application/submit_confirm", sub=sub, ready=ready),
                                       reply_markup=confirm)
            else:
                await send_submit_result(bot, person.id, texts, session, sub, outcome, ready)
        elif action == "submit_yes":
            was_returned = sub.status == Status.returned.value
            outcome, ready = await submissions.submit(session, campaign, sub, clock())
            await send_submit_result(bot, person.id, texts, session, sub, outcome, ready, callback=callback)
            if outcome is SubmitOutcome.submitted:
                if (await state.get_data()).get("submission_id") == sub.id:
                    await state.clear()
                await notify(session, sorted(settings.admin_ids), texts.render(
                    "application/for_staff", sub=sub, category=campaign.category(sub.category), person=person,
                    pending=len(ready.pending_files) if ready else 0, resubmitted=was_returned),
                    staff_button(texts, sub), about=sub.user_id)
        elif action in ("withdraw", "delete"):
            yes = stamped(f"{action}_yes", clock())  # refused after CONFIRM_MINUTES
            confirm = InlineKeyboardMarkup(inline_keyboard=[[button(texts, f"{action}_yes", sub.id, yes)],
                                                            [button(texts, "back", sub.id, "open")]])
            await show(callback, texts.render(f"application/{action}_confirm", sub=sub), confirm)
        elif action == "withdraw_yes":
            done = await submissions.withdraw(session, sub)
            await show(callback, texts.render("application/withdrawn", done=done, sub=sub), card_keyboard(texts, sub))
        elif action == "copy":
            try:
                copy = await submissions.copy_as_draft(session, sub)
            except submissions.TooManyDrafts:
                await callback.answer(texts.render("application/too_many_drafts", limit=submissions.MAX_OPEN_DRAFTS),
                                      show_alert=True)
                return
            if copy is None:
                await callback.answer(texts.render("application/not_withdrawn", sub=sub), show_alert=True)
                return
            await state.set_state(UploadSG.files)
            await state.set_data({"submission_id": copy.id})
            files = await submissions.files_of(session, copy.id)
            await show(callback, texts.render("application/copied", sub=copy, source=sub, files=files,
                                              category=campaign.category(copy.category)),
                       draft_keyboard(texts, copy))
        elif action == "drop_failed":
            removed = await submissions.remove_failed(session, sub)
            await state.set_state(UploadSG.files)
            await state.set_data({"submission_id": sub.id})
            await show(callback, texts.render("application/dropped", removed=removed,
                                              category=campaign.category(sub.category)), draft_keyboard(texts, sub))
        elif action == "delete_yes":
            await submissions.delete_draft(session, sub)
            if (await state.get_data()).get("submission_id") == sub.id:
                await state.clear()
            await show(callback, texts.render("application/deleted", sub=sub), back_to_menu(texts))
        else:
            await callback.answer(texts.render("stale_button"), show_alert=True)

    async def send_submit_result(bot: Bot, chat_id: int, texts: Texts, session: AsyncSession, sub: Submission,
                                 outcome: SubmitOutcome, ready: submissions.Readiness | None,
                                 callback: CallbackQuery | None = None) -> None:
        errors = ready.form_errors if ready else []
        shown, page, pages = page_of(await submissions.files_of(session, sub.id), 0, FILES_PER_PAGE)
        markup = card_keyboard(texts, sub, failed=bool(ready and ready.failed_files), files=shown, errors=errors,
                               page=page, pages=pages)
        text = texts.render("application/submit_result", outcome=outcome.value, sub=sub, ready=ready)
        if callback is not None:  # the confirmation turns into the result
            await show(callback, text, markup)
        else:
            await bot.send_message(chat_id, text, reply_markup=markup)

    async def replace_upload(callback: CallbackQuery, replace_it: bool, bot: Bot, state: FSMContext, texts: Texts,
                             session: AsyncSession, sub: Submission, settings: Settings, checker: Checker) -> None:
        """替换: the earlier version goes and the waiting upload is checked as usual; 取消: kept."""
        data = await state.get_data()
        pending = data.get("pending_upload")
        if not pending or pending.get("submission_id") != sub.id:
            await callback.answer(texts.render("stale_button"), show_alert=True)
            return
        data.pop("pending_upload")
        await state.set_state(UploadSG.files)
        await state.set_data({**data, "submission_id": sub.id})
        meta = UploadMeta(**{k: v for k, v in pending.items() if k != "submission_id"})
        if not replace_it:
            await show(callback, texts.render("application/replace_kept", meta=meta), draft_keyboard(texts, sub))
            return
        removed = await submissions.replace_files(session, sub)
        await show(callback, texts.render("application/replaced", meta=meta, removed=removed))
        await check_upload(bot, callback.from_user.id, state, texts, session, sub, meta, settings, None, checker)

    # ---------------------------------------------------------------- each file of an application

    @router.callback_query(FileCB.filter())
    async def on_file(callback: CallbackQuery, callback_data: FileCB, texts: Texts, session: AsyncSession,
                      person: Person, clock: Callable[[], datetime]) -> None:
        """A file of one's own application: its report again, and removing it (drafts and returned)."""
        found = await submissions.file_of(session, person.id, callback_data.file)
        if found is None:
            await callback.answer(texts.render("stale_button"), show_alert=True)
            return
        row, sub = found
        action, stamp = unstamped(callback_data.action)
        back = [button(texts, "back", sub.id, "open")]
        if action == "open":
            rows = [[InlineKeyboardButton(text=texts.label("application.remove_file"),
                                          callback_data=FileCB(file=row.id, action="remove").pack())]] \
                if submissions.files_editable(sub) else []
            await show(callback, texts.render("application/file_report", row=row, sub=sub, view=file_view(row)),
                       back_to_menu(texts, rows=[*rows, back]))
        elif action in ("remove", "remove_yes") and not submissions.files_editable(sub):
            await callback.answer(texts.render("application/not_draft", sub=sub), show_alert=True)
        elif action == "remove_yes" and not fresh(stamp, clock()):  # a confirmation pressed long after
            await show_card(callback, texts, session, sub, before=expired(texts))
        elif action == "remove":
            confirm = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
                text=texts.label("application.remove_file_yes"),
                callback_data=FileCB(file=row.id, action=stamped("remove_yes", clock())).pack())], back])
            await show(callback, texts.render("application/remove_file_confirm", row=row, sub=sub), confirm)
        elif action == "remove_yes":
            await submissions.remove_file(session, sub, row)
            text, markup = await card(session, texts, sub)
            await show(callback, texts.render("application/file_removed", row=row) + "\n\n" + text, markup)
        else:
            await callback.answer(texts.render("stale_button"), show_alert=True)

    def file_view(row: SubmissionFile) -> dict:
        return {"id": row.id, "name": row.file_name, "status": row.check_status, "size": row.file_size,
                "report": json.loads(row.report) if row.report else None,
                "reason": submissions.reason_of(row)}

    async def card(session: AsyncSession, texts: Texts, sub: Submission,
                   page: int = 0) -> tuple[str, InlineKeyboardMarkup]:
        """The submission's card (its answers' problems and one page of its files) and its buttons."""
        files = await submissions.files_of(session, sub.id)
        shown, page, pages = page_of(files, page, FILES_PER_PAGE)
        answers = submissions.answers_of(sub)
        errors = submissions.form_errors(campaign, sub) if sub.status == Status.draft.value else []
        direction = next((d.name for d in campaign.topics.directions if d.id == answers.get("direction")), None)
        text = texts.render("application/card", sub=sub, answers=answers, category=campaign.category(sub.category),
                            direction=direction, files=[file_view(f) for f in shown], errors=errors,
                            note=submissions.staff_note_of(sub) if sub.status == Status.returned.value else None,
                            one_file=submissions.one_file(campaign.category(sub.category)),
                            total=len(files), page=page, pages=pages, first=page * FILES_PER_PAGE,
                            limit=submissions.MAX_FILES)
        failed = any(f.check_status == FileStatus.failed.value for f in files)
        return text, card_keyboard(texts, sub, failed, shown, errors, page, pages)

    return router
