"""Zip inspection without extracting anything: safety limits, unsafe paths, what is inside.

The limits come from the category's `archive` table in the campaign file (max_unpacked_bytes,
max_entries, max_ratio). Sizes are the ones the archive's central directory declares; a tool that
extracts later must stop at those sizes (Python's zipfile does: it checks length and CRC).

Checks, cheapest first:
* the entry count and the central directory's size from the end-of-central-directory record (or its
  zip64 twin), before the directory is read: a million-entry archive, or a directory of gigabytes
  (names, extra fields and comments of 64 KB each), is refused without loading it. zip_kind, which
  reads the directory to tell a .docx from a zip, does the same against ZIP_CEILING;
* total unpacked size, the XML parts' unpacked size (a .docx is parsed whole: its XML is bounded),
  per-entry and whole-archive compression ratio. The ratio limit applies only
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

__all__ = ["DOCX_LIMITS", "ZIP_CEILING", "ZipDirectory", "ZipFacts", "ZipLimits", "end_record", "human_bytes", "inspect_zip",
           "zip_kind"]

RATIO_MIN_BYTES = 1 << 20
PAGE_SUFFIXES = (".html", ".htm")


DIRECTORY_BYTES_PER_ENTRY = 1024  # a directory entry is 46 bytes plus its name and extras: ~100 in practice
XML_SUFFIXES = (".xml", ".rels")


@dataclass(frozen=True)
class ZipLimits:
    max_unpacked_bytes: int
    max_entries: int
    max_ratio: float | None = None  # None: no ratio limit
    max_xml_bytes: int | None = None  # the .xml/.rels parts unpacked, together (None: no limit)

    @property
    def max_directory_bytes(self) -> int:
        """The central directory's size we read at most (from the entry limit, at least 1 MiB)."""
        return max(1 << 20, self.max_entries * DIRECTORY_BYTES_PER_ENTRY)


# Word documents are zips too; python-docx inflates and parses every XML part whole (64 MiB of XML
# took 4.4 GB and 132 s), so they get fixed limits, checked from the directory before parsing:
# 20 MiB of XML is some 2,000 pages of formatted text and parses in about 3 s.
DOCX_LIMITS = ZipLimits(max_unpacked_bytes=256 << 20, max_entries=10_000, max_ratio=100, max_xml_bytes=20 << 20)
# What zip_kind reads at most to tell a Word document from an archive; inspect_zip then judges
# against the category's own (smaller) limits.
ZIP_CEILING = ZipLimits(max_unpacked_bytes=1 << 40, max_entries=100_000)


@dataclass(frozen=True)
class ZipDirectory:
    """The central directory as the end record states it."""

    entries: int
    size: int


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
    # the first size limit hit: a [zip_reasons] key and its fields (a .docx words it as too complex)
    limit: tuple[str, dict[str, object]] | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "zip_entries": self.entries,
            "zip_files": self.files,
            "zip_unpacked_bytes": self.unpacked_bytes,
            "html_pages": len(self.html_pages),
            "html_page_files": self.html_pages[:50],
        }


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def end_record(path: str | Path) -> ZipDirectory | None:
    """Entry count and central directory size as the end-of-central-directory record (or its zip64
    twin) states them; None when there is no end record. Reads the file's last 64 KB and, for zip64,
    56 bytes more: never the directory itself."""
    with Path(path).open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        tail_len = min(size, 65_557)
        fh.seek(size - tail_len)
        tail = fh.read(tail_len)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or at + 22 > len(tail):
            return None
        total, cd_size = struct.unpack("<HI", tail[at + 10 : at + 16])
        if total != 0xFFFF and cd_size != 0xFFFFFFFF:
            return ZipDirectory(total, cd_size)
        loc = at - 20  # zip64 end-of-central-directory locator
        if loc < 0 or tail[loc : loc + 4] != b"PK\x06\x07":
            return ZipDirectory(total, cd_size)
        (z64_offset,) = struct.unpack("<Q", tail[loc + 8 : loc + 16])
        fh.seek(z64_offset)
        rec = fh.read(56)
        if len(rec) < 56 or rec[:4] != b"PK\x06\x06":
            return ZipDirectory(total, cd_size)
        total64, cd_size64 = struct.unpack("<QQ", rec[32:48])
        return ZipDirectory(total64, cd_size64)


def _directory_limit(d: ZipDirectory, limits: ZipLimits) -> tuple[str, dict[str, object]] | None:
    if d.entries > limits.max_entries:
        return "too_many", {"count": d.entries, "limit": limits.max_entries}
    if d.size > limits.max_directory_bytes:
        return "directory", {"size": human_bytes(d.size), "limit": human_bytes(limits.max_directory_bytes)}
    return None


def _unsafe_name(info: zipfile.ZipInfo) -> bool:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
        return True
    if any(part == ".." for part in name.split("/")):
        return True
    mode = info.external_attr >> 16
    return info.create_system == 3 and stat.S_ISLNK(mode)


def zip_kind(path: str | Path) -> tuple[str, list[str]] | None:
    """("docx" | "office" | "apk" | "zip", names) by the archive's contents; None if unreadable.
    A directory over ZIP_CEILING is not read: the kind then comes from the name (.docx, .apk) and
    names is empty (inspect_zip refuses the file by its end record)."""
    path = Path(path)
    try:
        declared = end_record(path)
    except OSError:
        return None
    if declared is not None and _directory_limit(declared, ZIP_CEILING) is not None:
        ext = path.suffix.lower().lstrip(".")
        return (ext if ext in ("docx", "apk") else "zip"), []
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
    """Read the archive's directory (never its data) and judge it against `limits`; the directory
    itself is read only when its end record is within them."""
    path = Path(path)
    facts = ZipFacts(packed_bytes=path.stat().st_size)
    declared = end_record(path)
    over = _directory_limit(declared, limits) if declared is not None else None
    if over is not None:
        facts.entries = declared.entries
        _bomb(facts, *over)
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
        _bomb(facts, "too_many", count=facts.entries, limit=limits.max_entries)

    bomb: tuple[str, dict[str, object]] | None = None
    unsafe = None
    encrypted = False
    xml_bytes = 0
    for info in infos:
        if not info.is_dir():
            facts.files += 1
            facts.unpacked_bytes += info.file_size
            base = info.filename.replace("\\", "/")
            if base.lower().endswith(XML_SUFFIXES):
                xml_bytes += info.file_size
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
            bomb is None
            and limits.max_ratio is not None
            and info.file_size >= RATIO_MIN_BYTES
            and info.file_size / max(info.compress_size, 1) > limits.max_ratio
        ):
            ratio = info.file_size / max(info.compress_size, 1)
            bomb = ("entry_ratio", {"entry": info.filename, "ratio": ratio, "limit": limits.max_ratio})

    if facts.unpacked_bytes > limits.max_unpacked_bytes:
        bomb = ("too_big", {"size": human_bytes(facts.unpacked_bytes),
                            "limit": human_bytes(limits.max_unpacked_bytes)})
    elif limits.max_xml_bytes is not None and xml_bytes > limits.max_xml_bytes:
        bomb = ("xml", {"size": human_bytes(xml_bytes), "limit": human_bytes(limits.max_xml_bytes)})
    elif (
        bomb is None
        and limits.max_ratio is not None
        and facts.unpacked_bytes >= RATIO_MIN_BYTES
        and facts.unpacked_bytes / max(facts.packed_bytes, 1) > limits.max_ratio
    ):
        ratio = facts.unpacked_bytes / max(facts.packed_bytes, 1)
        bomb = ("ratio", {"ratio": ratio, "limit": limits.max_ratio})
    if bomb is None and _overlapping(infos):
        bomb = ("overlap", {})
    if bomb is not None:
        _bomb(facts, *bomb)
    if unsafe is not None:
        facts.problems.append(("file.zip_unsafe_path", {"entry": unsafe}))
    if encrypted:
        facts.problems.append(("file.zip_encrypted", {}))
    return facts


def _bomb(facts: ZipFacts, key: str, fields: dict[str, object] | None = None, **more: object) -> None:
    """Record the first size limit hit, as a "file.zip_bomb" problem."""
    if facts.limit is not None:
        return
    fields = {**(fields or {}), **more}
    facts.limit = (key, fields)
    facts.problems.append(("file.zip_bomb", {"reason": ZIP_REASONS[key].format(**fields)}))


def _overlapping(infos: list[zipfile.ZipInfo]) -> bool:
    spans = sorted(
        (i.header_offset, i.header_offset + 30 + i.compress_size) for i in infos if i.compress_size
    )
    return any(end > nxt_start for (_, end), (nxt_start, _) in zip(spans, spans[1:], strict=False))
