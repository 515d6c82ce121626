"""The printable 科普中国科普号推荐申请表 (.docx, python-docx), laid out like the notice's attachment:
one table with the same rows and labels, and places for the signature, seals and dates."""

from __future__ import annotations

import io
import logging
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

LAYOUT = Path(__file__).resolve().parents[2] / "content" / "templates" / "recommendation_form.toml"
FONT = "宋体"
log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def layout() -> dict[str, Any]:
    with open(LAYOUT, "rb") as fh:
        return tomllib.load(fh)


def _font(run, size: float | None = None, bold: bool = False) -> None:
    from docx.oxml.ns import qn
    from docx.shared import Pt

    run.font.name = FONT
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT)
    run.bold = bold
    if size:
        run.font.size = Pt(size)


def _write(cell, text: str, *, bold: bool = False, align: str | None = None, size: float = 11) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    lines = text.split("\n")
    paragraph = cell.paragraphs[0]
    for i, line in enumerate(lines):
        if i:
            paragraph = cell.add_paragraph()
        _font(paragraph.add_run(line), size, bold)
        if align == "center":
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        elif align == "right":
            paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT


async def build_apart(values: dict[str, Any], *, needs_seal: bool = True) -> bytes:
    """`build` in a child process (bot/checks/isolated.py `run_apart`): a form is about 46 ms of
    python-docx in Python that would hold the event loop for everyone (ten per /pending: half a
    second), and python-docx with lxml and a form's leftovers are 14 MiB the bot would keep
    (bench/bench_scale.py). When the child cannot make it, it is made here."""
    from bot.checks.isolated import ApartFailed, run_apart

    try:
        return await run_apart(build, dict(values), needs_seal=needs_seal)
    except ApartFailed as exc:
        log.warning("recommendation form made in the bot's own process: the child failed (%s)", exc)
        return build(values, needs_seal=needs_seal)


def build(values: dict[str, Any], *, needs_seal: bool = True) -> bytes:
    """The filled form as .docx bytes. `values` are the registration's answers (FIELDS);
    `needs_seal` is the subject type's (campaign.toml): only a unit seals, so a team's or an
    individual's form has no place for the unit's seal. The bot makes it in a child process
    (`build_apart`); python-docx's documents are webs of reference cycles that would stay in the
    bot's memory until a full collection."""
    from docx import Document
    from docx.enum.table import WD_ROW_HEIGHT_RULE, WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm

    t = layout()
    doc = Document()
    section = doc.sections[0]
    section.page_height, section.page_width = Cm(29.7), Cm(21)
    section.left_margin = section.right_margin = Cm(2.2)
    section.top_margin = section.bottom_margin = Cm(2)

    _font(doc.add_paragraph().add_run(t["attachment"]), 12, bold=True)
    heading = doc.add_paragraph()
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(heading.add_run(t["title"]), 18, bold=True)

    table = doc.add_table(rows=10, cols=4)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    widths = (Cm(3.4), Cm(5.0), Cm(2.4), Cm(5.8))
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = width
        row.height, row.height_rule = Cm(0.9), WD_ROW_HEIGHT_RULE.AT_LEAST
    # room to sign, to seal, and for the experience and the recommending unit's opinion, as on paper
    for index, height in ((1, 4.0), (8, 7.0), (9, 4.5)):
        table.rows[index].height = Cm(height)

    def merged(row: int, first: int = 1, last: int = 3):
        return table.cell(row, first).merge(table.cell(row, last))

    # 1 拟申请科普号名称
    _write(table.cell(0, 0), t["account_name"], bold=True, align="center")
    _write(merged(0), values["account_name"], size=12)
    # 2 所属单位（团队、个人）, signature and the unit's seal
    _write(table.cell(1, 0), t["subject"], bold=True, align="center")
    subject = t["subject_types"][values["subject_type"]].format(name=values["subject_name"])
    cell = merged(1)
    _write(cell, subject, size=12)
    lines = [(t["subject_note"], None), ("", None), (t["signature"], None), (t["date_blank"], "right")]
    if needs_seal:
        lines.append((t["unit_seal"], "right"))
    for line, align in lines:
        paragraph = cell.add_paragraph()
        _font(paragraph.add_run(line), 10.5)
        if align == "right":
            paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    # 3 主要负责人信息
    _write(merged(2, 0, 3), t["person_header"], bold=True, align="center")
    pairs = ((3, "person_name", "person_name", "unit", "unit"), (4, "position", "position", "title_label", "title"))
    for row, label1, key1, label2, key2 in pairs:
        _write(table.cell(row, 0), t[label1], bold=True, align="center")
        _write(table.cell(row, 1), values[key1])
        _write(table.cell(row, 2), t[label2], bold=True, align="center")
        _write(table.cell(row, 3), values[key2])
    _write(table.cell(5, 0), t["field"], bold=True, align="center")
    _write(merged(5), values["field"])
    _write(table.cell(6, 0), t["phone"], bold=True, align="center")
    _write(table.cell(6, 1), values["phone"])
    _write(table.cell(6, 2), t["email"], bold=True, align="center")
    _write(table.cell(6, 3), values["email"])
    # 4 从事科普创作经历、主要成绩（可另附页）
    _write(merged(7, 0, 3), t["experience"], bold=True, align="center")
    cell = merged(8, 0, 3)
    _write(cell, values["experience"])
    attached = values.get("experience_file")
    note = t["experience_attached"].format(name=attached.get("file_name") or "") if attached else t["experience_note"]
    _font(cell.add_paragraph().add_run(note), 10.5)
    # 5 推荐单位意见, date and the recommending unit's seal
    _write(table.cell(9, 0), t["recommender"], bold=True, align="center")
    cell = merged(9)
    _write(cell, t["recommender_named"].format(name=values["recommender"]))
    for line in ("", "", t["date_blank"], t["recommender_seal"]):
        paragraph = cell.add_paragraph()
        _font(paragraph.add_run(line), 10.5)
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT

    _font(doc.add_paragraph().add_run(t["footer"]), 9)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
