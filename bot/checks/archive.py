"""Zip inspection without extracting anything: safety limits, unsafe paths, what is inside.

The limits come from the category's `archive` table in the campaign file (max_unpacked_bytes,
max_entries, max_ratio). Sizes are the ones the archive's central directory declares; a tool that
extracts later must stop at those sizes (Python's zipfile does: it checks length and CRC).

Checks, cheapest first:
* the entry count from the end-of-central-directory record, before the directory is parsed (a
  million-entry archive never gets loaded);
* total unpacked size, per-entry and whole-archive compression ratio. The ratio limit applies only
  to entries (and archives) of at least 1 MiB unpacked: a small, very compressible file (an SVG, a
  JSON of spaces) is harmless whatever its ratio;
* overlapping entries (several directory entries pointing into the same compressed data, the
  "non-recursive zip bomb");
* absolute paths, drive letters, ".." components and symbolic links;
* encrypted entries.
"""

from __future__ import annotations

import stat
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from bot.checks.messages import ZIP_REASONS

__all__ = ["ZipFacts", "ZipLimits", "inspect_zip", "zip_kind"]

RATIO_MIN_BYTES = 1 << 20
PAGE_SUFFIXES = (".html", ".htm")


@dataclass(frozen=True)
class ZipLimits:
    max_unpacked_bytes: int
    max_entries: int
    max_ratio: float | None = None  # None: no ratio limit (docx)


# Word documents are zips too; python-docx would inflate them whole, so they get fixed limits.
DOCX_LIMITS = ZipLimits(max_unpacked_bytes=256 << 20, max_entries=10_000, max_ratio=None)


@dataclass
class ZipFacts:
    """What we learned. problems: (rule_id, fields for its message) in the order found."""

    entries: int = 0
    files: int = 0
    unpacked_bytes: int = 0
    packed_bytes: int = 0
    html_pages: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    problems: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    damaged: str | None = None  # not a readable zip: why

    def to_dict(self) -> dict[str, object]:
        return {
            "zip_entries": self.entries,
            "zip_files": self.files,
            "zip_unpacked_bytes": self.unpacked_bytes,
            "html_pages": len(self.html_pages),
            "html_page_files": self.html_pages[:50],
        }


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _eocd_entry_count(path: Path) -> int | None:
    """Total entries as the end-of-central-directory record (or its zip64 twin) states them."""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        tail_len = min(size, 65_557)
        fh.seek(size - tail_len)
        tail = fh.read(tail_len)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + 22 > len(tail):
            return None
        total = struct.unpack("<H", tail[at + 10 : at + 12])[0]
        if total != 0xFFFF:
            return total
        loc = at - 20  # zip64 end-of-central-directory locator
        if loc < 0 or tail[loc : loc + 4] != b"PK\x06\x07":
            return total
        (z64_offset,) = struct.unpack("<Q", tail[loc + 8 : loc + 16])
        fh.seek(z64_offset)
        rec = fh.read(56)
        if len(rec) < 56 or rec[:4] != b"PK\x06\x06":
            return None
        return struct.unpack("<Q", rec[32:40])[0]


def _unsafe_name(info: zipfile.ZipInfo) -> bool:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
        return True
    if any(part == ".." for part in name.split("/")):
        return True
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)


def zip_kind(path: str | Path) -> tuple[str, list[str]] | None:
    """("docx" | "office" | "apk" | "zip", names) by the archive's contents; None if unreadable."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return None
    nameset = set(names)
    if "[Content_Types].xml" in nameset and "word/document.xml" in nameset:
        return "docx", names
    if "[Content_Types].xml" in nameset and any(n.startswith(("xl/", "ppt/")) for n in names):
        return "office", names
    if "AndroidManifest.xml" in nameset and "classes.dex" in nameset:
        return "apk", names
    return "zip", names


def inspect_zip(path: str | Path, limits: ZipLimits) -> ZipFacts:
    """Read the archive's directory (never its data) and judge it against `limits`."""
    path = Path(path)
    facts = ZipFacts(packed_bytes=path.stat().st_size)
    declared_count = _eocd_entry_count(path)
    if declared_count is not None and declared_count > limits.max_entries:
        facts.entries = declared_count
        facts.problems.append(("file.zip_bomb", {"reason": _too_many(declared_count, limits)}))
        return facts
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        facts.damaged = str(exc) or type(exc).__name__
        return facts

    facts.entries = len(infos)
    facts.names = [i.filename for i in infos]
    if facts.entries > limits.max_entries:
        facts.problems.append(("file.zip_bomb", {"reason": _too_many(facts.entries, limits)}))

    bomb_reason = None
    unsafe = None
    encrypted = False
    for info in infos:
        if not info.is_dir():
            facts.files += 1
            facts.unpacked_bytes += info.file_size
            base = info.filename.replace("\\", "/")
            if (
                base.lower().endswith(PAGE_SUFFIXES)
                and not base.startswith("__MACOSX/")
                and not base.rsplit("/", 1)[-1].startswith("._")
            ):
                facts.html_pages.append(info.filename)
        if unsafe is None and _unsafe_name(info):
            unsafe = info.filename
        if info.flag_bits & 0x1:
            encrypted = True
        if (
            bomb_reason is None
            and limits.max_ratio is not None
            and info.file_size >= RATIO_MIN_BYTES
            and info.file_size / max(info.compress_size, 1) > limits.max_ratio
        ):
            ratio = info.file_size / max(info.compress_size, 1)
            bomb_reason = ZIP_REASONS["entry_ratio"].format(
                entry=info.filename, ratio=ratio, limit=limits.max_ratio
            )

    if facts.unpacked_bytes > limits.max_unpacked_bytes:
        bomb_reason = ZIP_REASONS["too_big"].format(
            size=_human_bytes(facts.unpacked_bytes), limit=_human_bytes(limits.max_unpacked_bytes)
        )
    elif (
        bomb_reason is None
        and limits.max_ratio is not None
        and facts.unpacked_bytes >= RATIO_MIN_BYTES
        and facts.unpacked_bytes / max(facts.packed_bytes, 1) > limits.max_ratio
    ):
        ratio = facts.unpacked_bytes / max(facts.packed_bytes, 1)
        bomb_reason = ZIP_REASONS["ratio"].format(ratio=ratio, limit=limits.max_ratio)
    if bomb_reason is None and _overlapping(infos):
        bomb_reason = ZIP_REASONS["overlap"]
    if bomb_reason is not None and not any(p[0] == "file.zip_bomb" for p in facts.problems):
        facts.problems.append(("file.zip_bomb", {"reason": bomb_reason}))
    if unsafe is not None:
        facts.problems.append(("file.zip_unsafe_path", {"entry": unsafe}))
    if encrypted:
        facts.problems.append(("file.zip_encrypted", {}))
    return facts


def _too_many(count: int, limits: ZipLimits) -> str:
    return ZIP_REASONS["too_many"].format(count=count, limit=limits.max_entries)


def _overlapping(infos: list[zipfile.ZipInfo]) -> bool:
    spans = sorted(
        (i.header_offset, i.header_offset + 30 + i.compress_size) for i in infos if i.compress_size
    )
    return any(end > nxt_start for (_, end), (nxt_start, _) in zip(spans, spans[1:], strict=False))
