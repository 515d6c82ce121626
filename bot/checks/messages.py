"""The checks library's own words, loaded from content/checks.toml (with the templates, so every
text a person sees is edited under content/). Rule titles, hints and thresholds come from the
campaign file; these are the rest: problems with the file itself, names of the kinds of file we
detect, words for measured values. Fields in {braces} are filled by ``str.format``."""

from __future__ import annotations

import tomllib
from pathlib import Path

TEXTS = Path(__file__).resolve().parents[2] / "content" / "checks.toml"

with open(TEXTS, "rb") as _fh:
    _t = tomllib.load(_fh)

_w = _t["words"]

# rule_id -> (level, title, hint template); and the words for what was measured and expected
FILE_PROBLEMS: dict[str, tuple[str, str, str]] = {
    rid: (p["level"], p["title"], p["hint"]) for rid, p in _t["file_problems"].items()}
FILE_PROBLEM_MEASURED: dict[str, str] = {rid: p["measured"] for rid, p in _t["file_problems"].items()}
FILE_PROBLEM_EXPECTED: dict[str, str] = {rid: p["expected"] for rid, p in _t["file_problems"].items()}
UNREADABLE_REASONS: dict[str, str] = _t["unreadable_reasons"]
ZIP_REASONS: dict[str, str] = _t["zip_reasons"]  # follow the word "压缩包" in file.zip_bomb
LIMIT_REASONS: dict[str, str] = _t["limit_reasons"]  # a document over the library's own limits
BUDGET_REASONS: dict[str, str] = _t["budget_reasons"]  # a check stopped for its time or memory budget
KIND_NAMES: dict[str, str] = _t["kind_names"]
LABEL_PARTS: dict[str, str] = _t["label_parts"]
KIND_EXPECTED: dict[str, str] = _t["kind_expected"]
STATUS_ICONS: dict[str, str] = _t["status_icons"]
FAIL_ICONS: dict[str, str] = _t["fail_icons"]
HAS_VIDEO = {True: _t["has_video"]["yes"], False: _t["has_video"]["no"]}
NOT_TRUNCATED = {True: _t["not_truncated"]["yes"], False: _t["not_truncated"]["no"]}
# declared metric -> texts of its estimate from inside a package (see bot/checks/estimates.py)
ESTIMATES: dict[str, dict] = _t["estimates"]

DECLARED_MISSING_TEXT = _w["declared_missing_text"]
DECLARED_MISSING_HINT = _w["declared_missing_hint"]
DECLARED_INVALID_TEXT = _w["declared_invalid_text"]
NOT_MEASURABLE_TEXT = _w["not_measurable_text"]
NOT_MEASURABLE_HINT = _w["not_measurable_hint"]
YES, NO = _w["yes"], _w["no"]
RESOLUTION = _w["resolution"]
RESOLUTION_ROTATED = _w["resolution_rotated"]
IMAGE_LONG_SIDE = _w["image_long_side"]
IMAGE_SHORT_SIDE = _w["image_short_side"]
BITRATE_WITH_VIDEO = _w["bitrate_with_video"]
DURATION_HMS = _w["duration_hms"]
DURATION_MS = _w["duration_ms"]
DURATION_S = _w["duration_s"]
SERIES_MORE_FAILING = _w["series_more_failing"]
SUMMARY_OK = _w["summary_ok"]
SUMMARY_FAIL = _w["summary_fail"]
SUMMARY_COUNTS = _w["summary_counts"]
FILES_ONLY_NOTE = _w["files_only_note"]
DECLARE_KEYS = _w["declare_keys"]
DECLARE_KEY = _w["declare_key"]
DECLARE_MISSING = _w["declare_missing"]
DECLARE_EXAMPLE = {"number": _w["declare_example_number"], "bool": _w["declare_example_bool"]}
