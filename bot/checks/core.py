"""check() and check_files(): measure files, read the form's declared values, judge both by the
campaign's rules.

Flow per file: empty? → what is it really (magic bytes, then MediaInfo, then text decoding) → is that
a kind the category takes (by its extensions)? → measure. A file that is empty, of the wrong kind or
damaged gets one file item ("file.empty", "file.type", "file.unreadable") and its measured rules are
left out of the report: one clear reason instead of a column of "无法测量". Likewise a video file
without a picture (audio only) fails "has_video_track" and leaves out resolution, bit rate and
duration, and a truncated video leaves out the bit rate (computed from a cut file it is wrong).

Metrics the library measures are listed in MEASURED_METRICS; every other metric a rule names is read
from `declared` (what the creator stated in the form), so a new declared metric in next year's
campaign file needs no code. Some declared counts can be estimated from a package (an H5's pages, a
game's levels: bot/checks/estimates.py): the estimate is an "estimate.<metric>" warning-level item,
compared with the declared number, or without one with the rule's minimum. The declared rule itself
is judged only when files_only is False: a declared number below the minimum is the form's error,
not the file's.

A report's metrics keep what judging needs (per file: "measured", "skipped", "estimates"), so
`rejudge()` can judge a stored report again with new declared answers, without the file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.checks import messages as msg
from bot.checks.archive import DOCX_LIMITS, ZipFacts, ZipLimits, human_bytes, inspect_zip, zip_kind
from bot.checks.estimates import estimate_levels, estimate_pages
from bot.checks.media import image_metrics, image_size_metrics, parse_media, track_dicts, video_metrics
from bot.checks.report import Item, Report
from bot.checks.sniff import HEAD_BYTES, expected_kinds, sniff_head
from bot.checks.text import (
    PDF_LIMITS,
    PdfSupportMissing,
    TooComplex,
    count_chars_upto,
    decode_text,
    markdown_lines,
    pdf_pages_text,
    read_docx_text,
    text_chunks,
)

if TYPE_CHECKING:
    from bot.campaign import Campaign, Category, Rule

__all__ = ["MEASURED_METRICS", "check", "check_files", "evaluate", "problem_report", "rejudge"]

MEASURED_METRICS = frozenset(
    {
        "short_side_px",
        "bitrate_bps",
        "duration_s",
        "has_video_track",
        "not_truncated",
        "chars",
        "image_long_side_px",
        "image_short_side_px",
    }
)
_PICTURE_METRICS = {"short_side_px", "bitrate_bps", "duration_s"}
TEXT_MAX_BYTES = 32 << 20  # a plain-text article is never this big; bigger is not text to us
# An article's 字 are counted up to this (or twice the category's largest bound on 字, if more):
# past it the count stops ("超过200000字") and a PDF's later pages are never extracted.
CHARS_CAP = 200_000
_MARKDOWN_EXTENSIONS = {"md", "markdown"}
_TRUE_WORDS = {"true", "yes", "y", "1", "on", "是", "有", "已确认", "确认"}
_FALSE_WORDS = {"false", "no", "n", "0", "off", "否", "无", "没有", "未确认"}


@dataclass
class _File:
    path: Path
    name: str
    kind: str = "unknown"
    details: list[str] = field(default_factory=list)
    usable: bool = True
    metrics: dict[str, Any] = field(default_factory=dict)  # campaign metric → value (None: not measured)
    skipped: set[str] = field(default_factory=set)  # metrics that do not apply to this file
    info: dict[str, Any] = field(default_factory=dict)  # raw details for Report.metrics
    items: list[Item] = field(default_factory=list)  # file problems
    zip: ZipFacts | None = None
    label_text: str | None = None  # the stored label of a file judged again (rejudge)

    @property
    def label(self) -> str:
        if self.label_text is not None:
            return self.label_text
        name = msg.KIND_NAMES.get(self.kind, self.kind)
        return f"{name}（{'，'.join(self.details)}）" if self.details else name


# --------------------------------------------------------------------------- public API


def check(
    path: str | Path,
    category: str | Category,
    campaign: Campaign,
    declared: Mapping[str, Any] | None = None,
    *,
    files_only: bool = False,
) -> Report:
    """Check one file for `category` (a Category or its id) against the campaign's rules.

    declared: the form's answers keyed by metric name, e.g. {"originality_declared": True,
    "knowledge_points": 2} (a list counts its non-empty entries). None is the same as {}: every
    declared rule is then "unknown", and an unknown error-level rule blocks.
    files_only=True leaves the declared rules out (for checking a file on its own: the CLI, a file
    in the bot whose form is judged apart); `declared` is then still compared with the package's
    estimates (an H5 with fewer pages than declared gets a warning).
    Raises FileNotFoundError for a missing path and UnknownCategoryError for an unknown id.
    """
    return check_files([path], category, campaign, declared, files_only=files_only)


def check_files(
    paths: Iterable[str | Path],
    category: str | Category,
    campaign: Campaign,
    declared: Mapping[str, Any] | None = None,
    *,
    files_only: bool = False,
) -> Report:
    """Check the files of one work together (a comics series: every image is measured and the
    weakest decides each rule; the item names that file and how many others also fail)."""
    cat = campaign.category(category) if isinstance(category, str) else category
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("check_files() needs at least one file")
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"no such file: {p}")
    files = [_inspect(p, name, cat) for p, name in zip(paths, _unique_names(paths), strict=True)]
    return _report(cat, campaign, files, declared, files_only)


def problem_report(
    name: str,
    category: str | Category,
    campaign: Campaign,
    rule_id: str,
    **fields: Any,
) -> Report:
    """A report holding one file problem found around the check rather than in it: the check ran out
    of its time or memory budget ("file.too_complex"). Rules are left out: nothing was measured."""
    cat = campaign.category(category) if isinstance(category, str) else category
    f = _File(path=Path(name), name=name, kind="unknown", usable=False)
    f.items.append(_file_item(f, rule_id, category=cat.name, **fields))
    return Report(category=cat.id, category_name=cat.name, files=[name], items=list(f.items),
                  detected_type=f.label, metrics={name: {"kind": f.kind, "detected_type": f.label}},
                  files_only=True)


def evaluate(
    metrics: Mapping[str, Any],
    category: str | Category,
    campaign: Campaign,
    declared: Mapping[str, Any] | None = None,
    *,
    files_only: bool = False,
    name: str = "measured",
) -> Report:
    """Judge measurements that did not come from a file here: `metrics` is a dict like
    `video_metrics()` returns (campaign metric names, plus width/height/rotation for display);
    rules on measured metrics absent from it are left out.
    The seam for boundary tests, and for the bot when it already knows the numbers."""
    cat = campaign.category(category) if isinstance(category, str) else category
    f = _File(path=Path(name), name=name, kind="measured")
    f.info.update(metrics)
    f.metrics.update({k: v for k, v in metrics.items() if k in MEASURED_METRICS})
    f.skipped = set(MEASURED_METRICS - f.metrics.keys())  # rules on metrics not given are left out
    return _report(cat, campaign, [f], declared, files_only)


def rejudge(
    report: Mapping[str, Any],
    category: str | Category,
    campaign: Campaign,
    declared: Mapping[str, Any] | None = None,
    *,
    files_only: bool = True,
) -> Report:
    """Judge a stored report (`Report.to_dict()` output) again without its files: with new declared
    answers (a creator edited the pages), or the campaign's current thresholds. Items about the file
    itself ("file.*": empty, wrong type, unreadable, unsafe zip …) stay as they were; rules on
    measured metrics and the estimates are judged from the metrics the report holds; the declared
    rules are judged from `declared` unless files_only.
    A report stored before the metrics carried "measured"/"skipped"/"estimates" is read as well as
    it can be (measured values from their metric names, an H5's page estimate from "html_pages")."""
    cat = campaign.category(category) if isinstance(category, str) else category
    stored = [_stored_item(d) for d in report.get("items", [])]
    kept = [it for it in stored if it.rule_id in msg.FILE_PROBLEMS]
    names = list(report.get("files") or [])
    all_metrics = report.get("metrics") or {}
    files = []
    for name in names:
        m = dict(all_metrics.get(name) or {})
        kind = m.pop("kind", "unknown")
        label = m.pop("detected_type", None)
        measured = m.pop("measured", None)
        skipped = m.pop("skipped", None)
        if measured is None:  # an older report
            measured = {k: m[k] for k in MEASURED_METRICS if k in m}
        if skipped is None:
            skipped = MEASURED_METRICS - measured.keys()
            if kind in ("video", "audio"):
                skipped |= _video_skips(measured)
        if "estimates" not in m and kind == "zip" and isinstance(m.get("html_pages"), int):
            m["estimates"] = {"pages": {"value": m["html_pages"], "source": "html_files",
                                        "files": m["html_pages"], "sections": 0, "entry": ""}}
        f = _File(path=Path(name), name=name, kind=kind, label_text=label)
        f.info = m
        f.metrics = dict(measured)
        f.skipped = set(skipped)
        f.items = [it for it in kept if it.file == name]
        f.usable = not any(it.blocking for it in f.items)
        files.append(f)
    if not files:
        raise ValueError("rejudge() needs a report with at least one file")
    return _report(cat, campaign, files, declared, files_only)


def _stored_item(d: Mapping[str, Any]) -> Item:
    fields = Item.__dataclass_fields__
    return Item(**{k: v for k, v in d.items() if k in fields})


def _report(
    cat: Category,
    campaign: Campaign,
    files: list[_File],
    declared: Mapping[str, Any] | None,
    files_only: bool,
) -> Report:
    answers = dict(declared or {})

    items = [it for f in files for it in f.items]
    for rule in cat.rules + campaign.common_rules:
        if rule.metric in MEASURED_METRICS:
            item = _measured_item(rule, files)
            if item is not None:
                items.append(item)
        else:
            if not files_only:
                items.append(_declared_item(rule, answers))
            items.extend(_estimate_items(rule, answers, files))

    if len(files) == 1:
        detected = files[0].label
    else:
        shown = "；".join(f"{f.name}：{f.label}" for f in files[:10])
        if len(files) > 10:
            shown += msg.LABEL_PARTS["more"]
        detected = msg.LABEL_PARTS["series"].format(count=len(files), labels=shown)
    return Report(
        category=cat.id,
        category_name=cat.name,
        files=[f.name for f in files],
        items=items,
        detected_type=detected,
        metrics={
            f.name: {
                "kind": f.kind,
                "detected_type": f.label,
                **f.info,
                "measured": dict(f.metrics),
                "skipped": sorted(f.skipped),
            }
            for f in files
        },
        files_only=files_only,
    )


# --------------------------------------------------------------------------- one file


def _unique_names(paths: list[Path]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for p in paths:
        n = seen.get(p.name, 0) + 1
        seen[p.name] = n
        out.append(p.name if n == 1 else f"{p.name} ({n})")
    return out


def _file_item(f: _File, rule_id: str, **fields: Any) -> Item:
    level, title, hint = msg.FILE_PROBLEMS[rule_id]
    fields = {"name": f.name, "detected": f.label, **fields}
    return Item(
        rule_id=rule_id,
        title=title,
        level=level,  # type: ignore[arg-type]
        status="fail",
        measured=fields.get("measured"),
        measured_text=msg.FILE_PROBLEM_MEASURED[rule_id].format(**fields),
        expected=msg.FILE_PROBLEM_EXPECTED[rule_id].format(**fields),
        hint=hint.format(**fields),
        file=f.name,
    )


def _inspect(path: Path, name: str, cat: Category) -> _File:
    f = _File(path=path, name=name)
    size = path.stat().st_size
    f.info["file_size"] = size
    if size == 0:
        f.kind, f.usable = "empty", False
        f.items.append(_file_item(f, "file.empty", measured=0))
        return f

    expected = expected_kinds(cat.extensions)
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    magic = sniff_head(head)
    mi = None
    text: tuple[str, str] | None = None
    kind: str | None = None
    ext = path.suffix.lower().lstrip(".")
    if magic == "zip":
        found = zip_kind(path)
        if found is not None:
            kind = found[0]
        else:  # a damaged zip (an interrupted upload): trust the name, report it unreadable
            f.info["damaged"] = True
            kind = ext if ext in ("docx", "apk") else "zip"
    elif magic in ("pdf", "image", "doc", "archive"):
        kind = magic
    if kind is None and (magic == "media" or not expected or {"video", "image"} & set(expected)):
        mi = parse_media(path)
        kind = _media_kind(mi)
    if kind is None and size <= TEXT_MAX_BYTES:
        text = decode_text(path.read_bytes())
        if text is not None:
            kind = "text"
    f.kind = kind or "unknown"

    accepted = set(expected) | ({"audio"} if "video" in expected else set())
    if expected and f.kind not in accepted:
        f.usable = False
        _describe_only(f, mi)
        wanted = [msg.KIND_EXPECTED[k] for k in expected]
        wanted_text = wanted[0] if len(wanted) == 1 else "、".join(wanted[:-1]) + "或" + wanted[-1]
        f.items.append(_file_item(f, "file.type", category=cat.name, expected=wanted_text))
        return f

    _MEASURE.get(f.kind, _measure_nothing)(f, cat, mi, text)
    if f.usable and not cat.accepts_extension(ext or "."):
        f.items.append(
            _file_item(
                f, "file.extension", ext=f".{ext}" if ext else "（无）", expected="、".join(cat.extensions)
            )
        )
    return f


def _media_kind(mi: Any) -> str | None:
    tracks = track_dicts(mi)
    types = {t.get("track_type") for t in tracks}
    general = next((t for t in tracks if t.get("track_type") == "General"), {})
    if "Video" in types:
        return "video"
    if "Image" in types:
        return "image"
    if "Audio" in types:
        return "audio"
    if general.get("format") and str(general.get("istruncated", "")).lower() == "yes":
        return "video"  # a container cut before its track list (mp4 without moov)
    return None


def _describe_only(f: _File, mi: Any) -> None:
    """Details for the label of a file we will not measure."""
    if f.kind in ("video", "audio") and mi is not None:
        vm = video_metrics(mi)
        f.details = [d for d in (vm.get("container"), vm.get("audio_format")) if d]
    elif f.kind == "image":
        im = image_metrics(mi) if mi is not None else None
        if im:
            f.details = [
                d for d in (im["format"], msg.LABEL_PARTS["size"].format(w=im["width"], h=im["height"])) if d
            ]
    elif f.kind in ("zip", "apk") and not f.info.get("damaged"):
        found = zip_kind(f.path)
        if found:
            f.details = [
                msg.LABEL_PARTS["zip_files"].format(files=sum(1 for n in found[1] if not n.endswith("/")))
            ]


# --------------------------------------------------------------------------- measuring by kind


def _measure_video(f: _File, cat: Category, mi: Any, text: Any) -> None:
    vm = video_metrics(mi if mi is not None else parse_media(f.path), f.info["file_size"])
    f.info.update(vm)
    for metric in ("short_side_px", "bitrate_bps", "duration_s", "has_video_track", "not_truncated"):
        f.metrics[metric] = vm.get(metric)
    f.skipped |= _video_skips(vm)
    details = [vm.get("container")]
    if vm["has_video_track"]:
        size = msg.LABEL_PARTS["size"].format(w=vm["width"], h=vm["height"]) if vm["width"] else ""
        details.append(" ".join(x for x in (vm.get("video_format"), size) if x))
        if round(vm["rotation"]) % 360:
            details.append(msg.LABEL_PARTS["rotated"].format(deg=_deg(vm["rotation"])))
    elif vm["has_audio_track"]:
        details += [vm.get("audio_format"), msg.LABEL_PARTS["no_video"]]
    if vm["duration_s"] is not None and vm["has_video_track"]:
        details.append(_duration_text(vm["duration_s"]))
    if not vm["not_truncated"]:
        details.append(msg.LABEL_PARTS["incomplete"])
    f.details = [d for d in details if d]


def _video_skips(vm: Mapping[str, Any]) -> set[str]:
    """Rules left out for a video: no picture → no resolution, bit rate, duration; a truncated file
    → no bit rate (computed from a cut file it is wrong)."""
    if not vm.get("has_video_track"):
        skipped = set(_PICTURE_METRICS)
        if not vm.get("not_truncated"):  # nothing readable at all: the truncation is the reason
            skipped.add("has_video_track")
        return skipped
    return set() if vm.get("not_truncated") else {"bitrate_bps"}


def _measure_image(f: _File, cat: Category, mi: Any, text: Any) -> None:
    im = image_metrics(mi if mi is not None else parse_media(f.path))
    if im is None:
        im = _pillow_size(f.path)
    if im is None:
        f.usable = False
        f.items.append(_file_item(f, "file.unreadable", reason=msg.UNREADABLE_REASONS["image"]))
        return
    f.info.update(im)
    f.metrics["image_long_side_px"] = im["image_long_side_px"]
    f.metrics["image_short_side_px"] = im["image_short_side_px"]
    f.details = [
        d for d in (im["format"], msg.LABEL_PARTS["size"].format(w=im["width"], h=im["height"])) if d
    ]


def _pillow_size(path: Path) -> dict[str, Any] | None:
    try:
        from PIL import Image  # lazy; optional
    except ImportError:
        return None
    try:
        with Image.open(path) as img:
            return image_size_metrics(img.width, img.height, img.format)
    except Exception:  # noqa: BLE001 - any decoder error means "not readable"
        return None


def _chars_cap(cat: Category) -> int:
    """Where counting stops: CHARS_CAP, or twice the category's largest bound on 字 if that is more
    (the verdict is then certain: the text is far over any maximum)."""
    bounds = [0]
    for rule in cat.rules:
        if rule.metric == "chars" and not isinstance(rule.value, bool):
            values = rule.value if isinstance(rule.value, tuple) else (rule.value,)
            bounds += [int(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return max(CHARS_CAP, 2 * max(bounds))


def _set_chars(f: _File, chars: int, over: int | None = None) -> None:
    """The 字 count; over: the cap the count passed (the count is then only "more than that")."""
    f.metrics["chars"] = chars
    f.info["chars"] = chars
    if over is not None:
        f.info["chars_over"] = over
        f.details.append(msg.LABEL_PARTS["chars_over"].format(chars=over))
    else:
        f.details.append(msg.LABEL_PARTS["chars"].format(chars=chars))


def _count(f: _File, cat: Category, pieces: Any) -> None:
    cap = _chars_cap(cat)
    chars, over = count_chars_upto(pieces, cap)
    _set_chars(f, chars, cap if over else None)


def _too_complex(f: _File, kind: str, key: str, fields: Mapping[str, Any]) -> None:
    """The file is over one of the library's limits for its kind ("docx", "pdf")."""
    f.usable = False
    if kind == "docx":
        limit = msg.LIMIT_REASONS["docx_limit"].format(
            size=human_bytes(DOCX_LIMITS.max_unpacked_bytes),
            xml=human_bytes(DOCX_LIMITS.max_xml_bytes or 0),
            ratio=DOCX_LIMITS.max_ratio or 0,
        )
    else:
        limit = msg.LIMIT_REASONS["pdf_limit"].format(
            pages=PDF_LIMITS.max_pages, operators=PDF_LIMITS.max_operators, seconds=f"{PDF_LIMITS.seconds:g}"
        )
    fields = {k: (human_bytes(v) if k in ("size", "limit") and key == "pdf_page_content" else v)
              for k, v in fields.items()}
    f.info["limit"] = key
    f.items.append(_file_item(f, "file.too_complex", reason=msg.LIMIT_REASONS[key].format(**fields), limit=limit))


def _measure_docx(f: _File, cat: Category, mi: Any, text: Any) -> None:
    facts = inspect_zip(f.path, DOCX_LIMITS)  # sizes and ratios from the directory, before parsing
    if facts.damaged or facts.problems:
        f.usable = False
        if facts.damaged:
            f.info["error"] = facts.damaged
            f.items.append(_file_item(f, "file.unreadable", reason=msg.UNREADABLE_REASONS["zip"]))
        if facts.limit is not None:  # too big to check, in a Word document's words
            _too_complex(f, "docx", *facts.limit)
        for rule_id, fields in facts.problems:
            if rule_id != "file.zip_bomb":
                f.items.append(_file_item(f, rule_id, **fields))
        return
    try:
        plain = read_docx_text(f.path)
    except Exception as exc:  # noqa: BLE001 - python-docx raises many kinds for a broken file
        f.usable = False
        f.info["error"] = f"{type(exc).__name__}: {exc}"[:200]
        f.items.append(_file_item(f, "file.unreadable", reason=msg.UNREADABLE_REASONS["docx"]))
        return
    _count(f, cat, text_chunks(plain.split("\n")))


def _measure_pdf(f: _File, cat: Category, mi: Any, text: Any) -> None:
    f.metrics["chars"] = None
    cap = _chars_cap(cat)
    try:  # page by page, within PDF_LIMITS; counting stops past the cap
        chars, over = count_chars_upto(pdf_pages_text(f.path, PDF_LIMITS), cap)
    except PdfSupportMissing:
        f.items.append(_file_item(f, "file.pdf_unreadable"))
        return
    except TooComplex as exc:
        _too_complex(f, "pdf", exc.key, exc.fields)
        return
    except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds for a broken file
        f.usable = False
        f.info["error"] = f"{type(exc).__name__}: {exc}"[:200]
        f.items.append(_file_item(f, "file.unreadable", reason=msg.UNREADABLE_REASONS["pdf"]))
        return
    if chars == 0:
        f.items.append(_file_item(f, "file.pdf_no_text", measured=0))
        return
    _set_chars(f, chars, cap if over else None)


def _measure_text(f: _File, cat: Category, mi: Any, text: tuple[str, str] | None) -> None:
    if text is None:  # pragma: no cover - kind "text" is only set with decoded text
        text = decode_text(f.path.read_bytes()) or ("", "UTF-8")
    plain, encoding = text
    f.info["encoding"] = encoding
    f.details.append(encoding)
    if f.path.suffix.lower().lstrip(".") in _MARKDOWN_EXTENSIONS:
        lines = markdown_lines(plain)  # linear time; read only as far as counting goes
        f.info["markdown"] = True
    else:
        lines = iter(plain.split("\n"))
    _count(f, cat, text_chunks(lines))


def _measure_zip(f: _File, cat: Category, mi: Any, text: Any) -> None:
    limits = cat.archive
    zl = (
        ZipLimits(limits.max_unpacked_bytes, limits.max_entries, limits.max_ratio)
        if limits is not None
        else DOCX_LIMITS
    )
    facts = inspect_zip(f.path, zl)
    f.zip = facts
    if facts.damaged:
        f.usable = False
        f.info["error"] = facts.damaged
        f.items.append(_file_item(f, "file.unreadable", reason=msg.UNREADABLE_REASONS["zip"]))
        return
    f.info.update(facts.to_dict())
    for rule_id, fields in facts.problems:
        f.items.append(_file_item(f, rule_id, **fields))
    f.usable = not facts.problems  # an unsafe archive is refused whatever it holds
    f.details.append(msg.LABEL_PARTS["zip_files"].format(files=facts.files))
    if f.kind == "zip":
        f.details.append(msg.LABEL_PARTS["html_pages"].format(pages=len(facts.html_pages)))
    if f.usable:
        estimates = _estimates(f, cat, facts)
        if estimates:
            f.info["estimates"] = estimates


def _estimates(f: _File, cat: Category, facts: ZipFacts) -> dict[str, dict[str, Any]]:
    """The estimates the category's rules can use ("pages" of an H5 zip, "levels" of a game)."""
    metrics = {r.metric for r in cat.rules}
    out: dict[str, dict[str, Any]] = {}
    if "pages" in metrics and f.kind == "zip":
        out["pages"] = estimate_pages(f.path, facts.html_pages)
    if "levels" in metrics:
        levels = estimate_levels(f.path, facts.names)
        if levels is not None:
            out["levels"] = levels
    return out


def _measure_nothing(f: _File, cat: Category, mi: Any, text: Any) -> None:
    return None


_MEASURE = {
    "video": _measure_video,
    "audio": _measure_video,
    "image": _measure_image,
    "docx": _measure_docx,
    "pdf": _measure_pdf,
    "text": _measure_text,
    "zip": _measure_zip,
    "apk": _measure_zip,
}


# --------------------------------------------------------------------------- rules


def _margin(rule: Rule, value: Any) -> float:
    """How far a value is inside the rule (negative: outside). The weakest file has the least."""
    if isinstance(rule.value, bool):
        return 0.0 if value is rule.value else -1.0
    if isinstance(rule.value, tuple):
        lo, hi = rule.value
        return float(min(value - lo, hi - value))
    if rule.op == ">=":
        return float(value - rule.value)
    if rule.op == "<=":
        return float(rule.value - value)
    return -abs(float(value - rule.value))


def _measured_item(rule: Rule, files: list[_File]) -> Item | None:
    judged: list[tuple[_File, Any, str]] = []
    for f in files:
        if not f.usable or rule.metric in f.skipped:
            continue
        value = f.metrics.get(rule.metric)
        status = "unknown" if value is None else ("pass" if rule.passes(value) else "fail")
        judged.append((f, value, status))
    if not judged:
        return None
    failing = [j for j in judged if j[2] == "fail"]
    unknown = [j for j in judged if j[2] == "unknown"]
    if failing:
        f, value, status = min(failing, key=lambda j: _margin(rule, j[1]))
    elif unknown:
        f, value, status = unknown[0]
    else:
        f, value, status = min(judged, key=lambda j: _margin(rule, j[1]))
    text = msg.NOT_MEASURABLE_TEXT if value is None else _measured_text(rule, f, value, status == "pass")
    if len(failing) > 1:
        others = [j[0].name for j in failing if j[0] is not f]
        names = "、".join(others[:5]) + (msg.LABEL_PARTS["more"] if len(others) > 5 else "")
        text += msg.SERIES_MORE_FAILING.format(count=len(others), names=names)
    hint = {"pass": "", "fail": rule.hint, "unknown": msg.NOT_MEASURABLE_HINT}[status]
    return Item(
        rule_id=rule.id,
        title=rule.title,
        level=rule.level,
        status=status,  # type: ignore[arg-type]
        measured=value,
        measured_text=text,
        expected=rule.expected,
        hint=hint,
        file=f.name,
    )


def _coerce(rule: Rule, raw: Any) -> bool | int | float:
    """A declared answer as the rule's kind of value. ValueError when it cannot be one."""
    if isinstance(rule.value, bool):
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)
        if isinstance(raw, str) and raw.strip().lower() in _TRUE_WORDS | _FALSE_WORDS:
            return raw.strip().lower() in _TRUE_WORDS
        raise ValueError(raw)
    if isinstance(raw, bool):
        raise ValueError(raw)
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise ValueError(raw)
        return raw
    if isinstance(raw, str):
        try:
            number = float(raw.strip())
        except ValueError:
            raise ValueError(raw) from None
        if not math.isfinite(number):
            raise ValueError(raw)
        return int(number) if number.is_integer() else number
    if isinstance(raw, list | tuple | set | frozenset):
        return sum(1 for x in raw if str(x).strip())
    raise ValueError(raw)


def _declared_item(rule: Rule, answers: dict[str, Any]) -> Item:
    raw = answers.get(rule.metric)
    base = {"rule_id": rule.id, "title": rule.title, "level": rule.level, "expected": rule.expected}
    missing_hint = msg.DECLARED_MISSING_HINT.format(title=rule.title, hint=rule.hint)
    if raw is None:
        return Item(**base, status="unknown", measured_text=msg.DECLARED_MISSING_TEXT, hint=missing_hint)
    try:
        value = _coerce(rule, raw)
    except ValueError:
        return Item(
            **base,
            status="unknown",
            measured=raw if isinstance(raw, str | int | float | bool) else str(raw),
            measured_text=msg.DECLARED_INVALID_TEXT.format(value=raw),
            hint=missing_hint,
        )
    ok = rule.passes(value)
    text = (msg.YES if value else msg.NO) if isinstance(value, bool) else _amount_text(rule, value, ok)
    return Item(
        **base,
        status="pass" if ok else "fail",
        measured=value,
        measured_text=text,
        hint="" if ok else rule.hint,
    )


def _declared_number(rule: Rule, answers: Mapping[str, Any]) -> float | None:
    raw = answers.get(rule.metric)
    if raw is None or isinstance(rule.value, bool):
        return None
    try:
        value = _coerce(rule, raw)
    except ValueError:
        return None
    return None if isinstance(value, bool) else value


def _estimate_items(rule: Rule, answers: Mapping[str, Any], files: list[_File]) -> list[Item]:
    """The package's estimate of a declared count (bot/checks/estimates.py), one item per file that
    has one: compared with the declared number, or without one with the rule's minimum. A warning
    when lower: the declared number is what the rule judges."""
    texts = msg.ESTIMATES.get(rule.metric)
    if texts is None or isinstance(rule.value, bool):
        return []
    declared = _declared_number(rule, answers)
    out = []
    for f in files:
        est = (f.info.get("estimates") or {}).get(rule.metric) if f.usable else None
        if not isinstance(est, dict) or not isinstance(est.get("value"), int | float):
            continue
        value = est["value"]
        fields: dict[str, Any] = {
            **est,
            "title": rule.title,
            "expected": rule.expected,
            "bound": rule.format_amount(rule.value[0] if isinstance(rule.value, tuple) else rule.value),
            "declared": "" if declared is None else rule.format_amount(declared),
        }
        fields["count"] = texts["count"].get(est.get("source"), "").format(**fields)
        against = "minimum" if declared is None else "declared"
        ok = rule.passes(value) if declared is None else value >= declared
        out.append(
            Item(
                rule_id=f"estimate.{rule.metric}",
                title=texts["title"],
                level=texts["level"],
                status="pass" if ok else "fail",
                measured=value,
                measured_text=texts["measured" if ok else f"below_{against}"].format(**fields),
                expected=texts[f"expected_{against}"].format(**fields) if ok else "",
                hint="" if ok else texts[f"hint_{against}"].format(**fields),
                file=f.name,
            )
        )
    return out


# --------------------------------------------------------------------------- display


def _num_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}".rstrip("0").rstrip(".")


def _deg(rotation: float) -> str:
    return _num_text(round(rotation, 1))


def _fmt_scaled(rule: Rule, amount: float, decimals: int) -> str:
    scaled = amount / rule.unit_scale
    text = (
        str(round(scaled)) if float(scaled).is_integer() else f"{scaled:.{decimals}f}".rstrip("0").rstrip(".")
    )
    if not rule.unit:
        return text
    return f"{text} {rule.unit}" if rule.unit[0].isascii() else f"{text}{rule.unit}"


def _amount_text(rule: Rule, amount: float, ok: bool) -> str:
    """rule.format_amount, with more decimals when a failing value would print like the bound
    (4_999_999 bit/s is "4.999999 Mbit/s", not "5 Mbit/s")."""
    text = rule.format_amount(amount)
    bounds = rule.value if isinstance(rule.value, tuple) else (rule.value,)
    bound_texts = {rule.format_amount(b) for b in bounds if not isinstance(b, bool)}
    decimals = 2
    while not ok and text in bound_texts and decimals < 9:
        decimals += 1
        text = _fmt_scaled(rule, amount, decimals)
    return text


def _duration_text(seconds: float, decimals: int = 2) -> str:
    total = round(seconds, decimals)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    s_text = _num_text(round(s, decimals)) if decimals <= 2 else f"{s:.{decimals}f}".rstrip("0").rstrip(".")
    if h:
        return msg.DURATION_HMS.format(h=int(h), m=int(m), s=s_text)
    if m:
        return msg.DURATION_MS.format(m=int(m), s=s_text)
    return msg.DURATION_S.format(s=s_text)


def _measured_text(rule: Rule, f: _File, value: Any, ok: bool) -> str:
    metric, info = rule.metric, f.info
    if metric == "short_side_px" and info.get("width"):
        w, h, rot = info["width"], info["height"], info.get("rotation") or 0
        if round(rot) % 180 == 90:
            return msg.RESOLUTION_ROTATED.format(
                w=w, h=h, deg=_deg(rot), dw=info["display_width"], dh=info["display_height"], short=value
            )
        return msg.RESOLUTION.format(w=w, h=h, short=value)
    if metric == "image_long_side_px":
        return msg.IMAGE_LONG_SIDE.format(w=info["width"], h=info["height"], side=value)
    if metric == "image_short_side_px":
        return msg.IMAGE_SHORT_SIDE.format(w=info["width"], h=info["height"], side=value)
    if metric == "duration_s":
        text = _duration_text(value)
        if not ok and not isinstance(rule.value, bool | tuple) and round(value, 2) == rule.value:
            text = _duration_text(value, 3)
        return text
    if metric == "chars" and info.get("chars_over"):
        return msg.LABEL_PARTS["chars_over"].format(chars=info["chars_over"])
    if metric == "has_video_track":
        return msg.HAS_VIDEO[bool(value)]
    if metric == "not_truncated":
        return msg.NOT_TRUNCATED[bool(value)]
    if isinstance(value, bool):
        return msg.YES if value else msg.NO
    text = _amount_text(rule, value, ok)
    video = info.get("video_bitrate_bps") if metric == "bitrate_bps" else None
    if video and abs(video - value) >= 0.005 * value:
        text = msg.BITRATE_WITH_VIDEO.format(overall=text, video=_fmt_scaled(rule, video, 2))
    return text
