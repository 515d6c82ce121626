"""Applying with works and topics: the application form, uploads checked against the category's
rules (media made here), submission, /mywork, withdrawal, and bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from storage.models import Submission, SubmissionFile
from tests.conftest import ADMIN_ID, approve_creator
from tests.harness import ChatUser, Conversation
from tests.media import make_audio_only, make_docx, make_image, make_video, make_zip, random_file, truncate

IN_WINDOW = datetime(2023, 6, 1, 4, 0, tzinfo=UTC)


@pytest.fixture
async def creator(app, chat: Conversation) -> ChatUser:
    """Alice, whose 科普号 is approved; the bot's clock stands inside the campaign's window."""
    app.dispatcher["clock"] = lambda: IN_WINDOW
    await approve_creator(app.sessionmaker, 1001)
    await chat.user(ADMIN_ID, "Boss").send("/start")
    return chat.user(1001, "Alice")


async def fill_application(alice: ChatUser, category: str, *, kind: str = "作品", title: str = "光的折射",
                           extra: list[str] = ()) -> None:
    """The application form up to its summary; `extra` answers the category's own questions."""
    await alice.send("/apply")
    assert "申报作品或选题" in alice.history[-2].text
    await alice.press(kind)
    await alice.press(category)
    if category == "视频":
        await alice.press("纪录片")
    await alice.send(title)
    await alice.press("剖析前沿科技")
    await alice.send("用生活中的例子讲清楚光为什么会折射。")
    for answer in extra:
        if answer == "SKIP":
            await alice.press("跳过")
        else:
            replies = await alice.send(answer)
            assert not any("请" in r.text and "无效" in r.text for r in replies)
    assert "原创声明" in alice.last_text and "未曾公开发表" in alice.last_text
    await alice.press("我已阅读并确认")
    assert "请核对" in alice.last_text


async def save_draft(alice: ChatUser, category: str, **kw) -> int:
    await fill_application(alice, category, **kw)
    replies = await alice.press("保存草稿")
    assert "草稿已保存" in replies[-1].text
    return int(replies[-1].text.split("#")[1].split("「")[0])


async def submission(app, sub_id: int) -> tuple[Submission, list[SubmissionFile]]:
    async with app.sessionmaker() as session:
        sub = await session.get(Submission, sub_id)
        files = (await session.execute(select(SubmissionFile).where(SubmissionFile.submission_id == sub_id))).scalars().all()
    return sub, list(files)


async def submit(alice: ChatUser) -> str:
    """Press 提交申报; when the application is ready the bot asks to confirm: confirm it."""
    await alice.press("提交申报")
    if "确定要提交" in alice.last_text:
        await alice.press("确认提交申报")
    return alice.last_text


# ------------------------------------------------------------------ one work of each category, one topic


async def test_video_work_end_to_end(app, chat, creator, tmp_path):
    alice = creator
    sub_id = await save_draft(alice, "视频")
    video = make_video(tmp_path / "纪录片.mp4", 1920, 1080, 2, bitrate=6_000_000)
    replies = await alice.upload(video)
    assert "正在检查" in replies[0].text
    report = alice.conv.tg.messages[(alice.id, replies[0].message_id)].text
    assert "检查通过" in report and "1920×1080" in report and "分辨率不低于1080P" in report
    boss = chat.user(ADMIN_ID, "Boss")
    boss.new()
    assert "申报已提交" in await submit(alice)
    sub, files = await submission(app, sub_id)
    assert sub.status == "submitted" and [f.check_status for f in files] in (["passed"], ["warnings"])
    assert json.loads(sub.answers)["video_form"] == "纪录片"
    assert "新申报" in boss.last_text and "光的折射" in boss.last_text


@pytest.mark.parametrize(("category", "extra", "make", "as_"), [
    ("图文", [], lambda d: make_docx(d / "article.docx", 1500), "document"),
    ("深度图文", [], lambda d: make_docx(d / "deep.docx", 4200), "document"),
    ("H5", ["6"], lambda d: make_zip(d / "h5.zip", {f"page{i}.html": "<html></html>" for i in range(6)}), "document"),
    ("小游戏", ["3"], lambda d: make_zip(d / "game.zip", {"index.html": "<html></html>", "game.js": "let l=3"}), "document"),
])
async def test_each_work_category_end_to_end(app, creator, tmp_path, category, extra, make, as_):
    alice = creator
    sub_id = await save_draft(alice, category, extra=extra)
    replies = await alice.upload(make(tmp_path), as_=as_)
    report = alice.conv.tg.messages[(alice.id, replies[0].message_id)].text
    assert "检查通过" in report, report
    assert "申报已提交" in await submit(alice)
    sub, files = await submission(app, sub_id)
    assert sub.status == "submitted" and len(files) == 1


async def test_comics_series_as_an_album(app, creator, tmp_path):
    alice = creator
    sub_id = await save_draft(alice, "漫画/挂图", extra=["光的折射\n全反射"])
    for i, (w, h) in enumerate(((1280, 720), (720, 1280))):
        await alice.upload(make_image(tmp_path / f"p{i}.png", w, h), as_="photo", media_group_id="album1")
    sub, files = await submission(app, sub_id)
    assert [f.check_status for f in files] == ["passed", "passed"]
    assert json.loads(sub.answers)["knowledge_points"] == ["光的折射", "全反射"]
    cards = [m for m in alice.history if m.method == "sendMessage" and "正在检查" in m.text]
    assert len(cards) == 1  # one card for the album, edited as each image is checked
    card = alice.conv.tg.messages[(alice.id, cards[0].message_id)].text
    assert "2 个文件，全部通过" in card and "图片1.jpg" in card and "图片2.jpg" in card
    assert "申报已提交" in await submit(alice)


async def test_an_album_with_a_small_image(app, creator, tmp_path):
    alice = creator
    await save_draft(alice, "漫画/挂图", extra=["光的折射"])
    for i, (w, h) in enumerate(((1280, 720), (1000, 700), (1920, 1080))):
        await alice.upload(make_image(tmp_path / f"s{i}.png", w, h), as_="photo", media_group_id="album2")
    card = alice.conv.tg.messages[(alice.id, alice.history[-1].message_id)].text
    assert "3 个文件，1 个未通过" in card and "1000×700" in card and "↳" in card
    result = await submit(alice)
    assert "还不能提交" in result


async def test_topic_end_to_end_without_files(app, creator):
    alice = creator
    sub_id = await save_draft(alice, "短视频拍摄脚本", kind="选题",
                              extra=["五集短视频，讲光学现象与生活。", "团队三人，均为物理学博士。", "三个月完成脚本与拍摄。", "SKIP"])
    assert "申报已提交" in await submit(alice)
    sub, files = await submission(app, sub_id)
    assert (sub.status, sub.kind, sub.category, files) == ("submitted", "topic", "topic_video_script", [])


# ------------------------------------------------------------------ what the checks say in the chat


async def test_a_720p_video_blocks_submission(app, creator, tmp_path):
    alice = creator
    sub_id = await save_draft(alice, "视频")
    replies = await alice.upload(make_video(tmp_path / "small.mp4", 1280, 720, 1, bitrate=6_000_000))
    report = alice.conv.tg.messages[(alice.id, replies[0].message_id)].text
    assert "未通过" in report and "短边 720" in report and "≥ 1080 px" in report
    result = await submit(alice)
    assert "还不能提交" in result and "small.mp4" in result
    assert (await submission(app, sub_id))[0].status == "draft"
    # take the failed file out and send a corrected one: now it goes
    await alice.press("查看这份申报")
    await alice.press("移除未通过的文件")
    assert "已移除" in alice.last_text and "small.mp4" in alice.last_text
    await alice.upload(make_video(tmp_path / "fixed.mp4", 1920, 1080, 1, bitrate=6_000_000))
    assert "申报已提交" in await submit(alice)
    _, files = await submission(app, sub_id)
    assert [f.file_name for f in files] == ["fixed.mp4"]


async def test_a_compressed_video_gets_the_file_hint(app, creator, tmp_path):
    alice = creator
    await save_draft(alice, "视频")
    video = make_video(tmp_path / "clip.mp4", 1920, 1080, 1, bitrate=6_000_000)
    replies = await alice.upload(video, as_="video", width=1920, height=1080, duration=1)
    assert "以“视频”方式发送" in replies[0].text and "分辨率不低于1080P" in replies[0].text


async def test_a_big_long_video_waits_for_staff_honestly(app, creator, tmp_path):
    """Over 20 MB on the cloud Bot API: the metadata gives a first verdict (6 minutes: a warning),
    the file is kept for staff, and submitting is allowed."""
    alice = creator
    sub_id = await save_draft(alice, "视频")
    replies = await alice.upload(tmp_path / "long.mp4", as_="video", data=b"\0" * 1000, size=300 * 1024 * 1024,
                                 width=1920, height=1080, duration=360)
    text = alice.conv.tg.messages[(alice.id, replies[0].message_id)].text
    assert "20 MB" in text and "人工检查" in text and "6分" in text and "时长不超过5分钟" in text
    _, files = await submission(app, sub_id)
    assert [f.check_status for f in files] == ["deep_pending"]
    result = await submit(alice)
    assert "申报已提交" in result and "人工检查" in result


async def test_staff_check_big_files_by_hand(app, chat, creator, tmp_path):
    alice = creator
    sub_id = await save_draft(alice, "视频")
    await alice.upload(tmp_path / "big.mp4", as_="video", data=b"\0" * 1000, size=300 * 1024 * 1024,
                       width=1920, height=1080, duration=240)
    boss = chat.user(ADMIN_ID, "Boss")
    boss.new()
    replies = await boss.send("/bigfiles")
    assert "共有 1 个" in replies[0].text
    assert [r.method for r in replies[1:]] == ["sendVideo", "sendMessage"]
    assert "big.mp4" in replies[-1].text and "300.0 MB" in replies[-1].text and "<code>video</code>" in replies[-1].text
    await alice.send("/mywork")  # Alice is elsewhere when the result comes
    await boss.press("人工检查不通过")
    await boss.press("码率")  # the operator says why (see tests/test_application_fixes.py)
    await boss.send("码率约 2 Mbit/s，请重新导出")
    assert "已记录" in boss.last_text
    assert "没有通过" in alice.last_text and "big.mp4" in alice.last_text and "码率" in alice.last_text
    _, files = await submission(app, sub_id)
    assert [f.check_status for f in files] == ["failed"]
    await boss.press("", data=f"mc:{files[0].id}:1")
    assert "已经记录过了" in boss.last_alert
    await alice.send("/bigfiles")
    assert "不认识这个命令" in alice.last_text
    await alice.press("", data=f"mc:{files[0].id}:1")
    assert "仅限工作人员" in alice.last_alert
    assert "没有待人工检查" in (await boss.send("/bigfiles"))[0].text


@pytest.mark.parametrize(("name", "make", "expected"), [
    ("empty.mp4", lambda p: p.write_bytes(b"") or p, "文件为空"),
    ("random.mp4", lambda p: random_file(p), "文件类型不符"),
    ("cut.mp4", lambda p: truncate(make_video(p, 1920, 1080, 2, bitrate=6_000_000)), "文件完整可播放"),
    ("sound.mp4", lambda p: make_audio_only(p, 2), "包含视频画面"),
    ("rotated.mp4", lambda p: make_video(p, 1280, 720, 1, bitrate=6_000_000, rotate=90), "短边 720"),
])
async def test_broken_video_files(app, creator, tmp_path, name, make, expected):
    alice = creator
    await save_draft(alice, "视频")
    replies = await alice.upload(make(tmp_path / name))
    report = alice.conv.tg.messages[(alice.id, replies[0].message_id)].text
    assert "未通过" in report and expected in report


async def test_a_small_comics_image_and_a_fake_docx(app, creator, tmp_path):
    alice = creator
    await save_draft(alice, "漫画/挂图", extra=["光的折射"])
    replies = await alice.upload(make_image(tmp_path / "small.png", 1000, 700))
    report = alice.conv.tg.messages[(alice.id, replies[0].message_id)].text
    assert "未通过" in report and "1000×700" in report
    await save_draft(alice, "图文", title="假文档")
    fake = make_zip(tmp_path / "article.docx", {"readme.txt": "not a word document"})
    replies = await alice.upload(fake)
    report = alice.conv.tg.messages[(alice.id, replies[0].message_id)].text
    assert "未通过" in report and ("文件类型不符" in report or "损坏" in report)


async def test_h5_zip_with_escaping_paths_fails(app, creator, tmp_path):
    alice = creator
    await save_draft(alice, "H5", extra=["6"])
    bad = make_zip(tmp_path / "evil.zip", {**{f"p{i}.html": "<html/>" for i in range(6)}, "../../etc/passwd": "x"})
    replies = await alice.upload(bad)
    report = alice.conv.tg.messages[(alice.id, replies[0].message_id)].text
    assert "不安全的路径" in report and "未通过" in report


async def test_wrong_file_for_the_category_and_duplicates(app, creator, tmp_path):
    alice = creator
    sub_id = await save_draft(alice, "图文")
    replies = await alice.upload_bytes(b"MZ" * 50, "setup.exe")
    assert "不是图文类别接受的文件" in replies[0].text and ".docx" in replies[0].text
    article = make_docx(tmp_path / "a.docx", 1300)
    await alice.upload(article)
    replies = await alice.upload(article)
    assert "已经上传过了" in replies[0].text
    _, files = await submission(app, sub_id)
    assert len(files) == 1
    replies = await alice.send("这是我的作品")
    assert "请发送这份申报的文件" in replies[0].text


async def test_a_short_article_is_a_warning_only(app, creator, tmp_path):
    alice = creator
    await save_draft(alice, "图文")
    replies = await alice.upload(make_docx(tmp_path / "short.docx", 900))
    report = alice.conv.tg.messages[(alice.id, replies[0].message_id)].text
    assert "建议修改" in report and "900字" in report
    assert "申报已提交" in await submit(alice)


async def test_a_long_in_depth_article_is_an_error(app, creator, tmp_path):
    alice = creator
    await save_draft(alice, "深度图文")
    replies = await alice.upload(make_docx(tmp_path / "long.docx", 5200))
    report = alice.conv.tg.messages[(alice.id, replies[0].message_id)].text
    assert "未通过" in report and "5200字" in report


# ------------------------------------------------------------------ who may apply, and when


async def test_outside_the_window_applications_are_refused(app, creator):
    app.dispatcher["clock"] = lambda: datetime(2026, 11, 26, tzinfo=UTC)
    replies = await creator.send("/apply")
    assert "不在申报时间内" in replies[0].text and "2024年3月31日" in replies[0].text


async def test_only_approved_creators_apply(app, chat):
    app.dispatcher["clock"] = lambda: IN_WINDOW
    replies = await chat.user(1002, "Bob").send("/apply")
    assert "先注册科普号" in replies[0].text and "/register" in replies[0].text


# ------------------------------------------------------------------ drafts, /mywork, withdrawal


async def test_several_drafts_edit_withdraw(app, creator, tmp_path):
    alice = creator
    first = await save_draft(alice, "图文", title="第一篇")
    await alice.press("稍后再传")
    second = await save_draft(alice, "短视频拍摄脚本", kind="选题", title="第二个选题",
                              extra=["五集短视频，讲光学现象与生活。", "团队三人，均为物理学博士。", "三个月完成脚本与拍摄。", "SKIP"])
    listing = await alice.send("/mywork")
    assert "共 2 份" in listing[0].text
    assert any("第一篇" in label for label in listing[0].labels)
    # edit the first draft's title from its summary
    await alice.press("第一篇")
    await alice.press("修改内容")
    await alice.press("作品（选题）名称")
    await alice.send("第一篇（修订）")
    await alice.press("保存草稿")
    sub, _ = await submission(app, first)
    assert sub.title == "第一篇（修订）" and sub.status == "draft"
    # submit the topic, then withdraw it
    await alice.send("/mywork")
    await alice.press("第二个选题")
    await submit(alice)
    await alice.press("撤回申报")
    assert "确定要撤回" in alice.last_text
    await alice.press("确认撤回")
    assert (await submission(app, second))[0].status == "withdrawn"
    # a withdrawn one can't be submitted through an old button
    await alice.press("", data=f"s:{second}:submit")
    assert "已经提交或撤回" in alice.last_alert


async def test_forged_submission_ids(app, creator, chat):
    alice = creator
    sub_id = await save_draft(alice, "图文")
    mallory = chat.user(1002, "Mallory")
    for action in ("open", "submit", "delete_yes", "edit"):
        await mallory.press("", data=f"s:{sub_id}:{action}")
        assert "失效" in mallory.last_alert
    assert (await submission(app, sub_id))[0].status == "draft"


async def test_delete_a_draft(app, creator):
    alice = creator
    sub_id = await save_draft(alice, "图文")
    await alice.press("查看这份申报")
    await alice.press("删除草稿")
    await alice.press("确认删除草稿")
    assert "已删除" in alice.last_text
    assert (await submission(app, sub_id))[0] is None
    replies = await alice.upload_bytes(b"%PDF-1.4 x", "late.pdf")
    assert "没有打开的申报草稿" in replies[0].text


async def test_application_draft_survives_a_restart(app, settings, creator):
    from bot.app import build_app

    alice = creator
    await alice.send("/apply")
    await alice.press("作品")
    await alice.press("视频")
    await app.close()
    restarted = build_app(settings)
    restarted.dispatcher["clock"] = lambda: IN_WINDOW
    try:
        alice2 = Conversation(restarted.dispatcher, first_update_id=7000).user(1001, "Alice")
        replies = await alice2.send("微电影")
        assert "作品（选题）名称" in replies[-1].text
    finally:
        await restarted.close()


async def test_long_topic_sections_fit_the_summary(app, creator):
    alice = creator
    await fill_application(alice, "应用策划方案", kind="选题",
                           extra=["内" * 2000, "团" * 1000, "计" * 2000, "往" * 1000])
    assert "请核对" in alice.last_text and "共 2000 字" in alice.last_text
    await alice.press("保存草稿")
    assert "草稿已保存" in alice.last_text


async def test_personal_data_covers_applications(app, creator, tmp_path):
    alice = creator
    draft = await save_draft(alice, "图文", title="草稿一篇")
    await alice.upload(make_docx(tmp_path / "a.docx", 1300))
    await alice.press("稍后再传")
    done = await save_draft(alice, "短视频拍摄脚本", kind="选题", title="已提交的选题",
                            extra=["五集短视频，讲光学现象与生活。", "团队三人，均为物理学博士。", "三个月完成脚本与拍摄。", "SKIP"])
    await submit(alice)
    replies = await alice.send("/mydata")
    exported = json.loads(replies[-1].file_bytes)
    assert sorted(s["title"] for s in exported["submissions"]) == ["已提交的选题", "草稿一篇"]
    assert any(f["file_name"] == "a.docx" for s in exported["submissions"] for f in s["files"])
    await alice.send("/deletedata")
    assert "1 份申报正在评审" in alice.last_text
    await alice.press("确认删除")
    assert (await submission(app, draft))[0] is None
    assert (await submission(app, done))[0].status == "submitted"


async def test_editing_a_draft_that_was_submitted_meanwhile(app, creator, tmp_path):
    alice = creator
    sub_id = await save_draft(alice, "短视频拍摄脚本", kind="选题", title="先编辑后提交",
                              extra=["五集短视频，讲光学现象与生活。", "团队三人，均为物理学博士。", "三个月完成脚本与拍摄。", "SKIP"])
    await alice.press("查看这份申报")
    await alice.press("修改内容")
    await alice.press("", data=f"s:{sub_id}:submit_yes")  # an older button, pressed while editing
    await alice.press("作品（选题）名称")
    await alice.send("改过的名称")
    await alice.press("保存草稿")
    assert "已经提交或撤回，不能再修改" in alice.last_text
    sub, _ = await submission(app, sub_id)
    assert (sub.status, sub.title) == ("submitted", "先编辑后提交")
