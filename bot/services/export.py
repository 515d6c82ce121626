"""The staff export (issue 10, part 7): an .xlsx of every submission's review rounds and a second
sheet of the audit log. `export_xlsx` is pure apart from openpyxl; `load_export` reads its rows from the database.

    rows, audit = await load_export(session, campaign)
    words = ExportWords.of(texts.labels["export"])          # the sheet names, headers, status words
    data = export_xlsx(rows, audit, campaign.criteria, words)   # bytes of a workbook
    await bot.send_document(chat_id, BufferedInputFile(data, filename))

The first sheet (申报与评审): a header row, then one row per (submission, round): the application,
each reviewer's score per criterion (评审1·科学性, … for the most reviewers any row has), their
recommendation and comment, the mean per criterion (rounded half up to one decimal, as in the
chat), whether reviewers disagree, and the decision.
The second (操作记录): the audit rows, times in the campaign's time zone (Asia/Shanghai by default).
Every word in the workbook comes from `ExportWords` (the labels' [export] table): nothing Chinese here.

Applicants type titles and reviewers type comments: text that a spreadsheet would read as a
formula (starting with = + - @, or a tab / carriage return) is stored with a leading ', and control
characters an .xlsx cannot hold are dropped, so nothing typed can break or hijack the file.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaign import CampaignError, Criterion
from bot.services.scores import (
    DEFAULT_DISAGREEMENT,
    DEFAULT_SCALE,
    ReviewScores,
    aggregate,
)
from storage.models import AuditEntry, Registration, Review, ReviewAssignment, ReviewRound, Submission, User
from storage.statuses import AssignmentStatus, RegistrationStatus, SubmissionStatus

__all__ = [
    "AuditRow",
    "ExportRow",
    "ExportWords",
    "export_xlsx",
    "load_export",
    "safe_text",
]


@dataclass(frozen=True)
class ExportWords:
    """Every word the workbook shows, from the [export] table of the labels (content/templates/
    review_staff/labels.toml): `ExportWords.of(texts.labels["export"])`. Header formats take
    {n} (the reviewer's number), {criterion} and {timezone}; status, kind and entity words fall
    back to the stored value when a label is missing."""

    submissions_sheet: str
    audit_sheet: str
    base_headers: tuple[str, ...]  # 申报编号 … 状态 (8)
    audit_headers: tuple[str, ...]  # 时间 … 原因 (7); the first takes {timezone}
    reviewer: str  # "评审{n}·评审人"
    reviewer_score: str  # "评审{n}·{criterion}"
    reviewer_recommendation: str
    reviewer_comment: str
    mean: str  # "均分·{criterion}"
    disagree: str
    decision: str
    yes: str
    no: str
    created: str  # an audit row that made the row: its former status
    system: str  # an audit row by the bot itself: its actor
    kinds: Mapping[str, str] = field(default_factory=dict)
    statuses: Mapping[str, str] = field(default_factory=dict)  # submission, round, assignment, verdict
    entities: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, table: Mapping[str, Any]) -> ExportWords:
        """From the labels' [export] table (KeyError naming a missing key)."""
        plain = {k: table[k] for k in ("submissions_sheet", "audit_sheet", "reviewer", "reviewer_score",
                                       "reviewer_recommendation", "reviewer_comment", "mean", "disagree",
                                       "decision", "yes", "no", "created", "system")}
        base, audit_ = tuple(table["base_headers"]), tuple(table["audit_headers"])
        if len(base) != 8 or len(audit_) != 7:
            raise ValueError("export labels: base_headers needs 8 words and audit_headers 7")
        return cls(**plain, base_headers=base, audit_headers=audit_, kinds=dict(table.get("kinds", {})),
                   statuses=dict(table.get("status", {})), entities=dict(table.get("entities", {})))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MAX_CELL = 32_767  # Excel's limit on one cell's text
_TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"


@dataclass(frozen=True)
class ExportRow:
    """One round of one submission. `reviews`: the submitted reviews of that round (their order is
    the column order: 评审1, 评审2, …). `decision`: "accept" | "revise" | "reject" or None."""

    submission_id: int
    applicant: str
    account_name: str
    category: str  # the category's name (e.g. 短视频)
    kind: str  # "work" | "topic"
    title: str
    round: int
    status: str
    reviews: list[ReviewScores] = field(default_factory=list)
    decision: str | None = None
    reviewer_names: dict[int, str] = field(default_factory=dict)  # reviewer id -> name (the column shows both)


@dataclass(frozen=True)
class AuditRow:
    """One audit entry (storage.models.AuditEntry). `at` must be timezone-aware."""

    at: datetime
    entity: str
    entity_id: int
    from_status: str | None
    to_status: str
    actor_id: int | None  # None: the bot itself
    reason: str | None


# openpyxl's own ILLEGAL_CHARACTERS_RE; openpyxl itself (with lxml and Pillow, some 8 MB) is
# imported only when a workbook is made, not by every bot process at start (issue 13: memory)
ILLEGAL_CHARACTERS_RE = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")


def safe_text(value: Any) -> Any:
    """A cell value that stays text: strings lose control characters an .xlsx can't hold, are cut
    to Excel's cell limit, and get a leading ' when a spreadsheet would read them as a formula.
    Numbers, datetimes and None pass through."""
    if not isinstance(value, str):
        return value
    text = ILLEGAL_CHARACTERS_RE.sub("", value)
    if text.startswith(_FORMULA_START):
        text = "'" + text
    return text[:_MAX_CELL]


def _label(labels: Mapping[str, str], value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    return labels.get(text, text)


def _write_row(ws: Any, values: Sequence[Any]) -> None:
    ws.append([safe_text(v) for v in values])
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"  # never a formula, whatever it starts with


def _header(ws: Any, headers: Sequence[str], widths: Sequence[int]) -> None:
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    _write_row(ws, headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"


def export_xlsx(
    rows: Sequence[ExportRow],
    audit: Sequence[AuditRow],
    criteria: Sequence[Criterion],
    words: ExportWords,
    *,
    timezone: str = "Asia/Shanghai",
    scale: tuple[int, int] = DEFAULT_SCALE,
    disagreement: int = DEFAULT_DISAGREEMENT,
) -> bytes:
    """The workbook's bytes. Raises ValueError for a review that does not fit the criteria and
    scale (see scores.aggregate) and for a naive audit time."""
    from openpyxl import Workbook

    tz = ZoneInfo(timezone)
    wb = Workbook()
    ws = wb.active
    ws.title = words.submissions_sheet

    most = max((len(r.reviews) for r in rows), default=0)
    headers = list(words.base_headers)
    widths = [10, 14, 16, 12, 8, 30, 6, 12]
    for i in range(1, most + 1):
        headers.append(words.reviewer.format(n=i))
        widths.append(12)
        for c in criteria:
            headers.append(words.reviewer_score.format(n=i, criterion=c.name))
            widths.append(10)
        headers += [words.reviewer_recommendation.format(n=i), words.reviewer_comment.format(n=i)]
        widths += [12, 30]
    for c in criteria:
        headers.append(words.mean.format(criterion=c.name))
        widths.append(10)
    headers += [words.disagree, words.decision]
    widths += [12, 12]
    _header(ws, headers, widths)

    first_mean_col = len(words.base_headers) + most * (len(criteria) + 3) + 1
    for row in rows:
        agg = aggregate(criteria, row.reviews, scale=scale, disagreement=disagreement)
        values: list[Any] = [
            row.submission_id,
            row.applicant,
            row.account_name,
            row.category,
            _label(words.kinds, row.kind),
            row.title,
            row.round,
            _label(words.statuses, row.status),
        ]
        for i in range(most):
            if i < len(row.reviews):
                review = row.reviews[i]
                name = row.reviewer_names.get(review.reviewer_id)
                values.append(f"{name}（{review.reviewer_id}）" if name else review.reviewer_id)
                values += [review.scores[c.id] for c in criteria]
                values += [_label(words.statuses, review.recommendation), review.comment]
            else:
                values += [None] * (len(criteria) + 3)
        values += [c.mean_1dp for c in agg.criteria]
        values.append((words.yes if agg.disagree else words.no) if agg.review_count else "")
        values.append(_label(words.statuses, row.decision))
        _write_row(ws, values)
        for cell in ws[ws.max_row][first_mean_col - 1 : first_mean_col - 1 + len(criteria)]:
            cell.number_format = "0.0"

    log = wb.create_sheet(words.audit_sheet)
    _header(log, [words.audit_headers[0].format(timezone=timezone), *words.audit_headers[1:]],
            [22, 12, 10, 12, 12, 14, 40])
    for entry in audit:
        if entry.at.tzinfo is None or entry.at.utcoffset() is None:
            raise ValueError(f"audit entry {entry.entity} {entry.entity_id}: naive time {entry.at!r}")
        local = entry.at.astimezone(tz).replace(tzinfo=None, microsecond=0)
        _write_row(
            log,
            [
                local,
                _label(words.entities, entry.entity),
                entry.entity_id,
                _label(words.statuses, entry.from_status) if entry.from_status is not None else words.created,
                _label(words.statuses, entry.to_status),
                entry.actor_id if entry.actor_id is not None else words.system,
                entry.reason or "",
            ],
        )
        log.cell(row=log.max_row, column=1).number_format = _TIME_FORMAT

    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


async def load_export(session: AsyncSession, campaign: Any) -> tuple[list[ExportRow], list[AuditRow]]:
    """The export's rows from the database. One row per submission and review round (a submission
    without rounds yet, e.g. withdrawn before review: one row for its current round; drafts are
    private and left out), in submission then round order. A row's reviews are the round's
    submitted ones in assignment order; its status is the submission's for its latest round and
    the round's own (decided, stopped, …) for earlier ones; its decision the round's. Applicant: the
    person named in the creator's live 科普号 registration (account: its account name), else their
    Telegram name. The audit sheet: the whole audit table in time order."""
    subs = list((await session.execute(select(Submission).where(Submission.status != SubmissionStatus.draft)
                                       .order_by(Submission.id))).scalars())
    sub_ids = [s.id for s in subs]
    user_ids = sorted({s.user_id for s in subs})
    rounds: dict[int, list[ReviewRound]] = {}
    reviews: dict[int, list[ReviewScores]] = {}
    names: dict[int, tuple[str, str]] = {}
    reviewer_names: dict[int, str] = {}
    if sub_ids:
        for rnd in (await session.execute(select(ReviewRound).where(ReviewRound.submission_id.in_(sub_ids))
                                          .order_by(ReviewRound.submission_id, ReviewRound.number))).scalars():
            rounds.setdefault(rnd.submission_id, []).append(rnd)
        query = (select(ReviewAssignment, Review).join(Review, Review.assignment_id == ReviewAssignment.id)
                 .join(ReviewRound, ReviewRound.id == ReviewAssignment.round_id)
                 .where(ReviewRound.submission_id.in_(sub_ids),
                        ReviewAssignment.status == AssignmentStatus.submitted)
                 .order_by(ReviewAssignment.round_id, ReviewAssignment.id))
        for asg, review in (await session.execute(query)).all():
            reviews.setdefault(asg.round_id, []).append(
                ReviewScores(asg.reviewer_id, json.loads(review.scores), str(review.recommendation), review.comment))
        reviewer_ids = {r.reviewer_id for rs in reviews.values() for r in rs}
        for user in (await session.execute(select(User).where(User.id.in_(set(user_ids) | reviewer_ids)))).scalars():
            name = " ".join(p for p in (user.first_name, user.last_name) if p)
            names[user.id] = (name, "")
            if user.id in reviewer_ids:
                reviewer_names[user.id] = name
        query = (select(Registration).where(Registration.user_id.in_(user_ids),
                                            Registration.status != RegistrationStatus.erased)
                 .order_by(Registration.id))
        for reg in (await session.execute(query)).scalars():  # the newest live one wins
            names[reg.user_id] = (reg.person_name, reg.account_name)

    def category_name(category_id: str) -> str:
        try:
            return campaign.category(category_id).name
        except CampaignError:
            return category_id

    rows: list[ExportRow] = []
    for sub in subs:
        applicant, account = names.get(sub.user_id, ("", ""))
        base = dict(submission_id=sub.id, applicant=applicant, account_name=account,
                    category=category_name(sub.category), kind=sub.kind, title=sub.title)
        its = rounds.get(sub.id, [])
        if not its:
            rows.append(ExportRow(**base, round=sub.round, status=str(sub.status)))
            continue
        for rnd in its:
            latest = rnd is its[-1]
            rows.append(ExportRow(**base, round=rnd.number, status=str(sub.status if latest else rnd.status),
                                  reviews=reviews.get(rnd.id, []), reviewer_names=reviewer_names,
                                  decision=None if rnd.decision is None else str(rnd.decision)))

    entries = (await session.execute(select(AuditEntry).order_by(AuditEntry.at, AuditEntry.id))).scalars()
    audit = [AuditRow(at=e.at, entity=e.entity, entity_id=e.entity_id, from_status=e.from_status,
                      to_status=e.to_status, actor_id=e.actor_id, reason=e.reason) for e in entries]
    return rows, audit
