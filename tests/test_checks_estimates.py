"""Estimates from inside a package (an H5's pages, a game's levels), a declared count judged as the
form's answer and not the file's, `rejudge` of a stored report without its file, and what
`kepubot check` says about them (issue 7, items 9 and 10)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from bot.campaign import Campaign, load_campaign
from bot.checks import Report, check, check_files, evaluate, rejudge
from bot.checks.cli import main
from bot.checks.estimates import count_sections
from tests.media import make_audio_only, make_docx, make_image, make_text, make_video, make_zip, random_file

REPO = Path(__file__).resolve().parent.parent
ORIGINAL = {"originality_declared": True}


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_campaign()


def _h5_files(tmp_path: Path, pages: int, name: str = "h5.zip") -> Path:
    files: dict[str, str | bytes] = {f"site/page{i}.html": f"<html>{i}</html>" for i in range(pages)}
    files["site/img/a.png"] = b"\x89PNG" + bytes(50)
    return make_zip(tmp_path / name, files)


def _h5_slides(tmp_path: Path, slides: int, name: str = "slides.zip") -> Path:
    body = "".join(f'<div class="swiper-slide s{i}"><p>第{i}页</p></div>' for i in range(slides))
    noise = (
        "<!-- <div class='swiper-slide'>old</div> -->"
        "<script>const tpl = '<div class=\"swiper-slide\"></div>';</script>"
        "<style>.page { color: red }</style>"
    )
    html = f'<html><body><div class="swiper"><div class="swiper-wrapper">{body}</div></div>{noise}</body></html>'
    return make_zip(tmp_path / name, {"h5/index.html": html, "h5/share.html": "<html></html>", "h5/js/app.js": "x"})


def _ids(report: Report) -> list[str]:
    return [i.rule_id for i in report.items]


# --------------------------------------------------------------------------- H5 pages


def test_h5_html_files_below_the_minimum_warn_without_a_declared_number(campaign, tmp_path):
    report = check(_h5_files(tmp_path, 3), "h5", campaign, files_only=True)
    item = report.item("estimate.pages")
    assert (item.level, item.status, item.measured) == ("warning", "fail", 3)
    assert item.measured_text == "3个页面文件，少于6页"
    assert "6页" in item.hint
    assert report.ok and not report.has("h5.pages")  # a warning: the form's number is the rule
    assert report.metrics["h5.zip"]["estimates"]["pages"]["value"] == 3


def test_h5_enough_html_files_is_shown_as_a_passing_estimate(campaign, tmp_path):
    report = check(_h5_files(tmp_path, 7), "h5", campaign, files_only=True)
    item = report.item("estimate.pages")
    assert item.status == "pass" and item.measured_text == "约7页（7个页面文件）" and item.expected == "≥ 6页"
    assert not report.warnings


def test_h5_slides_in_the_entry_page(campaign, tmp_path):
    path = _h5_slides(tmp_path, 8)
    report = check(path, "h5", campaign, {"pages": 8}, files_only=True)
    item = report.item("estimate.pages")
    assert item.status == "pass" and item.measured == 8  # 8 slides beat 2 HTML files; comments/scripts not read
    assert "约8页" in item.measured_text and "h5/index.html" in item.measured_text
    more = check(path, "h5", campaign, {"pages": 10}, files_only=True).item("estimate.pages")
    assert (more.status, more.level) == ("fail", "warning")
    assert more.measured_text.startswith("声明10页，包内约8个页面")


def test_section_families_are_not_added_up():
    nested = "".join(f'<div class="page"><section class="section" id="page{i}">x</section></div>' for i in range(4))
    assert count_sections(nested) == 4
    assert count_sections('<div class="page-wrapper"><div class="pages">x</div></div>') == 0
    assert count_sections("".join(f'<div class="slide-{i}"></div>' for i in range(5))) == 5
    assert count_sections("<div class='page'><p>broken <b") >= 1


def test_declared_pages_below_the_minimum_is_the_forms_error_not_the_files(campaign, tmp_path):
    path = _h5_files(tmp_path, 3)
    report = check(path, "h5", campaign, {"pages": 3, **ORIGINAL}, files_only=True)
    assert not report.has("h5.pages") and not report.has("common.originality_declared")
    assert report.item("estimate.pages").status == "pass"  # the package agrees with the form
    assert report.ok and report.errors == []
    form = evaluate({}, "h5", campaign, {"pages": 3, **ORIGINAL})  # readiness judges the form
    assert form.item("h5.pages").status == "fail" and not form.ok
    assert not form.has("estimate.pages")


def test_declared_more_pages_than_the_package_holds_is_a_warning(campaign, tmp_path):
    report = check(_h5_files(tmp_path, 3), "h5", campaign, {"pages": 8, **ORIGINAL}, files_only=True)
    item = report.item("estimate.pages")
    assert item.level == "warning" and item.measured_text.startswith("声明8页，包内约3个页面")
    assert "8页" in item.hint and "申报表" in item.hint
    assert report.ok and _ids(report) == ["estimate.pages"]


def test_full_check_still_judges_the_declared_rule(campaign, tmp_path):
    report = check(_h5_files(tmp_path, 6), "h5", campaign, {"pages": 5, **ORIGINAL})
    assert report.item("h5.pages").status == "fail"
    assert report.item("estimate.pages").status == "pass"  # 6 files ≥ 5 declared


# --------------------------------------------------------------------------- game levels


@pytest.mark.parametrize(
    ("files", "value", "key"),
    [
        ({"levels.json": json.dumps([{"id": 1}, {"id": 2}])}, 2, "[]"),
        ({"data/game.json": json.dumps({"title": "x", "levelCount": 4})}, 4, "levelCount"),
        ({"manifest.json": json.dumps({"levels": {"a": 1, "b": 2, "c": 3}})}, 3, "levels"),
        ({"manifest.json": json.dumps({"levels": 5}), "levels.json": json.dumps({"levels": [1]})}, 1, "levels"),
    ],
)
def test_game_levels_from_a_manifest(campaign, tmp_path, files, value, key):
    path = make_zip(tmp_path / "game.zip", {"index.html": "<canvas>", **files})
    report = check(path, "game", campaign, files_only=True)
    item = report.item("estimate.levels")
    assert item.measured == value and item.level == "warning"
    assert report.metrics["game.zip"]["estimates"]["levels"]["key"] == key
    assert item.status == ("pass" if value >= 3 else "fail")
    if value < 3:
        assert "少于3关" in item.measured_text


def test_game_levels_declared_disagreeing(campaign, tmp_path):
    path = make_zip(tmp_path / "game.zip", {"index.html": "<canvas>", "levels.json": "[1, 2, 3]"})
    item = check(path, "game", campaign, {"levels": 5}, files_only=True).item("estimate.levels")
    assert item.status == "fail" and item.measured_text == "声明5关，levels.json 列出3关"
    assert check(path, "game", campaign, {"levels": 3}, files_only=True).item("estimate.levels").status == "pass"


def test_game_without_a_count_has_no_estimate(campaign, tmp_path):
    pwa = make_zip(tmp_path / "g.zip", {"index.html": "x", "manifest.json": '{"name": "游戏", "icons": []}'})
    assert not check(pwa, "game", campaign, files_only=True).has("estimate.levels")
    bad = make_zip(tmp_path / "b.zip", {"index.html": "x", "levels.json": "{not json"})
    assert not check(bad, "game", campaign, files_only=True).has("estimate.levels")
    apk = make_zip(
        tmp_path / "game.apk",
        {"AndroidManifest.xml": b"\x03\x00", "classes.dex": b"dex\n035", "assets/levels.json": "[1,2,3,4]"},
    )
    assert check(apk, "game", campaign, files_only=True).item("estimate.levels").measured == 4


# --------------------------------------------------------------------------- rejudge


def _stored(report: Report) -> dict:
    return json.loads(json.dumps(report.to_dict(), ensure_ascii=False))  # as the database gives it back


def test_rejudge_with_new_declared_pages_without_the_file(campaign, tmp_path):
    path = _h5_files(tmp_path, 3)
    stored = _stored(check(path, "h5", campaign, {"pages": 8, **ORIGINAL}, files_only=True))
    path.unlink()
    fixed = rejudge(stored, "h5", campaign, {"pages": 3, **ORIGINAL})
    assert fixed.item("estimate.pages").status == "pass" and fixed.ok and not fixed.warnings
    assert fixed.files_only and not fixed.has("h5.pages")
    again = rejudge(stored, "h5", campaign, {"pages": 8, **ORIGINAL})
    assert again.to_dict() == stored
    whole = rejudge(stored, campaign.category("h5"), campaign, {"pages": 3, **ORIGINAL}, files_only=False)
    assert whole.item("h5.pages").status == "fail" and not whole.ok


def test_rejudge_reproduces_every_kind_of_report(campaign, tmp_path):
    video = make_video(tmp_path / "v.mp4", 1280, 720, 1, fps=5)
    cases = [
        (check(video, "video", campaign, files_only=True), "video", None, True),
        (check(make_audio_only(tmp_path / "a.mp4"), "video", campaign, ORIGINAL), "video", ORIGINAL, False),
        (
            check_files(
                [make_image(tmp_path / "a.png", 1920, 1080), make_image(tmp_path / "b.png", 1000, 700)],
                "comics",
                campaign,
                {"knowledge_points": 1, **ORIGINAL},
            ),
            "comics",
            {"knowledge_points": 1, **ORIGINAL},
            False,
        ),
        (check(make_text(tmp_path / "t.txt", 1100), "article", campaign, files_only=True), "article", None, True),
        (evaluate({"short_side_px": 720, "duration_s": 30}, "video", campaign, files_only=True, name="telegram"),
         "video", None, True),
    ]
    for report, category, declared, files_only in cases:
        stored = _stored(report)
        assert rejudge(stored, category, campaign, declared, files_only=files_only).to_dict() == stored


def test_rejudge_keeps_what_was_wrong_with_the_file(campaign, tmp_path):
    wrong = _stored(check(random_file(tmp_path / "x.zip"), "h5", campaign, {"pages": 6}, files_only=True))
    assert [i["rule_id"] for i in wrong["items"]] == ["file.type"]
    again = rejudge(wrong, "h5", campaign, {"pages": 2})
    assert [i.rule_id for i in again.items] == ["file.type"] and not again.ok
    damaged = tmp_path / "d.zip"
    damaged.write_bytes(_h5_files(tmp_path, 6).read_bytes()[:-30])
    stored = _stored(check(damaged, "h5", campaign, files_only=True))
    assert rejudge(stored, "h5", campaign, {"pages": 6}).has("file.unreadable")
    assert not rejudge(stored, "h5", campaign, {"pages": 6}).has("estimate.pages")


def test_rejudge_reads_a_report_stored_before_estimates(campaign, tmp_path):
    stored = _stored(check(_h5_files(tmp_path, 3), "h5", campaign, {"pages": 8, **ORIGINAL}))
    for m in stored["metrics"].values():
        for key in ("estimates", "measured", "skipped"):
            m.pop(key)
    stored["items"] = [i for i in stored["items"] if i["rule_id"] != "estimate.pages"] + [
        {"rule_id": "file.h5_pages_mismatch", "title": "页面文件少于申报页数", "level": "warning",
         "status": "fail", "measured": 3, "measured_text": "3个页面文件", "expected": "≥ 8个页面文件",
         "hint": "…", "file": "h5.zip"},
    ]
    report = rejudge(stored, "h5", campaign, {"pages": 8, **ORIGINAL})
    assert _ids(report) == ["estimate.pages"]
    assert report.item("estimate.pages").measured_text.startswith("声明8页，包内约3个页面")


# --------------------------------------------------------------------------- wording and the CLI


def test_yes_no_rules_say_what_they_require(campaign):
    rules = campaign.common_rules + tuple(r for c in campaign.categories for r in c.rules)
    for rule in rules:
        if isinstance(rule.value, bool):
            assert rule.expected not in ("是", "否"), rule.id
    assert campaign.rule("video.has_video_track").expected == "有视频画面"
    item = evaluate({}, "article", campaign, {}).item("common.originality_declared")
    assert item.status == "unknown" and item.expected == "已逐项确认"


def test_cli_warns_about_an_h5_with_few_pages_and_names_the_keys(tmp_path, capsys):
    path = _h5_files(tmp_path, 3)
    assert main([str(path), "-c", "h5"]) == 0  # a warning, not an error
    out = capsys.readouterr().out
    assert "⚠️ 包内页数（估计）" in out and "3个页面文件，少于6页" in out
    last = out.strip().splitlines()[-1]
    assert "--declare" in last and "originality_declared=true" in last and "pages=" in last
    assert main([str(path), "-c", "h5", "-d", "pages=8"]) == 1  # the declaration is missing
    out = capsys.readouterr().out
    assert "声明8页，包内约3个页面" in out
    missing = next(line for line in out.splitlines() if "还缺" in line)
    assert "originality_declared" in missing and "pages" not in missing


def test_readme_examples_pass_for_good_files(tmp_path, capsys, monkeypatch):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index("Check a file against a category's rules") :]
    commands = [line for line in block.splitlines() if line.startswith("kepubot check ")][:5]
    made = {
        "video.mp4": lambda p: make_video(p, 1920, 1080, 2, bitrate=10_000_000, fps=5),
        "article.docx": lambda p: make_docx(p, 1500),
        "h5.zip": lambda p: _h5_files(p.parent, 8, p.name),
    }
    monkeypatch.chdir(tmp_path)
    (tmp_path / "comics").mkdir()
    make_image(tmp_path / "comics" / "p1.png", 1920, 1080)
    make_image(tmp_path / "comics" / "p2.png", 1920, 1080)
    declared_examples = 0
    for command in commands:
        argv = shlex.split(command, comments=True)[2:]
        files = []
        for arg in argv:
            if arg == "comics/*.png":
                files += ["comics/p1.png", "comics/p2.png"]
                continue
            if arg in made and not (tmp_path / arg).exists():
                made[arg](tmp_path / arg)
            files.append(arg)
        declared_examples += "--declare" in argv
        code = main(files)
        out = capsys.readouterr().out
        assert code == 0, (command, out)
        if "--declare" in argv:
            assert re.search(r"✅ 通过", out) and "❔" not in out, command
    assert declared_examples >= 1
