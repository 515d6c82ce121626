"""Applications with works and topics (申报): drafts, files and their checks, submission, withdrawal.
No aiogram here: the handlers hand in plain data (UploadMeta) and file paths."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaign import Campaign, Category
from bot.services.policy import Action, can
from bot.services.transitions import allowed, transition
from bot.services.users import Person
from storage.models import ReviewRound, Submission, SubmissionFile, utcnow
from storage.statuses import ANSWERS_EDITABLE, SUBMISSION_EDITABLE, FileStatus, RoundStatus, SubmissionStatus

CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile on Telegram's cloud Bot API
# Limits that keep one person from filling the database and the cards: a comics series of 30 pages
# is a long one (content/campaign.toml has no field for it; a one-file work replaces its file), and
# 20 drafts open at once is more than anyone works on (submitted and withdrawn ones don't count).
MAX_FILES = 30  # per application
MAX_OPEN_DRAFTS = 20  # per person
OTHER_DIRECTION = "other"


Status = SubmissionStatus


# the statuses whose files the creator may still change
FILES_EDITABLE = SUBMISSION_EDITABLE


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


class TooManyDrafts(Exception):
    """The person already has MAX_OPEN_DRAFTS drafts: a new one is not saved."""


class NotDeclared(Exception):
    """The answers lack the originality declaration (原创声明): no application is saved without it,
    whatever the form's buttons allowed."""


# an operator's reasons for failing a big file by hand (labels: application.fail_rules.*)
MANUAL_RULES = ("resolution", "bitrate", "duration", "unplayable", "other")

# declared metrics (content/campaign.toml) and the form field whose answer gives each
DECLARED_FIELDS = {
    "originality_declared": "declaration",
    "knowledge_points": "knowledge_points",
    "pages": "pages",
    "levels": "levels",
    "has_content_intro": "content_intro",
    "has_team_qualifications": "team_qualifications",
    "has_execution_plan": "execution_plan",
    "has_past_works": "past_works",
}


def files_editable(sub: Submission) -> bool:
    return sub.status in FILES_EDITABLE


def one_file(category: Category) -> bool:
    """A work whose category means one version of its main file (video, article, H5, game): a
    second upload replaces the first. A series (comics/posters) keeps several files, and so does a
    topic (its plan may come with past works: 可随附过往作品)."""
    return category.kind == "work" and not category.series


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


async def open_drafts(session: AsyncSession, user_id: int) -> int:
    query = select(func.count()).select_from(Submission).where(Submission.user_id == user_id,
                                                               Submission.status == Status.draft)
    return (await session.execute(query)).scalar_one()


async def room_for_draft(session: AsyncSession, user_id: int) -> bool:
    """May this person open one more draft (MAX_OPEN_DRAFTS)?"""
    return await open_drafts(session, user_id) < MAX_OPEN_DRAFTS


async def save_draft(session: AsyncSession, user_id: int, answers: dict[str, Any],
                     submission_id: int | None = None) -> Submission:
    """A new draft, or the edited answers of one of this person's drafts (or of an application
    to be revised for its next round: 修改后再审). TooManyDrafts when a
    new one would pass MAX_OPEN_DRAFTS, NotDeclared without the originality declaration (nothing
    is saved)."""
    if not declared_of(answers)["originality_declared"]:
        raise NotDeclared(user_id)
    sub = await own(session, user_id, submission_id) if submission_id else None
    if sub is None:
        if not await room_for_draft(session, user_id):
            raise TooManyDrafts(user_id)
        sub = Submission(user_id=user_id, category="", created_at=utcnow())
    elif sub.status not in ANSWERS_EDITABLE:
        raise NotDraft(sub.id)
    elif sub.category and sub.category != answers["category"]:
        # files checked against another category's rules don't count for this one
        for row in await files_of(session, sub.id):
            await session.delete(row)
    sub.kind, sub.category, sub.title = answers["kind"], answers["category"], answers["title"]
    sub.answers = json.dumps(answers, ensure_ascii=False)
    sub.updated_at = utcnow()
    if sub.id is None:
        await transition(session, sub, Status.draft, actor_id=user_id, now=sub.updated_at)
    await session.flush()
    return sub


async def own(session: AsyncSession, user_id: int, submission_id: int) -> Submission | None:
    """The submission if it is this person's: button data naming someone else's id finds nothing.
    (What they may do with it now: policy.can(person, Action.…, sub).)"""
    sub = await session.get(Submission, submission_id)
    return sub if sub is not None and sub.user_id == user_id else None


async def mine(session: AsyncSession, user_id: int) -> list[Submission]:
    query = select(Submission).where(Submission.user_id == user_id).order_by(Submission.created_at.desc())
    return list((await session.execute(query)).scalars())


def _current_round(submission_id: int):
    """The submission's round now (its files of earlier rounds stay, for the record)."""
    return select(Submission.round).where(Submission.id == submission_id).scalar_subquery()


async def files_of(session: AsyncSession, submission_id: int) -> list[SubmissionFile]:
    """The application's files of its current round."""
    query = (select(SubmissionFile).where(SubmissionFile.submission_id == submission_id,
                                          SubmissionFile.round == _current_round(submission_id))
             .order_by(SubmissionFile.id))
    return list((await session.execute(query)).scalars())


async def files_of_round(session: AsyncSession, submission_id: int, number: int) -> list[SubmissionFile]:
    """The files a round was reviewed on."""
    query = (select(SubmissionFile).where(SubmissionFile.submission_id == submission_id,
                                          SubmissionFile.round == number).order_by(SubmissionFile.id))
    return list((await session.execute(query)).scalars())


async def start_next_round(session: AsyncSession, sub: Submission, *, now: datetime, actor_id: int | None) -> int:
    """修改后再审: the application's next round begins (`sub.round` + 1) with a copy of the files the
    decided round was reviewed on (same Telegram file ids and reports), which the creator may then
    replace or remove; the decided round's files stay as they were. Returns the new round number."""
    previous = await files_of(session, sub.id)
    sub.round += 1
    for row in previous:
        kept = SubmissionFile(submission_id=sub.id, round=sub.round, file_id=row.file_id,
                              file_unique_id=row.file_unique_id, file_name=row.file_name, file_size=row.file_size,
                              sent_as=row.sent_as, report=row.report, created_at=now,
                              media_group_id=row.media_group_id)
        await transition(session, kept, row.check_status, actor_id=actor_id, now=now)
    await session.flush()
    return sub.round


def room_for_file(files: list[SubmissionFile]) -> bool:
    """May one more file join this application (MAX_FILES)? `files`: its files now."""
    return len(files) < MAX_FILES


async def file_seen(session: AsyncSession, submission_id: int, file_unique_id: str) -> SubmissionFile | None:
    query = select(SubmissionFile).where(SubmissionFile.submission_id == submission_id,
                                         SubmissionFile.round == _current_round(submission_id),
                                         SubmissionFile.file_unique_id == file_unique_id)
    return (await session.execute(query)).scalar()


async def file_of(session: AsyncSession, user_id: int, file_row_id: int) -> tuple[SubmissionFile, Submission] | None:
    """A file row of the current round and its submission if the submission is this person's (else
    None: forged, gone, or a file an earlier round was reviewed on)."""
    row = await session.get(SubmissionFile, file_row_id)
    if row is None:
        return None
    sub = await own(session, user_id, row.submission_id)
    return (row, sub) if sub is not None and row.round == sub.round else None


async def remove_file(session: AsyncSession, sub: Submission, row: SubmissionFile) -> bool:
    """Take one file out of a draft (or a returned application)."""
    if not files_editable(sub) or row.submission_id != sub.id or row.round != sub.round:
        return False
    await session.delete(row)
    sub.updated_at = utcnow()
    await session.flush()
    return True


async def replace_files(session: AsyncSession, sub: Submission) -> list[str]:
    """Before a new version of a one-file work is checked: the earlier versions go."""
    if not files_editable(sub):
        return []
    removed = await files_of(session, sub.id)
    for row in removed:
        await session.delete(row)
    await session.flush()
    return [row.file_name for row in removed]


async def copy_as_draft(session: AsyncSession, sub: Submission) -> Submission | None:
    """A withdrawn application reopened: a new draft with the same answers and the files that
    passed their check (same Telegram file ids and reports: nothing is uploaded again).
    TooManyDrafts when the person has MAX_OPEN_DRAFTS drafts already."""
    if sub.status != Status.withdrawn:
        return None
    if not await room_for_draft(session, sub.user_id):
        raise TooManyDrafts(sub.user_id)
    now = utcnow()
    copy = Submission(user_id=sub.user_id, kind=sub.kind, category=sub.category, title=sub.title,
                      answers=sub.answers, created_at=now, updated_at=now)
    await transition(session, copy, Status.draft, actor_id=sub.user_id, now=now)
    for row in await files_of(session, sub.id):
        if row.check_status in (FileStatus.passed, FileStatus.warnings):
            kept = SubmissionFile(submission_id=copy.id, file_id=row.file_id, file_unique_id=row.file_unique_id,
                                  file_name=row.file_name, file_size=row.file_size, sent_as=row.sent_as,
                                  report=row.report, created_at=now)
            await transition(session, kept, row.check_status, actor_id=sub.user_id, now=now)
    await session.flush()
    return copy


async def delete_draft(session: AsyncSession, sub: Submission) -> bool:
    if sub.status != Status.draft:
        return False
    await session.delete(sub)
    return True


async def remove_failed(session: AsyncSession, sub: Submission) -> list[str]:
    """Take the files that failed their check out of a draft, so corrected ones can replace them."""
    if not files_editable(sub):
        return []
    removed = [row for row in await files_of(session, sub.id) if row.check_status == FileStatus.failed]
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


def status_of(report: Any) -> FileStatus:
    if not report.ok:
        return FileStatus.failed
    return FileStatus.warnings if report.warnings else FileStatus.passed


async def rejudge_draft(session: AsyncSession, campaign: Campaign, sub: Submission) -> list[SubmissionFile]:
    """After the draft's answers were saved: each uploaded file's stored report judged again (from
    the metrics it holds, no new download), so an estimate vs the declared number is current.
    Returns the rows whose verdict changed. Files waiting for staff or failed by staff keep theirs."""
    from bot.checks import rejudge

    category, declared = campaign.category(sub.category), declared_of(answers_of(sub))
    changed = []
    for row in await files_of(session, sub.id):
        if not row.report or row.manual_reason or row.check_status in (FileStatus.deep_pending, FileStatus.checking):
            continue
        report = rejudge(json.loads(row.report), category, campaign, declared)
        status = status_of(report)
        row.report = json.dumps(report.to_dict(), ensure_ascii=False)
        if status != row.check_status:
            await transition(session, row, status, actor_id=sub.user_id)
            changed.append(row)
    await session.flush()
    return changed


MAX_FILE_NAME = 120  # characters of a person's file name kept (Telegram allows longer than a column)


def clean_file_name(name: str | None, fallback: str = "file") -> str:
    """A person's file name as data: no line breaks or other control characters (they would forge
    log lines), at most MAX_FILE_NAME characters with the extension kept. It never names a path on
    disk: downloads are stored under generated names."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in (name or "")).strip() or fallback
    if len(cleaned) <= MAX_FILE_NAME:
        return cleaned
    stem, dot, ext = cleaned.rpartition(".")
    if dot and 0 < len(ext) <= 10:
        return stem[:MAX_FILE_NAME - len(ext) - 2] + "…." + ext
    return cleaned[:MAX_FILE_NAME - 1] + "…"


async def add_file(session: AsyncSession, sub: Submission, meta: UploadMeta, status: FileStatus,
                   report: dict[str, Any] | None, *, report_message_id: int | None = None) -> SubmissionFile:
    """Record an upload. A file to be checked is recorded `checking` in the update's transaction,
    before its check starts: a submit never sees it as done, and a restart finds it to check again."""
    row = SubmissionFile(submission_id=sub.id, round=sub.round, file_id=meta.file_id, file_unique_id=meta.file_unique_id,
                         file_name=meta.file_name, file_size=meta.file_size, sent_as=meta.sent_as,
                         report=json.dumps(report, ensure_ascii=False) if report else None,
                         created_at=utcnow(), report_message_id=report_message_id,
                         media_group_id=meta.media_group_id)
    sub.updated_at = utcnow()
    await transition(session, row, status, actor_id=sub.user_id, now=sub.updated_at)
    return row


async def checking_file(session: AsyncSession, file_row_id: int) -> tuple[SubmissionFile, Submission] | None:
    """A file whose check is still to run (or was cut short by a restart), with its submission."""
    row = await session.get(SubmissionFile, file_row_id)
    if row is None or row.check_status != FileStatus.checking:
        return None
    sub = await session.get(Submission, row.submission_id)
    return (row, sub) if sub is not None else None


async def files_checking(session: AsyncSession) -> list[int]:
    query = select(SubmissionFile.id).where(SubmissionFile.check_status == FileStatus.checking)
    return list((await session.execute(query.order_by(SubmissionFile.id))).scalars())


async def record_check(session: AsyncSession, file_row_id: int, status: FileStatus,
                       report: dict[str, Any] | None) -> tuple[SubmissionFile, Submission] | None:
    """The background check's verdict; None when the file was removed (or replaced) meanwhile."""
    row = await session.get(SubmissionFile, file_row_id, with_for_update=True)
    if row is None or row.check_status != FileStatus.checking:
        return None
    sub = await session.get(Submission, row.submission_id)
    if sub is None:
        return None
    await transition(session, row, status, actor_id=None)  # the bot's own check
    if report is not None:
        row.report = json.dumps(report, ensure_ascii=False)
    return row, sub


async def drop_unchecked(session: AsyncSession, file_row_id: int) -> tuple[SubmissionFile, Submission] | None:
    """The file could not be downloaded (network): it is not kept, the person sends it again."""
    found = await checking_file(session, file_row_id)
    if found is not None:
        await session.delete(found[0])
    return found


async def album_files(session: AsyncSession, sub: Submission, media_group_id: str) -> list[SubmissionFile]:
    query = select(SubmissionFile).where(SubmissionFile.submission_id == sub.id, SubmissionFile.round == sub.round,
                                         SubmissionFile.media_group_id == media_group_id)
    return list((await session.execute(query.order_by(SubmissionFile.id))).scalars())


# ---------------------------------------------------------------- submitting


@dataclass
class FormError:
    """A rule on a form answer that is not met: shown on the answer, with a button to edit it."""

    field: str | None  # the application form's field (None: no field gives this value)
    title: str
    value: Any  # the answer as typed
    measured_text: str
    expected: str
    hint: str
    level: str


def form_errors(campaign: Campaign, sub: Submission) -> list[FormError]:
    """The rules on the form's declared answers (pages, levels, knowledge points, declaration …)
    that fail or can't be told, errors first."""
    from bot.checks import evaluate

    category = campaign.category(sub.category)
    answers = answers_of(sub)
    metrics = {rule.id: rule.metric for rule in category.rules + campaign.common_rules}
    report = evaluate({}, category, campaign, declared_of(answers))
    out = []
    for item in report.items:
        if item.status == "pass" or item.level == "note" or item.rule_id not in metrics:
            continue
        name = DECLARED_FIELDS.get(metrics[item.rule_id])
        out.append(FormError(field=name, title=item.title, value=answers.get(name) if name else None,
                             measured_text=item.measured_text, expected=item.expected, hint=item.hint,
                             level=item.level))
    return sorted(out, key=lambda e: e.level != "error")


@dataclass
class Readiness:
    ok: bool
    failed_files: list[str]
    pending_files: list[str]
    checking_files: list[str]  # still being checked: the submit waits for them
    missing_files: bool  # a work needs at least one file
    form_errors: list[FormError]  # answers that break a rule (errors block, warnings advise)
    undeclared: bool = False  # no originality declaration: never submitted, whatever the campaign's rules

    @property
    def blocking_form_errors(self) -> list[FormError]:
        return [e for e in self.form_errors if e.level == "error"]


def readiness(campaign: Campaign, sub: Submission, files: list[SubmissionFile]) -> Readiness:
    errors = form_errors(campaign, sub)
    failed = [f.file_name for f in files if f.check_status == FileStatus.failed]
    pending = [f.file_name for f in files if f.check_status == FileStatus.deep_pending]
    checking = [f.file_name for f in files if f.check_status == FileStatus.checking]
    missing = sub.kind == "work" and not files
    blocking = any(e.level == "error" for e in errors)
    undeclared = not declared_of(answers_of(sub))["originality_declared"]
    return Readiness(ok=not blocking and not failed and not missing and not checking and not undeclared,
                     failed_files=failed, pending_files=pending, checking_files=checking, missing_files=missing,
                     form_errors=errors, undeclared=undeclared)


class SubmitOutcome(StrEnum):
    submitted = "submitted"
    not_ready = "not_ready"
    closed = "closed"  # outside the campaign's window
    not_draft = "not_draft"


async def can_submit(session: AsyncSession, campaign: Campaign, sub: Submission,
                     now: datetime) -> tuple[SubmitOutcome, Readiness | None]:
    """What submit() would say, without submitting (before asking for confirmation)."""
    if not allowed(sub, Status.submitted):
        return SubmitOutcome.not_draft, None
    if not campaign.is_open(now):
        return SubmitOutcome.closed, None
    ready = readiness(campaign, sub, await files_of(session, sub.id))
    return (SubmitOutcome.submitted if ready.ok else SubmitOutcome.not_ready), ready


async def submit(session: AsyncSession, campaign: Campaign, sub: Submission, now: datetime) -> tuple[SubmitOutcome, Readiness | None]:
    """A draft (or an application staff returned) goes to the experts when it is ready, and only
    inside the campaign's window (`now`: a draft made in time is not submitted after it closed)."""
    if not allowed(sub, Status.submitted):
        return SubmitOutcome.not_draft, None
    if not campaign.is_open(now):
        return SubmitOutcome.closed, None
    ready = readiness(campaign, sub, await files_of(session, sub.id))
    if not ready.ok:
        return SubmitOutcome.not_ready, ready
    sub.submitted_at = sub.updated_at = utcnow()
    await transition(session, sub, Status.submitted, actor_id=sub.user_id, now=sub.updated_at)
    return SubmitOutcome.submitted, ready


async def withdraw(session: AsyncSession, sub: Submission) -> bool:
    """Before review a submitted (or returned) application may be taken back (it becomes withdrawn);
    a round of it still waiting for reviewers stops."""
    if not allowed(sub, Status.withdrawn):
        return False
    sub.updated_at = utcnow()
    await transition(session, sub, Status.withdrawn, actor_id=sub.user_id, now=sub.updated_at)
    waiting = (select(ReviewRound).where(ReviewRound.submission_id == sub.id, ReviewRound.status == RoundStatus.waiting)
               .with_for_update())
    for rnd in (await session.execute(waiting)).scalars():
        await transition(session, rnd, RoundStatus.stopped, actor_id=sub.user_id, now=sub.updated_at,
                         reason="withdrawn")
    return True


# ---------------------------------------------------------------- staff: files too big to check here


async def awaiting_manual_check(session: AsyncSession, limit: int = 10) -> tuple[list[tuple[SubmissionFile, Submission]], int]:
    """Files stored as deep_pending, oldest first (with their submission), and how many in all."""
    where = (SubmissionFile.check_status == FileStatus.deep_pending,
             Submission.status != Status.withdrawn)
    total = (await session.execute(select(func.count()).select_from(SubmissionFile).join(Submission)
                                   .where(*where))).scalar_one()
    rows = await session.execute(select(SubmissionFile, Submission).join(Submission).where(*where)
                                 .order_by(SubmissionFile.id).limit(limit))
    return [(f, s) for f, s in rows.all()], total


async def waiting_file(session: AsyncSession, file_id: int) -> tuple[SubmissionFile, Submission] | None:
    """A file still waiting for the manual check (of an application not withdrawn), or None."""
    row = await session.get(SubmissionFile, file_id)
    if row is None or row.check_status != FileStatus.deep_pending:
        return None
    sub = await session.get(Submission, row.submission_id)
    if sub is None or sub.status == Status.withdrawn:
        return None
    return row, sub


@dataclass
class ManualResult:
    row: SubmissionFile
    sub: Submission
    returned: bool  # a submitted application went back to its creator for this file
    reason: dict[str, Any] | None


def reason_of(row: SubmissionFile) -> dict[str, Any] | None:
    return json.loads(row.manual_reason) if row.manual_reason else None


def staff_note_of(sub: Submission) -> dict[str, Any] | None:
    return json.loads(sub.staff_note) if sub.staff_note else None


async def record_manual_check(session: AsyncSession, file_id: int, passed: bool, *, by: Person,
                              rule: str | None = None, text: str | None = None) -> ManualResult | None:
    """Staff (`by`) checked a big file by hand; None when it is no longer waiting (decided already)
    or `by` may not check files (any more). A failed file carries the operator's reason (a rule of
    MANUAL_RULES and their words); a submitted application then goes back to its creator (status
    returned) to replace that file."""
    if not can(by, Action.check_file_by_hand):
        return None
    row = await session.get(SubmissionFile, file_id, with_for_update=True)
    if row is None or row.check_status != FileStatus.deep_pending:
        return None
    sub = await session.get(Submission, row.submission_id, with_for_update=True)
    if sub is None or sub.status == Status.withdrawn:
        return None
    now = utcnow()
    if passed:
        await transition(session, row, FileStatus.passed, actor_id=by.id, now=now)
        return ManualResult(row, sub, returned=False, reason=None)
    reason = {"rule": rule if rule in MANUAL_RULES else "other", "text": text or "", "by": by.id,
              "at": now.isoformat()}
    said = f"{reason['rule']}: {reason['text']}"
    await transition(session, row, FileStatus.failed, actor_id=by.id, reason=said, now=now)
    row.manual_reason = json.dumps(reason, ensure_ascii=False)
    returned = False
    if allowed(sub, Status.returned):
        note = staff_note_of(sub) if sub.status == Status.returned else None
        files = (note or {}).get("files", [])
        files.append({"file_id": row.id, "file_name": row.file_name, "rule": reason["rule"], "text": reason["text"]})
        sub.staff_note = json.dumps({"kind": "manual_check", "files": files, "at": now.isoformat()},
                                    ensure_ascii=False)
        returned = sub.status == Status.submitted
        await transition(session, sub, Status.returned, actor_id=by.id, reason=f"{row.file_name}: {said}", now=now)
        sub.updated_at = now
    await session.flush()
    return ManualResult(row, sub, returned=returned, reason=reason)


async def for_staff(session: AsyncSession, submission_id: int, staff: Person) -> Submission | None:
    """An application as `staff` may open it (policy: open_application): None for someone's draft,
    or when they may not (any more)."""
    sub = await session.get(Submission, submission_id)
    return sub if sub is not None and can(staff, Action.open_application, sub) else None
