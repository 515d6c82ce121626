"""One-on-one tutoring (issue 11, part 3) in the chat: a creator asks for a tutor and is matched,
writes (a photo, a long text, a 50 MB video: copied, never downloaded), the tutor answers by
replying to the relayed copy; a second tutor can neither open that creator nor answer them; a
tutor replying to something not relayed is told how; a relay to someone who blocked the bot is
recorded failed and its sender told; no tutor -> waiting, the operators' /tutoring and
/assign_tutor; a tutor removed sends their creators back to the queue; ending. Chat and DB."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.callbacks import TutorAction, TutorCB, minute_stamp
from bot.services import tutoring
from bot.services.users import Role, grant_role, upsert_user
from storage.models import AuditEntry, OutboxMessage, TutorMessage, TutorProfile, Tutorship
from storage.statuses import TutorshipStatus
from tests.conftest import ADMIN_ID, approve_creator
from tests.harness import ChatUser, Conversation, Sent
from tests.media import make_image

NOW = datetime(2023, 6, 1, 2, 0, tzinfo=UTC)
CREATOR, TUTOR, OTHER_TUTOR = 1001, 3001, 3002


async def make_tutor(app, chat: Conversation, uid: int, name: str, *, fields: str = "", capacity: int = 5) -> ChatUser:
    async with app.sessionmaker.begin() as session:
        await upsert_user(session, uid, first_name=name)
        await grant_role(session, uid, Role.tutor, ADMIN_ID)
        if fields or capacity != 5:
            session.add(TutorProfile(user_id=uid, fields="[]", other_fields=fields, capacity=capacity))
    tutor = chat.user(uid, name)
    await tutor.send("/start")  # has a chat with the bot
    return tutor


@pytest.fixture
async def alice(app, chat: Conversation) -> ChatUser:
    app.dispatcher["clock"] = lambda: NOW
    await approve_creator(app.sessionmaker, CREATOR, account_name="小科说")
    return chat.user(CREATOR, "Alice")


def copies(user: ChatUser) -> list[Sent]:
    return [s for s in user.history if s.method == "copyMessage"]


async def reply_to(chat: Conversation, user: ChatUser, sent: Sent, content: dict) -> list[Sent]:
    """`user` replies (Telegram's reply) to message `sent` of their chat with the bot."""
    replied = chat.emu.api_view(chat.tg.state.chats[user.id].messages[sent.message_id])
    return await user.send_message({**content, "reply_to_message": replied})


async def rows(app, model, *where):
    async with app.sessionmaker() as session:
        return list((await session.execute(select(model).where(*where).order_by(model.id))).scalars())


async def start_chat(chat: Conversation, alice: ChatUser, first: str = "想请老师看看我的短视频脚本的科学性") -> None:
    await alice.send("/tutor")
    assert alice.rendered("tutoring/ask_intro")
    await alice.send(first)


async def test_a_creator_asks_with_a_photo_and_gets_the_tutor_s_reply(app, chat, alice, tmp_path):
    wang = await make_tutor(app, chat, TUTOR, "王老师", fields="物理、天文")
    await start_chat(chat, alice)
    assert alice.rendered("tutoring/matched", new=True) and "王老师" in alice.last_text
    (t,) = await rows(app, Tutorship)
    assert (t.creator_id, t.tutor_id, t.status, t.assigned_by) == (CREATOR, TUTOR, TutorshipStatus.active, None)
    assert t.request == "想请老师看看我的短视频脚本的科学性"
    # the tutor: who the creator is (their 科普号), then the first message itself as a copy
    assert wang.rendered("tutoring/notice_assigned_tutor") and "小科说" in wang.history[-2].text
    assert copies(wang)[-1].text == "想请老师看看我的短视频脚本的科学性"

    photo = make_image(tmp_path / "分镜.jpg", 1280, 720)
    await alice.upload(photo, as_="photo", caption="这是分镜第一页")
    copy = copies(wang)[-1]
    assert copy.document is not None and copy.text == "这是分镜第一页"
    assert not wang.rendered("tutoring/header_to_tutor")  # the same burst: no second header
    # the tutor replies to the relayed photo
    await reply_to(chat, wang, copy, {"text": "分镜很清楚，第二个镜头的单位写错了：应为 km/s。"})
    assert alice.rendered("tutoring/header_to_creator") and "导师回复" in alice.history[-2].text
    answer = alice.last
    assert answer.method == "copyMessage" and "km/s" in answer.text
    assert wang.rendered("tutoring/relayed", from_tutor=True)
    messages = await rows(app, TutorMessage)
    assert [(m.sender_id, m.recipient_id, m.kind) for m in messages] == [
        (CREATOR, TUTOR, "text"), (CREATOR, TUTOR, "photo"), (TUTOR, CREATOR, "text")]
    assert messages[1].text == "这是分镜第一页" and messages[1].file_id and all(m.outbox_id for m in messages)
    assert all(m.tutorship_id == t.id for m in messages)
    outbox = {r.id: r for r in await rows(app, OutboxMessage)}
    assert outbox[messages[1].outbox_id].result_message_id == copy.message_id
    assert outbox[messages[2].outbox_id].result_message_id == answer.message_id
    # the creator may simply reply to the tutor's answer too
    await reply_to(chat, alice, answer, {"text": "谢谢老师，已改"})
    assert copies(wang)[-1].text == "谢谢老师，已改"
    # the tutor's reply to the assignment notice reaches the creator too
    notice = next(s for s in wang.history if "新学员" in s.text)
    await reply_to(chat, wang, notice, {"text": "不客气"})
    assert copies(alice)[-1].text == "不客气"
    # a new burst (later) starts with a header naming the creator and their 科普号; a reply to it works
    app.dispatcher["clock"] = lambda: NOW.replace(hour=3)
    await alice.send("老师，还有一个问题")
    header = wang.history[-2]
    assert "学员来信" in header.text and "小科说" in header.text and copies(wang)[-1].text == "老师，还有一个问题"
    await reply_to(chat, wang, header, {"text": "请讲"})
    assert copies(alice)[-1].text == "请讲"


async def test_a_second_tutor_cannot_open_that_creator_nor_answer_them(app, chat, alice):
    wang = await make_tutor(app, chat, TUTOR, "王老师", fields="物理")
    li = await make_tutor(app, chat, OTHER_TUTOR, "李老师", fields="化学")
    await start_chat(chat, alice)
    (t,) = await rows(app, Tutorship)
    assert t.tutor_id == TUTOR  # 物理 matches the creator's 专业领域
    # forged: Li opens the history of Wang's creator
    await li.press("", data=TutorCB(id=t.id, action=TutorAction.history).pack())
    assert li.rendered("tutoring/not_yours")
    await li.press("", data=TutorCB(id=t.id, action=TutorAction.end_yes, arg=minute_stamp(NOW)).pack())
    assert li.rendered("tutoring/not_yours")
    async with app.sessionmaker() as session:
        assert (await session.get(Tutorship, t.id)).status == TutorshipStatus.active
    # Li replies to Wang's relayed copy: it is not in Li's chat, so it resolves to nothing
    copy = copies(wang)[-1]
    replied = chat.emu.api_view(chat.tg.state.chats[TUTOR].messages[copy.message_id])
    await li.send_message({"text": "我来回答", "reply_to_message": {**replied, "chat": {"id": OTHER_TUTOR, "type": "private",
                                                                                      "first_name": "李老师"}}})
    assert li.rendered("tutoring/how_to_answer", why="not_relayed")
    assert [m.text for m in copies(alice)] == []
    # Li's /mycreators does not list Alice; Wang's does, and opens the history
    await li.send("/mycreators")
    assert li.rendered("tutoring/my_creators", total=0)
    await wang.send("/mycreators")
    assert wang.rendered("tutoring/my_creators", total=1) and "小科说" in wang.last_text
    await wang.press("Alice")
    assert wang.rendered("tutoring/history", total=1) and "短视频脚本" in wang.last_text
    assert len(await rows(app, TutorMessage)) == 1


async def test_a_tutor_who_no_longer_tutors_the_creator_is_told_and_nothing_is_sent(app, chat, alice):
    wang = await make_tutor(app, chat, TUTOR, "王老师")
    li = await make_tutor(app, chat, OTHER_TUTOR, "李老师", capacity=1)
    await start_chat(chat, alice)
    (t,) = await rows(app, Tutorship)
    first_tutor = chat.user(t.tutor_id, "x")
    boss = chat.user(ADMIN_ID, "Boss")
    other_id = OTHER_TUTOR if t.tutor_id == TUTOR else TUTOR
    await boss.send(f"/assign_tutor {CREATOR} {other_id}")
    assert boss.rendered("tutoring/assigned", result="done", previous=t.tutor_id)
    assert first_tutor.rendered("tutoring/notice_taken_away")
    before = len(copies(alice))
    await reply_to(chat, first_tutor, copies(first_tutor)[-1], {"text": "还在吗"})
    assert first_tutor.rendered("tutoring/how_to_answer", why="not_yours")
    assert len(copies(alice)) == before
    audit = await rows(app, AuditEntry, AuditEntry.entity == "tutorships")
    assert [(a.from_status, a.to_status) for a in audit] == [(None, "active"), ("active", "active")]
    assert wang and li


async def test_a_tutor_replying_to_a_message_that_was_not_relayed_is_told_how(app, chat, alice):
    wang = await make_tutor(app, chat, TUTOR, "王老师")
    await start_chat(chat, alice)
    welcome = next(s for s in wang.history if s.method == "sendMessage" and "欢迎" in s.text)
    await reply_to(chat, wang, welcome, {"text": "这个怎么用？"})
    assert wang.rendered("tutoring/how_to_answer", why="not_relayed")
    await wang.send("同学你好")  # replying to nothing, with a creator to answer
    assert wang.rendered("tutoring/how_to_answer", why="no_reply")
    assert len(await rows(app, TutorMessage)) == 1 and len(copies(alice)) == 0


async def test_a_long_text_and_a_50_mb_video_are_copied_without_downloading(app, chat, alice, tmp_path):
    wang = await make_tutor(app, chat, TUTOR, "王老师")
    await start_chat(chat, alice)
    long_text = "科" * 4000
    await alice.send(long_text)
    assert copies(wang)[-1].text == long_text
    await alice.upload(tmp_path / "成片.mp4", as_="video", data=b"\0" * 1024, size=50 * 1024 * 1024,
                       width=1920, height=1080, duration=240)
    video = copies(wang)[-1]
    assert video.document is not None and video.document["file_size"] == 50 * 1024 * 1024
    assert not any(method == "getFile" for method, _ in chat.tg.calls)
    messages = await rows(app, TutorMessage)
    assert [m.kind for m in messages] == ["text", "text", "video"] and len(messages[1].text) == 4000
    assert messages[2].file_id == video.document["file_id"]
    # a voice message and an album's parts: each copied as it is
    await alice.voice()
    photo = make_image(tmp_path / "图.jpg", 1280, 720)
    await alice.upload(photo, as_="photo", caption="组图", media_group_id="album1")
    await alice.upload(photo, as_="photo", media_group_id="album1")
    assert [m.kind for m in await rows(app, TutorMessage)][3:] == ["voice", "photo", "photo"]
    assert len(copies(wang)) == 6


async def test_a_relay_to_someone_who_blocked_the_bot_is_recorded_and_the_sender_told(app, chat, alice):
    wang = await make_tutor(app, chat, TUTOR, "王老师")
    await start_chat(chat, alice)
    chat.tg.blocked.add(TUTOR)
    await alice.send("老师，片尾要加品牌标识吗？")
    assert alice.rendered("tutoring/relay_failed", from_tutor=False)
    message = (await rows(app, TutorMessage))[-1]
    async with app.sessionmaker() as session:
        row = await session.get(OutboxMessage, message.outbox_id)
    assert row.status == "failed" and "blocked" in row.last_error
    assert wang  # Wang's chat got nothing more
    # the history marks it undelivered
    chat.tg.blocked.discard(TUTOR)
    await wang.send("/mycreators")
    await wang.press("Alice")
    assert "未送达" in wang.last_text


async def test_no_tutor_waits_then_operators_assign_and_a_removed_tutor_sends_them_back(app, chat, alice):
    boss = chat.user(ADMIN_ID, "Boss")
    await boss.send("/start")
    await start_chat(chat, alice, "想了解怎么讲清楚量子计算")
    assert alice.rendered("tutoring/queued")
    (t,) = await rows(app, Tutorship)
    assert t.status == TutorshipStatus.waiting and t.tutor_id is None
    assert boss.rendered("tutoring/notice_waiting", why="asked")
    await alice.send("/tutor")
    assert alice.rendered("tutoring/waiting")
    # the operators' queue shows it with its age
    app.dispatcher["clock"] = lambda: NOW.replace(hour=5)
    await boss.send("/tutoring")
    assert boss.rendered("tutoring/queue", total=1) and "已等 3 小时" in boss.last_text and "小科说" in boss.last_text
    wang = await make_tutor(app, chat, TUTOR, "王老师")
    # /assign_tutor: bad input first
    await boss.send("/assign_tutor 1001")
    assert boss.rendered("tutoring/assigned", result="usage")
    await boss.send(f"/assign_tutor {CREATOR} 4242")
    assert boss.rendered("tutoring/assigned", result="not_tutor")
    await boss.send(f"/assign_tutor {CREATOR} {TUTOR}")
    assert boss.rendered("tutoring/assigned", result="done")
    async with app.sessionmaker() as session:
        t = await session.get(Tutorship, t.id)
    assert (t.status, t.tutor_id, t.assigned_by) == (TutorshipStatus.active, TUTOR, ADMIN_ID)
    assert alice.rendered("tutoring/notice_assigned_creator") and wang.rendered("tutoring/notice_assigned_tutor")
    assert "量子计算" in wang.last_text
    await alice.press("给导师写消息")
    assert alice.rendered("tutoring/chatting")
    await alice.send("老师好")
    assert copies(wang)[-1].text == "老师好"
    # the tutor is removed: back to the queue, the creator told, the operators too
    async with app.sessionmaker.begin() as session:
        from bot import tutoring_notices
        from bot.render import Texts

        released = await tutoring_notices.tutor_removed(session, Texts(), [ADMIN_ID], TUTOR, now=NOW, actor_id=ADMIN_ID)
    assert [r.id for r in released] == [t.id]
    await app.dispatcher["outbox"].drain(chat.bot)
    async with app.sessionmaker() as session:
        t = await session.get(Tutorship, t.id)
    assert (t.status, t.tutor_id) == (TutorshipStatus.waiting, None)
    assert "导师暂时无法继续辅导" in alice.history[-1].text
    assert any("导师已离开" in s.text for s in boss.history)
    # in the mode still: the next message is not sent, and says why
    await alice.send("还有一个问题")
    assert alice.rendered("tutoring/not_active", status="waiting")
    assert copies(wang)[-1].text == "老师好"
    audit = await rows(app, AuditEntry, AuditEntry.entity == "tutorships")
    assert [(a.from_status, a.to_status) for a in audit] == [(None, "waiting"), ("waiting", "active"),
                                                             ("active", "waiting")]
    # from the queue's buttons: pick a tutor, assign
    li = await make_tutor(app, chat, OTHER_TUTOR, "李老师")
    await boss.send("/tutoring")
    await boss.press("为 Alice")
    assert boss.rendered("tutoring/pick")
    await boss.press("李老师")
    assert boss.rendered("tutoring/assigned", result="done") and li.rendered("tutoring/notice_assigned_tutor")
    # a forged assign from a creator is refused
    await alice.press("", data=TutorCB(id=t.id, action=TutorAction.assign, arg=str(TUTOR)).pack())
    assert alice.rendered("not_allowed")
    async with app.sessionmaker() as session:
        assert (await session.get(Tutorship, t.id)).tutor_id == OTHER_TUTOR


async def test_a_tutor_profile_takes_waiting_creators(app, chat, alice):
    await start_chat(chat, alice)
    assert alice.rendered("tutoring/queued")
    wang = await make_tutor(app, chat, TUTOR, "王老师")
    await wang.send("/tutorprofile")
    await wang.press("剖析前沿科技")
    await wang.press("完成")
    await wang.send("物理学")
    await wang.send("０")  # out of range
    assert wang.rendered("forms/errors/need_number", minimum=1, maximum=50)
    await wang.send("51")
    await wang.send("3")
    await wang.press("保存")
    assert wang.rendered("tutoring/profile_saved", capacity=3, received=1)
    async with app.sessionmaker() as session:
        p = await session.get(TutorProfile, TUTOR)
        assert (tutoring.fields_of(p), p.other_fields, p.capacity) == (["frontier_tech"], "物理学", 3)
    (t,) = await rows(app, Tutorship)
    assert (t.status, t.tutor_id) == (TutorshipStatus.active, TUTOR)
    assert alice.rendered("tutoring/notice_assigned_creator")


async def test_either_side_ends_and_both_are_told(app, chat, alice):
    wang = await make_tutor(app, chat, TUTOR, "王老师")
    await start_chat(chat, alice)
    (t,) = await rows(app, Tutorship)
    await wang.send("/mycreators")
    await wang.press("Alice")
    await wang.press("结束对话")
    assert wang.rendered("tutoring/end_confirm")
    await wang.press("不结束")  # a way back: the confirmation goes, nothing changes
    assert wang.rendered("tutoring/end_kept") and wang.last.labels == []
    async with app.sessionmaker() as session:
        assert (await session.get(Tutorship, t.id)).status == TutorshipStatus.active
    await wang.press("结束对话")
    await wang.press("确认结束")
    assert wang.rendered("tutoring/ended", result="done")
    assert alice.rendered("tutoring/notice_ended", by="tutor", to_creator=True)
    async with app.sessionmaker() as session:
        t = await session.get(Tutorship, t.id)
    assert t.status == TutorshipStatus.ended and t.ended_at is not None
    # the creator, still in the mode, is told the message did not go
    await alice.send("老师？")
    assert alice.rendered("tutoring/not_active", status="none")
    # a new tutorship, ended by the creator this time
    await start_chat(chat, alice, "第二个问题：配乐版权")
    new = (await rows(app, Tutorship))[-1]
    assert new.id != t.id and new.status == TutorshipStatus.active
    await alice.press("结束对话")
    await alice.press("确认结束")
    assert alice.rendered("tutoring/ended", result="done", as_creator=True)
    assert wang.rendered("tutoring/notice_ended", by="creator", to_creator=False)
    # the confirmation pressed again (a second tap, or another device): already ended
    await alice.press("", data=TutorCB(id=new.id, action=TutorAction.end_yes, arg=minute_stamp(NOW)).pack())
    assert alice.rendered("tutoring/ended", result="already")


async def test_first_message_needs_words_and_cancel_leaves_the_mode(app, chat, alice, tmp_path):
    await make_tutor(app, chat, TUTOR, "王老师")
    await alice.send("/start")
    await alice.press("找导师")  # the main menu's entry
    assert alice.rendered("tutoring/ask_intro")
    await alice.sticker()
    assert alice.rendered("tutoring/need_words", kind="sticker")
    await alice.send("好")
    assert alice.rendered("tutoring/need_words", kind="text")
    assert await rows(app, Tutorship) == []
    await alice.send("想请教选题")
    await alice.send("/cancel")
    assert alice.rendered("tutoring/left_mode") and "导师仍是您的导师" in alice.last_text  # nothing was lost
    await alice.send("随便说说")  # out of the mode: not relayed
    assert len(await rows(app, TutorMessage)) == 1
    (t,) = await rows(app, Tutorship)
    assert t.status == TutorshipStatus.active
    await alice.send("/tutor")
    assert alice.rendered("tutoring/chatting")


async def test_opening_tutoring_from_an_open_form_parks_the_draft(app, chat, alice):
    await alice.send("/ask")
    assert alice.rendered("forms/intro") or "咨询" in alice.history[-2].text
    await alice.send("/tutor")
    assert alice.rendered("tutoring/ask_intro")
    await alice.send("/cancel")
    await alice.send("/start")
    assert alice.rendered("welcome", draft="咨询")


async def test_start_leaves_the_conversation_mode_and_keeps_the_tutor(app, chat):
    """/start shows the menu and what is typed next is not relayed; /tutor comes back to the tutor."""
    creator_id, tutor_id = 1001, 3001
    await approve_creator(app.sessionmaker, creator_id)
    async with app.sessionmaker.begin() as session:
        await upsert_user(session, tutor_id, first_name="张导师")
        await session.flush()
        await grant_role(session, tutor_id, Role.tutor, ADMIN_ID)
    alice = chat.user(creator_id, "Alice")
    await alice.send("/tutor")
    await alice.send("想请老师看看脚本的科学性。")
    async with app.sessionmaker() as session:
        (ship,) = (await session.execute(select(Tutorship))).scalars().all()
        assert ship.status == TutorshipStatus.active
        relayed = len((await session.execute(select(TutorMessage))).scalars().all())
    await alice.send("/start")
    await alice.send("这句话不该转给导师")
    async with app.sessionmaker() as session:
        assert len((await session.execute(select(TutorMessage))).scalars().all()) == relayed
    await alice.send("/tutor")
    await alice.send("回来继续问：第二段呢？")
    async with app.sessionmaker() as session:
        assert len((await session.execute(select(TutorMessage))).scalars().all()) == relayed + 1
