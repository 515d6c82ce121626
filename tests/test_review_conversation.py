"""Issue 10's conversation, all in the chat: an operator invites two reviewers by link, each sets
their fields and unit; a creator submits an article; both reviewers score it; the operator decides
修改后再审; the creator reads the feedback, replaces the file and submits round 2; both review again;
the operator decides 入选. Asserts the assignment, the creator's feedback (scores, comments), the
audit log and the export."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from sqlalchemy import select

from bot.services import submissions
from storage.models import AuditEntry, Review, ReviewAssignment, ReviewRound, Submission
from storage.statuses import AssignmentStatus, RoundStatus, SubmissionStatus, Verdict
from tests import test_submissions
from tests.conftest import ADMIN_ID
from tests.harness import ChatUser, Conversation
from tests.media import make_docx
from tests.test_submissions import save_draft, submit

creator = test_submissions.creator  # the fixture: Alice, approved, the clock inside the window
WANG, LI = 2101, 2102


async def invited_reviewer(chat: Conversation, uid: int, name: str, *, field_button: str | None, words: str,
                           unit: str) -> ChatUser:
    boss = chat.user(ADMIN_ID, "Boss")
    await boss.send("/invite reviewer")
    link = re.search(r"https://t\.me/\S+", boss.last_text).group(0)
    reviewer = chat.user(uid, name)
    await reviewer.send(f"/start {link.split('start=')[1]}")
    assert any("您已成为<b>评审专家</b>" in m.text for m in reviewer.history)
    assert "擅长的方向" in reviewer.last_text  # the profile form starts at once
    if field_button:
        await reviewer.press(field_button)
    await reviewer.press("完成")
    await reviewer.send(words)
    await reviewer.send(unit)
    assert "请核对" in reviewer.last_text
    await reviewer.press("保存")
    assert "评审领域已保存" in reviewer.last_text and unit in reviewer.last_text
    return reviewer


async def review(reviewer: ChatUser, scores: list[int], comment: str, recommendation: str,
                 note: str | None = None) -> None:
    """From the notification: the card, the files, the form by buttons, the summary, submitted."""
    await reviewer.press("查看评审任务")
    assert "评审任务：申报" in reviewer.last_text
    await reviewer.press("查看作品文件")
    assert reviewer.history[-1].document is not None
    await reviewer.press("评审")  # 开始评审
    for score in scores:
        await reviewer.press(str(score))
    await reviewer.send(comment)
    if note:
        await reviewer.send(note)
    else:
        await reviewer.press("跳过")
    await reviewer.press(recommendation)
    assert "请核对您的评审" in reviewer.last_text
    await reviewer.press("提交评审")
    assert "评审已提交" in reviewer.last_text


async def decide(boss: ChatUser, verdict: str, message: str) -> None:
    await boss.press("查看评审汇总")
    assert "评审已齐" in boss.last_text
    await boss.press("做出决定")
    await boss.press(verdict)
    await boss.send(message)
    await boss.press("确认决定")
    assert "作出决定" in boss.last_text and verdict in boss.last_text


async def test_two_rounds_from_invitation_to_selection(app, chat, creator, tmp_path):
    alice, boss = creator, chat.user(ADMIN_ID, "Boss")
    wang = await invited_reviewer(chat, WANG, "王评审", field_button="剖析前沿科技", words="天体物理",
                                  unit="中国科学院国家天文台")
    li = await invited_reviewer(chat, LI, "李评审", field_button=None, words="科学教育、物理", unit="北京师范大学")

    # the creator submits: both reviewers are assigned and told
    sub_id = await save_draft(alice, "图文", title="黑洞是怎样形成的")
    await alice.upload(make_docx(tmp_path / "黑洞.docx", 1500))
    await submit(alice)
    assert "评审专家已开始评审" in alice.last_text
    async with app.sessionmaker() as session:
        (rnd1,) = (await session.execute(select(ReviewRound))).scalars()
        rows = (await session.execute(select(ReviewAssignment).order_by(ReviewAssignment.reviewer_id))).scalars().all()
    assert rnd1.status == RoundStatus.reviewing and [a.reviewer_id for a in rows] == [WANG, LI]
    assert "新的评审任务" in wang.last_text and "新的评审任务" in li.last_text

    # round 1: 修改后再审
    await review(wang, [4, 5, 4, 2, 4, 5], "结构清楚，建议补充观测进展和参考文献。", "修改后再审",
                 note="疑似有段落与百科雷同，请核查。")
    await review(li, [5, 4, 5, 5, 4, 4], "语言生动，结尾略仓促。", "入选")
    assert "评审意见已全部提交" in boss.last_text
    await boss.press("查看评审汇总")
    summary = boss.last_text
    assert "艺术性" in summary and "⚠️" in summary  # 2 against 5: flagged
    assert "疑似有段落与百科雷同" in summary  # staff notes are for the operators
    await decide(boss, "修改后再审", "请补充观测进展和参考文献，改写雷同段落后再提交。")

    feedback = alice.last_text
    assert "第 1 轮评审结果" in feedback and "修改后再审" in feedback
    assert "请补充观测进展和参考文献，改写雷同段落后再提交。" in feedback
    for line in ("科学性：4.5", "原创性：4.5", "思想性：4.5", "艺术性：3.5", "通俗性：4.0", "适于互联网传播：4.5"):
        assert line in feedback
    assert "评审专家1：结构清楚，建议补充观测进展和参考文献。" in feedback
    assert "评审专家2：语言生动，结尾略仓促。" in feedback
    assert "相对薄弱的一项：<b>艺术性</b>" in feedback
    for secret in ("王评审", "李评审", "疑似有段落"):  # anonymous; no staff note
        assert secret not in feedback

    # round 2: the creator replaces the file and submits again
    await alice.press("开始修改")
    assert "提交第 2 轮评审" in " ".join(alice.history[-1].labels)
    await alice.press("上传新版本")
    assert "草稿" not in alice.last_text and "提交第 2 轮评审" in " ".join(alice.last.labels)  # not a draft
    await alice.upload(make_docx(tmp_path / "黑洞修改版.docx", 1800))
    await alice.press("替换")
    assert "提交第 2 轮评审" in " ".join(alice.last.labels)  # under the check's verdict, too
    await alice.press("查看这份申报")
    await alice.press("提交第 2 轮评审")
    assert "确定要提交申报" in alice.last_text and "的第 2 轮评审吗" in alice.last_text
    await alice.press("确认提交申报")
    assert "第 2 轮已提交" in alice.last_text
    assert "第 2 轮" in wang.last_text and "第 2 轮" in li.last_text

    await review(wang, [5, 5, 5, 4, 5, 5], "修改到位。", "入选")
    await review(li, [5, 4, 5, 5, 5, 4], "可以入选。", "入选")
    await decide(boss, "入选", "修改到位，入选。")
    assert "第 2 轮评审结果：🎉 入选" in alice.last_text and "修改到位。" in alice.last_text

    async with app.sessionmaker() as session:
        sub = await session.get(Submission, sub_id)
        r1, r2 = (await session.execute(select(ReviewRound).order_by(ReviewRound.number))).scalars().all()
        assert (sub.status, sub.round) == (SubmissionStatus.accepted, 2)
        assert (r1.decision, r2.decision) == (Verdict.revise, Verdict.accept)
        assert [f.file_name for f in await submissions.files_of_round(session, sub_id, 1)] == ["黑洞.docx"]
        assert [f.file_name for f in await submissions.files_of_round(session, sub_id, 2)] == ["黑洞修改版.docx"]
        assert len((await session.execute(select(Review))).scalars().all()) == 4
        statuses = {a.status for a in (await session.execute(select(ReviewAssignment))).scalars()}
        assert statuses == {AssignmentStatus.submitted}
        trail = [(e.entity, e.from_status, e.to_status, e.actor_id) for e in (await session.execute(
            select(AuditEntry).where(AuditEntry.entity == "submissions", AuditEntry.entity_id == sub_id)
            .order_by(AuditEntry.id))).scalars()]
    assert [t[1:3] for t in trail] == [(None, "draft"), ("draft", "submitted"), ("submitted", "under_review"),
                                       ("under_review", "revise"), ("revise", "submitted"),
                                       ("submitted", "under_review"), ("under_review", "accepted")]
    assert trail[3][3] == ADMIN_ID and trail[4][3] == alice.id

    # the creator's card shows both rounds
    await alice.send("/mywork")
    await alice.press("黑洞是怎样形成的")
    assert "第 1 轮：✏️ 修改后再审" in alice.last_text and "第 2 轮：🎉 入选" in alice.last_text

    # the export, read back
    await boss.send("/export")
    sent = boss.history[-2] if boss.history[-1].document is None else boss.history[-1]
    book = load_workbook(io.BytesIO(sent.file_bytes))
    sheet, audit = book.worksheets
    rows = list(sheet.iter_rows(values_only=True))
    header, data = rows[0], rows[1:]
    assert len(data) == 2  # one row per round
    col = {name: i for i, name in enumerate(header)}
    assert [r[col["轮次"]] for r in data] == [1, 2]
    assert [r[col["决定"]] for r in data] == ["修改后再审", "入选"]
    assert data[0][col["均分·艺术性"]] == 3.5 and data[1][col["均分·科学性"]] == 5
    assert data[0][col["评审1·评语"]] == "结构清楚，建议补充观测进展和参考文献。"
    assert {r[col["标题"]] for r in data} == {"黑洞是怎样形成的"}
    audit_rows = list(audit.iter_rows(values_only=True))[1:]
    assert len(audit_rows) >= len(trail)
