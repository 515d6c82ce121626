"""bot/services/export.py: the staff .xlsx, read back with openpyxl."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.campaign import load_campaign
from bot.render import Texts
from bot.services.export import AuditRow, ExportRow, ExportWords, export_xlsx, safe_text
from bot.services.scores import ReviewScores

CRITERIA = load_campaign(Path("content/campaign.toml")).criteria
IDS = [c.id for c in CRITERIA]
NAMES = [c.name for c in CRITERIA]
WORDS = ExportWords.of(Texts().labels["export"])  # the words of content/templates/review_staff/labels.toml
SUBMISSIONS_SHEET, AUDIT_SHEET, BASE_HEADERS = WORDS.submissions_sheet, WORDS.audit_sheet, WORDS.base_headers


def scores(*values: int) -> dict[str, int]:
    return dict(zip(IDS, values, strict=True))


def row(**overrides) -> ExportRow:
    base = dict(
        submission_id=11,
        applicant="张三",
        account_name="张三说科学",
        category="短视频",
        kind="work",
        title="黑洞是怎样形成的",
        round=1,
        status="revise",
        reviews=[
            ReviewScores(101, scores(5, 4, 3, 2, 4, 5), "accept", "讲得清楚"),
            ReviewScores(102, scores(4, 4, 4, 5, 3, 2), "revise", "结尾仓促"),
        ],
        decision="revise",
    )
    base.update(overrides)
    return ExportRow(**base)


def read(data: bytes):
    return load_workbook(io.BytesIO(data))


def values(ws) -> list[list]:
    return [list(r) for r in ws.iter_rows(values_only=True)]


def header_map(ws) -> dict[str, int]:
    return {cell.value: cell.column - 1 for cell in ws[1]}


AUDIT = [
    AuditRow(datetime(2024, 1, 31, 17, 5, 9, 123456, tzinfo=UTC), "submissions", 11, "submitted", "under_review", None, None),
    AuditRow(datetime(2024, 2, 1, 2, 0, tzinfo=UTC), "review_rounds", 3, "reviewing", "decided", 900, "结尾需要补充"),
    AuditRow(datetime(2024, 2, 1, 10, 0, tzinfo=timezone(timedelta(hours=8))), "submissions", 12, None, "draft", 55, ""),
]


def test_sheets_and_header_row() -> None:
    wb = read(export_xlsx([row()], AUDIT, CRITERIA, WORDS))
    assert wb.sheetnames == [SUBMISSIONS_SHEET, AUDIT_SHEET] == ["申报与评审", "操作记录"]
    header = values(wb[SUBMISSIONS_SHEET])[0]
    per_reviewer = lambda i: [f"评审{i}·评审人", *[f"评审{i}·{n}" for n in NAMES], f"评审{i}·建议", f"评审{i}·评语"]  # noqa: E731
    assert header == [
        *BASE_HEADERS, *per_reviewer(1), *per_reviewer(2), *[f"均分·{n}" for n in NAMES], "评审意见分歧", "决定",
    ]
    assert header[len(BASE_HEADERS) + 1] == "评审1·科学性"
    assert list(BASE_HEADERS) == ["申报编号", "申报人", "科普号", "类别", "类型", "标题", "轮次", "状态"]


def test_one_row_per_round_with_scores_means_and_decision() -> None:
    rows = [
        row(),
        row(round=2, status="accepted", decision="accept", reviews=[
            ReviewScores(101, scores(5, 5, 5, 5, 5, 5), "accept", "改得好"),
            ReviewScores(103, scores(4, 5, 5, 5, 4, 4), "accept", "=同意"),
        ]),
        row(submission_id=12, applicant="李四", kind="topic", category="选题", title="海洋塑料",
            status="under_review", decision=None, reviews=[]),
    ]
    ws = read(export_xlsx(rows, [], CRITERIA, WORDS))[SUBMISSIONS_SHEET]
    table = values(ws)
    col = header_map(ws)
    assert len(table) == 4
    first, second, third = table[1:]
    assert first[:8] == [11, "张三", "张三说科学", "短视频", "作品", "黑洞是怎样形成的", 1, "修改后再审"]
    assert first[col["评审1·评审人"]] == 101 and first[col["评审2·评审人"]] == 102
    assert [first[col[f"评审1·{n}"]] for n in NAMES] == [5, 4, 3, 2, 4, 5]
    assert [first[col[f"评审2·{n}"]] for n in NAMES] == [4, 4, 4, 5, 3, 2]
    assert first[col["评审1·建议"]] == "入选" and first[col["评审2·建议"]] == "修改后再审"
    assert first[col["评审2·评语"]] == "结尾仓促"
    assert [first[col[f"均分·{n}"]] for n in NAMES] == [4.5, 4.0, 3.5, 3.5, 3.5, 3.5]
    assert first[col["评审意见分歧"]] == "是" and first[col["决定"]] == "修改后再审"
    assert ws.cell(row=2, column=col["均分·科学性"] + 1).number_format == "0.0"

    assert second[6:8] == [2, "入选"] and second[col["评审2·评审人"]] == 103
    assert [second[col[f"均分·{n}"]] for n in NAMES] == [4.5, 5.0, 5.0, 5.0, 4.5, 4.5]
    assert second[col["评审2·评语"]] == "'=同意"
    assert second[col["评审意见分歧"]] == "否" and second[col["决定"]] == "入选"

    # a round waiting for reviews: blanks, no means, no decision
    assert third[:8] == [12, "李四", "张三说科学", "选题", "选题", "海洋塑料", 1, "评审中"]
    assert all(third[col[h]] in (None, "") for h in col if h.startswith(("评审1", "评审2", "均分")))
    assert third[col["评审意见分歧"]] in (None, "") and third[col["决定"]] in (None, "")


def test_means_round_half_up_like_the_chat() -> None:
    four = [ReviewScores(i, scores(s, 3, 3, 3, 3, 3), "accept", "") for i, s in enumerate([5, 4, 4, 4], start=1)]
    ws = read(export_xlsx([row(reviews=four)], [], CRITERIA, WORDS))[SUBMISSIONS_SHEET]
    assert values(ws)[1][header_map(ws)["均分·科学性"]] == 4.3  # 4.25


def test_columns_follow_the_most_reviewers_any_row_has() -> None:
    three = [ReviewScores(i, scores(3, 3, 3, 3, 3, 3), "accept", "") for i in (1, 2, 3)]
    ws = read(export_xlsx([row(reviews=three[:1]), row(reviews=three)], [], CRITERIA, WORDS))[SUBMISSIONS_SHEET]
    col = header_map(ws)
    assert "评审3·科学性" in col and "评审4·科学性" not in col
    one = values(ws)[1]
    assert one[col["评审1·科学性"]] == 3 and one[col["评审2·科学性"]] is None and one[col["评审3·评审人"]] is None
    ws = read(export_xlsx([row(reviews=[])], [], CRITERIA, WORDS))[SUBMISSIONS_SHEET]
    assert not any(str(h).startswith("评审1") for h in values(ws)[0])


def test_the_audit_sheet_in_shanghai_time() -> None:
    ws = read(export_xlsx([], AUDIT, CRITERIA, WORDS))[AUDIT_SHEET]
    table = values(ws)
    assert table[0] == ["时间（Asia/Shanghai）", "对象", "对象编号", "原状态", "新状态", "操作人", "原因"]
    assert table[1] == [datetime(2024, 2, 1, 1, 5, 9), "申报", 11, "已提交", "评审中", "系统", None]
    assert table[2] == [datetime(2024, 2, 1, 10, 0), "评审轮次", 3, "评审中", "已决定", 900, "结尾需要补充"]
    assert table[3] == [datetime(2024, 2, 1, 10, 0), "申报", 12, "（新建）", "草稿", 55, None]
    assert ws["A2"].number_format == "yyyy-mm-dd hh:mm:ss" and ws["A2"].is_date


def test_another_time_zone_and_unknown_labels_pass_through() -> None:
    audit = [AuditRow(datetime(2024, 1, 1, tzinfo=UTC), "academy_lessons", 1, "x", "y", 1, "r")]
    ws = read(export_xlsx([row(status="mystery")], audit, CRITERIA, WORDS, timezone="UTC"))
    assert values(ws[AUDIT_SHEET])[1][:5] == [datetime(2024, 1, 1), "academy_lessons", 1, "x", "y"]
    assert values(ws[SUBMISSIONS_SHEET])[1][7] == "mystery"


def test_a_naive_audit_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        export_xlsx([], [AuditRow(datetime(2024, 1, 1), "submissions", 1, None, "draft", 1, None)], CRITERIA, WORDS)


def test_a_bad_review_is_refused_naming_the_criterion() -> None:
    bad = [ReviewScores(1, {**scores(3, 3, 3, 3, 3, 3), "artistic": 9}, "accept", "")]
    with pytest.raises(ValueError, match="artistic"):
        export_xlsx([row(reviews=bad)], [], CRITERIA, WORDS)


@pytest.mark.parametrize("typed", ['=HYPERLINK("http://evil.example","点我")', "+1+1", "-2+3", "@SUM(A1)", "\t=1"])
def test_formula_like_text_is_stored_as_text(typed: str) -> None:
    data = export_xlsx(
        [row(title=typed, applicant=typed, reviews=[ReviewScores(1, scores(3, 3, 3, 3, 3, 3), "accept", typed)])],
        [AuditRow(datetime(2024, 1, 1, tzinfo=UTC), "submissions", 1, None, "draft", 1, typed)],
        CRITERIA,
        WORDS,
    )
    wb = read(data)
    ws = wb[SUBMISSIONS_SHEET]
    col = header_map(ws)
    for name in ("标题", "申报人", "评审1·评语"):
        cell = ws.cell(row=2, column=col[name] + 1)
        assert cell.data_type == "s" and cell.value == "'" + typed
    reason = wb[AUDIT_SHEET]["G2"]
    assert reason.data_type == "s" and reason.value == "'" + typed
    # nowhere in the file is there a formula
    assert b"<f>" not in _sheet_xml(data) and b"<f " not in _sheet_xml(data)


def _sheet_xml(data: bytes) -> bytes:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return b"".join(z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/"))


def test_control_characters_do_not_break_the_file() -> None:
    ws = read(export_xlsx([row(title="黑洞\x00\x0b的\x1f秘密")], [], CRITERIA, WORDS))[SUBMISSIONS_SHEET]
    assert ws["F2"].value == "黑洞的秘密"


def test_safe_text() -> None:
    assert safe_text("=1") == "'=1" and safe_text("普通标题") == "普通标题" and safe_text("a=b") == "a=b"
    assert safe_text(5) == 5 and safe_text(None) is None
    assert len(safe_text("x" * 40_000)) == 32_767
