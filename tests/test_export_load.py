"""bot/services/export.py `load_export`: rows built in the database, written with export_xlsx and
read back with openpyxl."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.campaign import load_campaign
from bot.render import Texts
from bot.services.export import ExportWords, export_xlsx, load_export
from bot.services.transitions import transition
from bot.services.users import upsert_user
from storage.db import make_engine
from storage.models import AuditEntry, Review, ReviewAssignment, ReviewRound, Submission
from storage.statuses import AssignmentStatus, RoundStatus, SubmissionStatus, Verdict
from tests.conftest import ADMIN_ID, approve_creator

CAMPAIGN = load_campaign(Path("content/campaign.toml"))
IDS = [c.id for c in CAMPAIGN.criteria]
WORDS = ExportWords.of(Texts().labels["export"])
SUBMISSIONS_SHEET, AUDIT_SHEET, BASE_HEADERS = WORDS.submissions_sheet, WORDS.audit_sheet, WORDS.base_headers
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
REGISTERED, UNREGISTERED = 880001, 880002
R1, R2, R3 = 880011, 880012, 880013


def scores(*values: int) -> dict[str, int]:
    return dict(zip(IDS, values, strict=True))


@pytest.fixture
async def maker(db_url):
    engine = make_engine(db_url)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


async def submission(session, user_id: int, title: str, *, category="video", kind="work", t: float) -> Submission:
    sub = Submission(user_id=user_id, kind=kind, category=category, title=title, answers=json.dumps({}))
    await transition(session, sub, SubmissionStatus.draft, actor_id=user_id, now=at(t))
    return sub


async def reviewed(session, rnd: ReviewRound, reviewer: int, values: dict[str, int], rec: Verdict, comment: str,
                   t: float) -> None:
    asg = ReviewAssignment(round_id=rnd.id, reviewer_id=reviewer, assigned_at=at(t), due_at=at(t + 100))
    await transition(session, asg, AssignmentStatus.assigned, actor_id=None, now=at(t))
    session.add(Review(assignment_id=asg.id, scores=json.dumps(values), comment=comment, staff_note="内部",
                       recommendation=rec, submitted_at=at(t + 1)))
    await transition(session, asg, AssignmentStatus.submitted, actor_id=reviewer, now=at(t + 1))


async def build(maker) -> dict[str, int]:
    await approve_creator(maker, REGISTERED, account_name="小科说")  # person_name "Alice"
    async with maker.begin() as session:
        await upsert_user(session, UNREGISTERED, first_name="Bob", last_name="Li")
        await upsert_user(session, R1, first_name="王", last_name="评审")  # R2 has no user row (erased long ago)
        # 1: two rounds — round 1 decided 修改后再审 on two reviews; round 2 being reviewed (one in)
        one = await submission(session, REGISTERED, "黑洞是怎样形成的", t=10)
        await transition(session, one, SubmissionStatus.submitted, actor_id=REGISTERED, now=at(11))
        await transition(session, one, SubmissionStatus.under_review, actor_id=None, now=at(12))
        r1 = ReviewRound(submission_id=one.id, number=1, opened_at=at(12))
        await transition(session, r1, RoundStatus.reviewing, actor_id=None, now=at(12))
        await reviewed(session, r1, R1, scores(4, 5, 4, 2, 4, 5), Verdict.revise, "=补充文献", t=13)
        await reviewed(session, r1, R2, scores(5, 4, 3, 5, 3, 4), Verdict.accept, "结尾仓促", t=14)
        await transition(session, r1, RoundStatus.decided, actor_id=ADMIN_ID, reason="请修改", now=at(20))
        r1.decision, r1.decided_by, r1.decided_at = Verdict.revise, ADMIN_ID, at(20)
        await transition(session, one, SubmissionStatus.revise, actor_id=ADMIN_ID, reason="请修改", now=at(20))
        await transition(session, one, SubmissionStatus.submitted, actor_id=REGISTERED, now=at(30))
        await transition(session, one, SubmissionStatus.under_review, actor_id=None, now=at(31))
        one.round = 2
        r2 = ReviewRound(submission_id=one.id, number=2, opened_at=at(31))
        await transition(session, r2, RoundStatus.reviewing, actor_id=None, now=at(31))
        await reviewed(session, r2, R1, scores(5, 5, 5, 4, 5, 5), Verdict.accept, "改得好", t=32)
        pending = ReviewAssignment(round_id=r2.id, reviewer_id=R3, assigned_at=at(31), due_at=at(200))
        await transition(session, pending, AssignmentStatus.assigned, actor_id=None, now=at(31))
        # 2: a topic withdrawn before review, by someone without a registration; made with earlier
        # audit times than the rows above, so the audit sheet's time order differs from id order
        two = await submission(session, UNREGISTERED, "选题：流感", category="topic_video_script", kind="topic", t=1)
        await transition(session, two, SubmissionStatus.submitted, actor_id=UNREGISTERED, now=at(2))
        await transition(session, two, SubmissionStatus.withdrawn, actor_id=UNREGISTERED, reason="重写", now=at(3))
        # 3: a draft: private, not exported
        await submission(session, UNREGISTERED, "草稿", t=40)
        return {"one": one.id, "two": two.id}


def read(data: bytes):
    return load_workbook(io.BytesIO(data))


async def test_the_export_has_a_row_per_round_with_reviews_and_decision_and_the_whole_audit(maker):
    ids = await build(maker)
    async with maker() as session:
        rows, audit = await load_export(session, CAMPAIGN)
        audit_total = (await session.execute(select(func.count()).select_from(AuditEntry))).scalar_one()

    assert [(r.submission_id, r.round, r.status, r.decision) for r in rows] == [
        (ids["one"], 1, "decided", "revise"),
        (ids["one"], 2, "under_review", None),
        (ids["two"], 1, "withdrawn", None),
    ]
    first = rows[0]
    assert (first.applicant, first.account_name, first.category, first.kind) == ("Alice", "小科说", "视频", "work")
    assert [(r.reviewer_id, r.scores, r.recommendation, r.comment) for r in first.reviews] == [
        (R1, scores(4, 5, 4, 2, 4, 5), "revise", "=补充文献"), (R2, scores(5, 4, 3, 5, 3, 4), "accept", "结尾仓促")]
    assert [r.reviewer_id for r in rows[1].reviews] == [R1]  # R3's is not in yet
    assert first.reviewer_names.get(R1) == "王 评审" and R2 not in first.reviewer_names
    assert (rows[2].applicant, rows[2].account_name, rows[2].kind) == ("Bob Li", "", "topic")
    assert len(audit) == audit_total
    assert [a.at for a in audit] == sorted(a.at for a in audit)

    wb = read(export_xlsx(rows, audit, CAMPAIGN.criteria, WORDS, timezone=CAMPAIGN.timezone))
    sheet = [list(r) for r in wb[SUBMISSIONS_SHEET].iter_rows(values_only=True)]
    header, body = sheet[0], sheet[1:]
    assert len(body) == 3
    col = {name: i for i, name in enumerate(header)}
    assert list(header[: len(BASE_HEADERS)]) == list(BASE_HEADERS)
    assert body[0][: len(BASE_HEADERS)] == [ids["one"], "Alice", "小科说", "视频", "作品", "黑洞是怎样形成的", 1, "已决定"]
    assert body[0][col["评审1·评审人"]] == f"王 评审（{R1}）" and body[0][col["评审2·评审人"]] == R2 and body[0][col["评审2·艺术性"]] == 5
    assert body[0][col["评审1·评语"]] == "'=补充文献"  # typed text never becomes a formula
    assert [body[0][col[f"均分·{c.name}"]] for c in CAMPAIGN.criteria] == [4.5, 4.5, 3.5, 3.5, 3.5, 4.5]
    assert (body[0][col["评审意见分歧"]], body[0][col["决定"]]) == ("是", "修改后再审")
    assert (body[1][col["轮次"]], body[1][col["状态"]], body[1][col["评审2·评审人"]], body[1][col["决定"]]) \
        == (2, "评审中", None, None)
    assert body[2][: len(BASE_HEADERS)] == [ids["two"], "Bob Li", None, "短视频拍摄脚本", "选题", "选题：流感", 1, "已撤回"]

    log = [list(r) for r in wb[AUDIT_SHEET].iter_rows(values_only=True)][1:]
    assert len(log) == audit_total
    times = [r[0] for r in log]
    assert times == sorted(times)
    # the withdrawn topic's changes (made at 09:00–11:00 UTC) come before the first work's
    mine = [r for r in log if r[1] == "申报" and r[2] == ids["two"]]
    assert [(r[3], r[4], r[5], r[6]) for r in mine] == [
        ("（新建）", "草稿", UNREGISTERED, None), ("草稿", "已提交", UNREGISTERED, None), ("已提交", "已撤回", UNREGISTERED, "重写")]
    assert mine[0][0] == datetime(2024, 5, 1, 17, 0)  # 09:00 UTC is 17:00 in Asia/Shanghai
    assert any(r[1] == "评审轮次" and r[4] == "已决定" and r[6] == "请修改" for r in log)


async def test_an_empty_database_exports_headers_only(maker):
    async with maker() as session:
        rows, audit = await load_export(session, CAMPAIGN)
    assert rows == [] and audit == []
    wb = read(export_xlsx(rows, audit, CAMPAIGN.criteria, WORDS))
    assert len(list(wb[SUBMISSIONS_SHEET].iter_rows())) == 1
