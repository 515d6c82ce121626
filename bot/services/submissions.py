"""Applications with works and topics (申报): drafts, files and their checks, submission, withdrawal.
No aiogram here: the handlers hand in plain data (UploadMeta) and file paths."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaign import Campaign, Category
from storage.models import Submission, SubmissionFile, utcnow

CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile on Telegram's cloud Bot API
OTHER_DIRECTION = "other"


class Status(StrEnum):
    draft = "draft"
    submitted = "submitted"  # waiting for the experts; may still be withdrawn
    withdrawn = "withdrawn"


class FileStatus(StrEnum):
    passed = "passed"
    warnings = "warnings"  # allowed, with advice
    failed = "failed"  # an error: the submission can't go until the file is replaced or removed
    deep_pending = "deep_pending"  # too big to download here: staff check it on their side


@dataclass(frozen=True)
class UploadMeta:
    """What Telegram tells about a file before we download it."""

    sent_as: str  # document | photo | video
    file_id: str
    file_unique_id: str
    file_name: str
    mime_type: str | None = None
    file_size: int | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None
    media_group_id: str | None = None


class NotDraft(Exception):
    """The application was submitted or withdrawn meanwhile: its answers can't change any more."""


def declared_of(answers: dict[str, Any]) -> dict[str, Any]:
    """The form's answers as the checks' declared metrics (see content/campaign.toml)."""
    points = answers.get("knowledge_points") or []
    return {
        "originality_declared": bool(answers.get("declaration")),
        "knowledge_points": len(points) if isinstance(points, list) else points,
        "pages": answers.get("pages"),
        "levels": answers.get("levels"),
        "has_content_intro": bool(answers.get("content_intro")),
        "has_team_qualifications": bool(answers.get("team_qualifications")),
        "has_execution_plan": bool(answers.get("execution_plan")),
        "has_past_works": bool(answers.get("past_works")),
    }


# ---------------------------------------------------------------- drafts


def answers_of(sub: Submission) -> dict[str, Any]:
    return json.loads(sub.answers)


async def save_draft(session: AsyncSession, user_id: int, answers: dict[str, Any],
                     submission_id: int | None = None) -> Submission:
    """A new draft, or the edited answers of one of this person's drafts."""
    sub = await own(session, user_id, submission_id) if submission_id else None
    if sub is None:
        sub = Submission(user_id=user_id, status=Status.draft.value, category="", created_at=utcnow())
        session.add(sub)
    if sub.status != Status.draft.value:
        raise NotDraft(sub.id)
    if sub.category and sub.category != answers["category"]:
        # files checked against another category's rules don't count for this one
        for row in await files_of(session, sub.id):
            await session.delete(row)
    sub.kind, sub.category, sub.title = answers["kind"], answers["category"], answers["title"]
    sub.answers = json.dumps(answers, ensure_ascii=False)
    sub.updated_at = utcnow()
    await session.flush()
    return sub


async def own(session: AsyncSession, user_id: int, submission_id: int) -> Submission | None:
    """The submission if it is this person's: button data naming someone else's id finds nothing."""
    sub = await session.get(Submission, submission_id)
    return sub if sub is not None and sub.user_id == user_id else None


async def mine(session: AsyncSession, user_id: int) -> list[Submission]:
    query = select(Submission).where(Submission.user_id == user_id).order_by(Submission.created_at.desc())
    return list((await session.execute(query)).scalars())


async def files_of(session: AsyncSession, submission_id: int) -> list[SubmissionFile]:
    query = select(SubmissionFile).where(SubmissionFile.submission_id == submission_id).order_by(SubmissionFile.id)
    return list((await session.execute(query)).scalars())


async def file_seen(session: AsyncSession, submission_id: int, file_unique_id: str) -> SubmissionFile | None:
    query = select(SubmissionFile).where(SubmissionFile.submission_id == submission_id,
                                         SubmissionFile.file_unique_id == file_unique_id)
    return (await session.execute(query)).scalar()


async def delete_draft(session: AsyncSession, sub: Submission) -> bool:
    if sub.status != Status.draft.value:
        return False
    await session.delete(sub)
    return True


async def remove_failed(session: AsyncSession, sub: Submission) -> list[str]:
    """Take the files that failed their check out of a draft, so corrected ones can replace them."""
    if sub.status != Status.draft.value:
        return []
    removed = [row for row in await files_of(session, sub.id) if row.check_status == FileStatus.failed.value]
    for row in removed:
        await session.delete(row)
    return [row.file_name for row in removed]


# ---------------------------------------------------------------- files and their checks


@dataclass
class Precheck:
    """The first verdict, from Telegram's metadata alone."""

    accepted: bool  # may this kind of message carry a file of this category at all?
    downloadable: bool  # can we fetch it for the deep check?
    compressed_video: bool = False  # sent as a video: Telegram may have re-encoded it
    metrics: dict[str, Any] = field(default_factory=dict)  # what the metadata already tells


def precheck(meta: UploadMeta, category: Category, *, local_api: bool) -> Precheck:
    if meta.sent_as == "document":
        accepted = "document" in category.accepts and category.accepts_extension(meta.file_name)
    else:
        accepted = meta.sent_as in category.accepts
    metrics: dict[str, Any] = {}
    if meta.width and meta.height and meta.sent_as in ("video", "photo"):
        metrics.update(width=meta.width, height=meta.height)
        if meta.sent_as == "video":
            metrics["short_side_px"] = min(meta.width, meta.height)
        else:
            metrics.update(image_long_side_px=max(meta.width, meta.height),
                           image_short_side_px=min(meta.width, meta.height))
    if meta.duration is not None and meta.sent_as == "video":
        metrics["duration_s"] = meta.duration
    size = meta.file_size or 0
    return Precheck(accepted=accepted, downloadable=local_api or size <= CLOUD_DOWNLOAD_LIMIT,
                    compressed_video=meta.sent_as == "video", metrics=metrics)


def first_verdict(pre: Precheck, category: Category, campaign: Campaign) -> dict[str, Any] | None:
    """Rules the metadata can already judge (resolution and length of a video), as a report."""
    if not pre.metrics:
        return None
    from bot.checks import evaluate

    return evaluate(pre.metrics, category, campaign, files_only=True, name="telegram").to_dict()


def check_file(path: Path, category: Category, campaign: Campaign,
               answers: dict[str, Any]) -> tuple[FileStatus, dict[str, Any]]:
    """The deep check of a downloaded file against the category's rules, with the form's declared
    answers (an H5's page count is compared with its pages). Blocking: run it in a thread."""
    from bot.checks import check

    report = check(path, category, campaign, declared_of(answers))
    if not report.ok:
        status = FileStatus.failed
    elif report.warnings:
        status = FileStatus.warnings
    else:
        status = FileStatus.passed
    return status, report.to_dict()


async def add_file(session: AsyncSession, sub: Submission, meta: UploadMeta, status: FileStatus,
                   report: dict[str, Any] | None) -> SubmissionFile:
    row = SubmissionFile(submission_id=sub.id, file_id=meta.file_id, file_unique_id=meta.file_unique_id,
                         file_name=meta.file_name, file_size=meta.file_size, sent_as=meta.sent_as,
                         check_status=status.value, report=json.dumps(report, ensure_ascii=False) if report else None,
                         created_at=utcnow())
    session.add(row)
    sub.updated_at = utcnow()
    await session.flush()
    return row


# ---------------------------------------------------------------- submitting


@dataclass
class Readiness:
    ok: bool
    failed_files: list[str]
    pending_files: list[str]
    missing_files: bool  # a work needs at least one file
    declared: dict[str, Any]  # the report on the form's declared rules


def readiness(campaign: Campaign, sub: Submission, files: list[SubmissionFile]) -> Readiness:
    from bot.checks import evaluate

    category = campaign.category(sub.category)
    declared = evaluate({}, category, campaign, declared_of(answers_of(sub)))
    failed = [f.file_name for f in files if f.check_status == FileStatus.failed.value]
    pending = [f.file_name for f in files if f.check_status == FileStatus.deep_pending.value]
    missing = sub.kind == "work" and not files
    return Readiness(ok=declared.ok and not failed and not missing, failed_files=failed, pending_files=pending,
                     missing_files=missing, declared=declared.to_dict())


class SubmitOutcome(StrEnum):
    submitted = "submitted"
    not_ready = "not_ready"
    closed = "closed"  # outside the campaign's window
    not_draft = "not_draft"


async def submit(session: AsyncSession, campaign: Campaign, sub: Submission, now: datetime) -> tuple[SubmitOutcome, Readiness | None]:
    if sub.status != Status.draft.value:
        return SubmitOutcome.not_draft, None
    if not campaign.is_open(now):
        return SubmitOutcome.closed, None
    ready = readiness(campaign, sub, await files_of(session, sub.id))
    if not ready.ok:
        return SubmitOutcome.not_ready, ready
    sub.status = Status.submitted.value
    sub.submitted_at = sub.updated_at = utcnow()
    return SubmitOutcome.submitted, ready


async def withdraw(session: AsyncSession, sub: Submission) -> bool:
    """Before review a submitted application may be taken back (it becomes withdrawn)."""
    if sub.status != Status.submitted.value:
        return False
    sub.status = Status.withdrawn.value
    sub.updated_at = utcnow()
    return True


# ---------------------------------------------------------------- staff: files too big to check here


async def awaiting_manual_check(session: AsyncSession, limit: int = 10) -> tuple[list[tuple[SubmissionFile, Submission]], int]:
    """Files stored as deep_pending, oldest first (with their submission), and how many in all."""
    where = SubmissionFile.check_status == FileStatus.deep_pending.value
    total = (await session.execute(select(func.count()).select_from(SubmissionFile).where(where))).scalar_one()
    rows = await session.execute(select(SubmissionFile, Submission).join(Submission)
                                 .where(where, Submission.status != Status.withdrawn.value)
                                 .order_by(SubmissionFile.id).limit(limit))
    return [(f, s) for f, s in rows.all()], total


async def record_manual_check(session: AsyncSession, file_id: int, passed: bool) -> tuple[SubmissionFile, Submission] | None:
    """Staff checked a big file by hand; None when it is no longer waiting (decided already)."""
    row = await session.get(SubmissionFile, file_id, with_for_update=True)
    if row is None or row.check_status != FileStatus.deep_pending.value:
        return None
    row.check_status = (FileStatus.passed if passed else FileStatus.failed).value
    sub = await session.get(Submission, row.submission_id)
    assert sub is not None
    return row, sub
