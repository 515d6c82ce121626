"""Files for an application: a file sent in the upload step is judged from Telegram's description
(bot/services/uploads.py says what to answer), recorded, then downloaded and checked in the
background (bot/checker.py) while "正在检查…" waits to become its report."""

from __future__ import annotations

from dataclasses import asdict

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import SubAction, SubCB
from bot.campaign import Campaign
from bot.checker import Checker
from bot.config import Settings
from bot.filters import Carries
from bot.flows.application import UploadSG
from bot.flows.engine import NotCommand, leave_open, move_to
from bot.handlers.applications.common import May, Own, draft_keyboard, said
from bot.render import Texts
from bot.services import submissions, uploads
from bot.services.policy import Action
from bot.services.submissions import UploadMeta
from bot.services.users import Person
from bot.ui import show
from storage.db import after_commit
from storage.models import Submission


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


async def draft_in_upload(data: dict, session: AsyncSession, person: Person) -> Submission | None:
    """The application whose files the upload step takes (the conversation's data names it)."""
    return await submissions.own(session, person.id, int(data.get("submission_id", 0)))


async def upload(message: Message, bot: Bot, state: FSMContext, texts: Texts, session: AsyncSession,
                 person: Person, settings: Settings, campaign: Campaign, checker: Checker) -> None:
    """A file for the open draft. A second version of a work that takes one file first asks
    whether to replace the first (the file waits in the conversation)."""
    data = await state.get_data()
    sub = await draft_in_upload(data, session, person)
    if sub is None or not submissions.files_editable(sub):
        await leave_open(state)
        await message.answer(texts.render("application/no_draft"))
        return
    meta = upload_meta(message)
    assert meta is not None
    result = await uploads.receive(session, campaign, sub, meta, local_api=settings.bot_api_local,
                                   photo_name=lambda n: texts.label("application.photo_name", n=n))
    if isinstance(result, uploads.Accepted):
        await start_check(bot, message.chat.id, state, texts, session, campaign, sub, result, data.get("album"),
                          checker)
        return
    if isinstance(result, uploads.Held):
        await state.update_data(pending_upload={"submission_id": sub.id, **asdict(result.meta)})
        result = result.say
    text, markup = said(texts, result, sub)
    await message.answer(text, reply_markup=markup)


async def start_check(bot: Bot, chat_id: int, state: FSMContext, texts: Texts, session: AsyncSession,
                      campaign: Campaign, sub: Submission, accepted: uploads.Accepted, album: dict | None,
                      checker: Checker) -> None:
    """Show "正在检查…" and record the file; the check runs after this update commits and turns that
    message into the report. The files of one album (media group) share one card, edited as each
    is checked (`album`: the conversation's note of the last one). A file too big to download here waits for staff: its report is shown at once."""
    meta = accepted.meta
    album = album if meta.media_group_id else None
    if album is not None and album.get("id") == meta.media_group_id:
        progress_id = album["message_id"]
    else:
        text, _ = said(texts, accepted.progress, sub)
        progress_id = (await bot.send_message(chat_id, text)).message_id
        if meta.media_group_id:
            await state.update_data(album={"id": meta.media_group_id, "message_id": progress_id})
    recorded = await uploads.record(session, campaign, sub, accepted, progress_id)
    if recorded.report is None:
        await bot.send_chat_action(chat_id, "upload_document")
        after_commit(session, lambda: checker.start(bot, recorded.row.id))
        return
    text, markup = said(texts, recorded.report, sub)
    await bot.edit_message_text(text, chat_id=chat_id, message_id=progress_id, reply_markup=markup)


async def upload_hint(message: Message, state: FSMContext, texts: Texts, session: AsyncSession, person: Person,
                      campaign: Campaign) -> None:
    """Anything but a file in the upload step: what to send."""
    sub = await draft_in_upload(await state.get_data(), session, person)
    if sub is None:
        await leave_open(state)
        await message.answer(texts.render("application/no_draft"))
        return
    await message.answer(texts.render("application/upload_hint", category=campaign.category(sub.category), sub=sub),
                         reply_markup=draft_keyboard(texts, sub))


async def upload_button(callback: CallbackQuery, bot: Bot, state: FSMContext, texts: Texts, person: Person,
                        campaign: Campaign, sub: Submission) -> None:
    """上传文件 on the card: the upload step for this application."""
    await move_to(state, UploadSG.files, {"submission_id": sub.id})
    await callback.answer()
    await bot.send_message(person.id, texts.render("application/upload_hint", category=campaign.category(sub.category),
                                                   sub=sub),
                           reply_markup=draft_keyboard(texts, sub))


async def held_upload(callback: CallbackQuery, state: FSMContext, texts: Texts, sub: Submission) -> UploadMeta | None:
    """The upload that waits for 替换/取消 (taken out of the conversation); None: the button is
    stale (answered so)."""
    data = await state.get_data()
    pending = data.get("pending_upload")
    if not pending or pending.get("submission_id") != sub.id:
        await callback.answer(texts.render("stale_button"), show_alert=True)
        return None
    data.pop("pending_upload")
    await state.set_state(UploadSG.files)
    await state.set_data({**data, "submission_id": sub.id})
    return UploadMeta(**{k: v for k, v in pending.items() if k != "submission_id"})


async def replace_upload(callback: CallbackQuery, bot: Bot, state: FSMContext, texts: Texts, session: AsyncSession,
                         settings: Settings, campaign: Campaign, checker: Checker, sub: Submission) -> None:
    """替换: the earlier version goes and the waiting upload is checked as usual."""
    meta = await held_upload(callback, state, texts, sub)
    if meta is None:
        return
    removed = await submissions.replace_files(session, sub)
    await show(callback, texts.render("application/replaced", meta=meta, removed=removed))
    accepted = uploads.accept(campaign, sub, meta, local_api=settings.bot_api_local)
    await start_check(bot, callback.from_user.id, state, texts, session, campaign, sub, accepted, None, checker)


async def keep_upload(callback: CallbackQuery, state: FSMContext, texts: Texts, sub: Submission) -> None:
    """取消: the first version stays; the waiting upload is forgotten."""
    meta = await held_upload(callback, state, texts, sub)
    if meta is not None:
        await show(callback, texts.render("application/replace_kept", meta=meta), draft_keyboard(texts, sub))


async def drop_failed(callback: CallbackQuery, state: FSMContext, texts: Texts, session: AsyncSession,
                      campaign: Campaign, sub: Submission) -> None:
    """删除未通过的文件: the files that failed go, and the upload step takes their corrections."""
    removed = await submissions.remove_failed(session, sub)
    await move_to(state, UploadSG.files, {"submission_id": sub.id})
    await show(callback, texts.render("application/dropped", removed=removed, category=campaign.category(sub.category)),
               draft_keyboard(texts, sub))


def build() -> Router:
    router = Router(name="applications.upload")
    router.message.register(upload, StateFilter(UploadSG.files), Carries("document", "photo", "video"))
    router.message.register(upload_hint, StateFilter(UploadSG.files), NotCommand())
    files = May(Action.change_files)
    router.callback_query.register(upload_button, SubCB.filter(F.action == SubAction.upload), Own(), files)
    router.callback_query.register(replace_upload, SubCB.filter(F.action == SubAction.replace), Own(), files)
    router.callback_query.register(keep_upload, SubCB.filter(F.action == SubAction.replace_no), Own(), files)
    router.callback_query.register(drop_failed, SubCB.filter(F.action == SubAction.drop_failed), Own(), files)
    return router
