"""Applying with works and topics: the application form, uploads checked against the category's
rules, /mywork, submitting and withdrawing."""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import ManualCheckCB, MenuCB, Section, SubCB
from bot.campaign import Campaign
from bot.config import Settings
from bot.filters import Carries, HasRole
from bot.flows.application import UploadSG, application_form
from bot.flows.engine import NotCommand, SubmitContext, start_form
from bot.keyboards import back_to_menu
from bot.notify import notify
from bot.render import Texts
from bot.services import registration, submissions
from bot.services.submissions import FileStatus, Status, SubmitOutcome, UploadMeta
from bot.services.users import Person, Role
from bot.ui import show
from storage.models import Submission

log = logging.getLogger(__name__)


def upload_meta(message: Message) -> UploadMeta | None:
    """The file a message carries, as plain data (a photo keeps its largest size)."""
    if message.document:
        d = message.document
        return UploadMeta("document", d.file_id, d.file_unique_id, d.file_name or "file", d.mime_type, d.file_size,
                          media_group_id=message.media_group_id)
    if message.video:
        v = message.video
        return UploadMeta("video", v.file_id, v.file_unique_id, v.file_name or f"video-{v.file_unique_id}.mp4",
                          v.mime_type, v.file_size, v.width, v.height, v.duration, message.media_group_id)
    if message.photo:
        p = message.photo[-1]
        return UploadMeta("photo", p.file_id, p.file_unique_id, f"photo-{p.file_unique_id}.jpg", "image/jpeg",
                          p.file_size, p.width, p.height, media_group_id=message.media_group_id)
    return None


def button(texts: Texts, key: str, sub_id: int, action: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=texts.label(f"application.{key}"), callback_data=SubCB(id=sub_id, action=action).pack())


def draft_keyboard(texts: Texts, sub: Submission, failed: bool = False) -> InlineKeyboardMarkup:
    first = [button(texts, "drop_failed", sub.id, "drop_failed")] if failed else [button(texts, "submit", sub.id, "submit")]
    return back_to_menu(texts, rows=[first, [button(texts, "mywork", sub.id, "open"),
                                             button(texts, "later", sub.id, "later")]])


def card_keyboard(texts: Texts, sub: Submission, failed: bool = False) -> InlineKeyboardMarkup:
    rows: list[list[InlineKeyboardButton]] = []
    if sub.status == Status.draft.value:
        rows = [[button(texts, "upload", sub.id, "upload"), button(texts, "edit", sub.id, "edit")],
                [button(texts, "submit", sub.id, "submit"), button(texts, "delete", sub.id, "delete")]]
        if failed:
            rows.insert(0, [button(texts, "drop_failed", sub.id, "drop_failed")])
    elif sub.status == Status.submitted.value:
        rows = [[button(texts, "withdraw", sub.id, "withdraw")]]
    rows.append([InlineKeyboardButton(text=texts.label("application.all"),
                                      callback_data=MenuCB(section=Section.mywork).pack())])
    return back_to_menu(texts, rows=rows)


def build(campaign: Campaign) -> Router:
    router = Router(name="submissions")

    async def on_saved(ctx: SubmitContext, sub: Submission) -> str:
        ctx.next_state, ctx.next_data = UploadSG.files, {"submission_id": sub.id}
        ctx.done_markup = draft_keyboard(ctx.texts, sub)
        files = await submissions.files_of(ctx.session, sub.id)
        return ctx.texts.render("application/saved", sub=sub, category=campaign.category(sub.category),
                                files=len(files), local_api=ctx.extra.get("local_api", False))

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
                     person: Person, settings: Settings) -> None:
        """A file for the open draft: first verdict from Telegram's metadata, then the deep check of
        the downloaded file; the progress message becomes the report."""
        data = await state.get_data()
        sub = await submissions.own(session, person.id, int(data.get("submission_id", 0)))
        if sub is None or sub.status != Status.draft.value:
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
        if meta.sent_as == "photo":  # photos have no name: number them within the submission
            number = len(await submissions.files_of(session, sub.id)) + 1
            meta = replace(meta, file_name=texts.label("application.photo_name", n=number))
        if seen is not None:
            await message.answer(texts.render("application/duplicate", file=seen), reply_markup=draft_keyboard(texts, sub))
            return
        first = submissions.first_verdict(pre, category, campaign)
        # the files of one album (media group) share one card, edited as each is checked
        album = data.get("album") if meta.media_group_id else None
        if album is not None and album.get("id") == meta.media_group_id:
            progress_id = album["message_id"]
        else:
            album = {"id": meta.media_group_id, "files": []}
            progress = await message.answer(texts.render("application/progress", meta=meta, first=first,
                                                         compressed=pre.compressed_video))
            progress_id = album["message_id"] = progress.message_id
        status, report = FileStatus.deep_pending, first
        if pre.downloadable:
            await bot.send_chat_action(message.chat.id, "upload_document")
            checked, deep = await deep_check(bot, meta, category, submissions.answers_of(sub), settings)
            if checked is not None:
                status, report = checked, deep
        await submissions.add_file(session, sub, meta, status, report)
        if meta.media_group_id:
            album["files"].append({"name": meta.file_name, "status": status.value, "problems": [
                i for i in (report or {}).get("items", []) if i["status"] != "pass" and i["level"] != "note"]})
            await state.update_data(album=album)
            text = texts.render("application/album_report", files=album["files"])
            failed = any(f["status"] == FileStatus.failed.value for f in album["files"])
        elif status is FileStatus.deep_pending and not pre.downloadable:
            text, failed = texts.render("application/deep_pending", meta=meta, first=first), False
        else:
            text = texts.render("application/report", meta=meta, status=status.value, report=report,
                                compressed=pre.compressed_video)
            failed = status is FileStatus.failed
        await bot.edit_message_text(text, chat_id=message.chat.id, message_id=progress_id,
                                    reply_markup=draft_keyboard(texts, sub, failed=failed))

    async def deep_check(bot: Bot, meta: UploadMeta, category, answers: dict, settings: Settings):
        """Download into a temporary folder and run the checks in a thread; None when the Bot API
        refuses the download (then staff check the file on their side)."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=settings.data_dir, prefix="upload-") as folder:
            path = Path(folder) / Path(meta.file_name).name
            try:
                await bot.download(meta.file_id, destination=path, timeout=600)
            except TelegramBadRequest as exc:
                log.warning("download of %s refused: %s", meta.file_name, exc)
                return None, None
            return await asyncio.to_thread(submissions.check_file, path, category, campaign, answers)

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

    @router.message(Command("bigfiles"), HasRole(Role.admin))
    async def big_files(message: Message, texts: Texts, session: AsyncSession) -> None:
        """Operators: files over the Bot API's download limit, sent to them to check by hand (for
        example with `kepubot check` on their computer), each with 通过 / 不通过."""
        waiting, total = await submissions.awaiting_manual_check(session)
        await message.answer(texts.render("application/big_files", shown=len(waiting), total=total))
        for row, sub in waiting:
            verdict = InlineKeyboardMarkup(inline_keyboard=[[
                InlineKeyboardButton(text=texts.label("application.manual_pass"),
                                     callback_data=ManualCheckCB(file=row.id, passed=True).pack()),
                InlineKeyboardButton(text=texts.label("application.manual_fail"),
                                     callback_data=ManualCheckCB(file=row.id, passed=False).pack())]])
            await notify(session, [message.chat.id], texts.render(
                "application/big_file", row=row, sub=sub, category=campaign.category(sub.category),
                first=json.loads(row.report) if row.report else None), verdict,
                attachments=[("video" if row.sent_as == "video" else "document", row.file_id)])

    @router.callback_query(ManualCheckCB.filter())
    async def manual_check(callback: CallbackQuery, callback_data: ManualCheckCB, texts: Texts,
                           session: AsyncSession, person: Person) -> None:
        if not person.has(Role.admin):
            await callback.answer(texts.render("not_allowed"), show_alert=True)
            return
        recorded = await submissions.record_manual_check(session, callback_data.file, callback_data.passed)
        if recorded is None:
            await callback.answer(texts.render("application/manual_done_already"), show_alert=True)
            return
        row, sub = recorded
        await show(callback, texts.render("application/manual_recorded", row=row, passed=callback_data.passed))
        await notify(session, [sub.user_id], texts.render("application/manual_result", row=row, sub=sub,
                                                          passed=callback_data.passed))

    # ---------------------------------------------------------------- /mywork and each submission

    async def mywork_text(session: AsyncSession, texts: Texts, person: Person) -> tuple[str, InlineKeyboardMarkup]:
        subs = await submissions.mine(session, person.id)
        rows = [[InlineKeyboardButton(text=texts.label("application.item", id=s.id, title=s.title[:20],
                                                       status=texts.label(f"application.status.{s.status}")),
                                      callback_data=SubCB(id=s.id, action="open").pack())] for s in subs[:20]]
        new = InlineKeyboardButton(text=texts.label("application.new"), callback_data=MenuCB(section=Section.apply).pack())
        return texts.render("application/mywork", subs=subs), back_to_menu(texts, rows=[*rows, [new]])

    @router.message(Command("mywork"))
    async def mywork(message: Message, texts: Texts, session: AsyncSession, person: Person) -> None:
        """Every application of this person with its status."""
        text, markup = await mywork_text(session, texts, person)
        await message.answer(text, reply_markup=markup)

    @router.callback_query(MenuCB.filter(F.section == Section.mywork))
    async def mywork_button(callback: CallbackQuery, texts: Texts, session: AsyncSession, person: Person) -> None:
        await show(callback, *await mywork_text(session, texts, person))

    @router.callback_query(SubCB.filter())
    async def on_submission(callback: CallbackQuery, callback_data: SubCB, bot: Bot, state: FSMContext,
                            texts: Texts, session: AsyncSession, person: Person, clock: Callable[[], datetime],
                            settings: Settings) -> None:
        sub = await submissions.own(session, person.id, callback_data.id)
        if sub is None:  # not this person's (forged) or deleted meanwhile
            await callback.answer(texts.render("stale_button"), show_alert=True)
            return
        action = callback_data.action
        if action == "open":
            text, failed = await card_text(session, texts, sub)
            await show(callback, text, card_keyboard(texts, sub, failed))
        elif action == "later":
            await state.clear()
            await show(callback, texts.render("application/later", sub=sub), back_to_menu(texts))
        elif sub.status != Status.draft.value and action in ("upload", "edit", "submit", "delete", "delete_yes",
                                                              "drop_failed"):
            await callback.answer(texts.render("application/not_draft", sub=sub), show_alert=True)
        elif action == "upload":
            await state.set_state(UploadSG.files)
            await state.set_data({"submission_id": sub.id})
            await callback.answer()
            await bot.send_message(person.id, texts.render("application/upload_hint",
                                                           category=campaign.category(sub.category)),
                                   reply_markup=draft_keyboard(texts, sub))
        elif action == "edit":
            await callback.answer()
            await start_form(form, person.id, bot, state, texts, values=submissions.answers_of(sub),
                             extra={"submission_id": sub.id, "local_api": settings.bot_api_local}, at_summary=True)
        elif action == "submit":
            outcome, ready = await submissions.submit(session, campaign, sub, clock())
            await callback.answer()
            await bot.send_message(person.id, texts.render("application/submit_result", outcome=outcome.value,
                                                           sub=sub, ready=ready),
                                   reply_markup=card_keyboard(texts, sub, failed=bool(ready and ready.failed_files)))
            if outcome is SubmitOutcome.submitted:
                if (await state.get_data()).get("submission_id") == sub.id:
                    await state.clear()
                await notify(session, sorted(settings.admin_ids), texts.render(
                    "application/for_staff", sub=sub, category=campaign.category(sub.category), person=person,
                    pending=len(ready.pending_files) if ready else 0))
        elif action in ("withdraw", "delete"):
            confirm = InlineKeyboardMarkup(inline_keyboard=[[button(texts, f"{action}_yes", sub.id, f"{action}_yes")],
                                                            [button(texts, "back", sub.id, "open")]])
            await show(callback, texts.render(f"application/{action}_confirm", sub=sub), confirm)
        elif action == "withdraw_yes":
            done = await submissions.withdraw(session, sub)
            await show(callback, texts.render("application/withdrawn", done=done, sub=sub), card_keyboard(texts, sub))
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

    async def card_text(session: AsyncSession, texts: Texts, sub: Submission) -> tuple[str, bool]:
        """The submission's card, and whether it holds files that failed their check."""
        files = await submissions.files_of(session, sub.id)
        answers = submissions.answers_of(sub)
        direction = next((d.name for d in campaign.topics.directions if d.id == answers.get("direction")), None)
        text = texts.render("application/card", sub=sub, answers=answers, category=campaign.category(sub.category),
                            direction=direction, files=[{"name": f.file_name, "status": f.check_status,
                                                         "report": json.loads(f.report) if f.report else None}
                                                        for f in files])
        return text, any(f.check_status == FileStatus.failed.value for f in files)

    return router
