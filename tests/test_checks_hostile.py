"""Hostile documents get a verdict within the library's own limits (issue 8, items 1, 2 and the zip
directory): a line of 64 KB of "[" in Markdown (quadratic regexes took 82 s), a .docx of ~0.7 MB that
unpacks to 64 MiB of XML (4.4 GB and 132 s in python-docx), a PDF of 3,000 pages sharing one content
stream (264 s), and a zip whose end record declares more entries than the limit (the directory must
not be read). The makers are used by bench/bench_hostile.py too.

No timing assertions: `check()` here ends because of the library's limits; `kepubot check` runs as a
subprocess with a generous timeout only so that the old code fails instead of hanging the suite.
"""

from __future__ import annotations

import random
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from bot.campaign import load_campaign
from bot.checks import check, strip_markdown
from bot.checks import messages as msg
from bot.checks.archive import DOCX_LIMITS, ZipLimits, end_record, inspect_zip
from tests.media import make_docx, make_zip

REPO = Path(__file__).resolve().parent.parent
TOO_COMPLEX = "文件过大/过于复杂，无法检查"


# --------------------------------------------------------------------------- the hostile documents


def make_bracket_markdown(path: str | Path, size: int = 64 * 1024, unit: str = "[") -> Path:
    """One line of `size` bytes of `unit` (default "[")."""
    path = Path(path)
    data = unit.encode() * (size // len(unit.encode()))
    path.write_bytes(data)
    return path


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Target="word/document.xml" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>'
    "</Relationships>"
)


def make_docx_bomb(path: str | Path, unpacked: int = 64 << 20, runs: int = 700, seed: int = 8) -> Path:
    """A .docx whose word/document.xml unpacks to `unpacked` bytes: one paragraph of a ~22 KB block of
    random runs repeated (inside deflate's 32 KB window, so ~140:1: 64 MiB → ~0.5 MB)."""
    rnd = random.Random(seed)
    block = "".join(
        "<w:r><w:t>" + "".join(rnd.choice("科普中国网络创作培育计划abcxyz") for _ in range(rnd.randint(1, 12)))
        + "</w:t></w:r>"
        for _ in range(runs)
    ).encode()
    head = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document '
        b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p>'
    )
    tail = b"</w:p></w:body></w:document>"
    path = Path(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _RELS)
        with zf.open("word/document.xml", "w") as out:
            out.write(head)
            for _ in range((unpacked - len(head) - len(tail)) // len(block)):
                out.write(block)
            out.write(tail)
    return path


def make_shared_stream_pdf(path: str | Path, pages: int = 3000, ops: int = 4000, text: bytes = b".") -> Path:
    """A PDF written by hand: `pages` /Page objects that all use one compressed content stream of
    `ops` text-showing operators (`text` each; "." counts no 字). 3,000 pages: ~0.47 MB."""
    body = b"BT /F1 9 Tf 12 TL " + b"".join(b"(%s) Tj T* " % text for _ in range(ops)) + b"ET"
    stream = zlib.compress(body, 9)
    objs = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        4: b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
    }
    page = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>")
    for i in range(pages):
        objs[5 + i] = page
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    objs[2] = b"<< /Type /Pages /Count %d /Kids [%s] >>" % (pages, kids)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for n in sorted(objs):
        offsets[n] = len(out)
        out += b"%d 0 obj\n" % n + objs[n] + b"\nendobj\n"
    xref, size = len(out), max(objs) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    out += b"".join(b"%010d 00000 n \n" % offsets[n] for n in range(1, size))
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)
    path = Path(path)
    path.write_bytes(bytes(out))
    return path


def declare_entries(path: str | Path, entries: int, cd_size: int | None = None) -> Path:
    """Rewrite a zip's end record (as zip64) so that it declares `entries` entries (and a central
    directory of `cd_size` bytes); the directory itself stays as it was."""
    path = Path(path)
    data = bytearray(path.read_bytes())
    eocd = data.rfind(b"PK\x05\x06")
    real_size, real_offset = struct.unpack("<II", data[eocd + 12 : eocd + 20])
    z64 = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries,
                      cd_size if cd_size is not None else real_size, real_offset)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, eocd, 1)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path.write_bytes(bytes(data[:eocd]) + z64 + locator + end)
    return path


@pytest.fixture(scope="module")
def campaign():
    return load_campaign()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    return {
        "md": make_bracket_markdown(folder / "brackets.md"),
        "docx": make_docx_bomb(folder / "bomb.docx"),
        "pdf": make_shared_stream_pdf(folder / "pages.pdf"),
    }


def test_the_hostile_documents_are_what_the_issue_describes(hostile):
    assert hostile["md"].read_bytes() == b"[" * 65536
    with zipfile.ZipFile(hostile["docx"]) as zf:
        xml = zf.getinfo("word/document.xml")
    assert xml.file_size > 63 << 20 and hostile["docx"].stat().st_size < 1 << 20
    assert hostile["pdf"].stat().st_size < 600_000
    assert hostile["pdf"].read_bytes().count(b"/Contents 4 0 R") == 3000


# --------------------------------------------------------------------------- item 1: Markdown


def test_markdown_of_brackets_gets_its_count(campaign, hostile):
    report = check(hostile["md"], "article", campaign, files_only=True)
    item = report.item("article.chars")
    assert (item.status, item.measured_text) == ("fail", "0字")  # a warning: "1200–3000字为宜"
    assert report.detected_type == "纯文本（UTF-8，0字）"


LINES = ["[", "![", "[^", "[](", "[a](", "![a](", "[x][", "<a", "<http://", "&a", "<!--", "|-", "- ", "> ", "(["]


def test_markdown_patterns_stay_linear():
    # Each of these lines once made a pattern rescan the rest of the line from every occurrence
    # (64 KB of "[" took 30-80 s); now a line is one pass. In a child process with a timeout, so that
    # a quadratic pattern fails the test instead of holding it (re.sub holds the GIL).
    code = (
        "import sys; from bot.checks import count_chars, strip_markdown\n"
        "for line in sys.argv[1:]:\n"
        "    text = '\\n'.join([line * (65536 // len(line))] * 4)\n"
        "    count_chars(strip_markdown(text))\n"
        "print('done')\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *LINES], capture_output=True, text=True, timeout=60,
                         cwd=REPO)
    assert out.stdout == "done\n", out.stderr


def test_markdown_results_are_kept():
    assert strip_markdown("见[链接](https://a.b/c_(d)) 与 ![图](x.png) 和 [引用][1]。") == "见链接 与   和 引用。"
    assert strip_markdown("<b>粗</b> &amp; <https://a.b/c> 注[^1]") == " 粗    https://a.b/c 注 "
    assert strip_markdown("正文<!-- 注释\n跨行 -->后文") == "正文 后文"
    assert strip_markdown("正文<!-- 没有结尾\n后面是正文") == "正文<!-- 没有结尾\n后面是正文"
    # an unbalanced bracket stays text; the link after it is still a link (as CommonMark reads it)
    assert strip_markdown("[甲[乙](u)") == "[甲乙"


def test_long_markdown_is_counted_up_to_the_cap(campaign, tmp_path):
    # 16,384 Han characters each behind a "[" (64 KB): counted, over the deep article's maximum.
    path = make_bracket_markdown(tmp_path / "long.md", unit="[科")
    report = check(path, "deep_article", campaign, files_only=True)
    item = report.item("deep_article.chars_max")
    assert (item.status, item.measured) == ("fail", 16384) and not report.ok


def test_text_over_the_cap_is_more_than(campaign, tmp_path):
    path = tmp_path / "huge.txt"
    path.write_text(("科" * 1000 + "\n") * 400, encoding="utf-8")
    report = check(path, "article", campaign, files_only=True)
    item = report.item("article.chars")
    assert item.measured_text == "超过200000字" and item.status == "fail"
    assert report.detected_type == "纯文本（UTF-8，超过200000字）"


# --------------------------------------------------------------------------- item 2: .docx and PDF


def test_docx_bomb_is_refused_before_parsing(campaign, hostile, monkeypatch):
    import docx

    def never(*args, **kwargs):
        raise AssertionError("python-docx must not open a document over the limits")

    monkeypatch.setattr(docx, "Document", never)
    report = check(hostile["docx"], "article", campaign, files_only=True)
    assert [i.rule_id for i in report.errors] == ["file.too_complex"]
    item = report.errors[0]
    assert item.title == TOO_COMPLEX
    assert item.measured_text == "需要解析64.0 MB的文档内容（上限20.0 MB）"
    assert "文档内容不超过20.0 MB" in item.expected and not report.ok


def test_docx_over_the_ratio_is_too_complex(campaign, tmp_path):
    # 2 MiB of one repeated run: small enough, but 1000:1 is no Word document.
    run = "<w:r><w:t>科普</w:t></w:r>"
    xml = ('<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p>'
           + run * ((2 << 20) // len(run.encode())) + "</w:p></w:body></w:document>")
    path = make_zip(tmp_path / "ratio.docx",
                    {"[Content_Types].xml": _CONTENT_TYPES, "_rels/.rels": _RELS, "word/document.xml": xml})
    report = check(path, "article", campaign, files_only=True)
    item = report.item("file.too_complex")
    assert "“word/document.xml”的压缩比达到" in item.measured_text and "上限100倍" in item.measured_text


def test_ordinary_docx_is_still_counted(campaign, tmp_path):
    report = check(make_docx(tmp_path / "a.docx", 1500), "article", campaign, files_only=True)
    assert report.item("article.chars").measured == 1500 and report.ok


def test_pdf_of_many_pages_is_too_complex(campaign, hostile):
    report = check(hostile["pdf"], "article", campaign, files_only=True)
    assert [i.rule_id for i in report.errors] == ["file.too_complex"]
    assert report.errors[0].measured_text == "需要读取3000页（上限500页）"


def test_pdf_over_the_operator_limit_is_too_complex(campaign, tmp_path, monkeypatch):
    from bot.checks import core
    from bot.checks.text import PdfLimits

    monkeypatch.setattr(core, "PDF_LIMITS", PdfLimits(max_operators=20_000))
    report = check(make_shared_stream_pdf(tmp_path / "ops.pdf", pages=40), "article", campaign, files_only=True)
    assert report.item("file.too_complex").measured_text == "需要执行超过20000条排版指令"


def test_pdf_text_stops_past_the_cap(campaign, tmp_path):
    words = b" ".join([b"word"] * 10)  # 20,000 words a page: past 200,000 on page 11 of 100
    path = make_shared_stream_pdf(tmp_path / "long.pdf", pages=100, ops=2000, text=words)
    report = check(path, "article", campaign, files_only=True)
    item = report.item("article.chars")
    assert item.measured_text == "超过200000字" and item.measured < 300_000
    assert report.detected_type == "PDF 文档（超过200000字）"
    short = make_shared_stream_pdf(tmp_path / "short.pdf", pages=2, ops=750, text=b"word")
    assert check(short, "article", campaign, files_only=True).item("article.chars").measured == 1500


# --------------------------------------------------------------------------- the zip end record


@pytest.fixture
def directory_reads(monkeypatch):
    """How many times a zip's central directory was read (zipfile parses it in _RealGetContents)."""
    reads = []
    real = zipfile.ZipFile._RealGetContents

    def spy(self):
        reads.append(self.filename)
        return real(self)

    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", spy)
    return reads


def test_zip_declaring_millions_of_entries_is_refused_unread(campaign, tmp_path, directory_reads):
    path = declare_entries(make_zip(tmp_path / "h5.zip", {f"p{i}.html": "x" for i in range(6)}), 10_000_000)
    assert end_record(path).entries == 10_000_000
    report = check(path, "h5", campaign, {"pages": 6}, files_only=True)
    assert "包含10000000个条目（上限5000个）" in report.item("file.zip_bomb").hint
    assert directory_reads == []


def test_docx_declaring_millions_of_entries_is_too_complex_unread(campaign, tmp_path, directory_reads):
    path = declare_entries(make_docx(tmp_path / "many.docx", 1500), 10_000_000)
    directory_reads.clear()  # python-docx read its own template to make the file
    report = check(path, "article", campaign, files_only=True)
    assert report.item("file.too_complex").measured_text == "需要读取10000000个部件（上限10000个）"
    assert directory_reads == []


def test_zip_declaring_a_huge_directory_is_refused_unread(tmp_path, directory_reads):
    path = declare_entries(make_zip(tmp_path / "d.zip", {"index.html": "x"}), 1, cd_size=3 << 30)
    facts = inspect_zip(path, ZipLimits(1 << 30, 5000, 100))
    assert facts.problems == [("file.zip_bomb", {"reason": "的目录有3.0 GB（上限4.9 MB）"})]
    assert directory_reads == []


def test_honest_zip_is_read_once_checked(tmp_path):
    path = make_zip(tmp_path / "ok.zip", {"index.html": "x"})
    facts = inspect_zip(path, DOCX_LIMITS)
    assert facts.entries == 1 and facts.problems == []


# --------------------------------------------------------------------------- kepubot check


def _limit_memory() -> None:  # the old code took 4.4 GB on the .docx: keep a failing run small
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def kepubot_check(path: Path, category: str = "article") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", "check", str(path), "--category", category],
        capture_output=True, text=True, timeout=60, cwd=REPO, preexec_fn=_limit_memory,
    )


@pytest.mark.parametrize(
    ("kind", "measured"), [("docx", "需要解析64.0 MB的文档内容"), ("pdf", "需要读取3000页（上限500页）")]
)
def test_kepubot_check_gives_a_verdict_on_hostile_documents(hostile, kind, measured):
    out = kepubot_check(hostile[kind])
    assert out.returncode == 1, out.stderr
    assert TOO_COMPLEX in out.stdout and measured in out.stdout
    assert f"❌ {msg.SUMMARY_FAIL}" in out.stdout


def test_kepubot_check_gives_a_verdict_on_the_bracket_line(hostile, tmp_path):
    out = kepubot_check(hostile["md"])
    assert out.returncode == 0, out.stderr  # 0字 is a warning for an article: "1200–3000字为宜"
    assert "0字" in out.stdout and "1200–3000字" in out.stdout
    deep = kepubot_check(make_bracket_markdown(tmp_path / "deep.md", unit="[科"), "deep_article")
    assert deep.returncode == 1 and "16384字" in deep.stdout


def test_kepubot_check_budget_options(tmp_path):
    path = make_bracket_markdown(tmp_path / "x.md", size=10)
    out = subprocess.run(
        [sys.executable, "-m", "bot", "check", str(path), "-c", "article", "--seconds", "0"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )
    assert out.returncode == 2 and "--seconds" in out.stderr
