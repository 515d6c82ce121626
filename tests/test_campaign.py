"""content/campaign.toml against the 2023 notice and PRODUCT.md; bot/campaign.py loading and errors."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.campaign import (
    DEFAULT_CAMPAIGN_PATH,
    Campaign,
    CampaignError,
    Rule,
    load_campaign,
)

SH = ZoneInfo("Asia/Shanghai")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_campaign()


@pytest.fixture(scope="module")
def toml_text() -> str:
    return DEFAULT_CAMPAIGN_PATH.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- the real file


def test_default_path_is_repo_content_file() -> None:
    assert DEFAULT_CAMPAIGN_PATH == REPO / "content" / "campaign.toml"
    assert DEFAULT_CAMPAIGN_PATH.is_file()


def test_basics(campaign: Campaign) -> None:
    assert campaign.programme == "科普中国网络创作培育计划"
    assert campaign.year == 2023
    assert campaign.notice.id == "科协办函普字〔2023〕25号"
    assert campaign.notice.issuer == "中国科协办公厅"
    assert campaign.notice.published.isoformat() == "2023-03-10"
    assert campaign.timezone == "Asia/Shanghai"
    assert campaign.links.account_opening == "https://www.kepuchina.cn/more/202204/t20220425_3131369.shtml"
    assert campaign.links.platform_path == "科普号-个人中心-创作培育计划"
    assert [s.title for s in campaign.flow] == ["注册申报", "评审反馈", "创作指导", "传播推广", "扶持培育"]
    assert {s.cadence for s in campaign.support} == {"monthly", "quarterly"}


def test_window_is_aware_in_shanghai(campaign: Campaign) -> None:
    assert campaign.window.start == datetime(2023, 3, 10, tzinfo=SH)
    assert campaign.window.end == datetime(2024, 3, 31, 23, 59, 59, tzinfo=SH)
    assert campaign.window.start.tzinfo is not None and campaign.window.end.tzinfo is not None


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2023, 3, 9, 23, 59, tzinfo=SH), False),
        (datetime(2023, 3, 9, 23, 59, 59, 999999, tzinfo=SH), False),
        (datetime(2023, 3, 10, 0, 0, tzinfo=SH), True),
        (datetime(2023, 9, 1, 12, 0, tzinfo=SH), True),
        (datetime(2024, 3, 31, 23, 59, 59, tzinfo=SH), True),
        (datetime(2024, 3, 31, 23, 59, 59, 500000, tzinfo=SH), True),
        (datetime(2024, 4, 1, 0, 0, tzinfo=SH), False),
        # the same instants in UTC (Shanghai is UTC+8, no DST)
        (datetime(2023, 3, 9, 15, 59, tzinfo=UTC), False),
        (datetime(2023, 3, 9, 16, 0, tzinfo=UTC), True),
        (datetime(2024, 3, 31, 15, 59, 59, tzinfo=UTC), True),
        (datetime(2024, 3, 31, 16, 0, tzinfo=UTC), False),
    ],
)
def test_is_open_boundaries(campaign: Campaign, moment: datetime, expected: bool) -> None:
    assert campaign.is_open(moment) is expected


def test_is_open_rejects_naive(campaign: Campaign) -> None:
    with pytest.raises(ValueError):
        campaign.is_open(datetime(2023, 6, 1))


def test_contacts(campaign: Campaign) -> None:
    press, dept = campaign.contacts
    assert press.organisation == "中国科学技术出版社有限公司"
    assert [(p.name, p.role) for p in press.people] == [("王波", "科普号注册"), ("杨茗", "作品申报")]
    assert press.phones == ("010-63581731", "010-63050315")
    assert dept.organisation == "中国科协科普部"
    assert [p.name for p in dept.people] == ["刘帮勇", "温超"]
    assert dept.phones == ("010-68571652",)


def test_topics_criteria_requirements(campaign: Campaign) -> None:
    assert campaign.topics.guide == "《2023年度科普中国选题指南》"
    assert campaign.topics.focus == "四个面向"
    assert [d.id for d in campaign.topics.directions] == [
        "national_strategy",
        "frontier_tech",
        "social_hotspots",
        "scientists",
        "emergency",
        "rumours",
    ]
    assert [d.name for d in campaign.topics.directions] == [
        "解读国家战略",
        "剖析前沿科技",
        "回应社会热点",
        "宣传科学人物",
        "普及应急知识",
        "澄清科学谣言",
    ]
    assert [c.name for c in campaign.criteria] == [
        "科学性",
        "原创性",
        "思想性",
        "艺术性",
        "通俗性",
        "适于互联网传播",
    ]
    req = campaign.requirements
    assert [r.id for r in req.declaration] == ["original", "unpublished", "not_licensed", "materials_clear"]
    assert {"self_execution", "no_subcontracting", "earmarked_funds"} <= {r.id for r in req.contract}
    assert any("科普中国网络创作培育计划" in r.text for r in req.branding)
    assert {r.id for r in req.disqualification} == {"published", "licensed"}


def test_subject_types_and_units(campaign: Campaign) -> None:
    seals = {s.id: s.needs_seal for s in campaign.subject_types}
    assert seals == {"organisation": True, "team": False, "individual": False}
    assert campaign.subject_type("team").name == "团队"
    units = campaign.recommending_units
    assert len(units.provincial) == 32  # 31 provincial-level 科协 + 兵团科协
    assert units.provincial[0] == "北京市科学技术协会"
    assert "新疆维吾尔自治区科学技术协会" in units.provincial
    assert "新疆生产建设兵团科学技术协会" in units.provincial
    assert all(u.endswith("科学技术协会") for u in units.provincial)
    assert {"中国化学会", "中华医学会", "中国科普作家协会"} <= set(units.societies)
    assert len(units.societies) >= 20
    assert units.all == units.provincial + units.societies


def test_categories(campaign: Campaign) -> None:
    assert [c.id for c in campaign.work_categories] == [
        "video",
        "article",
        "deep_article",
        "comics",
        "h5",
        "game",
    ]
    assert [c.id for c in campaign.topic_categories] == [
        "topic_video_script",
        "topic_article_outline",
        "topic_app_plan",
    ]
    video = campaign.category("video")
    assert {"纪录片", "宣传片", "微电影", "访谈", "动画", "AR", "VR"} <= set(video.forms)
    assert "mp4" in video.extensions and "video" in video.accepts
    assert video.accepts_extension("Clip.MP4") and not video.accepts_extension("clip.docx")
    comics = campaign.category("comics")
    assert comics.series and "album" in comics.accepts
    for cid in ("h5", "game"):
        limits = campaign.category(cid).archive
        assert limits is not None and limits.max_unpacked_bytes > 0 and limits.max_entries > 0
    assert campaign.category("article").archive is None


def test_unknown_category_is_clear(campaign: Campaign) -> None:
    with pytest.raises(LookupError, match="unknown category 'podcast'.*video"):
        campaign.category("podcast")
    with pytest.raises(CampaignError):
        campaign.category("podcast")


def _rule(campaign: Campaign, category: str, metric: str, level: str) -> Rule:
    found = [r for r in campaign.category(category).rules if r.metric == metric and r.level == level]
    assert len(found) == 1, (category, metric, level, found)
    return found[0]


@pytest.mark.parametrize(
    ("category", "metric", "level", "op", "value"),
    [
        ("video", "short_side_px", "error", ">=", 1080),
        ("video", "bitrate_bps", "error", ">=", 5_000_000),
        ("video", "bitrate_bps", "note", ">=", 8_000_000),
        ("video", "duration_s", "warning", "<=", 300),
        ("video", "has_video_track", "error", "==", True),
        ("video", "not_truncated", "error", "==", True),
        ("article", "chars", "warning", "between", (1200, 3000)),
        ("deep_article", "chars", "error", "<=", 5000),
        ("deep_article", "chars", "warning", ">=", 1200),
        ("comics", "image_long_side_px", "error", ">=", 1280),
        ("comics", "image_short_side_px", "error", ">=", 720),
        ("comics", "knowledge_points", "error", ">=", 1),
        ("h5", "pages", "error", ">=", 6),
        ("game", "levels", "error", ">=", 3),
    ],
)
def test_product_rules(
    campaign: Campaign, category: str, metric: str, level: str, op: str, value: object
) -> None:
    rule = _rule(campaign, category, metric, level)
    assert rule.op == op
    assert rule.value == value and type(rule.value) is type(value)
    assert rule.title and rule.hint and rule.source


@pytest.mark.parametrize("category", ["topic_video_script", "topic_article_outline", "topic_app_plan"])
def test_topic_rules(campaign: Campaign, category: str) -> None:
    for metric in ("has_content_intro", "has_team_qualifications", "has_execution_plan"):
        rule = _rule(campaign, category, metric, "error")
        assert rule.op == "==" and rule.value is True
    assert _rule(campaign, category, "has_past_works", "note").value is True  # optional


def test_originality_applies_to_every_category(campaign: Campaign) -> None:
    for cat in campaign.categories:
        rules = campaign.rules_for(cat.id)
        orig = [r for r in rules if r.metric == "originality_declared"]
        assert len(orig) == 1 and orig[0].level == "error" and orig[0].value is True
        assert rules[len(campaign.common_rules) :] == cat.rules


def test_rule_ids_unique_and_lookup(campaign: Campaign) -> None:
    ids = [r.id for r in campaign.common_rules] + [r.id for c in campaign.categories for r in c.rules]
    assert len(ids) == len(set(ids))
    assert campaign.rule("video.short_side").metric == "short_side_px"
    with pytest.raises(LookupError):
        campaign.rule("video.nope")
    assert "short_side_px" in campaign.metrics and "originality_declared" in campaign.metrics


def test_display_helpers(campaign: Campaign) -> None:
    assert campaign.rule("video.short_side").expected == "≥ 1080 px"
    assert campaign.rule("video.bitrate").expected == "≥ 5 Mbit/s"
    assert campaign.rule("video.bitrate").format_amount(6_400_000) == "6.4 Mbit/s"
    assert campaign.rule("video.duration").expected == "≤ 5分钟"
    assert campaign.rule("article.chars").expected == "1200–3000字"


# --------------------------------------------------------------------------- Rule.passes


def _make(op: str, value: object) -> Rule:
    return Rule(id="t.r", level="error", metric="m", op=op, value=value, title="t", hint="h", source="s")


def test_passes_boundaries() -> None:
    ge = _make(">=", 1080)
    assert ge.passes(1080) and ge.passes(1081) and ge.passes(2160.5) and not ge.passes(1079)
    le = _make("<=", 300)
    assert le.passes(300) and le.passes(0) and not le.passes(300.01)
    between = _make("between", [1200, 3000])
    assert between.value == (1200, 3000)
    assert between.passes(1200) and between.passes(3000) and between.passes(2000)
    assert not between.passes(1199) and not between.passes(3001)
    eq = _make("==", True)
    assert eq.passes(True) and not eq.passes(False)
    eq_num = _make("==", 2)
    assert eq_num.passes(2) and eq_num.passes(2.0) and not eq_num.passes(3)
    assert not ge.passes(float("nan"))


def test_passes_rejects_wrong_measurement_type() -> None:
    with pytest.raises(TypeError):
        _make("==", True).passes(1)
    with pytest.raises(TypeError):
        _make(">=", 1).passes(True)
    with pytest.raises(TypeError):
        _make(">=", 1).passes(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("op", "value", "message"),
    [
        ("between", 5, "between"),
        ("between", [3000, 1200], "greater than max"),
        (">=", True, '"=="'),
        (">=", "1080", "number"),
        ("<=", float("inf"), "finite"),
    ],
)
def test_rule_value_must_fit_op(op: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _make(op, value)


# --------------------------------------------------------------------------- errors


def _write_variant(tmp_path: Path, text: str, old: str, new: str) -> Path:
    assert text.count(old) >= 1, old
    path = tmp_path / "campaign.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(CampaignError) as info:
        load_campaign(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path) + ": ") or message.startswith("campaign.toml: "), message
    return message


def test_bad_level_names_key(tmp_path: Path, toml_text: str) -> None:
    # first level in the file belongs to common_rules[0]; the third category's first rule is deep_article's
    path = _write_variant(
        tmp_path,
        toml_text,
        'id = "deep_article.chars_max"\nlevel = "error"',
        'id = "deep_article.chars_max"\nlevel = "fatal"',
    )
    message = _error(path)
    assert message.endswith("categories[2].rules[0].level: must be one of error, warning, note (got 'fatal')")


def test_missing_key_names_key(tmp_path: Path, toml_text: str) -> None:
    path = _write_variant(tmp_path, toml_text, 'hint = "H5需不少于6页', 'hunt = "H5需不少于6页')
    message = _error(path)
    # both the unknown key and the missing one are problems; the first is named, the rest counted
    assert "categories[4].rules[0]." in message and "more problem" in message

    path = _write_variant(tmp_path, toml_text, 'issuer = "中国科协办公厅"\n', "")
    assert _error(path).endswith("notice.issuer: missing required key")


def test_unknown_key_names_key(tmp_path: Path, toml_text: str) -> None:
    path = _write_variant(
        tmp_path,
        toml_text,
        'accepts = ["document"]\nextensions = ["zip"]',
        'accepts = ["document"]\nextension = ["zip"]\nextensions = ["zip"]',
    )
    assert _error(path).endswith("categories[4].extension: unknown key (typo?)")


def test_bad_value_names_key(tmp_path: Path, toml_text: str) -> None:
    path = _write_variant(tmp_path, toml_text, "value = [1200, 3000]", "value = 1200")
    assert "categories[1].rules[0].value: " in _error(path)
    path = _write_variant(tmp_path, toml_text, 'timezone = "Asia/Shanghai"', 'timezone = "Asia/Beijing"')
    assert _error(path).endswith("timezone: unknown time zone 'Asia/Beijing'")
    path = _write_variant(tmp_path, toml_text, "end = 2024-03-31T23:59:59", "end = 2022-03-31T23:59:59")
    assert _error(path).endswith("window: end must be after start")


def test_duplicate_ids(tmp_path: Path, toml_text: str) -> None:
    path = _write_variant(tmp_path, toml_text, 'id = "game.levels"', 'id = "h5.pages"')
    assert "rule id 'h5.pages' is already used at categories[4].rules[0]" in _error(path)
    path = _write_variant(tmp_path, toml_text, 'id = "deep_article"', 'id = "article"')
    assert _error(path).endswith("categories: duplicate id 'article'")


def test_zip_needs_archive_limits(tmp_path: Path, toml_text: str) -> None:
    path = _write_variant(
        tmp_path,
        toml_text,
        'extensions = ["zip", "apk"]\n\n[categories.archive]',
        'extensions = ["zip", "apk"]\n\n[categories.archive_]',
    )
    assert "categories[5]" in _error(path)


def test_bad_toml_syntax_gives_line(tmp_path: Path, toml_text: str) -> None:
    path = _write_variant(tmp_path, toml_text, "year = 2023", "year = = 2023")
    message = _error(path)
    assert "invalid TOML" in message and "line " in message


def test_missing_file(tmp_path: Path) -> None:
    message = _error(tmp_path / "campaign.toml")
    assert "cannot read file" in message


def test_relative_path_is_shown_relative(
    tmp_path: Path, toml_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "campaign.toml").write_text(
        toml_text.replace('level = "error"', 'level = "err"', 1), encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CampaignError) as info:
        load_campaign(Path("content/campaign.toml"))
    assert str(info.value).startswith(
        "content/campaign.toml: common_rules[0].level: must be one of error, warning, note"
    )


def test_window_given_with_offset_is_converted(tmp_path: Path, toml_text: str) -> None:
    path = _write_variant(tmp_path, toml_text, "start = 2023-03-10T00:00:00", "start = 2023-03-09T16:00:00Z")
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "end = 2024-03-31T23:59:59", "end = 2024-03-31T23:59:59+08:00"
        ),
        encoding="utf-8",
    )
    c = load_campaign(path)
    assert c.window.start == datetime(2023, 3, 10, tzinfo=SH)
    assert c.window.start.utcoffset() == timedelta(hours=8)


def test_models_are_frozen(campaign: Campaign) -> None:
    with pytest.raises(ValueError):
        campaign.year = 2024  # type: ignore[misc]


def test_import_is_light() -> None:
    code = "import sys, bot.campaign; assert 'aiogram' not in sys.modules, 'aiogram imported'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
