"""Issue 7, applications and files: a failed manual check returns the application with a reason
(2), a withdrawn application copied as a new draft and submitting confirmed (3), operators open an
application from its notice (7), one main file per work with replace/open/remove (8), a form answer
is a form error and changing it re-judges the files without a re-upload (9)."""
# ruff: noqa: F811 - the `creator` fixture is imported from tests.test_submissions and named as a parameter

from __future__ import annotations

import json

from sqlalchemy import select

from storage.models import Submission
from tests.conftest import ADMIN_ID
from tests.harness import ChatUser
from tests.media import make_image, make_video, make_zip
from tests.test_submissions import creator, save_draft, submission, submit  # noqa: F401


def report_of(alice: ChatUser, replies) -> str:
    """The upload's progress message as it reads after the check edited it."""
    return alice.conv.tg.messages[(alice.id, replies[0].message_id)].text


async def all_submissions(app, user_id: int) -> list[Submission]:
    async with app.sessionmaker() as session:
        rows = await session.execute(select(Submission).where(Submission.user_id == user_id).order_by(Submission.id))
        return list(rows.scalars())


async def big_video_submitted(alice: ChatUser, tmp_path) -> int:
    sub_id = await save_draft(alice, "视频")
    await alice.upload(tmp_path / "big.mp4", as_="video", data=b"\0" * 1000, size=300 * 1024 * 1024,
                       width=1920, height=1080, duration=240)
    assert "申报已提交" in await submit(alice)
    return sub_id


# ------------------------------------------------------------------ 2. a failed manual check is not final


async def test_a_failed_big_file_returns_the_application_with_the_reason(app, chat, creator, tmp_path):
    alice = creator
    sub_id = await big_video_submitted(alice, tmp_path)
    boss = chat.user(ADMIN_ID, "Boss")
    boss.new()
    # the list is also reachable from a button (the counts on an operator's /start)
    replies = await boss.press("", data="m:big")
    assert "共有 1 个" in replies[0].text and "big.mp4" in boss.last_text
    await boss.press("人工检查不通过")
    assert "未达到的要求" in boss.last_text and "big.mp4" in boss.last_text
    assert {"分辨率", "码率", "时长", "无法播放", "其他"} <= {label for label in boss.last.labels}
    await boss.press("码率")
    await boss.send("实测码率约 2 Mbit/s，请以不低于 5 Mbit/s 重新导出")
    assert "已记录" in boss.last_text and "退回申报人" in boss.last_text
    sub, files = await submission(app, sub_id)
    assert sub.status == "returned" and files[0].check_status == "failed"
    assert json.loads(files[0].manual_reason)["rule"] == "bitrate"
    note = json.loads(sub.staff_note)
    assert note["files"][0]["file_name"] == "big.mp4" and "2 Mbit/s" in note["files"][0]["text"]
    # the creator reads the file, the rule, the operator's words and what to do
    told = alice.last_text
    assert "big.mp4" in told and "码率" in told and "实测码率约 2 Mbit/s" in told
    assert "上传新版本" in told and "重新提交" in told
    await alice.press("打开这份申报")
    assert "退回修改" in alice.last_text and "实测码率约 2 Mbit/s" in alice.last_text
    assert "删除草稿" not in " ".join(alice.last.labels)
    listing = await alice.send("/mywork")
    assert any("退回修改" in label for label in listing[0].labels)
    # a returned application is not a draft to delete, nor are its answers edited
    await alice.press("", data=f"s:{sub_id}:delete_yes")
    assert "不能删除" in alice.last_alert
    await alice.press("", data=f"s:{sub_id}:edit")
    assert "只能替换或移除文件" in alice.last_alert
    assert (await submission(app, sub_id))[0] is not None
    # replace the file: upload a new version, confirm the replacement, submit again
    await alice.press("光的折射")
    await alice.press("上传新版本")
    await alice.upload(make_video(tmp_path / "new.mp4", 1920, 1080, 1, bitrate=6_000_000))
    assert "替换" in alice.last_text and "big.mp4" in alice.last_text
    await alice.press("替换")
    boss.new()
    assert "申报已提交" in await submit(alice)
    sub, files = await submission(app, sub_id)
    assert sub.status == "submitted" and [f.file_name for f in files] == ["new.mp4"]
    assert json.loads(sub.answers)["title"] == "光的折射"
    assert "重新提交" in boss.last_text and "光的折射" in boss.last_text


async def test_only_operators_fail_files_and_open_the_big_file_list(app, chat, creator, tmp_path):
    alice = creator
    sub_id = await big_video_submitted(alice, tmp_path)
    _, files = await submission(app, sub_id)
    await alice.press("", data="m:big")
    assert "仅限工作人员" in alice.last_alert
    await alice.press("", data=f"mc:{files[0].id}:0")
    assert "仅限工作人员" in alice.last_alert
    boss = chat.user(ADMIN_ID, "Boss")
    await boss.send("/bigfiles")
    await boss.press("人工检查通过")
    await boss.press("", data=f"mc:{files[0].id}:0")  # decided meanwhile: no form opens
    assert "已经记录过了" in boss.last_alert
    sub, files = await submission(app, sub_id)
    assert sub.status == "submitted" and files[0].check_status == "passed" and files[0].manual_reason is None


# ------------------------------------------------------------------ 3. reopening a withdrawn application


async def test_a_withdrawn_application_is_copied_as_a_new_draft(app, creator, tmp_path):
    alice = creator
    sub_id = await save_draft(alice, "漫画/挂图", extra=["光的折射\n全反射"])
    for i in range(2):
        await alice.upload(make_image(tmp_path / f"p{i}.png", 1280 + i, 720), as_="photo")
    # submitting asks first, naming the application
    await alice.press("提交申报")
    assert "确定要提交申报" in alice.last_text and "光的折射" in alice.last_text
    assert (await submission(app, sub_id))[0].status == "draft"
    await alice.press("确认提交申报")
    assert "申报已提交" in alice.last_text
    await alice.press("撤回申报")
    await alice.press("确认撤回")
    await alice.press("复制为新草稿")
    assert "新建草稿" in alice.last_text and "2 个检查通过的文件" in alice.last_text
    subs = await all_submissions(app, 1001)
    assert [s.status for s in subs] == ["withdrawn", "draft"]
    old, new = subs
    assert new.answers == old.answers and new.title == old.title
    _, old_files = await submission(app, old.id)
    _, new_files = await submission(app, new.id)
    assert [(f.file_id, f.report) for f in new_files] == [(f.file_id, f.report) for f in old_files]
    assert "申报已提交" in await submit(alice)
    # only a withdrawn one is copied
    await alice.press("", data=f"s:{new.id}:copy")
    assert "只有已撤回的申报" in alice.last_alert


async def test_files_that_failed_are_not_copied(app, chat, creator, tmp_path):
    alice = creator
    sub_id = await big_video_submitted(alice, tmp_path)
    boss = chat.user(ADMIN_ID, "Boss")
    await boss.send("/bigfiles")
    await boss.press("人工检查不通过")
    await boss.press("无法播放")
    await boss.send("文件打不开")
    await alice.press("打开这份申报")
    await alice.press("撤回申报")  # a returned application may be withdrawn
    await alice.press("确认撤回")
    assert (await submission(app, sub_id))[0].status == "withdrawn"
    await alice.press("复制为新草稿")
    new = (await all_submissions(app, 1001))[-1]
    assert new.status == "draft" and (await submission(app, new.id))[1] == []


# ------------------------------------------------------------------ 7. operators open an application


async def test_operators_open_a_submitted_application_from_its_notice(app, chat, creator, tmp_path):
    alice = creator
    sub_id = await save_draft(alice, "视频")
    await alice.upload(make_video(tmp_path / "纪录片.mp4", 1920, 1080, 1, bitrate=6_000_000))
    boss = chat.user(ADMIN_ID, "Boss")
    boss.new()
    await submit(alice)
    assert "新申报" in boss.last_text
    replies = await boss.press("查看申报")
    _, files = await submission(app, sub_id)
    sent = [r for r in replies if r.method in ("sendDocument", "sendVideo")]
    assert len(sent) == 1 and sent[0].raw.get("document", sent[0].raw.get("video")) == files[0].file_id
    card = replies[-1].text
    assert "光的折射" in card and "纪录片" in card and "用生活中的例子讲清楚光为什么会折射" in card
    assert "纪录片.mp4" in card and "1920×1080" in card
    # only operators; and not someone's draft
    mallory = chat.user(1002, "Mallory")
    await mallory.press("", data=f"ss:{sub_id}:open")
    assert "仅限工作人员" in mallory.last_alert
    draft = await save_draft(alice, "图文", title="还在写")
    await boss.press("", data=f"ss:{draft}:open")
    assert "失效" in boss.last_alert


# ------------------------------------------------------------------ 8. one main file; each file on its own


async def test_a_second_video_asks_to_replace_the_first(app, creator, tmp_path):
    alice = creator
    sub_id = await save_draft(alice, "视频")
    await alice.upload(make_video(tmp_path / "a.mp4", 1920, 1080, 1, bitrate=6_000_000))
    second = make_video(tmp_path / "b.mp4", 1920, 1080, 2, bitrate=6_000_000)
    replies = await alice.upload(second)
    assert len(replies) == 1 and "一个文件" in replies[0].text and "a.mp4" in replies[0].text
    assert [f.file_name for f in (await submission(app, sub_id))[1]] == ["a.mp4"]
    await alice.press("取消")
    assert "保留原来的文件" in alice.last_text
    assert [f.file_name for f in (await submission(app, sub_id))[1]] == ["a.mp4"]
    await alice.upload(second)
    await alice.press("替换")
    _, files = await submission(app, sub_id)
    assert [f.file_name for f in files] == ["b.mp4"] and files[0].check_status in ("passed", "warnings")
    assert "检查通过" in alice.last_text and "b.mp4" in alice.last_text
    # an old 替换 button does nothing more
    await alice.press("", data=f"s:{sub_id}:replace")
    assert "失效" in alice.last_alert


async def test_a_series_keeps_several_files(app, creator, tmp_path):
    alice = creator
    sub_id = await save_draft(alice, "漫画/挂图", extra=["光的折射"])
    await alice.upload(make_image(tmp_path / "p1.png", 1280, 720))
    replies = await alice.upload(make_image(tmp_path / "p2.png", 1300, 720))
    assert "替换" not in replies[0].text
    assert len((await submission(app, sub_id))[1]) == 2


async def test_each_file_opens_and_is_removed_on_its_own(app, chat, creator, tmp_path):
    alice = creator
    sub_id = await save_draft(alice, "漫画/挂图", extra=["光的折射"])
    await alice.upload(make_image(tmp_path / "good.png", 1280, 720))
    await alice.upload(make_image(tmp_path / "small.png", 1000, 700))
    await alice.press("查看这份申报")
    await alice.press("small.png")
    assert "未通过" in alice.last_text and "1000×700" in alice.last_text
    await alice.press("移除这个文件")
    assert "确定要" in alice.last_text and "small.png" in alice.last_text
    await alice.press("确认移除")
    assert "已移除" in alice.last_text
    _, files = await submission(app, sub_id)
    assert [f.file_name for f in files] == ["good.png"]
    # someone else's file, and a file of a submitted application
    mallory = chat.user(1002, "Mallory")
    await mallory.press("", data=f"sf:{files[0].id}:remove_yes")
    assert "失效" in mallory.last_alert
    assert "申报已提交" in await submit(alice)
    await alice.press("good.png")
    assert "1280×720" in alice.last_text and "移除这个文件" not in " ".join(alice.last.labels)
    await alice.press("", data=f"sf:{files[0].id}:remove_yes")
    assert "不能再修改" in alice.last_alert
    assert len((await submission(app, sub_id))[1]) == 1


# ------------------------------------------------------------------ 9. a form answer is the form's matter


async def test_the_h5_page_count_is_a_form_error_and_editing_it_rejudges_the_file(app, creator, tmp_path):
    alice = creator
    sub_id = await save_draft(alice, "H5", extra=["3"])
    replies = await alice.upload(make_zip(tmp_path / "h5.zip", {f"page{i}.html": "<html></html>" for i in range(6)}))
    report = report_of(alice, replies)
    assert "请补充页面" not in report and "未通过" not in report
    _, files = await submission(app, sub_id)
    assert files[0].check_status == "passed"
    assert not any(i["rule_id"] == "h5.pages" for i in json.loads(files[0].report)["items"])
    # submitting names the answer, its value and the rule, with a button to edit just that answer
    result = await submit(alice)
    assert "还不能提交" in result and "页" in result
    assert "您填写的是 3" in result and "6" in result
    await alice.press("修改H5 页数")
    assert "H5 页数" in alice.last_text
    await alice.send("8")
    saved = await alice.press("保存草稿")
    text = saved[-1].text
    assert "草稿已保存" in text
    # the stored report is judged again with the new answer: 6 pages in the zip, 8 declared
    sub, files = await submission(app, sub_id)
    assert json.loads(sub.answers)["pages"] == 8
    assert files[0].check_status == "warnings"
    assert "重新评估" in text and "h5.zip" in text
    assert "申报已提交" in await submit(alice)


async def test_form_errors_show_on_the_card(app, creator, tmp_path):
    alice = creator
    await save_draft(alice, "小游戏", extra=["2"])
    await alice.press("查看这份申报")
    assert "游戏关卡数" in alice.last_text or "关卡" in alice.last_text
    assert "您填写的是 2" in alice.last_text
    assert any("修改游戏关卡数" in label for label in alice.last.labels)
