"""Limits that keep every message under Telegram's 4096 characters and one person from filling the
database (issue 8, low items): the application card, the operators' card and /mywork are paged; an
application takes at most MAX_FILES files and a person at most MAX_OPEN_DRAFTS drafts; delete and
withdraw confirmations expire; the sandbox serves only its own folder."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.callbacks import (
    FileAction,
    FileCB,
    ProfileAction,
    ProfileCB,
    StaffAction,
    StaffSubCB,
    SubAction,
    SubCB,
    fresh,
    minute_stamp,
)
from bot.services import submissions
from storage.models import Submission, SubmissionFile
from tests.conftest import ADMIN_ID, approve_creator
from tests.harness import ChatUser, Conversation
from tests.media import make_image
from tests.test_submissions import IN_WINDOW, save_draft, submission, submit

LONG = "很长的文件名" * 18  # 108 characters: long names are what pass 4096 characters


@pytest.fixture
async def alice(app, chat: Conversation) -> ChatUser:
    """A creator whose 科普号 is approved; the bot's clock stands inside the campaign's window."""
    app.dispatcher["clock"] = lambda: IN_WINDOW
    await approve_creator(app.sessionmaker, 1001)
    await chat.user(ADMIN_ID, "Boss").send("/start")
    return chat.user(1001, "Alice")


async def add_files(app, sub_id: int, n: int, *, status: str = "failed", tg=None) -> None:
    """`n` files recorded as if uploaded and checked: long names, unmet requirements, an operator's
    long reason: the worst a card has to show. With `tg` (the fake Telegram) their file ids are
    files it knows, so the bot can send them on."""
    report = {"ok": False, "detected_type": "PNG 图片", "items": [
        {"rule_id": f"comics.r{i}", "title": f"图片分辨率要求{i}", "status": "fail", "level": "error",
         "measured_text": "1000×700 px", "expected": "≥ 1280 px", "hint": "请上传原图。" * 5} for i in range(6)]}
    reason = {"rule": "resolution", "text": "画面模糊，请重新导出原图。" * 20, "by": ADMIN_ID, "at": "2023-06-01"}
    async with app.sessionmaker() as session:
        for i in range(n):
            file_id, unique = (tg.store_file(f"{sub_id}-{i}".encode(), f"{i + 1:02d}.png") if tg
                               else (f"FID{sub_id}x{i}", f"U{sub_id}x{i}"))
            session.add(SubmissionFile(submission_id=sub_id, file_id=file_id, file_unique_id=unique,
                                       file_name=f"{i + 1:02d}{LONG}.png", file_size=1000, sent_as="document",
                                       check_status=status, report=json.dumps(report, ensure_ascii=False),
                                       manual_reason=json.dumps(reason, ensure_ascii=False)))
        await session.commit()


async def set_status(app, sub_id: int, status: str) -> None:
    async with app.sessionmaker() as session:
        (await session.get(Submission, sub_id)).status = status
        await session.commit()


async def add_drafts(app, user_id: int, n: int, *, status: str = "draft") -> list[int]:
    answers = json.dumps({"kind": "work", "category": "article", "title": "t", "summary": "s"}, ensure_ascii=False)
    async with app.sessionmaker() as session:
        subs = [Submission(user_id=user_id, kind="work", category="article", title=f"第{i}篇" + "长标题" * 15,
                           answers=answers, status=status) for i in range(n)]
        session.add_all(subs)
        await session.commit()
        return [s.id for s in subs]


def file_buttons(message) -> list[str]:
    return [b["text"] for b in message.buttons if b.get("callback_data", "").startswith("sf:")]


# ------------------------------------------------------------------ the card with many files


async def test_a_card_with_many_files_is_paged(app, alice):
    sub_id = await save_draft(alice, "漫画/挂图", extra=["光的折射"])
    await add_files(app, sub_id, submissions.MAX_FILES)
    await alice.press("查看这份申报")
    card = alice.last
    assert len(card.text) <= 4096 and "（30，最多 30 个）" in card.text and "第 1/3 页" in card.text
    assert len(file_buttons(card)) == 10 and "01很长的文件名" in card.text and "11很长" not in card.text
    assert "下一页" in " ".join(card.labels) and "上一页" not in " ".join(card.labels)
    await alice.press("下一页")
    assert "第 2/3 页" in alice.last_text and "11很长的文件名" in alice.last_text and "01很长" not in alice.last_text
    await alice.press("下一页")
    assert "第 3/3 页" in alice.last_text and "30很长的文件名" in alice.last_text
    assert "下一页" not in " ".join(alice.last.labels)
    # each file's own report stays one tap away, and its removal
    await alice.press("30很长的文件名")
    assert "人工检查" in alice.last_text and "移除这个文件" in " ".join(alice.last.labels)
    await alice.press("« 返回")
    assert "第 1/3 页" in alice.last_text
    # the submit result lists at most a few of the failed files, with the first page's buttons
    await alice.press("提交申报")
    assert "还不能提交" in alice.last_text and "另有 25 个文件未通过检查" in alice.last_text
    assert len(file_buttons(alice.last)) == 10


async def test_files_per_application_are_limited(app, alice, tmp_path):
    sub_id = await save_draft(alice, "漫画/挂图", extra=["光的折射"])
    await add_files(app, sub_id, submissions.MAX_FILES, status="passed")
    replies = await alice.upload(make_image(tmp_path / "第31页.png", 1280, 720))
    assert "「第31页.png」没有保存" in replies[0].text and "最多 30 个" in replies[0].text
    _, files = await submission(app, sub_id)
    assert len(files) == submissions.MAX_FILES
    # removing one makes room again
    await alice.press("查看这份申报")
    await alice.press("01很长的文件名")
    await alice.press("移除这个文件")
    await alice.press("确认移除")
    replies = await alice.upload(make_image(tmp_path / "第31页.png", 1280, 720))
    assert "正在检查" in replies[0].text
    _, files = await submission(app, sub_id)
    assert len(files) == submissions.MAX_FILES and "第31页.png" in {f.file_name for f in files}


async def test_open_drafts_per_person_are_limited(app, alice):
    await add_drafts(app, alice.id, submissions.MAX_OPEN_DRAFTS)
    (withdrawn,) = await add_drafts(app, alice.id, 1, status="withdrawn")
    replies = await alice.send("/apply")
    assert len(replies) == 1 and "20 份未提交的草稿" in replies[0].text and "上限" in replies[0].text
    # a withdrawn one copied as a new draft is refused too
    await alice.press("", data=f"s:{withdrawn}:copy")
    assert "上限" in alice.last_alert
    async with app.sessionmaker() as session:
        drafts = (await session.execute(select(func.count()).select_from(Submission).where(
            Submission.user_id == alice.id, Submission.status == "draft"))).scalar_one()
        # the service refuses too (a form opened before the last draft was made)
        with pytest.raises(submissions.TooManyDrafts):
            await submissions.save_draft(session, alice.id, {"kind": "work", "category": "article", "title": "x",
                                                             "declaration": "yes"})
    assert drafts == submissions.MAX_OPEN_DRAFTS


async def test_mywork_with_many_applications_is_paged(app, alice):
    ids = await add_drafts(app, alice.id, 15) + await add_drafts(app, alice.id, 10, status="submitted")
    replies = await alice.send("/mywork")
    assert "共 25 份" in replies[0].text and "第 1/3 页" in replies[0].text
    items = [b for b in replies[0].buttons if b.get("callback_data", "").startswith("s:")]
    assert len(items) == 10
    await alice.press("下一页")
    await alice.press("下一页")
    assert "第 3/3 页" in alice.last_text
    items = [b["callback_data"] for b in alice.last.buttons if b.get("callback_data", "").startswith("s:")]
    assert len(items) == 5  # the oldest ones are reachable too
    assert {f"s:{i}:open" for i in ids} >= set(items)


async def test_the_staff_view_of_many_files_is_paged(app, chat, alice):
    sub_id = await save_draft(alice, "漫画/挂图", extra=["光的折射"])
    await add_files(app, sub_id, submissions.MAX_FILES, tg=chat.tg)
    await set_status(app, sub_id, "submitted")
    boss = chat.user(ADMIN_ID, "Boss")
    boss.new()
    replies = await boss.press("", data=f"ss:{sub_id}:open")
    assert sum(r.method == "sendDocument" for r in replies) == submissions.MAX_FILES
    card = replies[-1]
    assert len(card.text) <= 4096 and "第 1/4 页" in card.text and "另有 2 项未达到" in card.text
    await boss.press("下一页")
    assert "第 2/4 页" in boss.last_text and "\n9. " in boss.last_text and boss.last.method == "editMessageText"
    # not an operator: refused
    await alice.press("", data=f"ss:{sub_id}:pg_1")
    assert "仅限工作人员" in alice.last_alert


# ------------------------------------------------------------------ confirmations expire


def test_stamps():
    now = datetime(2023, 6, 1, 4, 0, tzinfo=UTC)
    data = SubCB(id=12, action=SubAction.delete_yes, arg=minute_stamp(now)).pack()
    stamp = minute_stamp(now)
    assert data == f"s:12:delete_yes.{stamp}" and len(stamp) <= 6
    assert SubCB.unpack(data) == SubCB(id=12, action=SubAction.delete_yes, arg=stamp)
    assert fresh(stamp, now + timedelta(minutes=10)) and not fresh(stamp, now + timedelta(minutes=11))
    assert not fresh(None, now) and not fresh("??", now) and not fresh("", now)


def test_button_data_keeps_its_short_form():
    """Each action is an enum member with its handler; the data stays what buttons always carried,
    so buttons in old messages still work."""
    for data, parsed in (("s:7:open", SubCB(id=7, action=SubAction.open)),
                         ("s:7:pg_2", SubCB(id=7, action=SubAction.page, arg="2")),
                         ("s:7:fx_title", SubCB(id=7, action=SubAction.fix, arg="title")),
                         ("s:7:submit_yes", SubCB(id=7, action=SubAction.submit_yes)),
                         ("sf:3:remove_yes.abc", FileCB(file=3, action=FileAction.remove_yes, arg="abc")),
                         ("ss:5:pg_1", StaffSubCB(id=5, action=StaffAction.page, arg="1")),
                         ("p:erase_yes.abc", ProfileCB(action=ProfileAction.erase_yes, arg="abc"))):
        assert type(parsed).unpack(data) == parsed and parsed.pack() == data
    for forged in ("s:7:nosuchaction", "s:x:open", "s:7", "s:7:open:1", "sf:3:pg_1", "ss:5:edit"):
        kind = {"s": SubCB, "sf": FileCB, "ss": StaffSubCB}[forged.split(":")[0]]
        with pytest.raises(ValueError):
            kind.unpack(forged)


async def test_a_delete_confirmation_expires(app, alice):
    sub_id = await save_draft(alice, "图文")
    await alice.press("查看这份申报")
    await alice.press("删除草稿")
    app.dispatcher["clock"] = lambda: IN_WINDOW + timedelta(minutes=11)
    await alice.press("确认删除草稿")
    assert "已经过期" in alice.last_text and f"#{sub_id}" in alice.last_text
    assert (await submission(app, sub_id))[0].status == "draft"
    # a button made before stamps existed (weeks old) is refused the same way
    await alice.press("", data=f"s:{sub_id}:delete_yes")
    assert (await submission(app, sub_id))[0] is not None
    # asked again, confirmed in time: deleted
    await alice.press("删除草稿")
    await alice.press("确认删除草稿")
    assert "已删除" in alice.last_text and (await submission(app, sub_id))[0] is None


async def test_a_withdraw_confirmation_expires(app, alice):
    sub_id = await save_draft(alice, "短视频拍摄脚本", kind="选题",
                              extra=["五集短视频，讲光学现象与生活。", "团队三人，均为物理学博士。", "三个月完成脚本与拍摄。", "SKIP"])
    await alice.press("查看这份申报")
    assert "申报已提交" in await submit(alice)
    await alice.press("撤回申报")
    app.dispatcher["clock"] = lambda: IN_WINDOW + timedelta(days=21)
    await alice.press("确认撤回")
    assert "已经过期" in alice.last_text
    assert (await submission(app, sub_id))[0].status == "submitted"
    await alice.press("撤回申报")
    await alice.press("确认撤回")
    assert (await submission(app, sub_id))[0].status == "withdrawn"


async def test_a_file_removal_confirmation_expires(app, alice):
    sub_id = await save_draft(alice, "漫画/挂图", extra=["光的折射"])
    await add_files(app, sub_id, 2)
    await alice.press("查看这份申报")
    await alice.press("01很长的文件名")
    await alice.press("移除这个文件")
    app.dispatcher["clock"] = lambda: IN_WINDOW + timedelta(hours=1)
    await alice.press("确认移除")
    assert "已经过期" in alice.last_text
    assert len((await submission(app, sub_id))[1]) == 2


# ------------------------------------------------------------------ the sandbox serves only its own folder


@pytest.fixture(params=[False, True], ids=["cloud", "local"])
async def sandbox(request, tmp_path):
    from bot.sandbox.http import start_server

    runner, url, emu = await start_server(local_mode=request.param, data_dir=tmp_path / "sandbox")
    async with aiohttp.ClientSession() as http:
        yield url, emu, http
    await runner.cleanup()


async def test_the_sandbox_serves_only_its_own_folder(sandbox, tmp_path):
    from bot.sandbox.client import SandboxClient

    url, emu, http = sandbox
    token = "123456:TEST"
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    link = emu.data_dir / "link.txt"
    os.symlink(outside, link)  # inside the folder, leading out of it
    for path in ("/etc/passwd", str(outside), str(emu.data_dir / ".." / "secret.txt"), str(link)):
        async with http.post(f"{url}/control/upload", json={"user_id": 1001, "path": path}) as resp:
            assert resp.status == 403, path
            assert "secret" not in await resp.text()
    for rel in ("/etc/passwd", "etc/passwd", "documents/../../../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd",
                str(outside).lstrip("/"), str(link).lstrip("/")):
        async with http.get(f"{url}/file/bot{token}/{rel}") as resp:
            assert resp.status in (403, 404), rel
            assert b"root:" not in await resp.read()
    # the bot in local mode may name files by path (file://): only the sandbox's own
    async with http.post(f"{url}/control/send", json={"user_id": 1001, "text": "/start"}) as resp:
        seq = (await resp.json())["seq"]
    async with http.post(f"{url}/bot{token}/sendDocument",
                         json={"chat_id": 1001, "document": f"file://{outside}"}) as resp:
        assert resp.status == 400
    async with http.get(f"{url}/control/messages", params={"user_id": "1001", "after": str(seq)}) as resp:
        assert await resp.json() == []
    # a person's file still goes through the client (a copy in the data folder, removed once stored)
    client = SandboxClient(url)
    try:
        await client.upload(1001, outside, "document")
    finally:
        await client.close()
    async with http.post(f"{url}/bot{token}/getUpdates") as resp:
        doc = (await resp.json())["result"][-1]["message"]["document"]
    assert doc["file_name"] == "secret.txt"
    assert not any((emu.data_dir / "uploads").iterdir())
    async with http.post(f"{url}/bot{token}/getFile", json={"file_id": doc["file_id"]}) as resp:
        file_path = (await resp.json())["result"]["file_path"]
    async with http.get(f"{url}/file/bot{token}/{file_path.lstrip('/')}") as resp:
        assert resp.status == 200 and await resp.read() == b"secret"
