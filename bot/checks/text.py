"""字数 of articles: reading .docx / .txt / .md / .pdf and counting the way Chinese editors count.

How we count (`count_chars`), following Word's 字数 (“中文字符和朝鲜语单词” + “非中文单词”), which
is what editors and the platform's back office quote:

* every Han character counts 1 (CJK Unified Ideographs and all extensions, compatibility
  ideographs, radicals, 〇 々);
* every full-width / Chinese punctuation mark counts 1: the CJK Symbols and Punctuation block
  (，。、；：？！「」『』【】《》〈〉…), the full-width forms block (incl. full-width letters and
  digits, ＡＢ１２), vertical and small forms, and the marks Chinese text uses from general
  punctuation: “ ” ‘ ’ … — ·  (so “……” and “——” count 2, as in Word);
* kana and hangul count 1 per character;
* each run of other letters/digits (Latin, Greek, Cyrillic …) counts 1 as a word; ' . - _
  between two letters/digits keep the run together: "DNA", "COVID-19", "3.14", "don't" are one word
  each;
* whitespace (incl. the ideographic space U+3000), ASCII punctuation standing alone, emoji and
  control characters count 0.

Markdown syntax is not text: `strip_markdown` removes front matter, heading/list/quote markers, link
targets, images, HTML tags, code fences, footnote markers and table rules before counting.
.docx: the body's paragraphs, tables (incl. nested) and text boxes, in document order; headers,
footers, footnotes and comments are not counted (Word's default minus notes).
.txt/.md: UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030.
.pdf: text extracted with pypdf when it is installed (it is optional), page by page, within PdfLimits
(pages, operators, a page's content, seconds): a crafted file raises TooComplex instead of running for
minutes. Long texts are counted with count_chars_upto, which stops once the count passes a cap.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PdfLimits",
    "TooComplex",
    "count_chars",
    "count_chars_upto",
    "decode_text",
    "markdown_lines",
    "pdf_pages_text",
    "read_docx_text",
    "read_pdf_text",
    "strip_markdown",
    "text_chunks",
]

_EAST_ASIAN = (
    "\u2e80-\u2fdf"  # CJK radicals, Kangxi radicals
    "\u3001-\u303f"  # CJK symbols and punctuation (not U+3000, the ideographic space)
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3100-\u312f\u31a0-\u31bf"  # bopomofo
    "\u31c0-\u31ef"  # CJK strokes
    "\u31f0-\u31ff"  # katakana extensions
    "\u3200-\u33ff"  # enclosed CJK, CJK compatibility
    "\u3400-\u4dbf"  # extension A
    "\u4e00-\u9fff"  # unified ideographs
    "\uac00-\ud7af"  # hangul syllables
    "\uf900-\ufaff"  # compatibility ideographs
    "\ufe10-\ufe1f"  # vertical forms
    "\ufe30-\ufe6f"  # CJK compatibility forms, small form variants
    "\uff01-\uff60\uffe0-\uffe6"  # full-width forms
    "\U00020000-\U0003134f"  # extensions B-H, compatibility supplement
    "\u2018\u2019\u201c\u201d\u2026\u2014\u00b7"  # ‘ ’ “ ” … — ·
)
_EAST_ASIAN_RE = re.compile(f"[{_EAST_ASIAN}]")
_WORD_RE = re.compile(r"[^\W_]+(?:['.\-_][^\W_]+)*")


def count_chars(text: str) -> int:
    """字数 of plain text: East Asian characters one each, other words one each (see module doc)."""
    east_asian = len(_EAST_ASIAN_RE.findall(text))
    rest = _EAST_ASIAN_RE.sub(" ", text)
    return east_asian + len(_WORD_RE.findall(rest))


# --------------------------------------------------------------------------- markdown

# Every inline pattern runs in linear time: a bracket's text stops at the next bracket, a link target
# at the next unbalanced parenthesis, a tag at the next "<" or ">", so no two attempts scan the same
# stretch of a line (a line of 64 KB of "[" took 82 s with `[^\]]*`, which scans to the line's end
# from every "[").
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_LINE_DROPS = [
    re.compile(r"^\s*(```|~~~).*$"),  # code fence lines (with their info string)
    re.compile(r"^\s*\[[^\]^][^\]]*\]:\s*\S+.*$"),  # reference link definitions
    re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$"),  # horizontal rules
    re.compile(r"^\s*=+\s*$"),  # setext heading underline
    re.compile(r"^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)+\|?\s*$"),  # table rule
]
_TEXT = r"[^\[\]]*"  # a bracket's text: up to the next bracket (nested brackets are not a link)
_TARGET = r"\((?:[^()]|\([^()]*\))*\)"  # a link target, one level of parentheses inside (wiki URLs)
_LABEL = r"\[[^\[\]]*\]"
_INLINE_SUBS = [
    (re.compile(rf"!\[{_TEXT}\]{_TARGET}"), " "),  # images (alt text is not body text)
    (re.compile(rf"!\[{_TEXT}\]{_LABEL}"), " "),
    (re.compile(r"\[\^[^\[\]]+\]:?"), " "),  # footnote markers and definition labels
    (re.compile(rf"\[({_TEXT})\]{_TARGET}"), r"\1"),  # links → their text
    (re.compile(rf"\[({_TEXT})\]{_LABEL}"), r"\1"),
    (re.compile(r"<(https?://[^<>\s]+)>"), r"\1"),  # autolinks stay as text
    (re.compile(r"</?[A-Za-z][^<>]*>"), " "),  # HTML tags
    (re.compile(r"&(#\d{1,8}|#x[0-9a-fA-F]{1,8}|[A-Za-z]{1,32});"), " "),  # entities
]
_LINE_PREFIX = re.compile(
    r"^\s*(?:#{1,6}\s+|>\s?)*(?:[-*+]\s+(?:\[[ xX]\]\s+)?|\d{1,9}[.)]\s+)?"  # heading, quote, list
)
_SETEXT_DASH = re.compile(r"^\s*-{2,}\s*$")


def _drop_html_comments(text: str) -> str:
    """Text without <!-- … --> (which may span lines); an unclosed "<!--" stays text. Linear: each
    search starts where the last one stopped (the regex `<!--.*?-->` rescanned the rest of the text
    from every unclosed "<!--")."""
    parts: list[str] = []
    at = 0
    while (start := text.find("<!--", at)) >= 0:
        end = text.find("-->", start + 4)
        if end < 0:  # no comment closes after here: none can start later either
            break
        parts += [text[at:start], " "]
        at = end + 3
    parts.append(text[at:])
    return "".join(parts)


def markdown_lines(text: str) -> Iterator[str]:
    """The lines a reader sees in rendered Markdown, one by one (see strip_markdown)."""
    text = _FRONT_MATTER.sub("", text.replace("\r\n", "\n"), count=1)
    text = _drop_html_comments(text)
    for line in text.split("\n"):
        if any(p.match(line) for p in _LINE_DROPS) or _SETEXT_DASH.match(line):
            continue
        line = _LINE_PREFIX.sub("", line, count=1)
        for pattern, repl in _INLINE_SUBS:
            line = pattern.sub(repl, line)
        yield line


def strip_markdown(text: str) -> str:
    """The text a reader sees in rendered Markdown (close enough for counting 字). Linear time."""
    return "\n".join(markdown_lines(text))


# --------------------------------------------------------------------------- counting with a cap

CHUNK_CHARS = 1 << 16


def text_chunks(lines: Iterable[str], size: int = CHUNK_CHARS) -> Iterator[str]:
    """Lines joined into pieces of about `size` characters, split only between lines (a word never
    spans a newline, so counting the pieces one by one gives the count of the whole)."""
    batch: list[str] = []
    length = 0
    for line in lines:
        batch.append(line)
        length += len(line) + 1
        if length >= size:
            yield "\n".join(batch)
            batch, length = [], 0
    if batch:
        yield "\n".join(batch)


def count_chars_upto(pieces: Iterable[str], cap: int) -> tuple[int, bool]:
    """(字数, over): the pieces' 字 counted until the total passes `cap`; then (the count so far,
    True) and the rest is neither read nor counted (a PDF's later pages are never extracted)."""
    total = 0
    for piece in pieces:
        total += count_chars(piece)
        if total > cap:
            return total, True
    return total, False


# --------------------------------------------------------------------------- plain text


def decode_text(data: bytes) -> tuple[str, str] | None:
    """(text, encoding) when `data` reads as text: UTF-8 (BOM optional), UTF-16 with BOM, GB18030.
    None for binary data (NUL bytes, undecodable, or many control characters)."""
    if data.startswith(b"\xef\xbb\xbf"):
        candidates = [("utf-8-sig", "UTF-8")]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = [("utf-16", "UTF-16")]
    else:
        if b"\x00" in data:
            return None
        candidates = [("utf-8", "UTF-8"), ("gb18030", "GB18030")]
    for codec, label in candidates:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        if _looks_like_text(text):
            return text, label
    return None


def _looks_like_text(text: str) -> bool:
    if not text:
        return True
    sample = text[:65536]
    controls = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r\f\v") or ch == "\x7f")
    return controls <= len(sample) // 100


# --------------------------------------------------------------------------- docx

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_BREAKS = {_W + "tab", _W + "br", _W + "cr"}


def read_docx_text(path: str | Path) -> str:
    """The body text of a .docx (python-docx, imported here: it is slow to import).

    Paragraphs are separated by newlines; tables, nested tables and text boxes are included once
    (the VML fallback copy of a text box is skipped). Raises whatever python-docx raises for a file
    that is not a Word document."""
    import docx  # lazy: ~0.1 s of lxml and friends

    body = docx.Document(str(path)).element.body
    parts: list[str] = []
    stack = [body]
    while stack:  # depth-first, document order
        el = stack.pop()
        tag = el.tag
        if tag == _MC_FALLBACK:
            continue
        if tag == _W + "p":
            parts.append("\n")
        elif tag == _W + "t":
            parts.append(el.text or "")
        elif tag in _BREAKS:
            parts.append(" ")
        stack.extend(reversed(el))
    return "".join(parts)


# --------------------------------------------------------------------------- pdf


class PdfSupportMissing(RuntimeError):
    """pypdf is not installed here."""


class TooComplex(Exception):
    """A document over one of the library's limits: checking it would take too long or too much
    memory. `key` names the limit (a [limit_reasons] text in content/checks.toml), `fields` fill it."""

    def __init__(self, key: str, **fields: object) -> None:
        super().__init__(key, fields)
        self.key = key
        self.fields = fields


@dataclass(frozen=True)
class PdfLimits:
    """How much of a PDF we read. An article is a few pages: these are far beyond any real one and
    stop a crafted file (3,000 pages sharing one content stream took 264 s) within seconds."""

    max_pages: int = 500
    max_operators: int = 500_000  # content-stream operators over the whole file, forms included
    max_page_content_bytes: int = 8 << 20  # a page's decoded content streams
    seconds: float = 8.0  # wall clock for the extraction


PDF_LIMITS = PdfLimits()


def _open_pdf(path: str | Path):
    try:
        import pypdf  # lazy and optional
    except ImportError as exc:
        raise PdfSupportMissing("pypdf is not installed") from exc
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    reader = pypdf.PdfReader(str(path))
    if reader.is_encrypted and not reader.decrypt(""):
        raise ValueError("PDF 设置了打开密码")
    return reader


def _declared_page_count(reader) -> int | None:
    try:
        count = reader.trailer["/Root"]["/Pages"]["/Count"]
        return int(count) if int(count) >= 0 else None
    except Exception:  # noqa: BLE001 - a damaged tree: count the pages instead
        return None


def _content_bytes(page) -> int:
    contents = page.get("/Contents")
    if contents is None:
        return 0
    contents = contents.get_object()
    streams = contents if isinstance(contents, list) else [contents]
    return sum(len(s.get_object().get_data()) for s in streams)


def pdf_pages_text(path: str | Path, limits: PdfLimits = PDF_LIMITS) -> Iterator[str]:
    """Each page's text via pypdf, page by page (stop iterating and the later pages are never read).
    Raises TooComplex past a limit (pages, a page's content, operators, time), PdfSupportMissing
    when pypdf is not installed, and pypdf's own errors for a damaged or password-protected file."""
    reader = _open_pdf(path)
    declared = _declared_page_count(reader)
    if declared is not None and declared > limits.max_pages:
        raise TooComplex("pdf_pages", pages=declared, limit=limits.max_pages)
    pages = reader.pages
    if len(pages) > limits.max_pages:
        raise TooComplex("pdf_pages", pages=len(pages), limit=limits.max_pages)
    deadline = time.monotonic() + limits.seconds
    operators = 0
    stopped: list[TooComplex] = []  # pypdf swallows errors inside a form XObject: raise it again after

    def count_operator(*_args: object) -> None:
        nonlocal operators
        operators += 1
        if operators > limits.max_operators:
            stopped.append(TooComplex("pdf_operators", limit=limits.max_operators))
        elif operators & 1023 == 0 and time.monotonic() > deadline:
            stopped.append(TooComplex("pdf_time", seconds=f"{limits.seconds:g}"))
        if stopped:
            raise stopped[0]

    for page in pages:
        if time.monotonic() > deadline:
            raise TooComplex("pdf_time", seconds=f"{limits.seconds:g}")
        size = _content_bytes(page)
        if size > limits.max_page_content_bytes:
            raise TooComplex("pdf_page_content", size=size, limit=limits.max_page_content_bytes)
        text = page.extract_text(visitor_operand_before=count_operator) or ""
        if stopped:
            raise stopped[0]
        yield text


def read_pdf_text(path: str | Path, limits: PdfLimits = PDF_LIMITS) -> str:
    """All pages' text (within `limits`; see pdf_pages_text)."""
    return "\n".join(pdf_pages_text(path, limits))
