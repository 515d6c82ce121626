"""A review round's scores, aggregated for the operators' decision and the creator's feedback
(issue 10, parts 4 and 5). Pure: no aiogram, no database, no I/O.

    reviews = [ReviewScores(7, {"scientific": 4, ...}, "revise", "……"), ...]
    agg = aggregate(campaign.criteria, reviews)            # scale (1, 5), disagreement 2 by default
    for c in agg.criteria:                                 # campaign order
        c.name, c.mean_text, c.spread, c.flagged           # "科学性", "4.5", 1, False
    agg.recommendations                                    # {"accept": 1, "revise": 1, "reject": 0}
    agg.weakest.name, agg.disagree

    validate_score("５", (1, 5))                           # 5 (the review form's parser)

Means are exact (`mean`) and rounded half up to one decimal for display (`mean_1dp`, `mean_text`),
so 4.25 shows as 4.3 everywhere (chat and export) rather than float rounding's 4.2.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from bot.campaign import Criterion

__all__ = [
    "DEFAULT_DISAGREEMENT",
    "DEFAULT_SCALE",
    "RECOMMENDATIONS",
    "Aggregate",
    "CriterionScore",
    "ReviewScores",
    "ScoreError",
    "aggregate",
    "round_half_up",
    "validate_scale",
    "validate_score",
]

DEFAULT_SCALE: tuple[int, int] = (1, 5)
DEFAULT_DISAGREEMENT = 2  # points: reviewers further apart than this on one criterion are flagged

RECOMMENDATIONS: tuple[str, ...] = ("accept", "revise", "reject")  # storage.statuses.Verdict's values


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_scale(scale: tuple[int, int]) -> tuple[int, int]:
    """The (lowest, highest) score of a campaign's scale, checked: two integers, lowest < highest."""
    try:
        lo, hi = scale
    except (TypeError, ValueError):
        raise ValueError(f"scale must be (lowest, highest), got {scale!r}") from None
    if not (_is_int(lo) and _is_int(hi)) or lo >= hi:
        raise ValueError(f"scale must be two integers, lowest first, got {scale!r}")
    return lo, hi


@dataclass(frozen=True)
class ReviewScores:
    """One reviewer's submitted review of a round: a score per criterion id, a recommendation
    ("accept" | "revise" | "reject"; a `Verdict` is accepted and kept as its plain value) and the
    comment for the creator."""

    reviewer_id: int
    scores: Mapping[str, int]
    recommendation: str
    comment: str = ""

    def __post_init__(self) -> None:
        rec = str(self.recommendation)  # a StrEnum's str() is its value
        if rec not in RECOMMENDATIONS:
            raise ValueError(
                f"reviewer {self.reviewer_id}: recommendation must be one of {', '.join(RECOMMENDATIONS)}, "
                f"got {self.recommendation!r}"
            )
        object.__setattr__(self, "recommendation", rec)
        object.__setattr__(self, "scores", dict(self.scores))


def round_half_up(value: Fraction | int | float, places: int = 1) -> float:
    """`value` rounded half up (away from -inf at the half) to `places` decimals: 4.25 -> 4.3."""
    exact = Fraction(value)
    step = Fraction(10) ** places
    return float(Fraction(math.floor(exact * step + Fraction(1, 2))) / step)


@dataclass(frozen=True)
class CriterionScore:
    """One criterion across a round's reviews. `scores` are in the order the reviews were given.
    With no reviews: mean, mean_1dp and spread are None and nothing is flagged."""

    criterion_id: str
    name: str
    description: str
    scores: tuple[int, ...]
    mean_exact: Fraction | None
    spread: int | None  # highest - lowest
    flagged: bool  # spread > the disagreement threshold

    @property
    def mean(self) -> float | None:
        """The exact mean as a float."""
        return None if self.mean_exact is None else float(self.mean_exact)

    @property
    def mean_1dp(self) -> float | None:
        """The mean rounded half up to one decimal, for display and the export."""
        return None if self.mean_exact is None else round_half_up(self.mean_exact, 1)

    @property
    def mean_text(self) -> str:
        """"4.5", "4.0"; "—" without reviews."""
        return "—" if self.mean_1dp is None else f"{self.mean_1dp:.1f}"


@dataclass(frozen=True)
class Aggregate:
    """A round's reviews summed up: per criterion in campaign order, the recommendations counted
    (every recommendation a key, in RECOMMENDATIONS order), the weakest criterion (lowest mean; a
    tie goes to the first in campaign order; None without reviews) and whether reviewers disagree
    (a criterion flagged, or different recommendations)."""

    criteria: tuple[CriterionScore, ...]
    recommendations: dict[str, int]
    weakest: CriterionScore | None
    disagree: bool
    review_count: int
    scale: tuple[int, int] = DEFAULT_SCALE
    disagreement: int = DEFAULT_DISAGREEMENT
    reviewer_ids: tuple[int, ...] = field(default=())

    @property
    def flagged(self) -> tuple[CriterionScore, ...]:
        return tuple(c for c in self.criteria if c.flagged)

    @property
    def unanimous(self) -> str | None:
        """The recommendation every reviewer made, or None (no reviews, or they differ)."""
        made = [rec for rec, n in self.recommendations.items() if n]
        return made[0] if len(made) == 1 else None

    def criterion(self, criterion_id: str) -> CriterionScore:
        for c in self.criteria:
            if c.criterion_id == criterion_id:
                return c
        raise KeyError(criterion_id)


def aggregate(
    criteria: Sequence[Criterion],
    reviews: Sequence[ReviewScores],
    *,
    scale: tuple[int, int] = DEFAULT_SCALE,
    disagreement: int = DEFAULT_DISAGREEMENT,
) -> Aggregate:
    """Aggregate a round's reviews over the campaign's criteria. Raises ValueError (naming the
    reviewer and the criterion) for a score missing, not an integer, outside the scale, or for a
    criterion the campaign does not have; and for the same reviewer twice."""
    lo, hi = validate_scale(scale)
    if not _is_int(disagreement) or disagreement < 0:
        raise ValueError(f"disagreement must be a whole number of points >= 0, got {disagreement!r}")
    if not criteria:
        raise ValueError("no criteria to score")
    known = {c.id for c in criteria}

    seen: set[int] = set()
    for review in reviews:
        who = f"reviewer {review.reviewer_id}"
        if review.reviewer_id in seen:
            raise ValueError(f"{who} appears twice in one round")
        seen.add(review.reviewer_id)
        for crit in criteria:
            if crit.id not in review.scores:
                raise ValueError(f"{who}: no score for criterion {crit.id} ({crit.name})")
            value = review.scores[crit.id]
            if not _is_int(value):
                raise ValueError(f"{who}: score for criterion {crit.id} ({crit.name}) is not a whole number: {value!r}")
            if not lo <= value <= hi:
                raise ValueError(
                    f"{who}: score {value} for criterion {crit.id} ({crit.name}) is outside the scale {lo}–{hi}"
                )
        unknown = sorted(set(review.scores) - known)
        if unknown:
            raise ValueError(f"{who}: scores for unknown criteria {', '.join(unknown)}")

    per_criterion: list[CriterionScore] = []
    for crit in criteria:
        values = tuple(int(r.scores[crit.id]) for r in reviews)
        if values:
            mean = Fraction(sum(values), len(values))
            spread = max(values) - min(values)
        else:
            mean, spread = None, None
        per_criterion.append(
            CriterionScore(
                criterion_id=crit.id,
                name=crit.name,
                description=crit.description,
                scores=values,
                mean_exact=mean,
                spread=spread,
                flagged=spread is not None and spread > disagreement,
            )
        )

    counts = dict.fromkeys(RECOMMENDATIONS, 0)
    for review in reviews:
        counts[review.recommendation] += 1

    weakest: CriterionScore | None = None
    for c in per_criterion:  # strict <: a tie keeps the earlier criterion
        if c.mean_exact is not None and (weakest is None or c.mean_exact < weakest.mean_exact):  # type: ignore[operator]
            weakest = c

    disagree = any(c.flagged for c in per_criterion) or sum(1 for n in counts.values() if n) > 1
    return Aggregate(
        criteria=tuple(per_criterion),
        recommendations=counts,
        weakest=weakest,
        disagree=disagree,
        review_count=len(reviews),
        scale=(lo, hi),
        disagreement=disagreement,
        reviewer_ids=tuple(r.reviewer_id for r in reviews),
    )


class ScoreError(ValueError):
    """Not a whole number on the scale: the words for the reviewer are a template's (lo, hi)."""

    def __init__(self, lo: int, hi: int) -> None:
        super().__init__(f"a score is a whole number from {lo} to {hi}")
        self.lo, self.hi = lo, hi


_SCORE_RE = re.compile(r"-?\d{1,6}")


def validate_score(value: str | int, scale: tuple[int, int] = DEFAULT_SCALE) -> int:
    """A score typed in the review form: "4", " ５ " (full width), "4分" -> an int on the scale.
    Raises ScoreError (a ValueError carrying the scale, for the form's error template) for anything
    else: "", "4.5", "四", a number outside the scale."""
    lo, hi = validate_scale(scale)
    problem = ScoreError(lo, hi)
    if isinstance(value, bool):
        raise problem
    if _is_int(value):
        number = value
    elif isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        text = text.removesuffix("分").strip()
        if not _SCORE_RE.fullmatch(text):
            raise problem
        number = int(text)
    else:
        raise problem
    if not lo <= number <= hi:
        raise problem
    return number
