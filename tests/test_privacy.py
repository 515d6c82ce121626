"""Issue 8, items 6, 7, 9 and the old confirmation buttons: permissions re-checked when a staff form
is submitted, look-alike 科普号 names, /deletedata and /mydata covering everything stored about a
person (notification copies, operators' open forms), and an erase confirmation that expires.

No engine hook was needed: the policy check is in each staff form's on_submit
(bot/services/policy.can), and forms about a person carry `about` in their extra."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta

import pytest
from sqlalchemy import Integer, String, func, select

from bot.middlewares import UnitOfWork
from bot.services import personal_data, registration
from bot.services.registration import KEY_MAX, account_key, name_problem
from storage.models import (
    Base,
    FsmRecord,
    Inquiry,
    OutboxMessage,
    Registration,
    ReviewerProfile,
    User,
    utcnow,
)
from tests.conftest import ADMIN_ID
from tests.harness import ChatUser
from tests.test_registration import fill_registration, under_review

NO_LONGER = "您已不再是运营人员"


def mentions(export: bytes, user_id: int) -> bool:
    """Whether an export holds `user_id` as a number of its own: a timestamp's microseconds
    (…:55.242002) or a longer id that merely contains those digits do not count."""
    return re.search(rf"(?<![0-9]){user_id}(?![0-9])", export.decode()) is not None


def test_mentions_finds_an_id_and_not_a_timestamp_s_digits():
    assert mentions(b'{"tutor_id": 2002}', 2002) and mentions(b'"tg://user?id=2002"', 2002)
    assert not mentions(b'"last_seen_at": "2026-11-29T12:04:55.242002+00:00"', 2002)
    assert not mentions(b'{"id": 20021}', 2002)


def remove_from_admin_ids(app, user_id: int) -> None:
    """As a restart with ADMIN_IDS without this person would: roles are loaded per update from the
    unit of work's admin ids (bot/middlewares.py → users.load_person)."""
    uow = next(m for m in app.dispatcher.update.outer_middleware if isinstance(m, UnitOfWork))
    uow.admin_ids = frozenset(uow.admin_ids - {user_id})


async def ask_question(user: ChatUser, question: str = "请问视频可以用竖屏拍摄吗？") -> None:
    await user.send("/ask")
    await user.press("作品申报")
    await user.send(question)
    await user.press("确认提交")


# ------------------------------------------------------------------ 6. permissions at submit


async def test_an_operator_removed_meanwhile_cannot_finish_a_rejection(chat, app, tmp_path):
    alice, boss = await under_review(chat, tmp_path)
    await boss.press("退回修改")
    await boss.press("职称")
    await boss.press("完成")
    remove_from_admin_ids(app, ADMIN_ID)
    alice.new()
    replies = await boss.send("职称请填写正式评定的职称。")
    assert NO_LONGER in replies[-1].text and "没有做任何更改" in replies[-1].text
    assert alice.new() == []  # the applicant is told nothing
    async with app.sessionmaker() as session:
        reg = (await session.execute(select(Registration))).scalar_one()
        assert (reg.status, reg.decision_reason, reg.reviewed_by) == ("pending_review", None, None)
        to_alice = (await session.execute(select(func.count()).select_from(OutboxMessage)
                                          .where(OutboxMessage.chat_id == alice.id))).scalar_one()
    assert to_alice == 0
    # the buttons that open staff actions ask the same rule
    await boss.press("退回修改")
    assert "仅限工作人员" in boss.last_alert


async def test_an_operator_removed_meanwhile_cannot_finish_an_answer(chat, app):
    alice = chat.user(1001, "Alice")
    boss = chat.user(ADMIN_ID, "Boss")
    await boss.send("/start")
    await ask_question(alice)
    await boss.press("回复")
    remove_from_admin_ids(app, ADMIN_ID)
    alice.new()
    replies = await boss.send("可以，但横屏更适合平台展示。")
    assert NO_LONGER in replies[-1].text
    assert alice.new() == []
    async with app.sessionmaker() as session:
        inquiry = (await session.execute(select(Inquiry))).scalar_one()
    assert (inquiry.status, inquiry.answer, inquiry.answered_by) == ("open", None, None)


# ------------------------------------------------------------------ 7. look-alike names


@pytest.mark.parametrize("look_alike", [
    "Kepu\u200b天文",  # zero-width space
    "Ke\u200dpu天文",  # zero-width joiner
    "\u202eKepu天文",  # right-to-left override
    "Kepu\u2060天文\ufeff",  # word joiner, BOM
    "K\u00adepu天文",  # soft hyphen
    "Kepu\u3164天文",  # Hangul filler: a letter that shows nothing
    "Kepu\ufe0f天文",  # variation selector
    "Кepu天文",  # Cyrillic К
    "Kеpu天文",  # Cyrillic е
    "ΚΕΡU天文",  # Greek capitals
    "ＫＥＰＵ 天文",  # full width
])
def test_look_alike_names_have_the_same_key(look_alike):
    assert account_key(look_alike) == account_key("Kepu天文") == "kepu天文"


def test_names_with_control_or_format_characters_are_refused_and_keys_fit_the_column():
    assert name_problem("Kepu\u200b天文") == "invisible"
    assert name_problem("Kepu\t天文") == "invisible"
    assert name_problem("Kepu\u202e天文") == "invisible"
    assert name_problem("Kepu\ue000天文") == "invisible"  # private use
    assert name_problem("Kepu 天文·科普") is None
    # ﷺ expands to 18 characters under NFKC: 30 of them would overflow registrations.account_key
    assert len(account_key("ﷺ" * 5)) > KEY_MAX and name_problem("ﷺ" * 5) == "unusual"
    assert name_problem("㍿科普") is None and account_key("㍿科普") == "株式会社科普"


async def test_look_alike_names_are_refused_in_the_form(chat, app):
    alice = chat.user(1001, "Alice")
    await fill_registration(alice, name="Kepu 天文")
    await alice.press("确认提交")
    bob = chat.user(1002, "Bob")
    await bob.send("/register")
    replies = await bob.send("Kеpu 天文")  # Cyrillic е
    assert "已被使用" in replies[0].text
    replies = await bob.send("Kepu\u200b天文")
    assert "看不见的控制或格式字符" in replies[0].text
    replies = await bob.send("ﷺ" * 5)
    assert "特殊的组合字符" in replies[0].text
    await bob.send("Bob 的科普号")
    assert "注册主体" in bob.last_text
    async with app.sessionmaker() as session:
        keys = list((await session.execute(select(Registration.account_key))).scalars())
    assert keys == ["kepu天文"]


async def test_a_draft_with_an_expanding_name_is_refused_at_submit(app):
    from bot.services.users import upsert_user

    values = {"account_name": "ﷺ" * 5, "subject_type": "individual", "subject_name": "A", "person_name": "A",
              "unit": "U", "position": "P", "title": "T", "field": "F", "phone": "+8613800138000",
              "email": "a@example.org", "experience": "多年科普经历。", "experience_file": None, "recommender": "R"}
    async with app.sessionmaker() as session:
        await upsert_user(session, 1001, first_name="A")
        with pytest.raises(registration.NameUnusual):
            await registration.save_form(session, 1001, values)


# ------------------------------------------------------------------ 9. erasing and exporting everything


USER_COLUMN_NAMES = {"user_id", "chat_id", "about_user_id", "used_by", "created_by", "granted_by", "answered_by",
                     "reviewed_by", "actor_id", "reviewer_id", "creator_id", "tutor_id", "sender_id", "recipient_id",
                     "assignee_id", "author_id"}


def user_id_columns() -> set[str]:
    """Every column of the models that holds a Telegram user id, by its name (and the FSM key,
    which embeds the chat and user ids)."""
    found = {"users.id", "fsm_states.key"}
    for table in Base.metadata.tables.values():
        for column in table.columns:
            name = column.name
            if name in USER_COLUMN_NAMES or name.endswith(("_by", "user_id", "actor_id")) or name == "chat_id":
                found.add(f"{table.name}.{column.name}")
    return found


def test_every_column_holding_a_user_id_is_erased_or_kept_with_a_reason():
    erased, kept = personal_data.ERASED_COLUMNS, personal_data.KEPT_COLUMNS
    assert not set(erased) & set(kept)
    missing = user_id_columns() - set(erased) - set(kept)
    assert not missing, f"say what erase() does with these (personal_data.ERASED_COLUMNS or KEPT_COLUMNS): {missing}"
    assert all(reason.strip() for reason in (*erased.values(), *kept.values()))
    stale = (set(erased) | set(kept)) - user_id_columns()
    assert not stale, f"no such columns any more: {stale}"


async def test_erasing_leaves_no_row_with_the_person_in_an_erased_column(chat, app, tmp_path):
    alice, boss = await under_review(chat, tmp_path)  # her registration card went to the operator
    await ask_question(alice)  # her question went to the operator
    await boss.press("回复")  # the operator's open answer form holds her name and question
    await alice.send("/ask")  # her own unfinished form
    async with app.sessionmaker() as session:
        about = (await session.execute(select(func.count()).select_from(OutboxMessage)
                                       .where(OutboxMessage.about_user_id == alice.id))).scalar_one()
    assert about >= 2  # the card and the question, both sent already
    async with app.sessionmaker.begin() as session:  # had she been a reviewer: her declared fields and 单位
        session.add(ReviewerProfile(user_id=alice.id, fields='["frontier_tech"]', other_fields="天文", unit="天文馆"))

    await alice.send("/deletedata")
    await alice.press("确认删除")
    assert "已删除" in alice.last_text
    async with app.sessionmaker() as session:
        for where in personal_data.ERASED_COLUMNS:
            table_name, column_name = where.split(".")
            table = Base.metadata.tables[table_name]
            column = table.c[column_name]
            if where == "users.id":
                user = await session.get(User, alice.id)
                assert (user.first_name, user.username) == ("已删除", None)
                continue
            if where == "fsm_states.key":
                own = (await session.execute(select(FsmRecord).where(column.like(f"%:{alice.id}:{alice.id}:%")))).scalars()
                assert all(json.loads(r.data) == {} and r.state is None for r in own)
                continue
            assert isinstance(column.type, Integer | String), where
            left = (await session.execute(select(func.count()).select_from(table).where(column == alice.id))).scalar_one()
            assert left == 0, where
        # the operator's open form no longer holds her name or question; it is still open (forms are
        # in the SQL database unless REDIS_URL keeps them in Redis, where erasing leaves them be)
        if not os.environ.get("REDIS_URL"):
            boss_form = (await session.execute(select(FsmRecord).where(
                FsmRecord.key.like(f"%:{ADMIN_ID}:{ADMIN_ID}:%")))).scalar_one()
            assert "Alice" not in boss_form.data and "竖屏" not in boss_form.data and boss_form.state
    replies = await boss.send("可以，但横屏更适合平台展示。")
    assert "没有找到咨询" in replies[-1].text and "未发送" in replies[-1].text


async def test_erasing_scrubs_an_operators_open_rejection_form(chat, app, tmp_path):
    if os.environ.get("REDIS_URL"):
        pytest.skip("open forms are scrubbed in the SQL conversation storage; Redis keeps them as they are")
    alice, boss = await under_review(chat, tmp_path)
    await boss.press("退回修改")
    async with app.sessionmaker() as session:
        reg_id = (await session.execute(select(Registration.id))).scalar_one()
        key = f"%:{ADMIN_ID}:{ADMIN_ID}:%"
        before = (await session.execute(select(FsmRecord.data).where(FsmRecord.key.like(key)))).scalar_one()
        assert json.loads(before)["refs"]["registration_id"] == reg_id and "小科说天文" not in before  # ids only
    await alice.send("/deletedata")
    await alice.press("确认删除")
    async with app.sessionmaker() as session:
        data = json.loads((await session.execute(select(FsmRecord.data).where(FsmRecord.key.like(key)))).scalar_one())
    assert data["refs"] == {"registration_id": reg_id}
    await boss.press("职称")
    await boss.press("完成")
    await boss.send("职称请填写正式评定的职称。")
    assert "已删除个人数据" in boss.last_text and "未生效" in boss.last_text


async def test_mydata_shows_unfinished_forms_and_notifications(chat, app, tmp_path):
    alice, boss = await under_review(chat, tmp_path)
    await alice.send("/ask")
    await alice.press("作品申报")
    await alice.send("草稿里的问题：竖屏可以吗？")
    replies = await alice.send("/mydata")
    assert "通知：1 条" in replies[0].text and "未填完的表单：咨询" in replies[0].text
    exported = json.loads(replies[-1].file_bytes)
    [card] = exported["notifications"]
    assert card["to"] == "staff" and "张三" in card["text"] and card["status"] == "sent"
    assert [a["file_name"] for a in card["attachments"]][0].endswith(".docx")
    assert "data" not in card["attachments"][0]  # the file is named, not copied into the export
    conversation = exported["conversation"]
    assert conversation["data"]["form"] == "inquiry"
    assert conversation["data"]["values"]["question"] == "草稿里的问题：竖屏可以吗？"
    assert "admin_ids" not in conversation["data"]["refs"]  # staff ids are not the person's data
    assert not mentions(replies[-1].file_bytes, ADMIN_ID)


# ------------------------------------------------------------------ an erase confirmation expires


async def test_an_old_erase_confirmation_asks_again(chat, app, tmp_path):
    alice = chat.user(1001, "Alice")
    await fill_registration(alice)
    await alice.press("确认提交")
    await alice.send("/deletedata")
    asked = alice.last
    app.dispatcher["clock"] = lambda: utcnow() + timedelta(minutes=11)
    replies = await alice.press("确认删除", message_id=asked.message_id)
    assert "已经过期" in replies[-1].text and "确定要删除吗" in replies[-1].text
    async with app.sessionmaker() as session:
        assert (await session.execute(select(Registration.status))).scalar_one() == "awaiting_seal"
    # a button from before confirmations carried their time: the same
    replies = await alice.press("", data="p:erase_yes")
    assert "已经过期" in replies[-1].text
    async with app.sessionmaker() as session:
        assert (await session.execute(select(Registration.status))).scalar_one() == "awaiting_seal"
    # the fresh question's button works
    await alice.press("确认删除")
    assert "个人数据已删除" in alice.last_text
    async with app.sessionmaker() as session:
        assert (await session.execute(select(Registration))).first() is None


async def test_erasing_scrubs_old_shape_and_parked_operator_drafts(chat, app, tmp_path):
    """A rejection draft stored before typed drafts (texts copied into "extra") and a parked draft
    about the person: the first keeps its ids with its texts erased, the parked one goes."""
    if os.environ.get("REDIS_URL"):
        pytest.skip("open forms are scrubbed in the SQL conversation storage; Redis keeps them as they are")
    alice, boss = await under_review(chat, tmp_path)
    async with app.sessionmaker.begin() as session:
        reg_id = (await session.execute(select(Registration.id))).scalar_one()
        old = {"form": "registration_reject", "fid": "a1b2c3", "step": 0, "values": {}, "editing": False,
               "extra": {"registration_id": reg_id, "account_name": "小科说天文", "about": alice.id}}
        parked = {"parked": [{"form": "registration_reject", "nonce": "d4e5f6", "step": 0, "values": {},
                              "refs": {"registration_id": reg_id}},
                             {"form": "inquiry_answer", "nonce": "0a0b0c", "step": 0, "values": {},
                              "refs": {"inquiry_id": 999}}]}
        session.add(FsmRecord(key="fsm:8001:8001:default", state="FormSG:asking", data=json.dumps(old)))
        session.add(FsmRecord(key="fsm:8002:8002:default", state="FormSG:parked", data=json.dumps(parked)))
    await alice.send("/deletedata")
    await alice.press("确认删除")
    async with app.sessionmaker() as session:
        rows = dict((await session.execute(select(FsmRecord.key, FsmRecord.data).where(
            FsmRecord.key.in_(["fsm:8001:8001:default", "fsm:8002:8002:default"])))).all())
    assert "小科说天文" not in rows["fsm:8001:8001:default"]
    assert json.loads(rows["fsm:8001:8001:default"])["extra"]["registration_id"] == reg_id
    assert [d["nonce"] for d in json.loads(rows["fsm:8002:8002:default"])["parked"]] == ["0a0b0c"]


def test_a_relayed_message_in_the_export_names_the_message_it_copies():
    from bot.services.personal_data import _notification

    row = OutboxMessage(chat_id=1001, status="sent", created_at=utcnow(), sent_at=None,
                        payload=json.dumps({"kind": "copy", "from_chat_id": 7001, "message_id": 55}))
    view = _notification(row, 1001)
    assert view["to"] == "you" and view["text"] is None and view["attachments"] == []
    assert view["copy_of"] == {"chat": "other", "message_id": 55}


async def test_mydata_and_deletedata_cover_lessons_tutoring_and_resource_requests(chat, app):
    from bot.services.users import upsert_user
    from storage.models import LessonProgress, QuizPoll, ResourceRequest, TutorMessage, Tutorship
    from storage.statuses import LessonStatus, ResourceStatus, TutorshipStatus
    alice, tutor = chat.user(1001, "Alice"), 2002
    await alice.send("/start")
    async with app.sessionmaker.begin() as session:
        await upsert_user(session, tutor, first_name="导师")
        await session.flush()
        session.add(LessonProgress(user_id=alice.id, slug="video_export", status=LessonStatus.started, page=1))
        session.add(QuizPoll(poll_id="p1", user_id=alice.id, slug="video_export", question=0, correct_option=1,
                             chosen_option=1, correct=True))
        ship = Tutorship(creator_id=alice.id, tutor_id=tutor, status=TutorshipStatus.active, request="想学剪辑")
        session.add(ship)
        await session.flush()
        session.add(TutorMessage(tutorship_id=ship.id, sender_id=alice.id, recipient_id=tutor, kind="text",
                                 text="导出设置怎么选？", source_message_id=5))
        session.add(TutorMessage(tutorship_id=ship.id, sender_id=tutor, recipient_id=alice.id, kind="text",
                                 text="用 H.264，8 Mbps。", source_message_id=9))
        session.add(ResourceRequest(user_id=alice.id, kind="venue", description="需要一间可以拍摄实验的实验室",
                                    status=ResourceStatus.open))
    replies = await alice.send("/mydata")
    exported = json.loads(replies[-1].file_bytes)
    assert exported["academy"]["lessons"][0]["slug"] == "video_export" and exported["academy"]["lessons"][0]["page"] == 1
    assert exported["academy"]["quiz_answers"][0]["correct"] is True
    assert exported["tutoring"][0]["request"] == "想学剪辑"
    assert [(m["text"], m["sent_by_you"]) for m in exported["tutoring_messages"]] == [
        ("导出设置怎么选？", True), ("用 H.264，8 Mbps。", False)]
    assert exported["resource_requests"][0]["description"] == "需要一间可以拍摄实验的实验室"
    assert not mentions(replies[-1].file_bytes, tutor)  # the tutor's id is not Alice's data

    await alice.send("/deletedata")
    await alice.press("确认删除")
    async with app.sessionmaker() as session:
        for model in (LessonProgress, QuizPoll, Tutorship, TutorMessage, ResourceRequest):
            assert (await session.execute(select(func.count()).select_from(model))).scalar_one() == 0, model
