"""Test media made on the spot (PyAV, Pillow, python-docx, zipfile): never downloaded.

Videos are flat colour frames encoded with libx264 (preset ultrafast), so a 1080p second costs a
few tens of milliseconds. With `bitrate`, x264 runs in CBR mode with filler data (nal-hrd=cbr), so
the file's bit rate lands within a few percent of the target whatever the picture: good enough for
"clearly below" / "clearly above" tests; exact boundaries are tested on numbers (video_metrics).
"""

from __future__ import annotations

import io
import zipfile
from fractions import Fraction
from pathlib import Path

__all__ = [
    "article_text",
    "make_audio_only",
    "make_docx",
    "make_image",
    "make_pdf",
    "make_text",
    "make_video",
    "make_zip",
    "make_zip_bomb",
    "random_file",
    "truncate",
]

# The pieces article_text() cycles through; each counts exactly 1 字 (see bot.checks.text).
_HAN = "科学普及让公众理解自然规律与技术原理光的折射形成彩虹细胞分裂产生新的生命地球围绕太阳公转"
_TOKENS = [*_HAN[:12], "，", " DNA ", *_HAN[12:24], "。", *_HAN[24:], "“", "实", "验", "”", "COVID-19", "；"]


def make_video(
    path: str | Path,
    width: int,
    height: int,
    seconds: float,
    bitrate: int | None = None,
    fps: float | Fraction = 10,
    rotate: int | None = None,
    audio: bool = False,
    faststart: bool = False,
) -> Path:
    """An H.264 video (mp4/mov/mkv by extension). rotate: the clockwise display rotation as
    MediaInfo reports it (90 → MediaInfo says '90.000'); written as a display matrix."""
    import av

    path = Path(path)
    fps = Fraction(fps).limit_denominator(1000)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        x264 = {"preset": "ultrafast"}
        if bitrate:
            kbit = max(bitrate // 1000, 1)
            video.bit_rate = bitrate
            x264["x264-params"] = f"nal-hrd=cbr:vbv-maxrate={kbit}:vbv-bufsize={kbit}:force-cfr=1"
        video.options = x264
        if rotate is not None:
            video.set_display_rotation((-rotate) % 360)  # PyAV: counter-clockwise
        sound = out.add_stream("aac", rate=44100) if audio else None
        if sound is not None:
            sound.layout = "mono"
        frames = max(1, round(seconds * fps))
        for i in range(frames):
            frame = av.VideoFrame(width, height, "yuv420p")
            for j, plane in enumerate(frame.planes):
                plane.update(bytes([(i * 37 + j * 80) % 256]) * plane.buffer_size)
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            _write_silence(sound, out, seconds)
    return path


def _write_silence(stream, out, seconds: float) -> None:
    import av

    samples, done = round(44100 * seconds), 0
    while done < samples:
        frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
        frame.planes[0].update(bytes(frame.planes[0].buffer_size))
        frame.sample_rate, frame.pts = 44100, done
        out.mux(stream.encode(frame))
        done += 1024
    out.mux(stream.encode(None))


def make_audio_only(path: str | Path, seconds: float = 2) -> Path:
    """An AAC-only MPEG-4 file (give it a .mp4 name to pose as a video)."""
    import av

    path = Path(path)
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=44100)
        stream.layout = "mono"
        _write_silence(stream, out, seconds)
    return path


def truncate(path: str | Path, keep: float = 0.5) -> Path:
    """Cut the file to `keep` of its size, in place (an interrupted upload)."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def make_image(path: str | Path, width: int, height: int) -> Path:
    """A PNG/JPEG/WebP picture (format by extension)."""
    from PIL import Image

    path = Path(path)
    Image.new("RGB", (width, height), (40, 120, 200)).save(path)
    return path


def article_text(chars: int, paragraph: int = 120) -> str:
    """Chinese text of exactly `chars` 字 as editors count them: Han characters, full-width
    punctuation, “quotes”, Latin words (DNA, COVID-19) one each; spaces and newlines free."""
    out: list[str] = []
    for i in range(chars):
        out.append(_TOKENS[i % len(_TOKENS)])
        if (i + 1) % paragraph == 0:
            out.append("\n\n")
    return "".join(out)


def make_text(path: str | Path, chars: int, encoding: str = "utf-8", markdown: bool = False) -> Path:
    """A .txt (or Markdown, with headings, links, lists and a table that add no 字) of exactly
    `chars` 字."""
    path = Path(path)
    body = article_text(chars)
    if markdown:
        paras = body.split("\n\n")
        body = "\n\n".join(
            [
                "---\ntitle: test 123\n---",
                "# " + paras[0],
                *[
                    f"- [{p}](https://example.org/a/b-1)" if i % 2 else f"> {p}"
                    for i, p in enumerate(paras[1:])
                ],
                "![figure 1](img/figure1.png)",
                "| | |\n|---|---|",
                "1. <br/>",
                "```python\n```",
            ]
        )
    path.write_bytes(body.encode(encoding))
    return path


def make_docx(path: str | Path, chars: int, table_chars: int = 0) -> Path:
    """A Word document of exactly `chars` 字; `table_chars` of them sit in a 2×2 table."""
    import docx

    path = Path(path)
    document = docx.Document()
    document.add_heading(article_text(min(10, chars - table_chars)), level=1)
    rest = chars - table_chars - min(10, chars - table_chars)
    for para in article_text(rest).split("\n\n"):
        if para:
            document.add_paragraph(para)
    if table_chars:
        table = document.add_table(rows=2, cols=2)
        quarter = [table_chars // 4 + (1 if i < table_chars % 4 else 0) for i in range(4)]
        for cell, n in zip(table._cells, quarter, strict=True):
            cell.text = article_text(n)
    document.save(path)
    return path


def make_pdf(path: str | Path, text: str) -> Path:
    """A one-page PDF showing ASCII `text` in Helvetica (hand-written objects, no PDF library)."""
    path = Path(path)
    safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 12 Tf 72 720 Td ({safe}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    buf = io.BytesIO()
    buf.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(buf.tell())
        buf.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = buf.tell()
    buf.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        buf.write(b"%010d 00000 n \n" % off)
    buf.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    path.write_bytes(buf.getvalue())
    return path


def make_zip(path: str | Path, files: dict[str, bytes | str], symlinks: tuple[str, ...] = ()) -> Path:
    """A deflated zip holding `files` (names are stored as given, "../x" and "/x" included);
    names in `symlinks` are stored as Unix symbolic links."""
    path = Path(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name in symlinks:
                info.create_system = 3
                info.external_attr = 0o120777 << 16
            zf.writestr(info, data)
    return path


def make_zip_bomb(path: str | Path, unpacked: int = 16 << 20) -> Path:
    """One entry of `unpacked` zero bytes: deflate squeezes it ~1000:1."""
    path = Path(path)
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("index.html", "w") as fh:
        left = unpacked
        while left > 0:
            fh.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)
    return path


def random_file(path: str | Path, size: int = 64 * 1024, seed: int = 7) -> Path:
    """`size` pseudo-random bytes (reproducible) under any name."""
    import random

    path = Path(path)
    path.write_bytes(random.Random(seed).randbytes(size) if size else b"")
    return path
