"""The form engine through a real form (咨询): answers, bad input, back, edit from the summary,
stale buttons, submission to the staff and the staff's answer; and drafts that survive a restart."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import build_app
from storage.models import Inquiry
from tests.conftest import ADMIN_ID
from tests.harness import Conversation


async def test_question_to_staff_and_answer(chat, app):
    alice = chat.user(1001, "Alice")
    boss = chat.user(ADMIN_ID, "Boss")
    await boss.send("/start")
    replies = await alice.send("/ask")
    assert "咨询工作人员" in replies[0].text and "第 1/2 项" in replies[1].text
    await alice.press("作品申报")
    assert "第 2/2 项" in alice.last_text
    replies = await alice.sticker()
    assert "不需要贴纸" in replies[0].text
    replies = await alice.send("x" * 2001)
    assert "最多 2000 个字" in replies[0].text and "2001" in replies[0].text
    await alice.send("视频必须是横屏吗？竖屏 1080×1920 可以吗？")
    assert "请核对" in alice.last_text and "作品申报" in alice.last_text
    # edit the category from the summary; the question stays
    await alice.press("咨询类别")
    await alice.press("科普号注册")
    summary = alice.last_text
    assert "科普号注册" in summary and "竖屏 1080×1920" in summary
    boss_before = len(boss.history)
    replies = await alice.press("确认提交")
    assert "已收到您的咨询" in replies[-1].text
    async with app.sessionmaker() as session:
        inquiry = (await session.execute(select(Inquiry))).scalar_one()
    assert (inquiry.user_id, inquiry.topic, inquiry.status) == (1001, "register", "open")
    note = boss.history[boss_before:]
    assert len(note) == 1 and f"#{inquiry.id}" in note[0].text and "竖屏" in note[0].text
    boss.new()
    await boss.press("回复")
    assert "回复 Alice 的咨询" in boss.history[-2].text
    await boss.send("可以，竖屏短边 1080 像素即满足要求。")
    assert "已将回复发送给提问人" in boss.last_text
    assert "竖屏短边 1080" in alice.last_text and "工作人员回复了您的咨询" in alice.last_text
    async with app.sessionmaker() as session:
        inquiry = await session.get(Inquiry, inquiry.id)
    assert inquiry.status == "answered" and inquiry.answered_by == ADMIN_ID
    # the old 回复 button does nothing twice
    await boss.press("回复")
    assert "已经回复过了" in chat.tg.alerts[-1][1]


async def test_back_and_stale_buttons_keep_the_draft(chat):
    alice = chat.user(1001, "Alice")
    await alice.send("/ask")
    step1 = alice.last
    await alice.press("其他问题")
    assert not alice.conv.tg.messages[(alice.id, step1.message_id)].buttons  # used prompt tidied
    await alice.press("上一步")
    assert "第 1/2 项" in alice.last_text
    await alice.press("科普号注册")
    # a button of a prompt from an earlier step: refused, nothing lost
    await alice.press("", data=step1.buttons[1]["callback_data"])
    assert "失效" in chat.tg.alerts[-1][1]
    await alice.send("怎么注册科普号？")
    assert "请核对" in alice.last_text and "科普号注册" in alice.last_text


async def test_non_admin_cannot_answer(chat, app):
    alice = chat.user(1001, "Alice")
    await alice.send("/ask")
    await alice.press("其他问题")
    await alice.send("请问截止时间？")
    await alice.press("确认提交")
    async with app.sessionmaker() as session:
        inquiry_id = (await session.execute(select(Inquiry.id))).scalar_one()
    mallory = chat.user(1002, "Mallory")
    await mallory.press("", data=f"q:{inquiry_id}")
    assert "仅限工作人员" in chat.tg.alerts[-1][1]


async def test_cancel_drops_the_draft(chat):
    alice = chat.user(1001, "Alice")
    await alice.send("/ask")
    await alice.press("其他问题")
    replies = await alice.send("/cancel")
    assert "已取消" in replies[0].text
    replies = await alice.send("随便说点什么")
    assert "看不懂" in replies[0].text


async def test_half_filled_form_survives_a_restart(app, settings):
    """The bot process restarts mid-form: a new app and dispatcher on the same database (and Redis
    when REDIS_URL is set) continue where the person stopped."""
    first = Conversation(app.dispatcher)
    alice = first.user(1001, "Alice")
    await alice.send("/ask")
    await alice.press("作品申报")
    await app.close()

    restarted = build_app(settings)
    try:
        second = Conversation(restarted.dispatcher, first_update_id=1000)
        alice2 = second.user(1001, "Alice")
        replies = await alice2.send("/start")
        assert "未填完的「咨询」" in replies[0].text
        await alice2.press("继续填写")
        assert "第 2/2 项" in alice2.last_text
        await alice2.send("重启之后还能接着填吗？")
        assert "请核对" in alice2.last_text and "作品申报" in alice2.last_text
    finally:
        await restarted.close()


async def test_a_new_form_never_drops_an_open_draft_silently(chat, app):
    alice = chat.user(1001, "Alice")
    await alice.send("/register")
    await alice.send("我的科普号")
    replies = await alice.send("/ask")
    assert "未填完的「科普号推荐申请表」" in replies[0].text
    await alice.press("继续填写")
    assert "注册主体" in alice.last_text
    await alice.send("/ask")
    await alice.press("放弃它，开始咨询")
    assert "咨询类别" in alice.last_text
    await alice.press("其他问题")
    await alice.send("还能继续刚才的表吗？")
    await alice.press("确认提交")
    async with app.sessionmaker() as session:
        assert (await session.execute(select(Inquiry.question))).scalar_one() == "还能继续刚才的表吗？"


async def test_long_question_and_long_answer_still_fit_telegram(chat, app):
    """A 2000-字 question answered with 3000 字: every message stays within Telegram's 4096 (the
    fake Telegram refuses longer ones, as Telegram does)."""
    alice = chat.user(1001, "Alice")
    boss = chat.user(ADMIN_ID, "Boss")
    await boss.send("/start")
    await alice.send("/ask")
    await alice.press("其他问题")
    await alice.send("问" * 2000)
    assert "共 2000 字" in alice.last_text
    await alice.press("确认提交")
    await boss.press("回复")
    await boss.send("答" * 3000)
    assert "已将回复发送给提问人" in boss.last_text
    assert "答" * 3000 in alice.last_text
