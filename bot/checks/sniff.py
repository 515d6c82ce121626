"""What a file is by its first bytes, and which kinds a category's extensions stand for."""

from __future__ import annotations

__all__ = ["EXTENSION_KINDS", "HEAD_BYTES", "expected_kinds", "sniff_head"]

HEAD_BYTES = 64

# Extension → the kind of content it promises. A category takes the kinds of its extensions.
EXTENSION_KINDS: dict[str, str] = {
    **dict.fromkeys(
        ("mp4", "mov", "m4v", "mkv", "avi", "webm", "flv", "ts", "mts", "m2ts", "wmv", "3gp", "mpg", "mpeg"),
        "video",
    ),
    **dict.fromkeys(("jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff", "heic", "heif"), "image"),
    "docx": "docx",
    "pdf": "pdf",
    **dict.fromkeys(("txt", "md", "markdown"), "text"),
    "zip": "zip",
    "apk": "apk",
}

KIND_ORDER = ("video", "image", "docx", "pdf", "text", "zip", "apk")


def expected_kinds(extensions: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The kinds a category's extensions stand for, in a stable order."""
    kinds = {EXTENSION_KINDS[e] for e in extensions if e in EXTENSION_KINDS}
    return tuple(k for k in KIND_ORDER if k in kinds)


def sniff_head(head: bytes) -> str | None:
    """The kind by magic number: zip, pdf, image, doc, archive or media; None if unsure."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "zip"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if (
        head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a"))
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or (head[:2] == b"BM" and head[6:10] == b"\0\0\0\0")
    ):
        return "image"
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return "image"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "doc"
    if head.startswith((b"Rar!\x1a\x07", b"7z\xbc\xaf\x27\x1c", b"\x1f\x8b")):
        return "archive"
    if (
        head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
        or head.startswith((b"\x1a\x45\xdf\xa3", b"FLV\x01", b"OggS", b"fLaC", b"ID3"))
        or (head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"WAVE"))
        or head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")  # ASF / WMV
        or head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"))  # MPEG-PS
    ):
        return "media"
    return None
