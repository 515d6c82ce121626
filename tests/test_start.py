"""The first minutes of a creator with the bot: welcome, menu, sections, hints, errors."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import User
from tests.conftest import ADMIN_ID


async def test_start_welcomes_and_stores_the_user(chat, app):
    alice = chat.user(1001, "Alice", "alice")
    replies = await alice.send("/start")
    assert len(replies) == 1
    assert "科普中国网络创作培育计划" in replies[0].text
    assert "2024年3月31日" in replies[0].text
    assert "培育计划介绍" in " ".join(replies[0].labels)
    assert not any("管理" in label for label in replies[0].labels)
    async with app.sessionmaker() as session:
        user = (await session.execute(select(User).where(User.id == 1001))).scalar_one()
    assert (user.first_name, user.username) == ("Alice", "alice")


async def test_admin_sees_staff_menu(chat):
    boss = chat.user(ADMIN_ID, "Boss")
    replies = await boss.send("/start")
    assert "运营管理员" in replies[0].text
    assert any("邀请导师" in label for label in replies[0].labels)


async def test_menu_navigation_edits_the_menu_message(chat):
    alice = chat.user(1001, "Alice")
    await alice.send("/start")
    menu_id = alice.last.message_id
    replies = await alice.press("申报类别与要求")
    assert replies[0].method == "editMessageText" and replies[0].message_id == menu_id
    assert "作品类" in replies[0].text
    replies = await alice.press("视频")
    assert "分辨率不低于1080P" in replies[0].text and "码流不低于5 Mbit/s" in replies[0].text
    replies = await alice.press("返回主菜单")
    assert "欢迎" in replies[0].text


async def test_information_commands(chat):
    alice = chat.user(1001, "Alice")
    contact = (await alice.send("/contact"))[0].text
    assert "王波" in contact and "010-63581731" in contact and "68571652" in contact
    rules = (await alice.send("/rules"))[0].text
    assert "科普中国网络创作培育计划" in rules and "严禁转包" in rules and "专款专用" in rules
    helptext = (await alice.send("/help"))[0].text
    assert "/cancel" in helptext and "/invite" not in helptext


async def test_unexpected_messages_get_a_hint(chat):
    alice = chat.user(1001, "Alice")
    replies = await alice.sticker()
    assert "贴纸" in replies[0].text and replies[0].labels
    replies = await alice.voice()
    assert "语音" in replies[0].text
    replies = await alice.send("/nosuchcommand")
    assert "/help" in replies[0].text
    replies = await alice.send("你好")
    assert "菜单" in replies[0].text


async def test_forged_and_stale_buttons(chat):
    alice = chat.user(1001, "Alice")
    await alice.send("/start")
    for data in ("m:nosuchsection", "cat:nosuchcategory", "garbage", "m:staff", "inv:tutor"):
        replies = await alice.press("", data=data)
        assert replies == []
        assert alice.last_alert and ("失效" in alice.last_alert or "工作人员" in alice.last_alert), data


async def test_cancel_outside_a_form(chat):
    alice = chat.user(1001, "Alice")
    replies = await alice.send("/cancel")
    assert "没有进行中的操作" in replies[0].text


async def test_a_failing_handler_answers_politely_and_rolls_back(chat, app, monkeypatch):
    from bot.handlers import start

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(start, "main_menu", boom)
    alice = chat.user(1005, "Eve")
    replies = await alice.send("/start")
    assert "出了点问题" in replies[0].text
    async with app.sessionmaker() as session:
        assert await session.get(User, 1005) is None  # the update's unit of work was rolled back
