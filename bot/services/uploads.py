"""A file sent for an application, from Telegram's first description of it to the deep check of
its bytes: refused, a duplicate, one too many, waiting for 替换/取消, or recorded and checked.

No aiogram here. The handler turns a message into `UploadMeta` and says what these functions
return (`Say`: a template, its values and which buttons go under it); the background checker
(bot/checker.py) passes the bot's download as a callable.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaign import Campaign
from bot.checks.isolated import Budget, check_isolated
from bot.services import submissions
from bot.services.submissions import FileStatus, UploadMeta
from storage.models import Submission, SubmissionFile

log = logging.getLogger(__name__)


class Buttons(StrEnum):
    """Which buttons go under what is said (the handler builds them for the submission)."""

    none = "none"
    draft = "draft"  # 提交 / 我的作品 / 稍后 (the draft's next steps)
    draft_failed = "draft_failed"  # the same, with 删除未通过的文件 instead of 提交
    replace = "replace"  # 替换 / 取消: a second version of a work that takes one file


@dataclass(frozen=True)
class Say:
    template: str
    values: dict[str, Any] = field(default_factory=dict)
    buttons: Buttons = Buttons.none


@dataclass(frozen=True)
class Held:
    """A work that takes one file already has one: `meta` waits (in the conversation, nothing is
    sent again) until the person chooses to replace the first or to keep it."""

    meta: UploadMeta
    say: Say


@dataclass(frozen=True)
class Accepted:
    """The file will be recorded: show `progress` ("正在检查…"), then `record` it with that
    message's id, the message its report replaces."""

    meta: UploadMeta
    status: FileStatus  # checking (downloaded and checked after the commit) or deep_pending (too big)
    first: dict[str, Any] | None  # the verdict from Telegram's metadata
    progress: Say

    @property
    def check(self) -> bool:
        return self.status is FileStatus.checking


def accept(campaign: Campaign, sub: Submission, meta: UploadMeta, *, local_api: bool) -> Accepted:
    category = campaign.category(sub.category)
    pre = submissions.precheck(meta, category, local_api=local_api)
    first = submissions.first_verdict(pre, category, campaign)
    progress = Say("application/progress", {"meta": meta, "first": first, "compressed": pre.compressed_video})
    return Accepted(meta, FileStatus.checking if pre.downloadable else FileStatus.deep_pending, first, progress)


async def receive(session: AsyncSession, campaign: Campaign, sub: Submission, meta: UploadMeta, *,
                  local_api: bool, photo_name: Callable[[int], str]) -> Say | Held | Accepted:
    """What to do with a file sent for this draft (or returned application). `photo_name(n)`: the
    name of the n-th file when it is a photo (photos have no name)."""
    category = campaign.category(sub.category)
    if not submissions.precheck(meta, category, local_api=local_api).accepted:
        return Say("application/file_not_accepted", {"meta": meta, "category": category})
    seen = await submissions.file_seen(session, sub.id, meta.file_unique_id)
    files = await submissions.files_of(session, sub.id)
    if meta.sent_as == "photo":  # numbered within the submission
        meta = replace(meta, file_name=photo_name(len(files) + 1))
    if seen is not None:
        return Say("application/duplicate", {"file": seen}, Buttons.draft)
    one_file = submissions.one_file(category)
    if not one_file and not submissions.room_for_file(files):
        return Say("application/too_many_files", {"meta": meta, "sub": sub, "files": len(files),
                                                  "limit": submissions.MAX_FILES}, Buttons.draft)
    if files and one_file:
        return Held(meta, Say("application/replace_confirm", {"meta": meta, "files": files, "category": category},
                              Buttons.replace))
    return accept(campaign, sub, meta, local_api=local_api)


@dataclass(frozen=True)
class Recorded:
    row: SubmissionFile
    report: Say | None  # what the progress message becomes at once (None: after the background check)


async def record(session: AsyncSession, campaign: Campaign, sub: Submission, accepted: Accepted,
                 message_id: int) -> Recorded:
    """The file's row, its report to come in message `message_id`. A file too big to download here
    waits for staff: its report (or its album's card) is known at once."""
    meta = accepted.meta
    row = await submissions.add_file(session, sub, meta, accepted.status, accepted.first,
                                     report_message_id=message_id)
    if accepted.check:
        return Recorded(row, None)
    album = await submissions.album_files(session, sub, meta.media_group_id) if meta.media_group_id else []
    return Recorded(row, report_of(sub, row, album, downloaded=False))


def report_of(sub: Submission, row: SubmissionFile, album: list[SubmissionFile], *, downloaded: bool) -> Say:
    """What the "正在检查…" message becomes: the file's report, or its album's card. `downloaded`
    False: the Bot API refused the download, or the file was not kept."""
    if row.check_status == FileStatus.checking and not downloaded:  # the download failed
        return Say("application/download_failed", {"row": row}, Buttons.draft)
    report = json.loads(row.report) if row.report else None
    if album:
        files = [{"name": f.file_name, "status": f.check_status, "problems": [
            i for i in (json.loads(f.report) if f.report else {}).get("items", [])
            if i["status"] != "pass" and i["level"] != "note"]} for f in album]
        failed = any(f["status"] == FileStatus.failed for f in files)
        return Say("application/album_report", {"files": files}, Buttons.draft_failed if failed else Buttons.draft)
    if row.check_status == FileStatus.deep_pending:
        return Say("application/deep_pending", {"meta": row, "first": report}, Buttons.draft)
    failed = row.check_status == FileStatus.failed
    return Say("application/report", {"meta": row, "status": row.check_status, "report": report,
                                      "compressed": row.sent_as == "video"},
               Buttons.draft_failed if failed else Buttons.draft)


# ---------------------------------------------------------------- the deep check, after the commit


class Fetched(StrEnum):
    ok = "ok"
    refused = "refused"  # the Bot API will not hand it over (over the cloud's 20 MB): staff check it
    failed = "failed"  # network or disk: the person sends it again


Download = Callable[[str, Path], Awaitable[Fetched]]  # (Telegram file id, destination) -> outcome


def stored_name(file_name: str, row_id: int) -> str:
    """The name a download gets on disk: generated, so a person's name (255 bytes of Chinese, "..",
    a slash) never becomes a path; the extension is kept for the checks' type sniffing."""
    ext = Path(file_name).suffix.lower()
    ext = ext if ext[1:].isalnum() and len(ext) <= 10 else ""
    return f"upload-{row_id}{ext}"


async def deep_check(campaign: Campaign, sub: Submission, row: SubmissionFile, folder: Path, budget: Budget,
                     download: Download) -> tuple[FileStatus | None, dict[str, Any] | None]:
    """Download the file into `folder` (emptied afterwards) and check it in a budgeted child process:
    the status and report to record. Status None: the download failed; the file is dropped."""
    report = json.loads(row.report) if row.report else None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / stored_name(row.file_name, row.id)
        fetched = await download(row.file_id, path)
        if fetched is Fetched.refused:
            return FileStatus.deep_pending, report
        if fetched is Fetched.failed:
            return None, report
        checked = await check_isolated(path, campaign.category(sub.category), campaign,
                                       submissions.declared_of(submissions.answers_of(sub)),
                                       name=row.file_name, budget=budget)
        return submissions.status_of(checked), checked.to_dict()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def record_deep_check(session: AsyncSession, row: SubmissionFile, status: FileStatus | None,
                            report: dict[str, Any] | None) -> Say | None:
    """Record the deep check's verdict (status None: drop the file) and say what its progress
    message becomes; None when the file was removed or decided meanwhile."""
    if status is None:
        done = await submissions.drop_unchecked(session, row.id)
    else:
        done = await submissions.record_check(session, row.id, status, report)
    if done is None:
        return None
    album = await submissions.album_files(session, done[1], row.media_group_id) if row.media_group_id else []
    return report_of(done[1], done[0], album, downloaded=status is not None)
