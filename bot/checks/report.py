"""The result of a check: one `Item` per rule or file problem, gathered in a `Report`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "unknown"]
Level = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Item:
    """One line of the report.

    rule_id: the campaign rule id ("video.short_side") or a file problem ("file.empty", see
    bot/checks/messages.py). status "unknown": nobody could tell (a declared value is missing, or the
    file did not yield the number); an unknown error-level item blocks like a failure.
    measured: the raw value in the metric's unit (px, bit/s, s, 字, count, bool) or None.
    file: the file the value comes from (for a series: the weakest file), None for declared values.
    """

    rule_id: str
    title: str
    level: Level
    status: Status
    measured: Any = None
    measured_text: str = ""
    expected: str = ""
    hint: str = ""
    file: str | None = None

    @property
    def blocking(self) -> bool:
        return self.level == "error" and self.status != "pass"


@dataclass
class Report:
    """What `check()` found. `ok` means no error-level item failed or stayed unknown.

    detected_type: what the file really is, in words ("视频（MPEG-4，AVC 1920×1080，2秒）"); for a
    series the distinct kinds joined with "；". metrics: per file name, the raw measurements
    (width, height, rotation, bit rates, duration, 字数, zip entries …) for storing or display.
    files_only: the declared rules (form answers) were not evaluated.
    """

    category: str
    category_name: str
    files: list[str]
    items: list[Item]
    detected_type: str
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    files_only: bool = False

    @property
    def ok(self) -> bool:
        return not any(i.blocking for i in self.items)

    @property
    def errors(self) -> list[Item]:
        return [i for i in self.items if i.level == "error" and i.status != "pass"]

    @property
    def warnings(self) -> list[Item]:
        return [i for i in self.items if i.level == "warning" and i.status != "pass"]

    @property
    def notes(self) -> list[Item]:
        return [i for i in self.items if i.level == "note" and i.status != "pass"]

    def item(self, rule_id: str) -> Item:
        """The item for a rule id (KeyError when the report has none)."""
        for it in self.items:
            if it.rule_id == rule_id:
                return it
        raise KeyError(rule_id)

    def has(self, rule_id: str) -> bool:
        return any(i.rule_id == rule_id for i in self.items)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        """The report to_dict() gave (stored, or sent from a checking process)."""
        names = set(Item.__dataclass_fields__)
        return cls(category=d["category"], category_name=d["category_name"], files=list(d["files"]),
                   items=[Item(**{k: v for k, v in i.items() if k in names}) for i in d["items"]],
                   detected_type=d["detected_type"], metrics=dict(d.get("metrics") or {}),
                   files_only=bool(d.get("files_only")))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (only str, int, float, bool, None, lists and dicts)."""
        return {
            "category": self.category,
            "category_name": self.category_name,
            "files": list(self.files),
            "detected_type": self.detected_type,
            "ok": self.ok,
            "files_only": self.files_only,
            "counts": {
                "errors": len(self.errors),
                "warnings": len(self.warnings),
                "notes": len(self.notes),
            },
            "items": [asdict(i) for i in self.items],
            "metrics": {name: dict(m) for name, m in self.metrics.items()},
        }
