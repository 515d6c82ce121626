"""A lesson's Markdown as Telegram HTML, in pages that fit a message. Pure functions, no aiogram.

    pages = paginate(lesson.body)       # ["<b>一、选题</b>\n\n• …", …], each under PAGE_LIMIT characters

Telegram's HTML knows b, i, s, u, a, code, pre and blockquote only, so Markdown is mapped onto them:
headings become bold lines, list items lines starting "• " (nested "◦ ") or "1. ", a table one line
per row. Text is escaped (&, <, >, quotes); links keep only http(s) and tg:// addresses. Pages are cut
between blocks (paragraphs, lists, …); a single block too long for a page is cut at a sentence end
(else at a line end, else anywhere in its text, never inside a tag or an entity), its open tags
closed at the cut and opened again on the next page, so every page is balanced HTML.
"""

from __future__ import annotations

import re
from functools import lru_cache
from html import escape

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

__all__ = ["PAGE_LIMIT", "blocks", "paginate", "split_block", "to_html"]

# A page's HTML at most this long: with the page's header (title, page n/m) it stays well under
# Telegram's 4096 characters, which count the text after the tags are taken out.
PAGE_LIMIT = 3500
SAFE_LINK = re.compile(r"^(https?://|tg://)", re.IGNORECASE)
LANGUAGE = re.compile(r"^[\w+#.-]{1,32}$")
# a line break inside a paragraph: nothing between two CJK characters, a space elsewhere
SOFT = "\x00"
CJK = r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]"
_SOFT_CJK = re.compile(rf"(?<={CJK}){SOFT}(?={CJK})")

_md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def _text(value: str) -> str:
    return escape(value, quote=True)


# ---------------------------------------------------------------- Markdown -> blocks of HTML


def _inline(node: SyntaxTreeNode) -> str:
    parts: list[str] = []
    for child in node.children:
        kind = child.type
        if kind == "text":
            parts.append(_text(child.content))
        elif kind == "softbreak":
            parts.append(SOFT)
        elif kind == "hardbreak":
            parts.append("\n")
        elif kind == "strong":
            parts.append(f"<b>{_inline(child)}</b>")
        elif kind == "em":
            parts.append(f"<i>{_inline(child)}</i>")
        elif kind == "s":
            parts.append(f"<s>{_inline(child)}</s>")
        elif kind == "code_inline":
            parts.append(f"<code>{_text(child.content)}</code>")
        elif kind == "link":
            inner = _inline(child)
            href = str(child.attrs.get("href", ""))
            parts.append(f'<a href="{_text(href)}">{inner}</a>' if SAFE_LINK.match(href) and inner else inner)
        elif kind == "image":
            src = str(child.attrs.get("src", ""))
            alt = _text(child.content or "图片")
            parts.append(f'🖼 <a href="{_text(src)}">{alt}</a>' if SAFE_LINK.match(src) else f"🖼 {alt}")
        elif kind in ("html_inline", "html_block"):
            parts.append(_text(child.content))
        elif child.children:
            parts.append(_inline(child))
        else:
            parts.append(_text(child.content or ""))
    return "".join(parts)


def _finish(html: str) -> str:
    return _SOFT_CJK.sub("", html).replace(SOFT, " ")


def _block(node: SyntaxTreeNode, indent: str = "") -> list[str]:
    """One Markdown block as lines of HTML (a paragraph is one string, a list one per item)."""
    kind = node.type
    if kind == "paragraph":
        return [indent + _inline(node.children[0])] if node.children else []
    if kind == "heading":
        text = _inline(node.children[0]) if node.children else ""
        return [f"{indent}<b>{text}</b>"] if text else []
    if kind in ("bullet_list", "ordered_list"):
        return _list(node, indent)
    if kind in ("fence", "code_block"):
        code = _text(node.content.rstrip("\n"))
        if not code:
            return []
        language = (node.info or "").split()[0] if kind == "fence" and node.info else ""
        if LANGUAGE.match(language):
            return [f'<pre><code class="language-{_text(language)}">{code}</code></pre>']
        return [f"<pre>{code}</pre>"]
    if kind == "blockquote":
        inner = "\n".join(line for child in node.children for line in _block(child))
        return [f"<blockquote>{inner}</blockquote>"] if inner else []
    if kind == "hr":
        return ["——————"]
    if kind == "html_block":
        return [indent + _text(node.content.strip())] if node.content.strip() else []
    if kind == "table":
        return _table(node)
    if kind == "inline":
        return [indent + _inline(node)]
    return [line for child in node.children for line in _block(child, indent)]


def _list(node: SyntaxTreeNode, indent: str) -> list[str]:
    lines: list[str] = []
    number = int(node.attrs.get("start", 1) or 1) if node.type == "ordered_list" else 0
    bullet = "•" if not indent else "◦"
    for item in node.children:
        mark = f"{number}." if node.type == "ordered_list" else bullet
        number += 1
        first = True
        for child in item.children:
            if child.type in ("bullet_list", "ordered_list"):
                lines += _list(child, indent + "    ")
                continue
            for line in _block(child, ""):
                lines.append(f"{indent}{mark} {line}" if first else f"{indent}    {line}")
                first = False
        if first:  # an empty item
            lines.append(f"{indent}{mark}")
    return ["\n".join(lines)] if lines else []


def _table(node: SyntaxTreeNode) -> list[str]:
    rows = []
    for section in node.children:
        for row in section.children:
            cells = " | ".join(_inline(cell.children[0]) if cell.children else "" for cell in row.children)
            rows.append(f"<b>{cells}</b>" if section.type == "thead" else cells)
    return ["\n".join(rows)] if rows else []


def _blocks(markdown: str) -> list[tuple[str, str]]:
    root = SyntaxTreeNode(_md.parse(markdown))
    out: list[tuple[str, str]] = []
    for child in root.children:
        out += [(child.type, _finish(b)) for b in _block(child) if b.strip()]
    return out


def blocks(markdown: str) -> list[str]:
    """The Markdown's top-level blocks as Telegram HTML, each balanced on its own."""
    return [html for _, html in _blocks(markdown)]


def to_html(markdown: str) -> str:
    """The whole Markdown as one Telegram HTML text (blocks separated by a blank line)."""
    return "\n\n".join(blocks(markdown))


# ---------------------------------------------------------------- cutting into pages

# the pieces of HTML a cut may fall between: a tag, an entity, or one character
_UNIT = re.compile(r"<[^>]*>|&#?\w+;|[^<&]|[<&]", re.DOTALL)
_TAG = re.compile(r"^<(/?)([a-zA-Z][a-zA-Z0-9-]*)")
SENTENCE_ENDS = frozenset("。！？；!?;…")
LINE_END = "\n"


def split_block(html: str, limit: int = PAGE_LIMIT) -> list[str]:
    """A block of balanced HTML longer than `limit`, cut into balanced pieces of at most `limit`
    characters: at a sentence end where possible, else at a line end, else anywhere between two
    characters. The tags open at a cut are closed before it and opened again after it."""
    if len(html) <= limit:
        return [html]
    units = _UNIT.findall(html)
    # at every boundary i (before units[i]): its offset, the tags open there, and how good a cut it is
    offsets, stacks, quality = [0], [()], [0]
    stack: tuple[str, ...] = ()
    pos, last_char = 0, ""
    for i, unit in enumerate(units):
        pos += len(unit)
        tag = _TAG.match(unit)
        nxt = units[i + 1] if i + 1 < len(units) else ""
        closes_next = nxt.startswith("</")
        if tag:
            closing, name = tag.group(1), tag.group(2).lower()
            if closing:
                stack = stack[:-1] if stack and _name(stack[-1]) == name else stack
                # after "。</b>": as good as after the "。" itself
                quality.append(2 if last_char in SENTENCE_ENDS and not closes_next else -1)
            else:
                stack = (*stack, unit)
                quality.append(-1)  # an empty piece of formatting would be left before the cut
        else:
            last_char = unit
            if unit in SENTENCE_ENDS:
                quality.append(2 if nxt not in SENTENCE_ENDS and not closes_next else 0)
            else:
                quality.append(1 if unit == LINE_END else 0)
        offsets.append(pos)
        stacks.append(stack)

    def size(start: int, end: int) -> int:
        opened = sum(len(t) for t in stacks[start])
        closed = sum(len(_name(t)) + 3 for t in stacks[end])
        return opened + offsets[end] - offsets[start] + closed

    pieces: list[str] = []
    start, last = 0, len(units)
    while start < last:
        if size(start, last) <= limit:
            end = last
        else:
            best = None
            for i in range(start + 1, last):
                if offsets[i] - offsets[start] > limit:
                    break
                if size(start, i) <= limit and (best is None or quality[i] >= quality[best]):
                    best = i
            if best is None:
                raise ValueError(f"a piece of the lesson does not fit {limit} characters (tags too long)")
            end = best
        body = "".join(units[start:end])
        piece = "".join(stacks[start]) + body + "".join(f"</{_name(t)}>" for t in reversed(stacks[end]))
        if _visible(piece):
            pieces.append(piece.strip("\n "))
        start = end
        while start < last and units[start] in (" ", "\n"):  # the next piece starts with its text
            start += 1
    return pieces


def _name(open_tag: str) -> str:
    match = _TAG.match(open_tag)
    return match.group(2).lower() if match else ""


def _visible(html: str) -> bool:
    return bool(re.sub(r"<[^>]*>", "", html).strip())


def paginate(markdown: str, limit: int = PAGE_LIMIT, *, title: str | None = None) -> list[str]:
    """The lesson's pages: its blocks packed in order, a blank line between them, each page at most
    `limit` characters of HTML; a block longer than a page is cut (split_block). A first heading that
    repeats `title` is left out (each page's header shows the title)."""
    return list(_paginate(markdown, limit, title))


@lru_cache(maxsize=64)
def _paginate(markdown: str, limit: int, title: str | None) -> tuple[str, ...]:
    pages: list[str] = []
    page: list[str] = []  # the blocks of the page being filled
    heading_last = False  # its last block is a heading: it goes with the block after it
    found = _blocks(markdown)
    if title and found and found[0][0] == "heading" and found[0][1] == f"<b>{_text(title.strip())}</b>":
        found = found[1:]
    for kind, block in found:
        for piece in split_block(block, limit):
            if len("\n\n".join([*page, piece])) > limit:
                carried = [page.pop()] if heading_last and len(page) > 1 else []
                if carried and len("\n\n".join([*carried, piece])) > limit:
                    page, carried = [*page, *carried], []
                pages.append("\n\n".join(page))
                page = carried
            page.append(piece)
            heading_last = kind == "heading"
    if page or not pages:
        pages.append("\n\n".join(page))
    return tuple(pages)
