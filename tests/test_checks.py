"""bot/checks: every campaign rule at its boundary, the bad inputs, and `kepubot check`.

Boundaries are tested on numbers through the seams (video_metrics on MediaInfo-shaped tracks,
evaluate, count_chars); real files made by tests/media.py check that measuring works and that files
clearly on one side land on that side.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bot.campaign import Campaign, UnknownCategoryError, load_campaign
from bot.checks import (
    MEASURED_METRICS,
    Report,
    check,
    check_files,
    count_chars,
    evaluate,
    strip_markdown,
    video_metrics,
)
from bot.checks import messages as msg
from bot.checks.archive import inspect_zip
from bot.checks.cli import main
from tests.media import (
    article_text,
    make_audio_only,
    make_docx,
    make_image,
    make_pdf,
    make_text,
    make_video,
    make_zip,
    make_zip_bomb,
    random_file,
    truncate,
)

REPO = Path(__file__).resolve().parent.parent
DECLARED_METRICS = {
    "knowledge_points",
    "pages",
    "levels",
    "has_content_intro",
    "has_team_qualifications",
    "has_execution_plan",
    "has_past_works",
    "originality_declared",
}
ORIGINAL = {"originality_declared": True}


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_campaign()


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory of test videos shared by the module (each made once, on first use)."""
    return tmp_path_factory.mktemp("media")


def _video(media: Path, name: str, *args, **kwargs) -> Path:
    path = media / name
    if not path.exists():
        make_video(path, *args, **kwargs)
    return path


def tracks(width=1920, height=1080, rotation="0.000", overall=6_000_000, duration_ms=60_000, **extra):
    """MediaInfo.to_data()-shaped tracks (pymediainfo 7 field names)."""
    general = {"track_type": "General", "format": "MPEG-4", "duration": duration_ms, "file_size": 10**9}
    if overall is not None:
        general["overall_bit_rate"] = overall
    general.update(extra.pop("general", {}))
    video = {"track_type": "Video", "format": "AVC", "width": width, "height": height, "rotation": rotation}
    video.update(extra.pop("video", {}))
    return {"tracks": [general, video]}


def judge(campaign, category, metrics, declared=None, files_only=None) -> Report:
    return evaluate(
        metrics,
        category,
        campaign,
        declared,
        files_only=declared is None if files_only is None else files_only,
    )


def status(report: Report, rule_id: str) -> str:
    return report.item(rule_id).status


# --------------------------------------------------------------------------- the library's shape


def test_import_is_light_and_has_no_aiogram():
    code = (
        "import sys, time; t = time.perf_counter(); import bot.checks; "
        "heavy = [m for m in ('aiogram', 'docx', 'PIL', 'pypdf', 'av') if m in sys.modules]; "
        "print(heavy, round(time.perf_counter() - t, 3))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    heavy, _seconds = out.stdout.rsplit(" ", 1)
    assert heavy == "[]"


def test_every_campaign_metric_is_measured_or_declared(campaign):
    # A typo in a metric name would otherwise silently become a "declared" value nobody fills in.
    assert campaign.metrics <= MEASURED_METRICS | DECLARED_METRICS


def test_messages_table_covers_every_file_problem():
    assert set(msg.FILE_PROBLEMS) == set(msg.FILE_PROBLEM_EXPECTED) == set(msg.FILE_PROBLEM_MEASURED)
    for level, title, hint in msg.FILE_PROBLEMS.values():
        assert level in ("error", "warning", "note") and title and hint


def test_unknown_category_raises(campaign, tmp_path):
    with pytest.raises(UnknownCategoryError):
        check(random_file(tmp_path / "x.mp4"), "film", campaign)
    with pytest.raises(FileNotFoundError):
        check(tmp_path / "missing.mp4", "video", campaign)


# --------------------------------------------------------------------------- video rules on numbers


@pytest.mark.parametrize(
    ("width", "height", "rotation", "short", "ok"),
    [
        (1920, 1080, "0.000", 1080, True),  # exactly 1080 passes
        (1080, 1920, "0.000", 1080, True),  # portrait
        (1920, 1079, "0.000", 1079, False),
        (3840, 2160, "0.000", 2160, True),
        (1920, 1080, "90.000", 1080, True),  # rotated: 1080×1920 on screen
        (1280, 720, "90.000", 720, False),
        (1280, 720, "270.000", 720, False),
        (1280, 720, "-90.000", 720, False),
        (1280, 720, "180.000", 720, False),
        (1440, 1080, "0.000", 1080, True),  # anamorphic HDV: stored pixels count
    ],
)
def test_short_side_after_rotation(campaign, width, height, rotation, short, ok):
    vm = video_metrics(tracks(width, height, rotation))
    assert vm["short_side_px"] == short
    report = judge(campaign, "video", vm)
    assert status(report, "video.short_side") == ("pass" if ok else "fail")
    if rotation in ("90.000", "270.000", "-90.000"):
        assert (vm["display_width"], vm["display_height"]) == (height, width)
        assert "旋转" in report.item("video.short_side").measured_text


def test_resolution_text(campaign):
    item = judge(campaign, "video", video_metrics(tracks(1920, 1080))).item("video.short_side")
    assert item.measured_text == "1920×1080（短边 1080 px）"
    assert item.expected == "≥ 1080 px" and item.hint == ""
    failing = judge(campaign, "video", video_metrics(tracks(1280, 720, "90.000"))).item("video.short_side")
    assert failing.measured_text == "1280×720，旋转90°后为720×1280（短边 720 px）"
    assert failing.hint == campaign.rule("video.short_side").hint


@pytest.mark.parametrize(
    ("bps", "error", "note"),
    [
        (5_000_000, "pass", "fail"),  # exactly 5 Mbit/s passes
        (4_999_999, "fail", "fail"),
        (7_999_999, "pass", "fail"),
        (8_000_000, "pass", "pass"),
        (2_000_000, "fail", "fail"),
    ],
)
def test_bitrate_boundaries(campaign, bps, error, note):
    vm = video_metrics(tracks(overall=bps))
    assert vm["bitrate_bps"] == bps and vm["bitrate_source"] == "container"
    report = judge(campaign, "video", vm)
    assert status(report, "video.bitrate") == error
    assert status(report, "video.bitrate_recommended") == note
    assert report.item("video.bitrate_recommended").level == "note"
    assert report.ok is (error == "pass")


def test_bitrate_text_never_rounds_onto_the_bound(campaign):
    report = judge(campaign, "video", video_metrics(tracks(overall=4_999_999)))
    assert report.item("video.bitrate").measured_text == "4.999999 Mbit/s"
    report = judge(campaign, "video", video_metrics(tracks(overall=6_400_000, video={"bit_rate": 6_200_000})))
    assert report.item("video.bitrate").measured_text == "6.4 Mbit/s（其中视频流 6.2 Mbit/s）"


def test_bitrate_falls_back_to_size_over_duration(campaign):
    # No overall bit rate from MediaInfo: file size × 8 / duration. 37.5 MB over 60 s = 5 Mbit/s.
    vm = video_metrics(tracks(overall=None, general={"file_size": 37_500_000}))
    assert vm["bitrate_bps"] == 5_000_000 and vm["bitrate_source"] == "file_size"
    assert status(judge(campaign, "video", vm), "video.bitrate") == "pass"
    vm = video_metrics(tracks(overall=None, general={"file_size": 37_499_999}))
    assert status(judge(campaign, "video", vm), "video.bitrate") == "fail"


@pytest.mark.parametrize(
    ("ms", "result", "text"),
    [
        (300_000, "pass", "5分0秒"),
        (300_001, "fail", "5分0.001秒"),
        (312_000, "fail", "5分12秒"),
        (45_500, "pass", "45.5秒"),
    ],
)
def test_duration_boundary(campaign, ms, result, text):
    report = judge(campaign, "video", video_metrics(tracks(duration_ms=ms)))
    item = report.item("video.duration")
    assert (item.status, item.level, item.measured_text) == (result, "warning", text)
    assert report.ok  # a long video is only a warning


def test_truncation_signals(campaign):
    vm = video_metrics(tracks(general={"istruncated": "Yes"}))
    assert vm["not_truncated"] is False
    vm = video_metrics(tracks(general={"file_size": 1000}, video={"stream_size": 5000}))
    assert vm["not_truncated"] is False and vm["truncated_reason"] == "stream larger than file"
    vm = video_metrics(tracks())
    assert vm["not_truncated"] is True and vm["has_video_track"] is True
    report = judge(campaign, "video", video_metrics(tracks(general={"istruncated": "Yes"})))
    assert status(report, "video.not_truncated") == "fail" and not report.ok


def test_no_video_track_on_numbers(campaign):
    audio_only = {
        "tracks": [{"track_type": "General", "format": "MPEG-4", "duration": 2000}, {"track_type": "Audio"}]
    }
    vm = video_metrics(audio_only)
    assert vm["has_video_track"] is False and vm["short_side_px"] is None
    assert status(judge(campaign, "video", vm), "video.has_video_track") == "fail"


def test_video_metrics_accepts_a_parsed_mediainfo(media):
    from pymediainfo import MediaInfo

    path = _video(media, "small.mp4", 320, 180, 1)
    from_object = video_metrics(MediaInfo.parse(path))
    from_dict = video_metrics(MediaInfo.parse(path).to_data())
    assert from_object == from_dict
    assert (from_object["width"], from_object["height"], from_object["has_video_track"]) == (320, 180, True)


# --------------------------------------------------------------------------- real video files


def test_good_1080p_video_passes(campaign, media):
    path = _video(media, "good.mp4", 1920, 1080, 2, bitrate=10_000_000, fps=5, audio=True)
    report = check(path, "video", campaign, ORIGINAL)
    assert report.ok, report.to_dict()
    assert [i.rule_id for i in report.items if i.status != "pass"] == []
    bitrate = report.item("video.bitrate").measured
    assert 8_500_000 < bitrate < 11_000_000  # ~10 Mbit/s: clearly above both thresholds
    assert report.detected_type.startswith("视频文件（MPEG-4，AVC 1920×1080")
    assert report.metrics["good.mp4"]["has_audio_track"] is True


@pytest.mark.parametrize(
    ("target", "low", "high"), [(4_000_000, 3_300_000, 4_600_000), (2_000_000, 1_500_000, 2_400_000)]
)
def test_low_bitrate_1080p_fails(campaign, media, target, low, high):
    path = _video(media, f"low{target}.mp4", 1920, 1080, 2, bitrate=target, fps=5)
    report = check(path, "video", campaign, ORIGINAL)
    item = report.item("video.bitrate")
    assert item.status == "fail" and low < item.measured < high
    assert status(report, "video.short_side") == "pass"
    assert [i.rule_id for i in report.errors] == ["video.bitrate"]


def test_720p_video_fails_resolution(campaign, media):
    report = check(_video(media, "hd.mp4", 1280, 720, 1, fps=5), "video", campaign, ORIGINAL)
    item = report.item("video.short_side")
    assert (item.status, item.measured, item.measured_text) == ("fail", 720, "1280×720（短边 720 px）")


def test_portrait_1080_passes(campaign, media):
    report = check(_video(media, "portrait.mp4", 1080, 1920, 1, fps=5), "video", campaign, files_only=True)
    assert status(report, "video.short_side") == "pass"


def test_rotated_files(campaign, media):
    from pymediainfo import MediaInfo

    rotated = _video(media, "rot720.mp4", 1280, 720, 1, fps=5, rotate=90)
    assert MediaInfo.parse(rotated).video_tracks[0].rotation == "90.000"  # PyAV wrote the display matrix
    item = check(rotated, "video", campaign, files_only=True).item("video.short_side")
    assert (item.status, item.measured) == ("fail", 720)
    assert "720×1280" in item.measured_text
    upright = _video(media, "rot1080.mp4", 1920, 1080, 1, fps=5, rotate=270)
    item = check(upright, "video", campaign, files_only=True).item("video.short_side")
    assert (item.status, item.measured) == ("pass", 1080)


def test_six_minute_video_is_a_warning(campaign, media):
    path = _video(media, "long.mp4", 1920, 1080, 360, fps=0.25)
    report = check(path, "video", campaign, ORIGINAL)
    item = report.item("video.duration")
    assert (item.status, item.level, item.measured_text) == ("fail", "warning", "6分0秒")
    assert status(report, "video.short_side") == "pass"
    assert report.warnings == [item]
    # The only error is the bit rate (a cheap still picture is tiny): without the bit-rate rules the
    # long video is fine apart from the warning.
    assert [i.rule_id for i in report.errors] == ["video.bitrate"]
    video = campaign.category("video")
    lenient = video.model_copy(update={"rules": tuple(r for r in video.rules if r.metric != "bitrate_bps")})
    report = check(path, lenient, campaign, ORIGINAL)
    assert report.ok and [i.rule_id for i in report.warnings] == ["video.duration"]


def test_empty_file(campaign, tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    report = check(path, "video", campaign, ORIGINAL)
    assert not report.ok
    assert [i.rule_id for i in report.errors] == ["file.empty"]
    item = report.item("file.empty")
    assert item.title == msg.FILE_PROBLEMS["file.empty"][1] and item.hint and item.file == "empty.mp4"
    assert not report.has("video.short_side")  # one clear reason, not a column of unknowns


def test_random_bytes_named_mp4(campaign, tmp_path):
    report = check(random_file(tmp_path / "movie.mp4", 200_000), "video", campaign, ORIGINAL)
    assert [i.rule_id for i in report.errors] == ["file.type"]
    assert report.item("file.type").level == "error"
    assert report.detected_type == msg.KIND_NAMES["unknown"]
    assert "视频文件" in report.item("file.type").hint


@pytest.mark.parametrize("faststart", [False, True])
def test_truncated_mp4(campaign, media, tmp_path, faststart):
    whole = _video(
        media, f"whole{faststart}.mp4", 640, 360, 2, fps=10, bitrate=2_000_000, faststart=faststart
    )
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes())
    truncate(cut)
    report = check(cut, "video", campaign, ORIGINAL)
    assert status(report, "video.not_truncated") == "fail"
    assert not report.ok
    assert not report.has("video.bitrate")  # a bit rate computed from half a file means nothing
    assert "文件不完整" in report.detected_type
    assert check(whole, "video", campaign, ORIGINAL).item("video.not_truncated").status == "pass"


def test_audio_only_as_video(campaign, tmp_path):
    report = check(make_audio_only(tmp_path / "voice.mp4"), "video", campaign, ORIGINAL)
    assert [i.rule_id for i in report.errors] == ["video.has_video_track"]
    assert report.item("video.has_video_track").hint == campaign.rule("video.has_video_track").hint
    assert not report.has("video.short_side") and not report.has("video.bitrate")
    assert report.detected_type.startswith("音频文件")


def test_wrong_kind_for_category(campaign, tmp_path):
    image = make_image(tmp_path / "poster.png", 1920, 1080)
    report = check(image, "video", campaign, ORIGINAL)
    assert [i.rule_id for i in report.errors] == ["file.type"]
    video = make_video(tmp_path / "clip.mp4", 320, 180, 1)
    report = check(video, "comics", campaign, {"knowledge_points": 1, **ORIGINAL})
    assert [i.rule_id for i in report.errors] == ["file.type"]


def test_unusual_extension_is_a_warning(campaign, media, tmp_path):
    odd = tmp_path / "clip.3gp"
    odd.write_bytes(_video(media, "hd.mp4", 1280, 720, 1, fps=5).read_bytes())
    report = check(odd, "video", campaign, ORIGINAL)
    assert report.item("file.extension").level == "warning"
    assert report.has("video.short_side")


# --------------------------------------------------------------------------- images (comics)


@pytest.mark.parametrize(
    ("w", "h", "long_ok", "short_ok"),
    [
        (1280, 720, True, True),
        (720, 1280, True, True),
        (1279, 720, False, True),
        (1280, 719, True, False),
        (1000, 700, False, False),
    ],
)
def test_image_size_boundaries(campaign, w, h, long_ok, short_ok):
    metrics = {"width": w, "height": h, "image_long_side_px": max(w, h), "image_short_side_px": min(w, h)}
    report = judge(campaign, "comics", metrics)
    assert status(report, "comics.image_long_side") == ("pass" if long_ok else "fail")
    assert status(report, "comics.image_short_side") == ("pass" if short_ok else "fail")


def test_real_images(campaign, tmp_path):
    declared = {"knowledge_points": 1, **ORIGINAL}
    assert check(make_image(tmp_path / "ok.png", 1280, 720), "comics", campaign, declared).ok
    assert check(make_image(tmp_path / "tall.jpg", 720, 1280), "comics", campaign, declared).ok
    report = check(make_image(tmp_path / "small.png", 1000, 700), "comics", campaign, declared)
    assert [i.rule_id for i in report.errors] == ["comics.image_long_side", "comics.image_short_side"]
    assert report.item("comics.image_long_side").measured_text == "1000×700（长边 1000 px）"
    assert (
        check(make_image(tmp_path / "narrow.webp", 1279, 720), "comics", campaign, declared)
        .errors[0]
        .measured
        == 1279
    )


def test_comics_series_weakest_image_decides(campaign, tmp_path):
    pages = [
        make_image(tmp_path / "p1.png", 1920, 1080),
        make_image(tmp_path / "p2.png", 1000, 700),
        make_image(tmp_path / "p3.jpg", 1100, 900),
        make_image(tmp_path / "p4.png", 1280, 720),
    ]
    report = check_files(
        pages, "comics", campaign, {"knowledge_points": ["彩虹的成因", "光的折射"], **ORIGINAL}
    )
    long_side = report.item("comics.image_long_side")
    assert (long_side.status, long_side.file, long_side.measured) == ("fail", "p2.png", 1000)
    assert "另有1个文件不达标：p3.jpg" in long_side.measured_text
    assert report.item("comics.image_short_side").file == "p2.png"
    assert report.item("comics.knowledge_points").measured == 2
    assert report.files == ["p1.png", "p2.png", "p3.jpg", "p4.png"]
    assert report.detected_type.startswith("4个文件：p1.png：图片（PNG，1920×1080）")
    good = check_files([pages[0], pages[3]], "comics", campaign, {"knowledge_points": 1, **ORIGINAL})
    assert good.ok and good.item("comics.image_short_side").file == "p4.png"  # the closest to the bound


def test_series_with_an_empty_page(campaign, tmp_path):
    blank = tmp_path / "p2.png"
    blank.write_bytes(b"")
    report = check_files(
        [make_image(tmp_path / "p1.png", 1920, 1080), blank],
        "comics",
        campaign,
        {"knowledge_points": 1, **ORIGINAL},
    )
    assert [(i.rule_id, i.file) for i in report.errors] == [("file.empty", "p2.png")]
    assert report.item("comics.image_long_side").status == "pass"


# --------------------------------------------------------------------------- articles


def test_count_chars_rules():
    assert count_chars("你好，世界。") == 6
    assert count_chars("DNA 双螺旋") == 4
    assert count_chars("COVID-19疫情") == 3
    assert count_chars("Hello, world! 3.14 don't") == 4
    assert count_chars("“科学”……——") == 8
    assert count_chars("  \n\t\u3000 ") == 0
    assert count_chars("ＡＢ１２") == 4  # full-width letters and digits: one each
    assert count_chars("𠀀〇々") == 3  # extension B, 〇 and 々
    assert count_chars("!!! ... 😀") == 0
    for n in (0, 1, 899, 1200, 3000, 5001):
        assert count_chars(article_text(n)) == n


def test_markdown_syntax_is_not_counted():
    md = "---\ntitle: x1\n---\n# 标题\n\n1. 第一\n- [链接](https://a.b/c-1)\n> 引用\n![图 1](a.png)\n\n| 表 | 格 |\n|---|---|\n<b>粗</b>[^1]\n```py\ncode\n```"
    assert count_chars(strip_markdown(md)) == count_chars("标题 第一 链接 引用 表 格 粗 code")


@pytest.mark.parametrize(
    ("chars", "result"), [(1199, "fail"), (1200, "pass"), (3000, "pass"), (3001, "fail")]
)
def test_article_chars_boundaries(campaign, chars, result):
    report = judge(campaign, "article", {"chars": chars})
    item = report.item("article.chars")
    assert (item.status, item.level, item.measured_text, item.expected) == (
        result,
        "warning",
        f"{chars}字",
        "1200–3000字",
    )
    assert report.ok


@pytest.mark.parametrize(
    ("chars", "max_status", "min_status"),
    [(5000, "pass", "pass"), (5001, "fail", "pass"), (1200, "pass", "pass"), (1199, "pass", "fail")],
)
def test_deep_article_boundaries(campaign, chars, max_status, min_status):
    report = judge(campaign, "deep_article", {"chars": chars})
    assert status(report, "deep_article.chars_max") == max_status
    assert status(report, "deep_article.chars_min") == min_status
    assert report.ok is (max_status == "pass")


@pytest.mark.parametrize("chars", [1200, 3000])
def test_article_files_at_the_bounds(campaign, tmp_path, chars):
    for path in (
        make_docx(tmp_path / "a.docx", chars, table_chars=100),
        make_text(tmp_path / "a.txt", chars),
        make_text(tmp_path / "a.md", chars, markdown=True),
        make_text(tmp_path / "gb.txt", chars, encoding="gb18030"),
    ):
        report = check(path, "article", campaign, ORIGINAL)
        assert report.item("article.chars").measured == chars, path.name
        assert report.ok and not report.warnings, report.to_dict()
    assert report.metrics["gb.txt"]["encoding"] == "GB18030"


def test_short_article_is_a_warning(campaign, tmp_path):
    report = check(make_docx(tmp_path / "short.docx", 900), "article", campaign, ORIGINAL)
    item = report.item("article.chars")
    assert (item.status, item.level, item.measured_text) == ("fail", "warning", "900字")
    assert report.ok and report.warnings == [item] and item.hint == campaign.rule("article.chars").hint
    assert report.detected_type == "Word 文档（900字）"


def test_long_deep_article_is_an_error(campaign, tmp_path):
    report = check(
        make_docx(tmp_path / "deep.docx", 5200, table_chars=400), "deep_article", campaign, ORIGINAL
    )
    item = report.item("deep_article.chars_max")
    assert (item.status, item.level, item.measured) == ("fail", "error", 5200)
    assert not report.ok


def test_docx_that_is_a_zip_of_something_else(campaign, tmp_path):
    fake = make_zip(tmp_path / "essay.docx", {"photo.jpg": b"\xff\xd8\xff" + bytes(100), "notes.txt": "hi"})
    report = check(fake, "article", campaign, ORIGINAL)
    assert [i.rule_id for i in report.errors] == ["file.type"]
    assert report.detected_type.startswith("ZIP 压缩包")


def test_broken_docx_is_unreadable(campaign, tmp_path):
    broken = make_zip(tmp_path / "broken.docx", {"[Content_Types].xml": "<nope", "word/document.xml": "<<<"})
    report = check(broken, "article", campaign, ORIGINAL)
    assert [i.rule_id for i in report.errors] == ["file.unreadable"]


def test_interrupted_docx_upload_is_unreadable(campaign, tmp_path):
    path = truncate(make_docx(tmp_path / "cut.docx", 2000))
    report = check(path, "article", campaign, ORIGINAL)
    assert [i.rule_id for i in report.errors] == ["file.unreadable"]
    assert report.detected_type == msg.KIND_NAMES["docx"]


def test_binary_named_txt(campaign, tmp_path):
    report = check(random_file(tmp_path / "essay.txt", 5000), "article", campaign, ORIGINAL)
    assert [i.rule_id for i in report.errors] == ["file.type"]


def test_pdf_text_and_missing_pypdf(campaign, tmp_path, monkeypatch):
    pdf = make_pdf(tmp_path / "paper.pdf", "Photosynthesis turns light into sugar")
    pytest.importorskip("pypdf")
    report = check(pdf, "article", campaign, ORIGINAL)
    assert report.item("article.chars").measured == 5
    monkeypatch.setitem(sys.modules, "pypdf", None)  # import pypdf now raises ImportError
    report = check(pdf, "deep_article", campaign, ORIGINAL)
    assert report.item("file.pdf_unreadable").level == "note"
    assert status(report, "deep_article.chars_max") == "unknown"
    assert not report.ok  # an error-level rule nobody could check blocks


# --------------------------------------------------------------------------- zips: H5 and games


def _h5(tmp_path: Path, pages: int, name: str = "h5.zip") -> Path:
    files = {f"site/page{i}.html": f"<html>{i}</html>" for i in range(pages)}
    files["site/img/a.png"] = b"\x89PNG" + bytes(50)
    return make_zip(tmp_path / name, files)


def test_h5_pages_declared(campaign, tmp_path):
    path = _h5(tmp_path, 6)
    report = check(path, "h5", campaign, {"pages": 6, **ORIGINAL})
    assert report.ok and status(report, "h5.pages") == "pass"
    assert "其中6个网页文件" in report.detected_type
    assert report.metrics["h5.zip"]["html_pages"] == 6
    assert status(check(path, "h5", campaign, {"pages": 5, **ORIGINAL}), "h5.pages") == "fail"
    missing = check(path, "h5", campaign, ORIGINAL)
    assert status(missing, "h5.pages") == "unknown" and not missing.ok
    assert missing.item("h5.pages").measured_text == msg.DECLARED_MISSING_TEXT


def test_h5_fewer_html_files_than_declared(campaign, tmp_path):
    report = check(_h5(tmp_path, 3), "h5", campaign, {"pages": 8, **ORIGINAL})
    item = report.item("estimate.pages")
    assert (item.level, item.measured) == ("warning", 3)
    assert "3个" in item.hint and "8页" in item.hint
    assert report.ok  # the declared count is the rule; the mismatch is a warning


def test_zip_bomb(campaign, tmp_path):
    report = check(make_zip_bomb(tmp_path / "bomb.zip"), "h5", campaign, {"pages": 6, **ORIGINAL})
    assert [i.rule_id for i in report.errors] == ["file.zip_bomb"]
    assert "压缩比" in report.item("file.zip_bomb").hint


def test_zip_limits_from_the_campaign(campaign, tmp_path):
    h5 = campaign.category("h5")
    tight = h5.model_copy(update={"archive": h5.archive.model_copy(update={"max_entries": 5})})
    report = check(_h5(tmp_path, 6), tight, campaign, {"pages": 6, **ORIGINAL})
    assert "包含7个条目（上限5个）" in report.item("file.zip_bomb").hint
    small = h5.model_copy(update={"archive": h5.archive.model_copy(update={"max_unpacked_bytes": 100})})
    report = check(_h5(tmp_path, 6, "b.zip"), small, campaign, {"pages": 6, **ORIGINAL})
    assert "解压后共" in report.item("file.zip_bomb").hint


def test_overlapping_entries_are_a_bomb(tmp_path):
    from bot.checks.archive import ZipLimits

    path = make_zip(tmp_path / "o.zip", {"a.html": "x" * 100})
    data = bytearray(path.read_bytes())
    # Duplicate the central directory entry: two names, one local header (Fifield's overlap).
    cd = data.rfind(b"PK\x01\x02")
    eocd = data.rfind(b"PK\x05\x06")
    entry = bytes(data[cd:eocd]).replace(b"a.html", b"b.html")
    new_cd = bytes(data[cd:eocd]) + entry
    tail = bytearray(data[eocd:])
    tail[8:10] = tail[10:12] = (2).to_bytes(2, "little")
    tail[12:16] = len(new_cd).to_bytes(4, "little")
    path.write_bytes(bytes(data[:cd]) + new_cd + bytes(tail))
    facts = inspect_zip(path, ZipLimits(1 << 30, 100, 100))
    assert [p[0] for p in facts.problems] == ["file.zip_bomb"]


@pytest.mark.parametrize(
    "name", ["../evil.html", "/etc/evil.html", "C:/evil.html", "a/../../evil.html", "..\\evil.html"]
)
def test_zip_with_escaping_paths(campaign, tmp_path, name):
    path = make_zip(tmp_path / "h5.zip", {**{f"p{i}.html": "x" for i in range(6)}, name: "boom"})
    report = check(path, "h5", campaign, {"pages": 6, **ORIGINAL})
    item = report.item("file.zip_unsafe_path")
    assert item.level == "error" and name in item.hint
    assert not report.ok


def test_zip_symlink_and_password(campaign, tmp_path):
    path = make_zip(tmp_path / "h5.zip", {"index.html": "x", "link": "/etc/passwd"}, symlinks=("link",))
    assert check(path, "h5", campaign, {"pages": 6, **ORIGINAL}).has("file.zip_unsafe_path")
    encrypted = make_zip(tmp_path / "enc.zip", {"index.html": "x"})
    data = bytearray(encrypted.read_bytes())
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):  # set the "encrypted" flag bit in both headers
        at = data.find(sig)
        flag_at = at + (6 if sig == b"PK\x03\x04" else 8)
        data[flag_at] |= 1
    encrypted.write_bytes(bytes(data))
    assert check(encrypted, "h5", campaign, {"pages": 6, **ORIGINAL}).has("file.zip_encrypted")


def test_game_levels(campaign, tmp_path):
    game = make_zip(tmp_path / "game.zip", {"index.html": "<canvas>", "js/game.js": "levels=[1,2,3]"})
    assert check(game, "game", campaign, {"levels": 3, **ORIGINAL}).ok
    report = check(game, "game", campaign, {"levels": 2, **ORIGINAL})
    assert [i.rule_id for i in report.errors] == ["game.levels"]
    assert report.item("game.levels").measured_text == "2关"
    apk = make_zip(tmp_path / "game.apk", {"AndroidManifest.xml": b"\x03\x00", "classes.dex": b"dex\n035"})
    report = check(apk, "game", campaign, {"levels": "3", **ORIGINAL})
    assert report.ok and report.detected_type.startswith("Android 安装包")


# --------------------------------------------------------------------------- declared values


@pytest.mark.parametrize(
    ("value", "result"),
    [
        (0, "fail"),
        (1, "pass"),
        (2, "pass"),
        ([], "fail"),
        (["彩虹"], "pass"),
        ("3", "pass"),
        (None, "unknown"),
        ("很多", "unknown"),
        (True, "unknown"),
    ],
)
def test_knowledge_points(campaign, value, result):
    report = judge(campaign, "comics", {}, {"knowledge_points": value, **ORIGINAL})
    item = report.item("comics.knowledge_points")
    assert item.status == result
    assert report.ok is (result == "pass")
    if result == "unknown":
        assert "请补充" in item.hint


@pytest.mark.parametrize(
    ("category", "rule_id", "ok", "bad"), [("h5", "h5.pages", 6, 5), ("game", "game.levels", 3, 2)]
)
def test_declared_counts(campaign, category, rule_id, ok, bad):
    metric = campaign.rule(rule_id).metric
    assert status(judge(campaign, category, {}, {metric: ok, **ORIGINAL}), rule_id) == "pass"
    assert status(judge(campaign, category, {}, {metric: bad, **ORIGINAL}), rule_id) == "fail"


@pytest.mark.parametrize("category", ["topic_video_script", "topic_article_outline", "topic_app_plan"])
def test_topic_sections(campaign, category):
    full = {
        "has_content_intro": True,
        "has_team_qualifications": True,
        "has_execution_plan": True,
        **ORIGINAL,
    }
    report = judge(campaign, category, {}, full)
    assert report.ok
    past = report.item(f"{category}.past_works")
    assert (past.level, past.status) == ("note", "unknown")  # optional: never blocks
    report = judge(campaign, category, {}, {**full, "has_execution_plan": "否", "has_past_works": "是"})
    assert [i.rule_id for i in report.errors] == [f"{category}.execution_plan"]
    assert status(report, f"{category}.past_works") == "pass"
    report = judge(campaign, category, {}, ORIGINAL)
    assert {i.status for i in report.errors} == {"unknown"} and len(report.errors) == 3


@pytest.mark.parametrize(
    ("value", "result"), [(True, "pass"), (False, "fail"), ("yes", "pass"), (None, "unknown")]
)
def test_originality_declaration(campaign, value, result):
    report = judge(campaign, "article", {"chars": 1500}, {"originality_declared": value})
    assert status(report, "common.originality_declared") == result
    assert report.ok is (result == "pass")


def test_declared_none_means_nothing_declared(campaign, tmp_path):
    path = make_text(tmp_path / "a.txt", 1500)
    report = check(path, "article", campaign)
    assert status(report, "common.originality_declared") == "unknown" and not report.ok
    files_only = check(path, "article", campaign, files_only=True)
    assert files_only.ok and not files_only.has("common.originality_declared") and files_only.files_only


def test_report_to_dict_is_json(campaign, tmp_path):
    report = check_files(
        [make_image(tmp_path / "a.png", 1280, 720), make_image(tmp_path / "b.png", 640, 480)],
        "comics",
        campaign,
        {"knowledge_points": 1},
    )
    data = json.loads(json.dumps(report.to_dict(), ensure_ascii=False))
    assert data["ok"] is False and data["category"] == "comics"
    assert data["counts"]["errors"] == len(report.errors) == 3
    assert {i["rule_id"] for i in data["items"]} >= {"comics.image_long_side", "common.originality_declared"}
    assert data["metrics"]["b.png"]["width"] == 640


# --------------------------------------------------------------------------- kepubot check


def test_cli_text_output(campaign, media, capsys):
    path = _video(media, "hd.mp4", 1280, 720, 1, fps=5)
    assert main([str(path), "--category", "video"]) == 1
    out = capsys.readouterr().out
    assert "❌ 分辨率不低于1080P" in out and "1280×720（短边 720 px）" in out and "≥ 1080 px" in out
    assert campaign.rule("video.short_side").hint in out
    assert "✅ 文件完整可播放" in out and "不通过" in out
    assert "--declare" in out  # says the form's rules were not checked


def test_cli_ok_and_json(media, capsys):
    path = _video(media, "good.mp4", 1920, 1080, 2, bitrate=10_000_000, fps=5, audio=True)
    assert main([str(path), "-c", "video"]) == 0
    assert "✅ 通过" in capsys.readouterr().out
    assert main([str(path), "-c", "video", "--json", "--declare", "originality_declared=true"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and data["files"] == ["good.mp4"]
    assert data["items"][0]["rule_id"] == "video.short_side"
    assert data["items"][-1]["rule_id"] == "common.originality_declared"
    assert {i["status"] for i in data["items"]} == {"pass"}
    assert main([str(path), "-c", "video", "--json", "--declare", "originality_declared=否"]) == 1
    assert json.loads(capsys.readouterr().out)["counts"]["errors"] == 1


def test_cli_series_and_declared(tmp_path, capsys):
    a, b = make_image(tmp_path / "a.png", 1920, 1080), make_image(tmp_path / "b.png", 1000, 700)
    code = main(
        [
            str(a),
            str(b),
            "-c",
            "comics",
            "-d",
            'knowledge_points=["光的折射"]',
            "-d",
            "originality_declared=是",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1 and "b.png：1000×700（长边 1000 px）" in out and "✅ 至少表达1个知识点" in out


def test_cli_usage_errors(tmp_path, capsys):
    path = random_file(tmp_path / "x.mp4")
    assert main([str(path), "--category", "film"]) == 2
    err = capsys.readouterr().err
    assert "video" in err and "deep_article" in err and "topic_app_plan" in err
    assert main([str(path)]) == 2  # --category is required
    assert main([str(tmp_path / "missing.mp4"), "-c", "video"]) == 2
    assert main([str(path), "-c", "video", "--declare", "novalue"]) == 2
    assert main([str(path), "-c", "video", "--campaign", str(tmp_path / "nope.toml")]) == 2
    capsys.readouterr()
    assert main([str(path), "-c", "视频"]) == 1  # the Chinese name works too; random bytes fail


def test_python_m_bot_checks(tmp_path):
    path = make_text(tmp_path / "a.txt", 1500)
    out = subprocess.run(
        [sys.executable, "-m", "bot.checks", str(path), "-c", "article", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["items"][0]["measured"] == 1500


def test_zip_without_extracting(tmp_path):
    # inspect_zip only reads the directory: a bomb's data is never inflated.
    bomb = make_zip_bomb(tmp_path / "b.zip", unpacked=64 << 20)
    with zipfile.ZipFile(bomb) as zf:
        assert zf.infolist()[0].file_size == 64 << 20
    from bot.checks.archive import ZipLimits

    facts = inspect_zip(bomb, ZipLimits(1 << 30, 10, 100))
    assert facts.unpacked_bytes == 64 << 20 and facts.problems[0][0] == "file.zip_bomb"


def test_kepubot_check_command(media: Path):
    """The installed command line (`python -m bot check`), in text and JSON, on a file made here."""
    path = _video(media, "cli-720p.mp4", 1280, 720, 1)
    text = subprocess.run([sys.executable, "-m", "bot", "check", str(path), "--category", "video"],
                          capture_output=True, text=True, timeout=60)
    assert text.returncode == 1 and "分辨率不低于1080P" in text.stdout and "720" in text.stdout
    as_json = subprocess.run([sys.executable, "-m", "bot", "check", str(path), "--category", "video", "--json"],
                             capture_output=True, text=True, timeout=60)
    report = json.loads(as_json.stdout)
    assert report["ok"] is False
    assert next(i for i in report["items"] if i["rule_id"] == "video.short_side")["status"] == "fail"
