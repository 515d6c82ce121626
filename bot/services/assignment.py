"""Who reviews a submission: the assignment rules of issue 10, as pure functions over plain records.

    names = field_names(campaign)                       # field id -> its name, for text matching
    ids = choose(item, candidates, n, exclude=already_on_round | declined, names=names)
    why = conflict(item, candidate)                     # "creator" | "same_unit" | "recommender" | None

Rules (`choose`):
- never the creator, never a reviewer whose 单位 is the creator's 单位 or the recommending unit
  (`conflict`), never anyone in `exclude` (already on this round, or declined it), never one
  reviewer twice;
- reviewers whose fields match the item (`fields_match`) first, then every other eligible one;
- within each group the least open load first, ties by user_id: the same input always gives the
  same answer;
- fewer than n eligible: those are returned (the caller queues the item for the rest).

Units are compared by `normalise_unit`: NFKC (全角 == 半角), casefold, whitespace and invisible
format characters dropped. An empty unit (after normalising) never matches anything: a reviewer
or creator who left 单位 blank is no conflict by unit.

Fields match (`fields_match`) when the item's topic direction id is among the reviewer's field
ids, or when a term of the creator's 专业领域 and a term of the reviewer's own words (other_fields,
and the names of their chosen fields when `names` is given) contain one another. Terms are the
text split at punctuation (，、；/ brackets and the like, after NFKC), each normalised like a unit;
a term counts only when it has at least MIN_TERM characters and is not a GENERIC word (科学, 科普,
其他, …) that would match everyone. "临床医学" matches "医学"; "医学" does not match "化学".

No aiogram, no database, no I/O here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from bot.campaign import Campaign

__all__ = [
    "GENERIC",
    "MIN_TERM",
    "Candidate",
    "Conflict",
    "Item",
    "choose",
    "conflict",
    "field_names",
    "fields_match",
    "normalise_unit",
    "terms",
]

Conflict = Literal["creator", "same_unit", "recommender"]

MIN_TERM = 2  # a one-character term (学, 医) is too vague to match on
# words too general to say two people share a field (normalised: casefolded, no spaces)
GENERIC = frozenset(
    {
        "科学", "科技", "科普", "技术", "科学技术", "科学普及", "研究", "专业", "领域", "专业领域",
        "其他", "其它", "无", "暂无", "不限", "综合", "通用", "全部",
        "science", "technology", "research", "other", "others", "none", "general", "na",
    }
)  # fmt: skip

# after NFKC, full-width ，；：／（） are their ASCII forms; 、。【】《》「」 stay as they are
_SPLIT = re.compile(r"[,，、;；:：/／|｜\\()（）\[\]【】《》<>「」『』\"'“”‘’·・.。!！?？\n\r\t+&＆]+")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A reviewer who could be assigned."""

    user_id: int
    fields: frozenset[str]  # field ids chosen from the campaign's list (topic direction ids)
    other_fields: str  # their fields in their own words
    unit: str  # 单位
    open_load: int  # reviews they have open now


@dataclass(frozen=True, slots=True)
class Item:
    """A submission (its current round) to be reviewed."""

    submission_id: int
    creator_id: int
    creator_field: str  # the creator's 专业领域, free text
    direction: str | None  # the topic direction id, when the application names one
    creator_unit: str  # the creator's 单位
    recommender: str  # the recommending unit


def normalise_unit(text: str | None) -> str:
    """The identity of a unit (or a term): NFKC, casefold, whitespace and format characters (Cf,
    e.g. zero-width spaces) dropped. "中国 科协" == "中国科协" == "中国\u3000科协"; "ＡＢＣ大学" == "abc大学"."""
    if not text:
        return ""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(c for c in folded if not c.isspace() and unicodedata.category(c) != "Cf")
    return unicodedata.normalize("NFKC", kept)  # dropping a joiner may leave forms to compose


def _same_unit(a: str, b: str) -> bool:
    na = normalise_unit(a)
    return bool(na) and na == normalise_unit(b)


def conflict(item: Item, candidate: Candidate) -> Conflict | None:
    """Why this reviewer may not review this item, or None. One reason, the first of: "creator"
    (it is their own work), "same_unit" (their 单位 is the creator's), "recommender" (their 单位 is
    the unit that recommended the work). Empty units never conflict."""
    if candidate.user_id == item.creator_id:
        return "creator"
    if _same_unit(candidate.unit, item.creator_unit):
        return "same_unit"
    if _same_unit(candidate.unit, item.recommender):
        return "recommender"
    return None


def terms(text: str | None) -> frozenset[str]:
    """The meaningful terms of a free-text field list: split at punctuation, each normalised like a
    unit, without those shorter than MIN_TERM or GENERIC. "临床医学、公共卫生（流行病学）" →
    {"临床医学", "公共卫生", "流行病学"}."""
    if not text:
        return frozenset()
    parts = _SPLIT.split(unicodedata.normalize("NFKC", text))
    normalised = (normalise_unit(p) for p in parts)
    return frozenset(t for t in normalised if len(t) >= MIN_TERM and t not in GENERIC)


def fields_match(item: Item, candidate: Candidate, names: Mapping[str, str] | None = None) -> bool:
    """Whether the reviewer's fields fit the item: the topic direction id is one of their field ids,
    or a term of the creator's 专业领域 and a term of the reviewer's other_fields (or the name, from
    `names`, of a field id they chose) contain one another."""
    if item.direction and item.direction in candidate.fields:
        return True
    wanted = terms(item.creator_field)
    if not wanted:
        return False
    words = [candidate.other_fields]
    if names:
        words += [names[f] for f in sorted(candidate.fields) if f in names]
    offered = terms("、".join(words))
    return any(a in b or b in a for a in wanted for b in offered)


def field_names(campaign: Campaign) -> dict[str, str]:
    """Field id -> name for the campaign's field list (its topic directions)."""
    return {d.id: d.name for d in campaign.topics.directions}


def choose(
    item: Item,
    candidates: Iterable[Candidate],
    n: int,
    *,
    exclude: frozenset[int] = frozenset(),
    names: Mapping[str, str] | None = None,
) -> list[int]:
    """Up to n reviewer ids for the item, best first (see the module's rules). Fewer when fewer are
    eligible; [] for n == 0. A reviewer listed twice counts once (their first listing decides)."""
    if n < 0:
        raise ValueError(f"n must be 0 or more, got {n}")
    if n == 0:
        return []
    ranked: list[tuple[int, int, int]] = []  # (0 = fields match else 1, open_load, user_id)
    seen: set[int] = set()
    for candidate in candidates:
        if candidate.user_id in seen:
            continue
        seen.add(candidate.user_id)
        if candidate.user_id in exclude or conflict(item, candidate) is not None:
            continue
        group = 0 if fields_match(item, candidate, names) else 1
        ranked.append((group, candidate.open_load, candidate.user_id))
    ranked.sort()
    return [user_id for _, _, user_id in ranked[:n]]
