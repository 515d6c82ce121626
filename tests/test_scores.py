"""bot/services/scores.py: aggregating a round's reviews and the review form's score parser."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from bot.campaign import Criterion, load_campaign
from bot.services.scores import (
    RECOMMENDATIONS,
    ReviewScores,
    ScoreError,
    aggregate,
    round_half_up,
    validate_score,
)
from storage.statuses import Verdict

CAMPAIGN = load_campaign(Path("content/campaign.toml"))
CRITERIA = CAMPAIGN.criteria
IDS = [c.id for c in CRITERIA]


def review(reviewer_id: int, scores: list[int] | dict[str, int], rec: str = "accept", comment: str = "好") -> ReviewScores:
    if isinstance(scores, list):
        scores = dict(zip(IDS, scores, strict=True))
    return ReviewScores(reviewer_id, scores, rec, comment)


def test_the_campaign_has_the_notices_six_criteria() -> None:
    assert [c.name for c in CRITERIA] == ["科学性", "原创性", "思想性", "艺术性", "通俗性", "适于互联网传播"]


def test_means_spreads_and_counts_in_campaign_order() -> None:
    agg = aggregate(CRITERIA, [review(1, [5, 4, 3, 2, 4, 5], "accept"), review(2, [4, 4, 5, 5, 3, 2], "revise")])
    assert [c.name for c in agg.criteria] == [c.name for c in CRITERIA]
    assert [c.scores for c in agg.criteria] == [(5, 4), (4, 4), (3, 5), (2, 5), (4, 3), (5, 2)]
    assert [c.mean for c in agg.criteria] == [4.5, 4.0, 4.0, 3.5, 3.5, 3.5]
    assert [c.mean_text for c in agg.criteria] == ["4.5", "4.0", "4.0", "3.5", "3.5", "3.5"]
    assert [c.spread for c in agg.criteria] == [1, 0, 2, 3, 1, 3]
    # spread > 2 is flagged; exactly 2 is not
    assert [c.flagged for c in agg.criteria] == [False, False, False, True, False, True]
    assert [c.name for c in agg.flagged] == ["艺术性", "适于互联网传播"]
    assert agg.recommendations == {"accept": 1, "revise": 1, "reject": 0}
    assert list(agg.recommendations) == list(RECOMMENDATIONS)
    assert agg.review_count == 2 and agg.reviewer_ids == (1, 2)
    assert agg.disagree is True
    assert agg.unanimous is None
    assert agg.criterion("artistic").description == CRITERIA[3].description


def test_weakest_is_the_lowest_mean_and_a_tie_goes_to_the_first_in_campaign_order() -> None:
    # 艺术性, 通俗性 and 适于互联网传播 all average 3.5: 艺术性 comes first
    agg = aggregate(CRITERIA, [review(1, [5, 4, 3, 2, 4, 5]), review(2, [4, 4, 5, 5, 3, 2])])
    assert agg.weakest is not None and agg.weakest.name == "艺术性"
    agg = aggregate(CRITERIA, [review(1, [5, 5, 5, 5, 5, 1])])
    assert agg.weakest is not None and agg.weakest.criterion_id == "internet_fit"
    agg = aggregate(CRITERIA, [review(1, [3, 3, 3, 3, 3, 3])])
    assert agg.weakest is not None and agg.weakest.criterion_id == "scientific"


def test_exact_mean_is_kept_and_display_rounds_half_up() -> None:
    # 4 reviewers: 5+4+4+4 = 17/4 = 4.25 -> shown 4.3 (float rounding would give 4.2)
    reviews = [review(i, [s] * 6) for i, s in enumerate([5, 4, 4, 4], start=1)]
    c = aggregate(CRITERIA, reviews).criteria[0]
    assert c.mean_exact == Fraction(17, 4) and c.mean == 4.25
    assert c.mean_1dp == 4.3 and c.mean_text == "4.3"
    # 3 reviewers: 5+4+4 = 13/3 = 4.333… -> 4.3, exact kept
    c = aggregate(CRITERIA, [review(i, [s] * 6) for i, s in enumerate([5, 4, 4], start=1)]).criteria[0]
    assert c.mean_exact == Fraction(13, 3) and c.mean_1dp == 4.3
    assert round_half_up(Fraction(7, 2), 0) == 4.0 and round_half_up(2.45) == 2.5 and round_half_up(Fraction(-1, 4)) == -0.2


def test_agreeing_reviewers_do_not_disagree() -> None:
    agg = aggregate(CRITERIA, [review(1, [5, 4, 3, 3, 4, 5], "revise"), review(2, [3, 4, 5, 5, 3, 3], "revise")])
    assert not agg.flagged and agg.disagree is False and agg.unanimous == "revise"


def test_same_scores_but_different_recommendations_disagree() -> None:
    agg = aggregate(CRITERIA, [review(1, [4] * 6, "accept"), review(2, [4] * 6, "reject")])
    assert not agg.flagged and agg.disagree is True


def test_one_flagged_criterion_with_the_same_recommendation_disagrees() -> None:
    agg = aggregate(CRITERIA, [review(1, [5, 4, 4, 4, 4, 4], "accept"), review(2, [1, 4, 4, 4, 4, 4], "accept")])
    assert [c.name for c in agg.flagged] == ["科学性"] and agg.disagree is True


def test_the_disagreement_threshold_and_the_scale_are_settings() -> None:
    reviews = [review(1, [10, 4, 4, 4, 4, 4]), review(2, [5, 4, 4, 4, 4, 4])]
    agg = aggregate(CRITERIA, reviews, scale=(0, 10), disagreement=5)
    assert agg.criteria[0].spread == 5 and not agg.criteria[0].flagged and agg.scale == (0, 10)
    agg = aggregate(CRITERIA, reviews, scale=(0, 10), disagreement=4)
    assert agg.criteria[0].flagged
    with pytest.raises(ValueError, match="outside the scale 1–5"):
        aggregate(CRITERIA, reviews)


def test_no_reviews_is_an_aggregate_without_means() -> None:
    agg = aggregate(CRITERIA, [])
    assert agg.review_count == 0
    assert [c.mean for c in agg.criteria] == [None] * 6
    assert [c.mean_1dp for c in agg.criteria] == [None] * 6
    assert [c.mean_text for c in agg.criteria] == ["—"] * 6
    assert [c.spread for c in agg.criteria] == [None] * 6
    assert not agg.flagged and agg.weakest is None and agg.disagree is False and agg.unanimous is None
    assert agg.recommendations == {"accept": 0, "revise": 0, "reject": 0}


def test_one_review() -> None:
    agg = aggregate(CRITERIA, [review(9, [2, 3, 4, 5, 1, 2], "reject")])
    assert [c.spread for c in agg.criteria] == [0] * 6
    assert agg.disagree is False and agg.unanimous == "reject" and agg.weakest.name == "通俗性"  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", [0, 6, -1, 100])
def test_a_score_outside_the_scale_names_the_criterion_and_the_reviewer(bad: int) -> None:
    with pytest.raises(ValueError) as err:
        aggregate(CRITERIA, [review(1, [4] * 6), review(2, [4, 4, bad, 4, 4, 4])])
    assert "thoughtful" in str(err.value) and "思想性" in str(err.value) and "reviewer 2" in str(err.value)
    assert str(bad) in str(err.value)


def test_a_missing_criterion_names_it() -> None:
    scores = dict(zip(IDS, [4] * 6, strict=True))
    del scores["accessible"]
    with pytest.raises(ValueError, match=r"reviewer 3: no score for criterion accessible \(通俗性\)"):
        aggregate(CRITERIA, [review(3, scores)])


@pytest.mark.parametrize("bad", [4.5, "4", True, None])
def test_a_score_that_is_not_a_whole_number_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="original"):
        aggregate(CRITERIA, [review(1, {**dict(zip(IDS, [4] * 6, strict=True)), "original": bad})])  # type: ignore[dict-item]


def test_an_unknown_criterion_and_a_repeated_reviewer_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown criteria humour"):
        aggregate(CRITERIA, [review(1, {**dict(zip(IDS, [4] * 6, strict=True)), "humour": 3})])
    with pytest.raises(ValueError, match="reviewer 1 appears twice"):
        aggregate(CRITERIA, [review(1, [4] * 6), review(1, [3] * 6)])


@pytest.mark.parametrize("scale", [(5, 1), (3, 3), (1.0, 5), "15", (1, 2, 3)])
def test_a_bad_scale_is_refused(scale: object) -> None:
    with pytest.raises(ValueError, match="scale"):
        aggregate(CRITERIA, [], scale=scale)  # type: ignore[arg-type]


def test_a_bad_threshold_or_no_criteria_is_refused() -> None:
    with pytest.raises(ValueError, match="disagreement"):
        aggregate(CRITERIA, [], disagreement=-1)
    with pytest.raises(ValueError, match="no criteria"):
        aggregate([], [])


def test_works_with_any_criteria_not_only_the_campaigns() -> None:
    two = [Criterion(id="a", name="甲", description="…"), Criterion(id="b", name="乙", description="…")]
    agg = aggregate(two, [ReviewScores(1, {"b": 2, "a": 3}, "revise", "")])
    assert [(c.name, c.mean) for c in agg.criteria] == [("甲", 3.0), ("乙", 2.0)]


def test_review_scores_checks_the_recommendation_and_takes_a_verdict() -> None:
    r = ReviewScores(1, {"a": 1}, Verdict.revise, "改一改")
    assert r.recommendation == "revise" and type(r.recommendation) is str
    assert {v.value for v in Verdict} == set(RECOMMENDATIONS)
    with pytest.raises(ValueError, match="recommendation"):
        ReviewScores(1, {"a": 1}, "maybe", "")


def test_review_scores_keeps_its_own_copy_of_the_scores() -> None:
    scores = {"a": 1}
    r = ReviewScores(1, scores, "accept", "")
    scores["a"] = 5
    assert r.scores == {"a": 1}


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("5", 5), ("1", 1), (" 3 ", 3), ("５", 5), ("　４　", 4), ("4分", 4), ("４ 分", 4), (2, 2), ("03", 3)],
)
def test_validate_score_accepts(typed: str | int, expected: int) -> None:
    assert validate_score(typed, (1, 5)) == expected


@pytest.mark.parametrize("typed", ["", " ", "0", "6", "-1", "4.5", "四", "five", "5 5", "1e1", "分", 0, 6, True, None, 4.0])
def test_validate_score_refuses(typed: object) -> None:
    with pytest.raises(ScoreError) as refused:
        validate_score(typed, (1, 5))  # type: ignore[arg-type]
    assert (refused.value.lo, refused.value.hi) == (1, 5)


def test_validate_score_follows_the_scale() -> None:
    assert validate_score("10", (0, 10)) == 10 and validate_score("０", (0, 10)) == 0
    with pytest.raises(ScoreError) as refused:
        validate_score("11", (0, 10))
    assert (refused.value.lo, refused.value.hi) == (0, 10)
    assert validate_score("5") == 5  # default 1–5
