"""创作学院's starter curriculum (content/academy/) and its loader (bot/services/academy.py): every
lesson loads with the real campaign, fits Telegram's limits and the Markdown the chat renders, and
states the programme's own numbers; a broken lesson is refused naming its file and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.campaign import DEFAULT_CAMPAIGN_PATH, Campaign, load_campaign
from bot.services.academy import (
    ACADEMY,
    BODY_MAX,
    EXPLANATION_MAX,
    OPTION_MAX,
    PARAGRAPH_MAX,
    QUESTION_MAX,
    Curriculum,
    CurriculumError,
    load_curriculum,
    paragraphs,
    parse_lesson,
)

REQUIRED = [
    "choose_topic", "scientific_accuracy", "video_script", "video_export", "article_structure",
    "comics_posters", "h5_games", "originality_copyright", "branding", "promotion", "debunking_rumours",
    "topic_proposal",
]


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_campaign(DEFAULT_CAMPAIGN_PATH)


@pytest.fixture(scope="module")
def curriculum(campaign: Campaign) -> Curriculum:
    return load_curriculum(ACADEMY, campaign)


# ---- the starter curriculum -------------------------------------------------------------------


def test_every_lesson_loads(curriculum: Curriculum) -> None:
    files = sorted(p.name for p in ACADEMY.glob("*.md") if p.name.lower() != "readme.md")
    assert sorted(lesson.file for lesson in curriculum.lessons) == files
    assert len(curriculum) >= 12


def test_required_lessons_in_order(curriculum: Curriculum) -> None:
    assert [lesson.slug for lesson in curriculum.lessons][:12] == REQUIRED
    for lesson in curriculum.lessons:
        assert re.fullmatch(rf"\d\d_{lesson.slug}\.md", lesson.file), lesson.file
        assert int(lesson.file[:2]) == lesson.order


def test_drip_lessons_exist(campaign: Campaign, curriculum: Curriculum) -> None:
    assert campaign.academy.drip
    for item in campaign.academy.drip:
        assert item.slug in curriculum


def test_every_criterion_is_covered(campaign: Campaign, curriculum: Curriculum) -> None:
    for criterion in campaign.criteria:
        assert curriculum.for_criterion(criterion.id), f"no lesson strengthens {criterion.id}"
    assert all(lesson.criteria for lesson in curriculum.lessons)


def test_every_category_has_a_lesson(campaign: Campaign, curriculum: Curriculum) -> None:
    for category in campaign.categories:
        assert any(not lesson.categories or category.id in lesson.categories for lesson in curriculum.lessons)
        assert any(category.id in lesson.categories for lesson in curriculum.lessons), category.id


def test_quizzes(curriculum: Curriculum) -> None:
    with_quiz = [lesson for lesson in curriculum.lessons if lesson.quiz]
    assert len(with_quiz) * 2 >= len(curriculum)
    for lesson in curriculum.lessons:
        assert len(lesson.quiz) <= 3
        for q in lesson.quiz:
            assert len(q.question) <= QUESTION_MAX and 2 <= len(q.options) <= 10
            assert all(len(option) <= OPTION_MAX for option in q.options)
            assert 0 <= q.answer < len(q.options) and len(q.explanation) <= EXPLANATION_MAX


def test_fits_telegram_pages(curriculum: Curriculum) -> None:
    for lesson in curriculum.lessons:
        assert len(lesson.body) <= BODY_MAX, lesson.file
        assert lesson.body.startswith("# "), lesson.file
        for block in paragraphs(lesson.body):
            assert len(block) <= PARAGRAPH_MAX <= 1500, (lesson.file, block[:40])
        assert lesson.minutes >= 1


def _prose(body: str) -> list[str]:
    """The lines outside fenced code blocks, inline code removed."""
    lines, fenced = [], False
    for line in body.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(re.sub(r"`[^`]*`", "", line))
    assert not fenced
    return lines


def test_only_the_markdown_the_chat_renders(curriculum: Curriculum) -> None:
    for lesson in curriculum.lessons:
        for line in _prose(lesson.body):
            where = (lesson.file, line[:40])
            assert "|" not in line, where  # no tables
            assert "![" not in line, where  # no images
            assert not re.search(r"<[A-Za-z/!]", line), where  # no HTML
            assert not line.startswith("###"), where  # headings: # and ## only
            for url in re.findall(r"\]\(([^)]*)\)", line):
                assert url.startswith("https://"), where


def _numbers(campaign: Campaign, rule_id: str) -> str:
    rule = campaign.rule(rule_id)
    value = rule.value / rule.unit_scale
    return f"{value:g}"


def test_video_export_states_the_campaign_numbers(campaign: Campaign, curriculum: Curriculum) -> None:
    body = curriculum["video_export"].body
    assert f"短边不少于{_numbers(campaign, 'video.short_side')}像素" in body
    assert f"{_numbers(campaign, 'video.bitrate')} Mbit/s" in body
    assert f"{_numbers(campaign, 'video.bitrate_recommended')} Mbit/s" in body
    assert f"不超过{_numbers(campaign, 'video.duration')}分钟为宜" in body
    assert f"{campaign.rule('video.duration').value}秒" in body
    assert "1920×1080" in body and "1080×1920" in body
    for extension in campaign.category("video").extensions:
        assert extension in body, extension
    assert "以文件形式发送" in body and "📎 → **文件**" in body


def test_article_lesson_states_the_campaign_numbers(campaign: Campaign, curriculum: Curriculum) -> None:
    body = curriculum["article_structure"].body
    low, high = campaign.rule("article.chars").value
    assert f"单篇{low}–{high}字为宜" in body
    assert f"不超过{campaign.rule('deep_article.chars_max').value}字" in body
    for extension in campaign.category("article").extensions:
        assert extension in body, extension


def test_comics_h5_game_lessons_state_the_campaign_numbers(campaign: Campaign, curriculum: Curriculum) -> None:
    comics = curriculum["comics_posters"].body
    assert f"长边不少于{campaign.rule('comics.image_long_side').value}像素" in comics
    assert f"短边不少于{campaign.rule('comics.image_short_side').value}像素" in comics
    assert f"至少{campaign.rule('comics.knowledge_points').value}个" in comics
    apps = curriculum["h5_games"].body
    assert f"H5不少于{campaign.rule('h5.pages').value}页（含封面、封底）" in apps
    assert f"游戏不少于{campaign.rule('game.levels').value}关" in apps


def test_originality_and_branding_quote_the_notice(campaign: Campaign, curriculum: Curriculum) -> None:
    originality = curriculum["originality_copyright"].body
    for item in campaign.requirements.declaration:
        assert item.text.rstrip("。") in originality, item.text
    assert "一经发现，取消被资助资格" in originality
    for lesson in ("branding", "promotion"):
        assert "显著位置标注“科普中国网络创作培育计划”字样" in curriculum[lesson].body
    assert "科普中国品牌视觉形象" in curriculum["branding"].body
    assert "科普中国平台首发" in curriculum["promotion"].body


def test_choose_topic_names_the_six_directions(campaign: Campaign, curriculum: Curriculum) -> None:
    body = curriculum["choose_topic"].body
    for direction in campaign.topics.directions:
        assert direction.name in body
    for focus in campaign.topics.focus_items:
        assert focus in body


def test_topic_proposal_names_what_must_be_sent(curriculum: Curriculum) -> None:
    body = curriculum["topic_proposal"].body
    for part in ("具体内容介绍", "团队资质", "执行计划", "过往作品", "严禁转包", "专款专用"):
        assert part in body


# ---- the loader's refusals --------------------------------------------------------------------

GOOD = """+++
slug = "sample"
title = "示例课程"
order = 1
criteria = ["scientific"]
categories = ["video"]
minutes = 5

[[quiz]]
question = "哪一个对？"
options = ["甲", "乙"]
answer = 0
explanation = "因为甲对。"
+++
# 示例课程

正文。

```
代码块

里面可以有空行
```
"""


def _refused(campaign: Campaign, text: str, file: str = "01_sample.md") -> CurriculumError:
    with pytest.raises(CurriculumError) as info:
        parse_lesson(text, file, campaign)
    error = info.value
    assert error.file == file and str(error).startswith(f"{file}: {error.key}: ")
    return error


def test_good_sample_parses(campaign: Campaign) -> None:
    lesson = parse_lesson(GOOD, "01_sample.md", campaign)
    assert lesson.slug == "sample" and lesson.order == 1 and lesson.criteria == ("scientific",)
    assert lesson.quiz[0].options == ("甲", "乙") and lesson.quiz[0].answer == 0
    assert lesson.body.startswith("# 示例课程") and lesson.body.endswith("```")
    assert len(paragraphs(lesson.body)) == 3  # the code block with its blank line is one


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ("+++\nslug", "slug", "front matter", "must start with"),  # no front matter
        ("explanation = \"因为甲对。\"\n+++", "explanation = \"因为甲对。\"", "front matter", "no closing"),
        ('title = "示例课程"', 'title = "示例课程', "front matter", "not valid TOML"),
        ("minutes = 5", "minutes = 5\nlevel = 2", "level", "unknown key"),
        ('title = "示例课程"\n', "", "title", "non-empty string"),
        ('title = "示例课程"', f'title = "{"长" * 61}"', "title", "longer than 60"),
        ('slug = "sample"', 'slug = "Sample-1"', "slug", "[a-z]"),
        ("order = 1", "order = 0", "order", "integer from 1"),
        ("minutes = 5", 'minutes = "5"', "minutes", "integer"),
        ('criteria = ["scientific"]', 'criteria = ["scientific", "funny"]', "criteria", "funny"),
        ('categories = ["video"]', 'categories = ["podcast"]', "categories", "podcast"),
        ("answer = 0", "answer = 2", "quiz[1].answer", "integer from 0 to 1"),
        ("answer = 0", "answer = -1", "quiz[1].answer", "integer from 0 to 1"),
        ('options = ["甲", "乙"]', f'options = ["甲", "{"乙" * 101}"]', "quiz[1].options", "option 2 is longer"),
        ('options = ["甲", "乙"]', 'options = ["甲"]', "quiz[1].options", "2–10"),
        ('options = ["甲", "乙"]', 'options = ["甲", "甲"]', "quiz[1].options", "differ"),
        ('question = "哪一个对？"', f'question = "{"问" * 301}"', "quiz[1].question", "longer than 300"),
        ('explanation = "因为甲对。"', f'explanation = "{"因" * 201}"', "quiz[1].explanation", "longer than 200"),
        ('explanation = "因为甲对。"', 'explanation = "因为甲对。"\nhint = "x"', "quiz[1].hint", "unknown key"),
        ("```\n代码块\n\n里面可以有空行\n```\n", "```\n代码块\n", "body", "not closed"),
        ("正文。", "| 甲 | 乙 |\n|---|---|\n| 1 | 2 |", "body", "tables"),
        ("正文。", "![图](https://example.org/a.png)", "body", "images"),
        ("正文。", "正文<br>换行", "body", "HTML"),
        ("正文。", "正文" * 800, "body", "longer than 1500"),
        ("# 示例课程\n\n正文。", "\n\n".join(["段落" * 300] * 16), "body", f"longer than {BODY_MAX}"),
    ],
)
def test_refusals_name_file_and_key(campaign: Campaign, old: str, new: str, key: str, problem: str) -> None:
    assert old in GOOD
    error = _refused(campaign, GOOD.replace(old, new, 1))
    assert error.key == key, str(error)
    assert problem in error.problem, str(error)


def test_empty_body_is_refused(campaign: Campaign) -> None:
    text = GOOD[: GOOD.index("# 示例课程")]
    assert _refused(campaign, text).key == "body"


def test_inline_code_may_show_markup(campaign: Campaign) -> None:
    lesson = parse_lesson(GOOD.replace("正文。", "入口页里 `<div class=\"page\">` 算一页；a|b 不是表格。"),
                          "01_sample.md", campaign)
    assert "`<div" in lesson.body


def _folder(tmp_path: Path, *lessons: tuple[str, str, int]) -> Path:
    folder = tmp_path / "academy"
    folder.mkdir()
    (folder / "README.md").write_text("not a lesson", encoding="utf-8")
    for file, slug, order in lessons:
        text = GOOD.replace('slug = "sample"', f'slug = "{slug}"').replace("order = 1", f"order = {order}")
        (folder / file).write_text(text, encoding="utf-8")
    return folder


def _no_drip(campaign: Campaign, tmp_path: Path, drip: str = "drip = []") -> Campaign:
    text = DEFAULT_CAMPAIGN_PATH.read_text(encoding="utf-8")
    start = text.index("drip = [")
    end = text.index("]\n", start) + 2
    path = tmp_path / "campaign.toml"
    path.write_text(text[:start] + drip + "\n" + text[end:], encoding="utf-8")
    return load_campaign(path)


def test_folder_loads_in_order_without_readme(campaign: Campaign, tmp_path: Path) -> None:
    folder = _folder(tmp_path, ("01_b.md", "b", 2), ("02_a.md", "a", 1))
    curriculum = load_curriculum(folder, _no_drip(campaign, tmp_path))
    assert [lesson.slug for lesson in curriculum.lessons] == ["a", "b"]
    assert list(curriculum.for_criterion("scientific")) == list(curriculum.lessons)
    assert curriculum.for_criterion("artistic") == []


def test_duplicate_slug(campaign: Campaign, tmp_path: Path) -> None:
    folder = _folder(tmp_path, ("01_a.md", "a", 1), ("02_a.md", "a", 2))
    with pytest.raises(CurriculumError) as info:
        load_curriculum(folder, _no_drip(campaign, tmp_path))
    assert (info.value.file, info.value.key) == ("02_a.md", "slug")
    assert "01_a.md" in info.value.problem


def test_duplicate_order(campaign: Campaign, tmp_path: Path) -> None:
    folder = _folder(tmp_path, ("01_a.md", "a", 3), ("02_b.md", "b", 3))
    with pytest.raises(CurriculumError) as info:
        load_curriculum(folder, _no_drip(campaign, tmp_path))
    assert (info.value.file, info.value.key) == ("02_b.md", "order")
    assert "01_a.md" in info.value.problem


def test_drip_slug_without_lesson(campaign: Campaign, tmp_path: Path) -> None:
    folder = _folder(tmp_path, ("01_a.md", "a", 1))
    drip = _no_drip(campaign, tmp_path, 'drip = [{ slug = "a", day = 0 }, { slug = "missing", day = 2 }]')
    with pytest.raises(CurriculumError) as info:
        load_curriculum(folder, drip)
    assert (info.value.file, info.value.key) == ("campaign.toml", "academy.drip")
    assert "missing" in info.value.problem


def test_broken_file_in_folder_is_named(campaign: Campaign, tmp_path: Path) -> None:
    folder = _folder(tmp_path, ("01_a.md", "a", 1))
    (folder / "02_broken.md").write_text(GOOD.replace("answer = 0", "answer = 5"), encoding="utf-8")
    (folder / "03_latin1.md").write_bytes("+++\ntitle = 'é'\n".encode("latin-1"))
    with pytest.raises(CurriculumError) as info:
        load_curriculum(folder, _no_drip(campaign, tmp_path))
    assert str(info.value).startswith("02_broken.md: quiz[1].answer: ")
    (folder / "02_broken.md").unlink()
    with pytest.raises(CurriculumError) as info:
        load_curriculum(folder, _no_drip(campaign, tmp_path))
    assert (info.value.file, info.value.key) == ("03_latin1.md", "file")


def test_missing_folder(campaign: Campaign, tmp_path: Path) -> None:
    with pytest.raises(CurriculumError) as info:
        load_curriculum(tmp_path / "nowhere", campaign)
    assert info.value.key == "folder"
