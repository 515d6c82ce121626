"""Issue 7, the form engine: leaving an edit at the summary never loops and says why a dependent
answer is asked; the application's summary saves a draft; step counts agree with the intro; a tapped
choice is echoed in its question; an edit shows the current value; field names with 、 are quoted."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from bot.flows.catalog import all_forms
from storage.models import Submission
from tests.conftest import ADMIN_ID, approve_creator
from tests.harness import ChatUser, Conversation
from tests.test_registration import under_review
from tests.test_submissions import IN_WINDOW, fill_application


@pytest.fixture
async def alice(app, chat: Conversation) -> ChatUser:
    """An approved creator inside the campaign's window (as test_submissions' `creator`)."""
    app.dispatcher["clock"] = lambda: IN_WINDOW
    await approve_creator(app.sessionmaker, 1001)
    await chat.user(ADMIN_ID, "Boss").send("/start")
    return chat.user(1001, "Alice")


async def saved(app) -> Submission:
    async with app.sessionmaker() as session:
        return (await session.execute(select(Submission))).scalar_one()


def summary_buttons(alice: ChatUser) -> list[str]:
    return alice.last.labels


# ------------------------------------------------------------------ item 4: changing 申报类型 at the summary


async def test_changing_the_kind_asks_each_dependent_answer_once_and_says_why(app, alice):
    await fill_application(alice, "图文")
    await alice.press("申报类型")
    assert "当前：作品" in alice.last_text
    await alice.press("选题")
    prompt = alice.last_text
    assert "您改了「申报类型」，需要重新选择「类别」" in prompt
    assert "短视频拍摄脚本" in " ".join(alice.last.labels) and "深度图文" not in " ".join(alice.last.labels)
    await alice.press("短视频拍摄脚本")
    assert "您改了「申报类型」，需要填写「具体内容介绍」" in alice.last_text
    for answer in ("五集短视频，讲光学现象与生活。", "团队三人，均为物理学博士。", "三个月完成脚本与拍摄。"):
        await alice.send(answer)
    summary = alice.last_text
    assert "请核对" in summary and "短视频拍摄脚本" in summary and "团队三人" in summary
    await alice.press("保存草稿")
    sub = await saved(app)
    assert (sub.kind, sub.category, sub.title) == ("topic", "topic_video_script", "光的折射")


async def test_leaving_an_edit_with_a_missing_answer_restores_instead_of_looping(app, alice):
    await fill_application(alice, "图文")
    await alice.press("申报类型")
    await alice.press("选题")
    undo = next(label for label in alice.last.labels if "不改了" in label)
    replies = await alice.press("不改了")
    summary = alice.last_text
    assert "请核对" in summary, "不改了 asked 类别 again"
    assert "恢复" in undo  # the button says what it does when an answer is missing
    assert any("已恢复" in r.text and "申报类型" in r.text for r in replies)
    assert "请核对" in summary and "申报类型</b>：作品" in summary and "类别</b>：图文" in summary
    # nothing is asked again: the next press saves
    await alice.press("保存草稿")
    sub = await saved(app)
    assert (sub.kind, sub.category) == ("work", "article")


async def test_leaving_after_a_partial_change_restores_the_last_complete_answers(app, alice):
    """Changed the kind and picked a topic category, then left at the first new question: the
    summary shows the work as it was, not a half-changed topic."""
    await fill_application(alice, "图文")
    await alice.press("申报类型")
    await alice.press("选题")
    await alice.press("短视频拍摄脚本")
    assert "具体内容介绍" in alice.last_text
    await alice.press("不改了")
    summary = alice.last_text
    assert "请核对" in summary and "图文" in summary and "短视频拍摄脚本" not in summary


async def test_the_same_answer_again_keeps_dependent_answers(app, alice):
    await fill_application(alice, "视频")
    await alice.press("申报类型")
    await alice.press("作品")  # the same kind again
    summary = alice.last_text
    assert "请核对" in summary and "视频" in summary and "纪录片" in summary
    await alice.press("类别")
    await alice.press("视频")  # the same category again: 视频形式 is kept
    assert "请核对" in alice.last_text and "纪录片" in alice.last_text
    # leaving an edit that changed nothing returns to the summary at once
    await alice.press("作品（选题）名称")
    replies = await alice.press("不改了")
    assert len([r for r in replies if r.method == "sendMessage"]) == 1 and "请核对" in alice.last_text


async def test_a_category_change_reveals_its_own_question(app, alice):
    await fill_application(alice, "图文")
    await alice.press("类别")
    await alice.press("H5")
    assert "您改了「类别」，需要填写「H5 页数」" in alice.last_text
    await alice.send("8")
    assert "请核对" in alice.last_text and "8" in alice.last_text
    await alice.press("保存草稿")
    sub = await saved(app)
    assert sub.category == "h5" and json.loads(sub.answers)["pages"] == 8


# ------------------------------------------------------------------ item 12: 保存草稿, and step counts


async def test_the_application_summary_saves_a_draft_and_says_so(app, alice):
    await fill_application(alice, "图文")
    labels = summary_buttons(alice)
    assert "💾 保存草稿" in labels and not any("提交" in label for label in labels)
    assert "保存草稿" in alice.last_text and "确认提交" not in alice.last_text
    replies = await alice.send("好了")
    assert "保存草稿" in replies[0].text and "确认提交" not in replies[0].text
    replies = await alice.press("保存草稿")
    assert "草稿已保存" in replies[-1].text
    assert (await saved(app)).status == "draft"


async def test_the_intro_and_the_steps_count_the_same(app, alice):
    replies = await alice.send("/apply")
    intro, first = replies[0].text, replies[1].text
    total = int(re.search(r"第 1/(\d+) 项", first).group(1))
    assert f"{total} 项" in intro and "14" not in intro
    await alice.press("选题")
    topic_total = int(re.search(r"第 2/(\d+) 项", alice.last_text).group(1))
    assert topic_total > total  # the topic's own questions now count


async def test_other_forms_keep_their_confirm_label(chat):
    alice = chat.user(1001, "Alice")
    await alice.send("/ask")
    await alice.press("其他问题")
    await alice.send("请问截止时间？")
    assert "✅ 确认提交" in alice.last.labels and "确认提交" in alice.last_text


# ------------------------------------------------------------------ smaller things


async def test_a_tapped_choice_is_echoed_in_its_question(app, alice):
    replies = await alice.send("/apply")
    question = replies[1]
    await alice.press("选题")
    shown = alice.conv.tg.messages[(alice.id, question.message_id)]
    assert "✅ 选题" in shown.text and "申报类型" in shown.text and not shown.buttons
    category = alice.history[-1]
    await alice.press("应用策划方案")
    shown = alice.conv.tg.messages[(alice.id, category.message_id)]
    assert "✅ 应用策划方案" in shown.text and not shown.buttons


async def test_editing_shows_the_current_value_shortened(app, alice):
    await fill_application(alice, "应用策划方案", kind="选题", extra=["内" * 2000, "团" * 1000, "计" * 2000, "SKIP"])
    await alice.press("简介")
    assert "当前：用生活中的例子讲清楚光为什么会折射。" in alice.last_text
    await alice.press("不改了")
    await alice.press("具体内容介绍")
    prompt = alice.last_text
    assert "当前：" in prompt and "共 2000 字" in prompt and "内" * 300 not in prompt
    await alice.press("不改了")
    await alice.press("过往作品")
    assert "当前：（未填写）" not in alice.last_text and "当前：" not in alice.last_text


async def test_field_names_with_a_comma_are_quoted_in_lists(chat, app, tmp_path):
    alice, boss = await under_review(chat, tmp_path)
    await boss.press("退回修改")
    await boss.press("职称")
    await boss.press("科普创作经历")
    await boss.press("完成")
    echoed = next(m for m in reversed(boss.history) if "✅" in m.text and "职称" in m.text)
    assert "职称、「科普创作经历、主要成绩」" in echoed.text
    # in the registration summary each name stands alone on its row and its button: no quotes there
    bob = chat.user(1002, "Bob")
    from tests.test_registration import fill_registration

    await fill_registration(bob, name="另一个科普号")
    assert "<b>所属单位（团队、个人）名称</b>：" in bob.last_text
    assert "✏️ 所属单位（团队、个人）名称" in bob.last.labels


async def test_a_missing_answer_with_nothing_to_restore_is_explained(app, alice, chat):
    """A pre-filled draft that lacks a required answer (nothing to restore): 不改了 is not offered,
    and an older 不改了 button gets an alert naming the answer needed instead of the question again."""
    from bot.flows.engine import FormAction, FormCB, Turn, start_form
    from bot.handlers.applications.apply import on_saved

    state = app.dispatcher.fsm.get_context(bot=chat.bot, chat_id=alice.id, user_id=alice.id)
    values = {"kind": "work", "category": "article", "title": "光的折射", "direction": "frontier_tech",
              "declaration": "yes"}  # no 简介
    forms = all_forms(app.campaign, on_saved)
    await start_form(Turn(bot=chat.bot, state=state, texts=app.texts, chat_id=alice.id, forms=forms),
                     "application", values=values, edit_only=["title"], force=True)
    alice.new()
    prompt = alice.last
    assert "修改：作品（选题）名称" in prompt.text and not any("不改了" in label for label in prompt.labels)
    fid = (await state.get_data())["nonce"]
    step = (await state.get_data())["step"]
    replies = await alice.press("", data=FormCB(fid=fid, step=step, action=FormAction.summary).pack())
    assert replies == [] and "「简介」还需要填写" in alice.last_alert
    await alice.send("光的折射（新）")
    assert "修改：简介" in alice.last_text
    await alice.send("用生活中的例子讲清楚光为什么会折射。")
    assert "请核对" in alice.last_text and "光的折射（新）" in alice.last_text
