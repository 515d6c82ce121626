# ruff: noqa: F811 - the fixtures imported from tests.test_submissions are parameters here
"""Uploads are recorded before their check and checked after the update commits, in a process of
their own (issue 8 items 2, 11, 12, 13): a submit never sees a file still being checked, a stop in the
middle of a check loses nothing, a hostile file gets a verdict within its budget, odd file names are
only data."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from bot.checker import Checker
from bot.checks.isolated import Budget
from tests.harness import ChatUser
from tests.media import make_docx, make_video
from tests.test_submissions import creator, save_draft, submission, submit  # noqa: F401


def held_checks(app, monkeypatch) -> list[int]:
    """Checks started by uploads are kept back (as if the process stopped before running them)."""
    started: list[int] = []
    monkeypatch.setattr(app.dispatcher["checker"], "start", lambda bot, row_id: started.append(row_id))
    return started


async def test_a_submit_waits_for_a_file_still_being_checked(app, creator, tmp_path, monkeypatch):
    alice: ChatUser = creator
    sub_id = await save_draft(alice, "图文")
    started = held_checks(app, monkeypatch)
    replies = await alice.upload(make_docx(tmp_path / "文章.docx", 1500))
    assert "正在检查" in replies[0].text and len(started) == 1
    _, files = await submission(app, sub_id)
    assert [f.check_status for f in files] == ["checking"]
    result = await submit(alice)
    assert "还不能提交" in result and "文章.docx" in result and "还在检查中" in result
    assert (await submission(app, sub_id))[0].status == "draft"
    monkeypatch.undo()
    checker: Checker = app.dispatcher["checker"]
    checker.start(alice.conv.bot, started[0])
    await checker.drain()
    report = alice.conv.tg.messages[(alice.id, replies[0].message_id)].text
    assert "检查通过" in report and "1500字" in report
    assert "申报已提交" in await submit(alice)


async def test_checks_a_stop_interrupted_run_again_at_start(app, creator, tmp_path, monkeypatch, settings):
    alice: ChatUser = creator
    sub_id = await save_draft(alice, "视频")
    held_checks(app, monkeypatch)
    replies = await alice.upload(make_video(tmp_path / "纪录片.mp4", 1920, 1080, 1, bitrate=6_000_000))
    leftover = settings.data_dir / "downloads" / "7" / "upload-7.mp4"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half a download")
    # a new process starts: the checker finds the file left `checking` and empties the downloads
    fresh = Checker(app.sessionmaker, app.campaign, app.texts, settings)
    assert await fresh.resume(alice.conv.bot) == 1
    await fresh.drain()
    assert not leftover.exists()
    _, files = await submission(app, sub_id)
    assert [f.check_status for f in files] in (["passed"], ["warnings"])
    report = alice.conv.tg.messages[(alice.id, replies[0].message_id)].text
    assert "检查通过" in report and "1920×1080" in report


async def test_a_file_over_the_check_budget_gets_a_verdict(app, creator, tmp_path):
    alice: ChatUser = creator
    sub_id = await save_draft(alice, "图文")
    app.dispatcher["checker"].budget = Budget(seconds=0.001, memory_mb=1024)
    replies = await alice.upload(make_docx(tmp_path / "复杂.docx", 1500))
    report = alice.conv.tg.messages[(alice.id, replies[0].message_id)].text
    assert "未通过" in report and "文件过大/过于复杂，无法检查" in report and "0.001 秒" in report
    _, files = await submission(app, sub_id)
    assert [f.check_status for f in files] == ["failed"]
    # the person and everyone else go on at once
    assert "欢迎" in (await alice.send("/start"))[0].text


async def test_long_and_odd_file_names_are_only_data(app, creator, tmp_path):
    alice: ChatUser = creator
    sub_id = await save_draft(alice, "图文")
    body = make_docx(tmp_path / "a.docx", 1500).read_bytes()
    long_name = "光" * 300 + ".docx"  # 900 bytes: no file system takes it as a name
    replies = await alice.upload(Path(long_name), data=body)
    report = alice.conv.tg.messages[(alice.id, replies[0].message_id)].text
    assert "检查通过" in report
    _, files = await submission(app, sub_id)
    assert len(files) == 1 and files[0].file_name.endswith(".docx") and len(files[0].file_name) <= 120
    assert files[0].file_name.startswith("光" * 50)

    sub_id = await save_draft(alice, "视频", title="第二部")
    video = make_video(tmp_path / "v.mp4", 1920, 1080, 1, bitrate=6_000_000).read_bytes()
    replies = await alice.upload(Path(".."), data=video, as_="video", width=1920, height=1080, duration=1)
    report = alice.conv.tg.messages[(alice.id, replies[0].message_id)].text
    assert "检查通过" in report
    await alice.upload(Path("第一行\n2026-01-01 INFO 伪造的日志.mp4"), data=video + b"\0")
    await alice.press("替换")  # a video takes one file: the second replaces the first
    _, files = await submission(app, sub_id)
    assert len(files) == 1 and "\n" not in files[0].file_name and "伪造的日志.mp4" in files[0].file_name


async def test_a_download_that_fails_asks_to_send_the_file_again(app, creator, tmp_path, monkeypatch):
    alice: ChatUser = creator
    sub_id = await save_draft(alice, "图文")

    async def broken(*args, **kwargs):
        raise aiohttp.ClientConnectionError("Cannot connect to host api.telegram.org")
        yield b""  # an async generator, like the real stream

    monkeypatch.setattr(alice.conv.tg, "stream_content", broken)
    replies = await alice.upload(make_docx(tmp_path / "文章.docx", 1500))
    report = alice.conv.tg.messages[(alice.id, replies[0].message_id)].text
    assert "没能从 Telegram 下载" in report and "文章.docx" in report and "重新发送" in report
    _, files = await submission(app, sub_id)
    assert files == []


async def test_the_upload_service_downloads_through_the_callable_it_is_given(app, creator, tmp_path, monkeypatch):
    """bot/services/uploads.py knows no aiogram: the deep check downloads through a callable. A
    refusal (over the cloud's 20 MB) leaves the file for staff, a failure drops it, a download is
    checked; the downloads folder is emptied each time."""
    from bot.services import submissions, uploads
    from bot.services.uploads import Buttons, Fetched
    from storage.statuses import FileStatus

    alice: ChatUser = creator
    sub_id = await save_draft(alice, "图文")
    started = held_checks(app, monkeypatch)
    body = make_docx(tmp_path / "文章.docx", 1500).read_bytes()
    await alice.upload(tmp_path / "文章.docx")
    async with app.sessionmaker() as session:
        row, sub = await submissions.checking_file(session, started[0])
    folder, budget, asked = tmp_path / "downloads" / "1", Budget(seconds=60, memory_mb=1024), []

    def giving(outcome: Fetched):
        async def download(file_id: str, path: Path) -> Fetched:
            asked.append(file_id)
            assert path.parent == folder and path.name == f"upload-{row.id}.docx"
            if outcome is Fetched.ok:
                path.write_bytes(body)
            return outcome
        return download

    status, _ = await uploads.deep_check(app.campaign, sub, row, folder, budget, giving(Fetched.refused))
    assert status is FileStatus.deep_pending and not folder.exists()
    status, _ = await uploads.deep_check(app.campaign, sub, row, folder, budget, giving(Fetched.failed))
    assert status is None and not folder.exists()
    status, report = await uploads.deep_check(app.campaign, sub, row, folder, budget, giving(Fetched.ok))
    assert status is FileStatus.passed and report["ok"] and not folder.exists()
    assert asked == [row.file_id] * 3
    async with app.sessionmaker.begin() as session:
        said = await uploads.record_deep_check(session, row, status, report)
    assert said is not None and said.template == "application/report" and said.buttons is Buttons.draft
    assert said.values["status"] == FileStatus.passed
    _, files = await submission(app, sub_id)
    assert [f.check_status for f in files] == ["passed"]
