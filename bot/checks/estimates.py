"""Estimates from inside a package, for declared counts the notice asks for: an H5's pages, a game's
levels. They are never the rule (the creator's declared number is); they are shown next to it and
give a warning when the package seems to hold fewer than declared, or, without a declared number,
fewer than the rule's minimum. Each estimate is a dict stored in the report's metrics under
"estimates" → metric name, so a stored report can be judged again without the file (rejudge).

H5 pages (metric "pages", zip):
  * html_files: the .html/.htm files in the zip (macOS "__MACOSX/" and "._" files left out);
  * sections: in the entry page (the shallowest index.html/index.htm, else the shallowest HTML
    file; at most ENTRY_MAX_BYTES read), elements marking one page or slide: a class token
    "swiper-slide", "slide", "page" or "section", or a numbered class or id such as "page3",
    "slide-2", "section_4". Each such family is counted on its own and the largest count is taken
    (never their sum, so a "page" holding a "section" counts once). Script and style contents and
    comments are not read.
  The estimate is the larger of the two ("约" in the report: pages built by script are not seen).

Game levels (metric "levels", zip or apk): the first manifest found among MANIFEST_NAMES (in that
order of names, the shallowest path first; at most MANIFEST_MAX_BYTES) that says a count:
  * a JSON list at the top of levels.json: its entries;
  * a JSON object with "levels": a list (its entries), an object (its keys) or a whole number;
  * a JSON object with one of LEVEL_COUNT_KEYS holding a whole number.
  No manifest, or none saying a count: no estimate (nothing shown).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["ENTRY_MAX_BYTES", "LEVEL_COUNT_KEYS", "MANIFEST_NAMES", "estimate_levels", "estimate_pages"]

ENTRY_MAX_BYTES = 2 << 20
MANIFEST_NAMES = ("levels.json", "game.json", "manifest.json")
MANIFEST_MAX_BYTES = 1 << 20
LEVEL_COUNT_KEYS = ("level_count", "levelCount", "levels_count", "levelsCount", "num_levels", "numLevels")
PAGE_CLASS_TOKENS = frozenset({"swiper-slide", "slide", "page", "section"})
_NUMBERED = re.compile(r"^(page|slide|section)[-_]?\d+$")
_MAX_COUNT = 100_000


def _depth(name: str) -> int:
    return name.replace("\\", "/").strip("/").count("/")


def _basename(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def _read(zf: zipfile.ZipFile, name: str, limit: int) -> bytes | None:
    try:
        info = zf.getinfo(name)
        if info.file_size > limit:
            return None
        with zf.open(info) as fh:
            return fh.read(limit + 1)[:limit]
    except (KeyError, zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
        return None


def entry_page(html_pages: list[str]) -> str | None:
    """The page an H5 opens with: the shallowest index.html/htm, else the shallowest HTML file."""
    if not html_pages:
        return None
    index = [n for n in html_pages if _basename(n).lower() in ("index.html", "index.htm")]
    return min(index or html_pages, key=lambda n: (_depth(n), n))


def count_sections(html: str) -> int:
    """Page/slide elements in one HTML text (see the module's docstring)."""
    from html.parser import HTMLParser  # lazy: only H5 packages need it

    counts: dict[str, int] = {}

    class _Sections(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            families: set[str] = set()
            for key, value in attrs:
                if not value:
                    continue
                if key == "class":
                    for token in value.lower().split():
                        if token in PAGE_CLASS_TOKENS:
                            families.add(token)
                        elif m := _NUMBERED.match(token):
                            families.add(f"class:{m.group(1)}#")
                elif key == "id" and (m := _NUMBERED.match(value.strip().lower())):
                    families.add(f"id:{m.group(1)}#")
            for family in families:
                counts[family] = counts.get(family, 0) + 1

    parser = _Sections(convert_charrefs=True)
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - a broken page yields what was counted so far
        pass
    return max(counts.values(), default=0)


def estimate_pages(path: str | Path, html_pages: list[str]) -> dict[str, Any]:
    """{"value", "source": "html_files" | "sections", "files", "sections", "entry"}."""
    files = len(html_pages)
    entry = entry_page(html_pages)
    sections = 0
    if entry is not None:
        try:
            with zipfile.ZipFile(path) as zf:
                raw = _read(zf, entry, ENTRY_MAX_BYTES)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            raw = None
        if raw:
            sections = count_sections(raw.decode("utf-8", errors="replace"))
    source = "sections" if sections > files else "html_files"
    return {
        "value": max(files, sections),
        "source": source,
        "files": files,
        "sections": sections,
        "entry": entry or "",
    }


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 <= value <= _MAX_COUNT:
        return value
    if isinstance(value, float) and value.is_integer() and 0 <= value <= _MAX_COUNT:
        return int(value)
    return None


def levels_in(data: Any, top_level_list: bool) -> tuple[int, str] | None:
    """(count, where) from a parsed manifest, or None when it says no count."""
    if isinstance(data, list):
        return (len(data), "[]") if top_level_list else None
    if not isinstance(data, dict):
        return None
    levels = data.get("levels")
    if isinstance(levels, list | dict):
        return len(levels), "levels"
    if (n := _whole(levels)) is not None:
        return n, "levels"
    for key in LEVEL_COUNT_KEYS:
        if (n := _whole(data.get(key))) is not None:
            return n, key
    return None


def estimate_levels(path: str | Path, names: list[str]) -> dict[str, Any] | None:
    """{"value", "source": "manifest", "manifest": its path in the zip, "key"} or None."""
    import json  # lazy

    candidates = []
    for name in names:
        base = _basename(name).lower()
        if name.endswith("/") or name.replace("\\", "/").startswith("__MACOSX/") or base.startswith("._"):
            continue
        if base in MANIFEST_NAMES:
            candidates.append((MANIFEST_NAMES.index(base), _depth(name), name))
    if not candidates:
        return None
    try:
        with zipfile.ZipFile(path) as zf:
            for rank, _, name in sorted(candidates):
                raw = _read(zf, name, MANIFEST_MAX_BYTES)
                if raw is None:
                    continue
                try:
                    data = json.loads(raw.decode("utf-8-sig"))
                except (UnicodeDecodeError, ValueError, RecursionError):
                    continue
                found = levels_in(data, top_level_list=MANIFEST_NAMES[rank] == "levels.json")
                if found is not None:
                    return {"value": found[0], "source": "manifest", "manifest": name, "key": found[1]}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    return None
