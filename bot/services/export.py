"""The staff export (issue 10, part 7): an .xlsx of every submission's review rounds and a second
sheet of the audit log. `export_xlsx` is pure apart from openpyxl; `load_export` reads its rows from the database.

    rows, audit = await load_export(session, campaign)
    data = export_xlsx(rows, audit, campaign.criteria)     # bytes of a workbook
    await bot.send_document(chat_id, BufferedInputFile(data, "申报与评审.xlsx"))

Sheet "申报与评审": a header row, then one row per (submission, round): the application, each
reviewer's score per criterion ("评审1·科学性", … for the most reviewers any row has), their
recommendation and comment, the mean per criterion (rounded half up to one decimal, as in the
chat), whether reviewers disagree, and the decision.
Sheet "操作记录": the audit rows, times in the campaign's time zone (Asia/Shanghai by default).

Applicants type titles and reviewers type comments: text that a spreadsheet would read as a
formula (starting with = + - @, or a tab / carriage return) is stored with a leading ', and control
characters an .xlsx cannot hold are dropped, so nothing typed can break or hijack the file.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
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
    "AUDIT_HEADERS",
    "AUDIT_SHEET",
    "BASE_HEADERS",
    "SUBMISSIONS_SHEET",
    "AuditRow",
    "ExportRow",
    "export_xlsx",
    "load_export",
    "safe_text",
]

SUBMISSIONS_SHEET = "申报与评审"
AUDIT_SHEET = "操作记录"

BASE_HEADERS: tuple[str, ...] = ("申报编号", "申报人", "科普号", "类别", "类型", "标题", "轮次", "状态")
AUDIT_HEADERS: tuple[str, ...] = ("时间", "对象", "对象编号", "原状态", "新状态", "操作人", "原因")

_KIND_LABELS = {"work": "作品", "topic": "选题"}
# submission, round and assignment statuses (storage/statuses.py); anything else is shown as it is
_STATUS_LABELS = {
    "draft": "草稿",
    "submitted": "已提交",
    "withdrawn": "已撤回",
    "returned": "退回补正",
    "under_review": "评审中",
    "accepted": "入选",
    "revise": "修改后再审",
    "rejected": "不入选",
    "disqualified": "取消资格",
    "waiting": "待分配评审",
    "reviewing": "评审中",
    "decided": "已决定",
    "stopped": "已停止",
    "assigned": "已分配",
    "declined": "已谢绝",
    "reassigned": "已改派",
    "accept": "入选",
    "reject": "不入选",
}
_ENTITY_LABELS = {
    "submissions": "申报",
    "submission_files": "申报文件",
    "registrations": "注册",
    "inquiries": "咨询",
    "review_rounds": "评审轮次",
    "review_assignments": "评审分配",
    "reviews": "评审意见",
}
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


def _label(labels: dict[str, str], value: object) -> str:
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
    *,
    timezone: str = "Asia/Shanghai",
    scale: tuple[int, int] = DEFAULT_SCALE,
    disagreement: int = DEFAULT_DISAGREEMENT,
) -> bytes:
    """The workbook's bytes. Raises ValueError for a review that does not fit the criteria and
    scale (see scores.aggregate) and for a naive audit time."""
    tz = ZoneInfo(timezone)
    wb = Workbook()
    ws = wb.active
    ws.title = SUBMISSIONS_SHEET

    most = max((len(r.reviews) for r in rows), default=0)
    headers = list(BASE_HEADERS)
    widths = [10, 14, 16, 12, 8, 30, 6, 12]
    for i in range(1, most + 1):
        headers.append(f"评审{i}·评审人")
        widths.append(12)
        for c in criteria:
            headers.append(f"评审{i}·{c.name}")
            widths.append(10)
        headers += [f"评审{i}·建议", f"评审{i}·评语"]
        widths += [12, 30]
    for c in criteria:
        headers.append(f"均分·{c.name}")
        widths.append(10)
    headers += ["评审意见分歧", "决定"]
    widths += [12, 12]
    _header(ws, headers, widths)

    first_mean_col = len(BASE_HEADERS) + most * (len(criteria) + 3) + 1
    for row in rows:
        agg = aggregate(criteria, row.reviews, scale=scale, disagreement=disagreement)
        values: list[Any] = [
            row.submission_id,
            row.applicant,
            row.account_name,
            row.category,
            _label(_KIND_LABELS, row.kind),
            row.title,
            row.round,
            _label(_STATUS_LABELS, row.status),
        ]
        for i in range(most):
            if i < len(row.reviews):
                review = row.reviews[i]
                values.append(review.reviewer_id)
                values += [review.scores[c.id] for c in criteria]
                values += [_label(_STATUS_LABELS, review.recommendation), review.comment]
            else:
                values += [None] * (len(criteria) + 3)
        values += [c.mean_1dp for c in agg.criteria]
        values.append(("是" if agg.disagree else "否") if agg.review_count else "")
        values.append(_label(_STATUS_LABELS, row.decision))
        _write_row(ws, values)
        for cell in ws[ws.max_row][first_mean_col - 1 : first_mean_col - 1 + len(criteria)]:
            cell.number_format = "0.0"

    log = wb.create_sheet(AUDIT_SHEET)
    _header(log, [f"{AUDIT_HEADERS[0]}（{timezone}）", *AUDIT_HEADERS[1:]], [22, 12, 10, 12, 12, 14, 40])
    for entry in audit:
        if entry.at.tzinfo is None or entry.at.utcoffset() is None:
            raise ValueError(f"audit entry {entry.entity} {entry.entity_id}: naive time {entry.at!r}")
        local = entry.at.astimezone(tz).replace(tzinfo=None, microsecond=0)
        _write_row(
            log,
            [
                local,
                _label(_ENTITY_LABELS, entry.entity),
                entry.entity_id,
                _label(_STATUS_LABELS, entry.from_status) if entry.from_status is not None else "（新建）",
                _label(_STATUS_LABELS, entry.to_status),
                entry.actor_id if entry.actor_id is not None else "系统",
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
        for user in (await session.execute(select(User).where(User.id.in_(user_ids)))).scalars():
            name = " ".join(p for p in (user.first_name, user.last_name) if p)
            names[user.id] = (name, "")
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
                                  reviews=reviews.get(rnd.id, []),
                                  decision=None if rnd.decision is None else str(rnd.decision)))

    entries = (await session.execute(select(AuditEntry).order_by(AuditEntry.at, AuditEntry.id))).scalars()
    audit = [AuditRow(at=e.at, entity=e.entity, entity_id=e.entity_id, from_status=e.from_status,
                      to_status=e.to_status, actor_id=e.actor_id, reason=e.reason) for e in entries]
    return rows, audit
