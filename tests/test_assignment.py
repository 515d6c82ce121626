"""Assignment rules of issue 10 (bot/services/assignment.py): load order, fields before load,
conflicts of interest, exclusions, fewer than n, determinism, unit normalisation."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from bot.campaign import load_campaign
from bot.services.assignment import (
    Candidate,
    Item,
    choose,
    conflict,
    field_names,
    fields_match,
    normalise_unit,
    terms,
)

CREATOR = 100


def item(**kw: object) -> Item:
    base: dict[str, object] = dict(
        submission_id=1,
        creator_id=CREATOR,
        creator_field="",
        direction=None,
        creator_unit="某某大学",
        recommender="北京市科协",
    )
    base.update(kw)
    return Item(**base)  # type: ignore[arg-type]


def cand(
    user_id: int, load: int = 0, *, fields: tuple[str, ...] = (), other: str = "", unit: str = ""
) -> Candidate:
    return Candidate(user_id=user_id, fields=frozenset(fields), other_fields=other, unit=unit, open_load=load)


# --------------------------------------------------------------------------- load order


def test_least_open_load_first() -> None:
    pool = [cand(1, 5), cand(2, 0), cand(3, 2), cand(4, 1)]
    assert choose(item(), pool, 2) == [2, 4]
    assert choose(item(), pool, 4) == [2, 4, 3, 1]


def test_ties_broken_by_user_id() -> None:
    pool = [cand(9, 1), cand(3, 1), cand(7, 0), cand(5, 1)]
    assert choose(item(), pool, 3) == [7, 3, 5]


def test_deterministic_whatever_the_input_order() -> None:
    pool = [
        cand(1, 2, fields=("emergency",)),
        cand(2, 0),
        cand(3, 2),
        cand(4, 1, other="医学"),
        cand(5, 0, fields=("emergency",)),
        cand(6, 1),
        cand(7, 0, unit="某某大学"),
    ]
    it = item(direction="emergency", creator_field="临床医学")
    expected = [5, 4, 1, 2, 6]
    assert choose(it, pool, 5) == expected
    rng = random.Random(10)
    for _ in range(50):
        shuffled = pool[:]
        rng.shuffle(shuffled)
        assert choose(it, shuffled, 5) == expected
    assert choose(it, tuple(pool), 5) == expected
    assert choose(it, iter(pool), 5) == expected  # any iterable, read once


# --------------------------------------------------------------------------- fields before load


def test_direction_match_beats_lower_load() -> None:
    pool = [
        cand(1, 0),
        cand(2, 9, fields=("frontier_tech",)),
        cand(3, 3, fields=("emergency", "frontier_tech")),
    ]
    assert choose(item(direction="frontier_tech"), pool, 3) == [3, 2, 1]
    assert choose(item(direction="frontier_tech"), pool, 1) == [3]


def test_no_direction_no_field_then_load_only() -> None:
    pool = [cand(1, 2, fields=("emergency",)), cand(2, 1)]
    assert choose(item(direction=None), pool, 2) == [2, 1]
    assert choose(item(direction="rumours"), pool, 2) == [2, 1]


def test_free_text_match_beats_lower_load() -> None:
    pool = [cand(1, 0, other="天文学"), cand(2, 7, other="医学、药学"), cand(3, 8, other="物理")]
    assert choose(item(creator_field="临床医学"), pool, 3) == [2, 1, 3]


def test_creator_field_matches_field_names_when_given() -> None:
    names = {"emergency": "普及应急知识", "frontier_tech": "剖析前沿科技"}
    pool = [cand(1, 0), cand(2, 4, fields=("emergency",))]
    it = item(creator_field="应急知识 / 防灾减灾")
    assert choose(it, pool, 2, names=names) == [2, 1]
    assert choose(it, pool, 2) == [1, 2]  # without names, field ids are not text


def test_fields_match_rules() -> None:
    assert fields_match(item(direction="emergency"), cand(1, fields=("emergency",)))
    assert not fields_match(item(direction="emergency"), cand(1, fields=("rumours",)))
    # substring either way, after normalising
    assert fields_match(item(creator_field="临床医学"), cand(1, other="医学"))
    assert fields_match(item(creator_field="医学"), cand(1, other="基础医学、生物"))
    assert fields_match(item(creator_field="Computer Science"), cand(1, other="computerscience"))
    assert fields_match(item(creator_field="ＡＩ"), cand(1, other="AI安全"))
    assert fields_match(item(creator_field="公共卫生（流行病学）"), cand(1, other="流行病学"))
    # no shared meaningful term
    assert not fields_match(item(creator_field="医学"), cand(1, other="化学"))
    assert not fields_match(item(creator_field="临床医学"), cand(1, other=""))
    assert not fields_match(item(creator_field=""), cand(1, other="医学"))
    # one character, or a generic word, is not a match
    assert not fields_match(item(creator_field="学"), cand(1, other="化学"))
    assert not fields_match(item(creator_field="科学"), cand(1, other="科学"))
    assert not fields_match(item(creator_field="其他"), cand(1, other="其他"))


def test_terms() -> None:
    assert terms("临床医学、公共卫生（流行病学）") == {"临床医学", "公共卫生", "流行病学"}
    assert terms("Data  Science; ＡＩ，学") == {"datascience", "ai"}
    assert terms("科普，其他、无") == frozenset()
    assert terms("") == frozenset()


# --------------------------------------------------------------------------- conflicts


def test_conflict_creator() -> None:
    it = item()
    assert conflict(it, cand(CREATOR, fields=("emergency",))) == "creator"
    assert choose(it, [cand(CREATOR, 0), cand(2, 5)], 2) == [2]


def test_conflict_same_unit() -> None:
    it = item(creator_unit="清华大学", recommender="北京市科协")
    assert conflict(it, cand(1, unit="清华大学")) == "same_unit"
    assert choose(it, [cand(1, 0, unit="清华大学", other="医学"), cand(2, 3)], 2) == [2]


def test_conflict_recommender() -> None:
    it = item(creator_unit="清华大学", recommender="北京市科协")
    assert conflict(it, cand(1, unit="北京市科协")) == "recommender"
    assert choose(it, [cand(1, 0, unit="北京市科协"), cand(2, 3)], 2) == [2]


def test_conflict_none() -> None:
    it = item(creator_unit="清华大学", recommender="北京市科协")
    assert conflict(it, cand(1, unit="北京大学")) is None
    assert conflict(it, cand(2, unit="")) is None


def test_conflict_precedence() -> None:
    # the creator's own unit is also the recommender: "same_unit" is named; the creator, first
    it = item(creator_unit="中国科学院", recommender="中国科学院")
    assert conflict(it, cand(1, unit="中国科学院")) == "same_unit"
    assert conflict(it, cand(CREATOR, unit="中国科学院")) == "creator"


@pytest.mark.parametrize(
    ("reviewer_unit", "creator_unit"),
    [
        ("ＡＢＣ大学", "abc大学"),  # 全角 / 半角
        ("ABC大学", "abc大学"),  # case
        ("中国 科协", "中国科协"),  # spaces
        ("中国\u3000科协", "中国科协"),  # ideographic space
        (" 中国科协 \n", "中国科协"),  # around
        ("中国\u200b科协", "中国科协"),  # zero-width space
        ("Ｔｓｉｎｇｈｕａ　Ｕｎｉｖｅｒｓｉｔｙ", "tsinghua university"),
    ],
)
def test_units_normalised(reviewer_unit: str, creator_unit: str) -> None:
    assert (
        conflict(item(creator_unit=creator_unit, recommender="其他单位"), cand(1, unit=reviewer_unit))
        == "same_unit"
    )
    assert (
        conflict(item(creator_unit="其他单位", recommender=creator_unit), cand(1, unit=reviewer_unit))
        == "recommender"
    )


def test_normalise_unit() -> None:
    assert normalise_unit("  Ｆｕｄａｎ　大学 ") == "fudan大学"
    assert normalise_unit("") == ""
    assert normalise_unit(None) == ""
    assert normalise_unit(" \u3000\u200b ") == ""


@pytest.mark.parametrize("blank", ["", "   ", "\u3000", "\u200b"])
def test_empty_units_never_match(blank: str) -> None:
    # a reviewer without a unit is no conflict, even with a creator or recommender without one
    it = item(creator_unit=blank, recommender=blank)
    assert conflict(it, cand(1, unit=blank)) is None
    assert conflict(it, cand(1, unit="")) is None
    assert conflict(item(creator_unit="清华大学", recommender="北京市科协"), cand(1, unit=blank)) is None
    assert choose(it, [cand(1, 0, unit=blank)], 1) == [1]


def test_different_units_not_confused() -> None:
    it = item(creator_unit="北京大学", recommender="北京市科协")
    assert conflict(it, cand(1, unit="北京大学医学部")) is None  # equality, not containment


# --------------------------------------------------------------------------- exclude, n, duplicates


def test_exclude() -> None:
    pool = [cand(1, 0), cand(2, 1), cand(3, 2)]
    assert choose(item(), pool, 2, exclude=frozenset({1})) == [2, 3]
    assert choose(item(), pool, 3, exclude=frozenset({1, 3})) == [2]
    assert choose(item(), pool, 2, exclude=frozenset({1, 2, 3})) == []


def test_exclude_beats_field_match() -> None:
    pool = [cand(1, 0, fields=("emergency",)), cand(2, 5)]
    assert choose(item(direction="emergency"), pool, 1, exclude=frozenset({1})) == [2]


def test_fewer_than_n_eligible() -> None:
    pool = [cand(CREATOR, 0), cand(1, 3, unit="某某大学"), cand(2, 4), cand(3, 1, unit="北京市科协")]
    assert choose(item(), pool, 2) == [2]
    assert choose(item(), [], 2) == []


def test_n_zero_and_negative() -> None:
    assert choose(item(), [cand(1), cand(2)], 0) == []
    with pytest.raises(ValueError):
        choose(item(), [cand(1)], -1)


def test_no_reviewer_twice() -> None:
    pool = [cand(1, 0), cand(1, 0), cand(2, 1), cand(1, 3)]
    assert choose(item(), pool, 3) == [1, 2]


def test_never_creator_nor_conflicted_nor_excluded_exhaustively() -> None:
    units = ["", "某某大学", "ＢＥＩＪＩＮＧ 市科协", "北京市科协", "别的单位"]
    pool = [
        cand(uid, load, fields=fields, other=other, unit=unit)
        for uid, (unit, load, fields, other) in enumerate(
            itertools.product(units, (0, 3), ((), ("emergency",)), ("", "医学")), start=95
        )
    ]
    it = item(direction="emergency", creator_field="医学", recommender="beijing市科协")
    exclude = frozenset(range(95, 200, 7))
    chosen = choose(it, pool, len(pool), exclude=exclude)
    by_id = {c.user_id: c for c in pool}
    assert CREATOR in by_id and CREATOR not in chosen
    assert len(chosen) == len(set(chosen))
    assert all(conflict(it, by_id[u]) is None and u not in exclude for u in chosen)
    eligible = {c.user_id for c in pool if conflict(it, c) is None and c.user_id not in exclude}
    assert set(chosen) == eligible
    # every matching reviewer before every other; within a group, by (load, id)
    groups = [fields_match(it, by_id[u]) for u in chosen]
    assert groups == sorted(groups, reverse=True)
    for match in (True, False):
        part = [u for u in chosen if fields_match(it, by_id[u]) is match]
        assert part == sorted(part, key=lambda u: (by_id[u].open_load, u))


# --------------------------------------------------------------------------- the real campaign


def test_field_names_from_campaign() -> None:
    campaign = load_campaign(Path("content/campaign.toml"))
    names = field_names(campaign)
    assert names == {d.id: d.name for d in campaign.topics.directions}
    assert names["emergency"] == "普及应急知识"
    pool = [cand(1, 0), cand(2, 2, fields=("rumours",))]
    assert choose(item(creator_field="科学谣言"), pool, 2, names=names) == [2, 1]
