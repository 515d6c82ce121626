"""The campaign file (content/campaign.toml): one year's notice of the 科普中国网络创作培育计划 as data.

Pure domain code: stdlib + pydantic only, nothing is read at import time.

    campaign = load_campaign()                  # content/campaign.toml next to this package
    campaign.is_open(datetime.now(UTC))
    for rule in campaign.rules_for("video"):    # common rules + the category's own
        ok = rule.passes(measured[rule.metric])

Every problem with the file surfaces as one `CampaignError` whose one-line message names the file
and the key path, e.g. ``content/campaign.toml: categories[2].rules[0].level: must be one of error,
warning, note``.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "DEFAULT_CAMPAIGN_PATH",
    "ArchiveLimits",
    "Campaign",
    "CampaignError",
    "Category",
    "Contact",
    "ContactPerson",
    "Criterion",
    "FlowStep",
    "Links",
    "Notice",
    "RecommendingUnits",
    "Requirement",
    "Requirements",
    "ReviewSettings",
    "Rule",
    "SubjectType",
    "SupportTrack",
    "TopicDirection",
    "TopicGuide",
    "UnknownCategoryError",
    "UnknownRuleError",
    "Window",
    "load_campaign",
]

DEFAULT_CAMPAIGN_PATH: Path = Path(__file__).resolve().parent.parent / "content" / "campaign.toml"


class CampaignError(Exception):
    """The campaign file is unreadable or invalid, or a lookup in it failed. One-line message."""


class UnknownCategoryError(CampaignError, LookupError):
    """`Campaign.category()` was asked for an id the campaign does not define."""


class UnknownRuleError(CampaignError, LookupError):
    """`Campaign.rule()` was asked for an id the campaign does not define."""


# --------------------------------------------------------------------------- field types

_ID_PATTERN = r"^[a-z][a-z0-9_]*$"
_RULE_ID_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"
_EXT_PATTERN = r"^[a-z0-9]+$"

Id = Annotated[str, Field(pattern=_ID_PATTERN)]
RuleId = Annotated[str, Field(pattern=_RULE_ID_PATTERN)]
Extension = Annotated[str, Field(pattern=_EXT_PATTERN)]
Text = Annotated[str, Field(min_length=1)]
PositiveInt = Annotated[StrictInt, Field(gt=0)]
Number = int | float

Level = Literal["error", "warning", "note"]
Op = Literal[">=", "<=", "==", "between"]
Kind = Literal["work", "topic"]
UploadKind = Literal["document", "photo", "video", "album"]
Cadence = Literal["monthly", "quarterly"]
RuleValue = bool | int | float | tuple[Number, Number]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _ensure_unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --------------------------------------------------------------------------- small records


class Notice(_Model):
    id: Text  # 科协办函普字〔2023〕25号
    title: Text
    issuer: Text
    published: date


class Window(_Model):
    """Application window. After loading a Campaign, both ends are aware (campaign timezone)."""

    start: datetime
    end: datetime  # inclusive to the second
    as_written: Text  # the notice's own words, for display
    source: Text

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if (self.start.tzinfo is None) != (self.end.tzinfo is None):
            raise ValueError("start and end must both be local times (or both carry an offset)")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Links(_Model):
    account_opening: Annotated[str, Field(pattern=r"^https?://\S+$")]  # 科普号开通流程
    platform_path: Text  # 科普号-个人中心-创作培育计划
    source: Text


class ContactPerson(_Model):
    name: Text
    role: str | None = None  # e.g. 科普号注册


class Contact(_Model):
    organisation: Text
    people: Annotated[tuple[ContactPerson, ...], Field(min_length=1)]
    phones: Annotated[tuple[Text, ...], Field(min_length=1)]
    source: Text


class FlowStep(_Model):
    id: Id
    title: Text
    summary: Text
    source: Text


class SupportTrack(_Model):
    id: Id
    name: Text
    cadence: Cadence
    basis: Annotated[tuple[Text, ...], Field(min_length=1)]
    outcome: Text
    source: Text


class TopicDirection(_Model):
    id: Id
    name: Text
    description: str = ""


class TopicGuide(_Model):
    guide: Text  # 《2023年度科普中国选题指南》
    focus: Text  # 四个面向
    focus_items: tuple[Text, ...] = ()
    source: Text
    directions: Annotated[tuple[TopicDirection, ...], Field(min_length=1)]

    @field_validator("directions")
    @classmethod
    def _unique(cls, v: tuple[TopicDirection, ...]) -> tuple[TopicDirection, ...]:
        _ensure_unique([d.id for d in v], "id")
        return v


class Criterion(_Model):
    id: Id
    name: Text
    description: Text


class Requirement(_Model):
    id: Id
    text: Text
    source: Text


class Requirements(_Model):
    branding: Annotated[tuple[Requirement, ...], Field(min_length=1)]
    contract: Annotated[tuple[Requirement, ...], Field(min_length=1)]
    disqualification: Annotated[tuple[Requirement, ...], Field(min_length=1)]
    declaration: Annotated[tuple[Requirement, ...], Field(min_length=1)]  # originality declaration items

    @field_validator("branding", "contract", "disqualification", "declaration")
    @classmethod
    def _unique(cls, v: tuple[Requirement, ...]) -> tuple[Requirement, ...]:
        _ensure_unique([r.id for r in v], "id")
        return v


class SubjectType(_Model):
    id: Id  # organisation | team | individual
    name: Text
    needs_seal: StrictBool
    note: Text


class RecommendingUnits(_Model):
    allow_other: StrictBool = True
    provincial: tuple[Text, ...]
    societies: tuple[Text, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return self.provincial + self.societies

    @model_validator(mode="after")
    def _unique(self) -> RecommendingUnits:
        _ensure_unique(list(self.all), "unit")
        return self


class ArchiveLimits(_Model):
    """Zip safety limits for a category that accepts archives."""

    max_unpacked_bytes: PositiveInt  # total of all entries once unpacked
    max_entries: PositiveInt
    max_ratio: Annotated[float, Field(gt=1)]  # unpacked/packed, per entry and for the whole archive


class DripLesson(_Model):
    """A lesson offered `day` days after a creator's 科普号 registration is approved."""

    slug: Id
    day: Annotated[StrictInt, Field(ge=0, le=365)]


class AcademySettings(_Model):
    """创作学院 (三(三)): the drip schedule of lessons after approval. The lessons themselves are the
    files of content/academy/ (bot/services/academy.py checks the slugs named here exist)."""

    drip: tuple[DripLesson, ...] = ()
    source: str = ""


class ReminderSettings(_Model):
    """Reminders the bot sends on its own (issue 12): quiet hours (local time, campaign timezone)
    during which non-urgent ones wait, and the days before the window closes that creators are
    reminded of the deadline."""

    quiet_hours: tuple[str, str] = ("22:00", "08:00")  # from, until (may wrap past midnight)
    deadline_days: tuple[Annotated[StrictInt, Field(ge=1, le=365)], ...] = (30, 7, 1)
    idle_days: Annotated[StrictInt, Field(ge=1, le=60)] = 3  # a draft untouched / a scan not sent for this long
    source: str = ""

    @field_validator("quiet_hours")
    @classmethod
    def _hh_mm(cls, v: tuple[str, str]) -> tuple[str, str]:
        for value in v:
            hh, _, mm = value.partition(":")
            if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60 and len(mm) == 2):
                raise ValueError(f"quiet hours are HH:MM, got {value!r}")
        return v


class ReviewSettings(_Model):
    """Expert review (七(一)): how many reviewers a round gets, their deadline, the score scale,
    when reviewers count as disagreeing, the 修改后再审 deadline and whether creators see reviewers'
    names. The `[review]` table is optional: every key has a default."""

    reviewers: Annotated[StrictInt, Field(ge=1, le=10)] = 2  # per round
    due_days: Annotated[StrictInt, Field(ge=1, le=365)] = 7  # a reviewer's deadline, from assignment
    scale: tuple[StrictInt, StrictInt] = (1, 5)  # lowest, highest score of a criterion
    disagreement: Annotated[StrictInt, Field(ge=0)] = 2  # points apart on one criterion: flagged
    revise_days: Annotated[StrictInt, Field(ge=1, le=365)] = 14  # 修改后再审: time for the next round
    anonymous: StrictBool = True  # the creator sees 评审专家1/2, not names
    source: str = ""

    @field_validator("scale")
    @classmethod
    def _scale_ordered(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] >= v[1]:
            raise ValueError(f"scale must be [lowest, highest] with lowest < highest, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _disagreement_fits(self) -> ReviewSettings:
        if self.disagreement > self.scale[1] - self.scale[0]:
            raise ValueError(f"disagreement {self.disagreement} is wider than the scale {list(self.scale)}")
        return self


# --------------------------------------------------------------------------- rules


class Rule(_Model):
    id: RuleId  # "video.short_side"; unique across the campaign
    level: Level
    metric: Id  # what the checks library measures, e.g. "short_side_px"
    op: Op
    value: RuleValue  # in the metric's unit; (min, max) for "between"; bool only with "=="
    unit: str = ""  # display unit
    unit_scale: Annotated[float, Field(gt=0)] = 1  # metric units per display unit
    title: Text
    hint: Text
    source: Text
    expected_text: str = ""  # the requirement in words, where the threshold reads badly ("有视频画面", not "是")

    @field_validator("value", mode="before")
    @classmethod
    def _value_fits_op(cls, v: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        if op is None:  # op itself is invalid; that error is reported
            return v
        if op == "between":
            if not (isinstance(v, list | tuple) and len(v) == 2 and all(_is_number(x) for x in v)):
                raise ValueError('"between" needs [min, max] (two numbers)')
            lo, hi = v
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise ValueError("bounds must be finite numbers")
            if lo > hi:
                raise ValueError(f"min {lo} is greater than max {hi}")
            return tuple(v)
        if isinstance(v, bool):
            if op != "==":
                raise ValueError(f'a true/false value needs op "==", not "{op}"')
            return v
        if not _is_number(v):
            raise ValueError(f'"{op}" needs a number' + (" or true/false" if op == "==" else ""))
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v

    def passes(self, measured: float | int | bool) -> bool:
        """Whether a measured value satisfies the rule ("between" is inclusive; NaN never passes)."""
        if isinstance(self.value, bool):
            if not isinstance(measured, bool):
                raise TypeError(f"rule {self.id}: expected a bool measurement, got {measured!r}")
            return measured is self.value
        if not _is_number(measured):
            raise TypeError(f"rule {self.id}: expected a number measurement, got {measured!r}")
        if self.op == "between":
            lo, hi = self.value  # type: ignore[misc]
            return lo <= measured <= hi
        if self.op == ">=":
            return measured >= self.value  # type: ignore[operator]
        if self.op == "<=":
            return measured <= self.value  # type: ignore[operator]
        return measured == self.value

    def format_amount(self, amount: float | int) -> str:
        """A metric amount in the display unit: 5_000_000 → "5 Mbit/s", 300 → "5分钟"."""
        scaled = amount / self.unit_scale
        text = str(round(scaled)) if float(scaled).is_integer() else f"{scaled:.2f}".rstrip("0").rstrip(".")
        if not self.unit:
            return text
        return f"{text} {self.unit}" if self.unit[0].isascii() else f"{text}{self.unit}"

    @property
    def expected(self) -> str:
        """The threshold in words for messages: "≥ 1080 px", "≤ 5分钟", "1200–3000字"; the rule's
        expected_text when it has one (a yes/no rule: "有视频画面"), else "是"/"否"."""
        if self.expected_text:
            return self.expected_text
        if isinstance(self.value, bool):
            return "是" if self.value else "否"
        if isinstance(self.value, tuple):
            lo, hi = self.value
            return f"{self.format_amount(lo).removesuffix(self.unit).strip()}–{self.format_amount(hi)}"
        symbol = {">=": "≥", "<=": "≤", "==": "="}[self.op]
        return f"{symbol} {self.format_amount(self.value)}"


# --------------------------------------------------------------------------- categories


class Category(_Model):
    id: Id
    name: Text  # 视频, 图文, 深度图文, 漫画/挂图, …
    group: Text  # 视频 | 图文 | 应用 | 选题: the notice's heading
    kind: Kind  # work (作品类) | topic (选题类)
    source: Text
    description: Text
    forms: tuple[Text, ...] = ()  # video: 纪录片, 宣传片, …
    series: StrictBool = False  # several files make one work (漫画/挂图 系列)
    accepts: Annotated[tuple[UploadKind, ...], Field(min_length=1)]  # Telegram upload kinds
    extensions: Annotated[tuple[Extension, ...], Field(min_length=1)]  # lower-case, no dot
    archive: ArchiveLimits | None = None  # required when "zip" is accepted
    rules: tuple[Rule, ...] = ()

    @field_validator("accepts", "extensions", "forms")
    @classmethod
    def _no_duplicates(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        _ensure_unique(list(v), "entry")
        return v

    @model_validator(mode="after")
    def _archive_matches_extensions(self) -> Category:
        if "zip" in self.extensions and self.archive is None:
            raise ValueError(f'category {self.id!r} accepts "zip" so it needs an [archive] table of limits')
        if self.archive is not None and "zip" not in self.extensions:
            raise ValueError(f'category {self.id!r} has archive limits but does not accept "zip"')
        return self

    def accepts_extension(self, filename_or_ext: str) -> bool:
        """True for "a.MP4", ".mp4" or "mp4" when mp4 is accepted."""
        ext = filename_or_ext.rsplit(".", 1)[-1].lower()
        return ext in self.extensions


# --------------------------------------------------------------------------- campaign


class Campaign(_Model):
    programme: Text  # 科普中国网络创作培育计划
    year: Annotated[StrictInt, Field(ge=2000, le=2100)]
    timezone: Text  # IANA name, e.g. Asia/Shanghai
    purpose: Text
    notice: Notice
    window: Window  # aware datetimes in `timezone`
    links: Links
    contacts: Annotated[tuple[Contact, ...], Field(min_length=1)]
    flow: Annotated[tuple[FlowStep, ...], Field(min_length=1)]
    support: tuple[SupportTrack, ...] = ()
    topics: TopicGuide
    criteria: Annotated[tuple[Criterion, ...], Field(min_length=1)]
    requirements: Requirements
    subject_types: Annotated[tuple[SubjectType, ...], Field(min_length=1)]
    recommending_units: RecommendingUnits
    common_rules: tuple[Rule, ...] = ()  # apply to every category
    categories: Annotated[tuple[Category, ...], Field(min_length=1)]
    review: ReviewSettings = ReviewSettings()
    academy: AcademySettings = AcademySettings()
    reminders: ReminderSettings = ReminderSettings()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @field_validator("window")
    @classmethod
    def _localise_window(cls, v: Window, info: ValidationInfo) -> Window:
        name = info.data.get("timezone")
        if name is None:  # invalid timezone, already reported
            return v
        tz = ZoneInfo(name)

        def aware(dt: datetime) -> datetime:
            return dt.replace(tzinfo=tz) if dt.tzinfo is None else dt.astimezone(tz)

        return v.model_copy(update={"start": aware(v.start), "end": aware(v.end)})

    @field_validator("flow", "support", "criteria", "subject_types", "categories")
    @classmethod
    def _unique_ids(cls, v: tuple[Any, ...]) -> tuple[Any, ...]:
        _ensure_unique([item.id for item in v], "id")
        return v

    @model_validator(mode="after")
    def _unique_rule_ids(self) -> Campaign:
        seen: dict[str, str] = {}
        places = [(f"common_rules[{i}]", r) for i, r in enumerate(self.common_rules)]
        for ci, cat in enumerate(self.categories):
            places += [(f"categories[{ci}].rules[{ri}]", r) for ri, r in enumerate(cat.rules)]
        for where, rule in places:
            if rule.id in seen:
                raise ValueError(f"{where}.id: rule id {rule.id!r} is already used at {seen[rule.id]}")
            seen[rule.id] = where
        return self

    # -- queries

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def work_categories(self) -> tuple[Category, ...]:
        return tuple(c for c in self.categories if c.kind == "work")

    @property
    def topic_categories(self) -> tuple[Category, ...]:
        return tuple(c for c in self.categories if c.kind == "topic")

    @property
    def metrics(self) -> frozenset[str]:
        """Every metric some rule uses: the checks library can assert it measures them all."""
        rules = self.common_rules + tuple(r for c in self.categories for r in c.rules)
        return frozenset(r.metric for r in rules)

    def category(self, category_id: str) -> Category:
        for cat in self.categories:
            if cat.id == category_id:
                return cat
        known = ", ".join(c.id for c in self.categories)
        raise UnknownCategoryError(f"unknown category {category_id!r} (known: {known})")

    def rules_for(self, category: str | Category) -> tuple[Rule, ...]:
        """The common rules followed by the category's own rules."""
        cat = self.category(category) if isinstance(category, str) else category
        return self.common_rules + cat.rules

    def rule(self, rule_id: str) -> Rule:
        for rule in self.common_rules + tuple(r for c in self.categories for r in c.rules):
            if rule.id == rule_id:
                return rule
        raise UnknownRuleError(f"unknown rule {rule_id!r}")

    def subject_type(self, subject_id: str) -> SubjectType:
        for st in self.subject_types:
            if st.id == subject_id:
                return st
        known = ", ".join(s.id for s in self.subject_types)
        raise CampaignError(f"unknown subject type {subject_id!r} (known: {known})")

    def is_open(self, now: datetime) -> bool:
        """Whether applications are accepted at `now` (aware). The end second is inclusive."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("is_open() needs a timezone-aware datetime")
        return self.window.start <= now and now.replace(microsecond=0) <= self.window.end


# --------------------------------------------------------------------------- loading


def load_campaign(path: str | os.PathLike[str] = DEFAULT_CAMPAIGN_PATH) -> Campaign:
    """Read and validate a campaign file. Raises CampaignError with a one-line message."""
    p = Path(path)
    name = _display_name(p)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise CampaignError(f"{name}: cannot read file: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CampaignError(f"{name}: not UTF-8 text (bad byte at offset {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CampaignError(_one_line(f"{name}: invalid TOML: {exc}")) from exc
    try:
        return Campaign.model_validate(data)
    except ValidationError as exc:
        raise CampaignError(_describe(name, exc)) from exc


def _display_name(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _describe(name: str, exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = _format_loc(first["loc"])
    text = f"{name}: {loc}: {_message(first)}" if loc else f"{name}: {_message(first)}"
    if len(errors) > 1:
        more = len(errors) - 1
        text += f" (and {more} more problem{'s' if more > 1 else ''})"
    return _one_line(text)


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(error: Any) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return "missing required key"
    if kind == "extra_forbidden":
        return "unknown key (typo?)"
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"must be one of {', '.join(options)} (got {_short_repr(error['input'])})"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern")
        if pattern == _ID_PATTERN:
            return f"must be a lower-case id of a-z, 0-9 and _ (got {_short_repr(error['input'])})"
        if pattern == _RULE_ID_PATTERN:
            return f"must be a dotted lower-case id like video.short_side (got {_short_repr(error['input'])})"
        if pattern == _EXT_PATTERN:
            return f"must be a lower-case extension without the dot (got {_short_repr(error['input'])})"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    msg = str(error["msg"])
    msg = "s" + msg.removeprefix("Input s") if msg.startswith("Input should") else msg
    return f"{msg} (got {_short_repr(error['input'])})"
