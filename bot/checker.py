"""Uploaded files are downloaded and checked in the background, after the update that brought them
has committed their row (status `checking`).

Why not in the update: a check may take seconds (a large video to download) and a hostile file
could take minutes; the person's other messages, everyone else's updates and the per-user lock must
not wait for it. Each check runs in a process of its own with a time and memory budget
(bot/checks/isolated.py); at most `check_workers` run at once. A file left `checking` by a crash or
a restart is checked again at start, and the downloads folder is emptied. The verdict edits the
message that said "正在检查…" into the report. What a check does (download, check, record, what
to say) is bot/services/uploads.py; this is its background part, with the bot's download.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.campaign import Campaign
from bot.checks.isolated import Budget
from bot.render import Texts
from bot.services import submissions, uploads
from storage.db import write

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)


class Checker:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], campaign: Campaign, texts: Texts,
                 settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.campaign = campaign
        self.texts = texts
        self.folder = settings.data_dir / "downloads"
        self.budget = Budget(seconds=settings.check_seconds, memory_mb=settings.check_memory_mb)
        self.slots = asyncio.Semaphore(max(1, settings.check_workers))
        self.tasks: set[asyncio.Task] = set()

    def start(self, bot: Bot, file_row_id: int) -> None:
        task = asyncio.create_task(self._run(bot, file_row_id), name=f"check-{file_row_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        """Wait until every started check has ended (tests; a clean stop)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    async def resume(self, bot: Bot) -> int:
        """At start: downloads a stopped process left behind go, and files left `checking` are checked."""
        shutil.rmtree(self.folder, ignore_errors=True)
        async with self.sessionmaker() as session:
            waiting = await submissions.files_checking(session)
        for row_id in waiting:
            self.start(bot, row_id)
        if waiting:
            log.info("checking %d files again that a stop interrupted", len(waiting))
        return len(waiting)

    async def _run(self, bot: Bot, file_row_id: int) -> None:
        try:
            async with self.slots:
                await self._check(bot, file_row_id)
        except Exception:  # one file's trouble must not end the others' checks; the log has the cause
            log.exception("check of file row %s failed", file_row_id)

    async def _check(self, bot: Bot, file_row_id: int) -> None:
        async with self.sessionmaker() as session:
            found = await submissions.checking_file(session, file_row_id)
        if found is None:  # removed, replaced or checked meanwhile
            return
        row, sub = found

        async def download(file_id: str, path: Path) -> uploads.Fetched:
            try:
                await bot.download(file_id, destination=path, timeout=600)
            except TelegramBadRequest as exc:  # e.g. over the cloud Bot API's 20 MB: staff check it
                log.warning("download of file row %s refused: %s", row.id, exc.message)
                return uploads.Fetched.refused
            except (TelegramAPIError, aiohttp.ClientError, OSError, TimeoutError) as exc:  # network, disk: send again
                log.warning("download of file row %s failed: %s", row.id, exc)
                return uploads.Fetched.failed
            return uploads.Fetched.ok

        status, report = await uploads.deep_check(self.campaign, sub, row, self.folder / str(row.id), self.budget,
                                                  download)
        async with self.sessionmaker() as session:
            say = await uploads.record_deep_check(session, row, status, report)
            await write(session, session.commit)
        if say is None or row.report_message_id is None:
            return
        from bot.handlers.applications.common import said  # the handlers' own rendering

        text, markup = said(self.texts, say, sub)
        try:
            await bot.edit_message_text(text, chat_id=sub.user_id, message_id=row.report_message_id,
                                        reply_markup=markup, disable_web_page_preview=True)
        except TelegramBadRequest as exc:  # the message is gone or too old to edit: send the report anew
            if "not modified" not in exc.message:
                await bot.send_message(sub.user_id, text, reply_markup=markup, disable_web_page_preview=True)
