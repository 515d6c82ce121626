"""Telegram-style HTML parsing (text + entities) and a small terminal renderer.

Offsets and lengths of entities are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

from html.parser import HTMLParser

_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}


class EntityParseError(ValueError):
    """Raised with Telegram's wording after "Bad Request: can't parse entities: "."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _Parser(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.lines = source.splitlines(keepends=True)
        self.parts: list[str] = []
        self.pos = 0  # utf-16 offset in output
        self.stack: list[tuple[str, dict | None, int]] = []
        self.entities: list[dict] = []

    def _byte_offset(self) -> int:
        line, col = self.getpos()
        prefix = "".join(self.lines[: line - 1]) + (self.lines[line - 1][:col] if self.lines else "")
        return len(prefix.encode("utf-8"))

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self.pos += utf16_len(data)

    def handle_startendtag(self, tag, attrs):
        raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}')

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        entity: dict | None
        if tag in _SIMPLE_TAGS:
            entity = {"type": _SIMPLE_TAGS[tag]}
            if tag == "blockquote" and "expandable" in a:
                entity["type"] = "expandable_blockquote"
            if tag == "code" and a.get("class", "").startswith("language-"):
                entity["_language"] = a["class"][len("language-") :]
        elif tag == "span" and a.get("class") == "tg-spoiler":
            entity = {"type": "spoiler"}
        elif tag == "a":
            href = a.get("href", "")
            if href.startswith("tg://user?id="):
                entity = {"type": "text_mention", "user": {"id": int(href.split("=", 1)[1] or 0),
                                                           "is_bot": False, "first_name": ""}}
            else:
                entity = {"type": "text_link", "url": href} if href else None
        elif tag == "tg-emoji":
            entity = {"type": "custom_emoji", "custom_emoji_id": a.get("emoji-id", "")}
        else:
            raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {self._byte_offset()}')
        self.stack.append((tag, entity, self.pos))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack:
            raise EntityParseError(f'Unexpected end tag at byte offset {self._byte_offset()}')
        open_tag, entity, start = self.stack.pop()
        if open_tag != tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {self._byte_offset()}, expected "</{open_tag}>", found "</{tag}>"'
            )
        if entity is None or self.pos == start:
            return
        if entity["type"] == "code" and self.stack and self.stack[-1][0] == "pre":
            # <pre><code class="language-x"> is one pre entity with a language
            lang = entity.get("_language")
            if lang:
                self.stack[-1][1]["language"] = lang  # type: ignore[index]
            return
        entity.pop("_language", None)
        entity["offset"] = start
        entity["length"] = self.pos - start
        self.entities.append(entity)


def parse_html(source: str) -> tuple[str, list[dict]]:
    """Turn Telegram HTML into (text, entities); raise EntityParseError like Telegram does."""
    p = _Parser(source)
    p.feed(source)
    p.close()
    if p.stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{p.stack[-1][0]}"')
    entities = sorted(p.entities, key=lambda e: (e["offset"], -e["length"]))
    return "".join(p.parts), entities


def strip_text(text: str, entities: list[dict]) -> tuple[str, list[dict]]:
    """Trim surrounding whitespace as Telegram does, shifting and clipping entities."""
    lead = len(text) - len(text.lstrip())
    stripped = text.strip()
    if not entities:
        return stripped, []
    shift = utf16_len(text[:lead])
    total = utf16_len(stripped)
    out = []
    for e in entities:
        start = max(e["offset"] - shift, 0)
        end = min(e["offset"] + e["length"] - shift, total)
        if end > start:
            out.append({**e, "offset": start, "length": end - start})
    return stripped, out


_ANSI = {
    "bold": ("\033[1m", "\033[22m"),
    "italic": ("\033[3m", "\033[23m"),
    "underline": ("\033[4m", "\033[24m"),
    "strikethrough": ("\033[9m", "\033[29m"),
    "code": ("\033[36m", "\033[39m"),
    "pre": ("\033[36m", "\033[39m"),
    "spoiler": ("\033[2m", "\033[22m"),
    "text_link": ("\033[4m", "\033[24m"),
}


def render_terminal(text: str, entities: list[dict] | None, ansi: bool = True) -> str:
    """Render text with entities for a terminal: ANSI styles, links shown as 'text (url)'."""
    if not entities:
        return text
    units = text.encode("utf-16-le")
    inserts: dict[int, list[str]] = {}
    for e in entities:
        start, end = e["offset"], e["offset"] + e["length"]
        on, off = _ANSI.get(e["type"], ("", ""))
        suffix = f" ({e['url']})" if e["type"] == "text_link" else ""
        if ansi and on:
            inserts.setdefault(start, []).append(on)
        if ansi and off:
            inserts.setdefault(end, []).insert(0, off)
        if suffix:
            inserts.setdefault(end, []).append(suffix)
    out: list[str] = []
    prev = 0
    for cut in sorted(inserts):
        out.append(units[prev * 2 : cut * 2].decode("utf-16-le", "replace"))
        out.extend(inserts[cut])
        prev = cut
    out.append(units[prev * 2 :].decode("utf-16-le", "replace"))
    return "".join(out)
