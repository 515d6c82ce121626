"""资源对接 in the chat (issue 11, part 4): a creator files a request; the operators are told; an
operator assigns it to a tutor; the tutor answers; the creator is told with the answer, follows
up, is answered again; the request is closed and the creator told, with an audit row for every
change. And the refusals: a tutor not assigned (forged buttons), another creator's request, a
closed request, bad input in the form, /requests paged and filtered."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.callbacks import ResAction, ResCB, ResStaffAction, ResStaffCB
from bot.services import resources
from bot.services.users import Person, Role, grant_role, upsert_user
from storage.models import AuditEntry, ResourceRequest, utcnow
from storage.statuses import ResourceStatus
from tests.conftest import ADMIN_ID, approve_creator

CREATOR, OTHER = 1001, 1002
TUTOR, TUTOR2 = 3001, 3002
NOW = utcnow().replace(microsecond=0)
DESCRIPTION = "我们在拍一部关于黑洞的科普短片，需要一位天体物理专家审核脚本中的数据和表述。"


async def trail(app, request_id: int) -> list[tuple]:
    async with app.sessionmaker() as session:
        rows = (await session.execute(select(AuditEntry).where(AuditEntry.entity == "resource_requests",
                                                               AuditEntry.entity_id == request_id)
                                      .order_by(AuditEntry.id))).scalars()
        return [(e.from_status, e.to_status, e.actor_id) for e in rows]


async def fetch(app, request_id: int) -> ResourceRequest | None:
    async with app.sessionmaker() as session:
        return await session.get(ResourceRequest, request_id)


async def count(app) -> int:
    async with app.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(ResourceRequest))).scalar_one()


@pytest.fixture
async def people(app, chat):
    """The creator (registered as 小科说), another creator, an operator and two tutors, each of whom
    has opened the bot."""
    app.dispatcher["clock"] = lambda: NOW
    await approve_creator(app.sessionmaker, CREATOR)
    async with app.sessionmaker.begin() as session:
        for uid, name in ((TUTOR, "王老师"), (TUTOR2, "李老师"), (ADMIN_ID, "Admin"), (OTHER, "Bob")):
            await upsert_user(session, uid, first_name=name)
        await session.flush()
        await grant_role(session, TUTOR, Role.tutor, ADMIN_ID)
        await grant_role(session, TUTOR2, Role.tutor, ADMIN_ID)
    users = {"alice": chat.user(CREATOR, "Alice"), "bob": chat.user(OTHER, "Bob"),
             "admin": chat.user(ADMIN_ID, "Admin"), "tutor": chat.user(TUTOR, "王老师"),
             "tutor2": chat.user(TUTOR2, "李老师")}
    for user in users.values():
        await user.send("/start")
        user.new()
    return users


async def file_request(alice, kind: str = "专家咨询", description: str = DESCRIPTION) -> int:
    await alice.send("/resources")
    await alice.press("新建需求")
    await alice.press(kind)
    await alice.send(description)
    assert "请核对" in alice.last_text
    await alice.press("提交需求")
    filed = alice.rendered("resources/filed")
    assert filed
    return filed.values["r"].id


async def test_a_request_goes_round_to_closed(app, chat, people):
    alice, admin, tutor = people["alice"], people["admin"], people["tutor"]
    await alice.send("/resources")
    assert alice.rendered("resources/mine") and "还没有提出过需求" in alice.last_text

    # filed: open, the operators told with a button to it
    rid = await file_request(alice)
    req = await fetch(app, rid)
    assert (req.user_id, req.kind, req.description, req.status) == (CREATOR, "expert", DESCRIPTION,
                                                                   ResourceStatus.open)
    assert await trail(app, rid) == [(None, "open", CREATOR)]
    notice = admin.rendered("resources/notice_new")
    assert notice and notice.values["r"].id == rid and "小科说" in notice.text
    await alice.send("/resources")
    assert f"#{rid}" in alice.last_text and "待处理" in alice.last_text

    # the operator opens it from the notification: creator, 科普号, description, audit trail
    await admin.press(f"打开需求 #{rid}")
    card = admin.last_text
    assert admin.rendered("resources/staff_card") and "小科说" in card and "黑洞" in card and "（新建）" in card
    # assigned to the tutor: the tutor and the creator are told
    await admin.press("指派")
    assert admin.rendered("resources/assign_pick")
    await admin.press("王老师")
    assert admin.rendered("resources/assigned", name="王老师", notified=True)
    req = await fetch(app, rid)
    assert (req.status, req.assignee_id) == (ResourceStatus.assigned, TUTOR)
    assert tutor.rendered("resources/notice_assigned", follow_up=False)
    assert alice.rendered("resources/notice_creator", event="assigned", tutor=True)

    # the tutor answers from the notification; the creator gets the answer
    await tutor.press(f"打开需求 #{rid}")
    assert "王老师" in tutor.last_text and "指派" not in "".join(tutor.last.labels)  # tutors do not assign
    await tutor.press("回复")
    assert tutor.rendered("forms/resource_answer/_intro")
    answer = "可以联系中国科学院国家天文台的张研究员，邮箱 zhang@example.org。"
    await tutor.send(answer)
    assert tutor.rendered("resources/answered")
    req = await fetch(app, rid)
    assert (req.status, req.answer) == (ResourceStatus.answered, answer)
    told = alice.rendered("resources/notice_creator", event="answered")
    assert told and "张研究员" in told.text

    # the creator follows up: back to the tutor, who answers again
    await alice.press("补充/追问")
    await alice.send("张研究员下个月出差，还有其他专家可以推荐吗？")
    assert alice.rendered("resources/followed_up")
    req = await fetch(app, rid)
    assert (req.status, req.assignee_id, req.answer) == (ResourceStatus.assigned, TUTOR, None)
    assert "张研究员" in req.description and "出差" in req.description  # the thread is kept
    assert tutor.rendered("resources/notice_assigned", follow_up=True)
    await tutor.press(f"打开需求 #{rid}")
    await tutor.press("回复")
    await tutor.send("也可以联系北京天文馆的李老师。")
    assert (await fetch(app, rid)).status == ResourceStatus.answered

    # the operator closes it (asked to confirm); the creator is told; the card is read-only now
    await admin.press(f"打开需求 #{rid}")
    await admin.press("关闭")
    assert admin.rendered("resources/close_confirm")
    await admin.press("确认关闭")
    assert admin.rendered("resources/closed", creator=False)
    assert alice.rendered("resources/notice_creator", event="closed")
    assert (await fetch(app, rid)).status == ResourceStatus.closed
    assert await trail(app, rid) == [(None, "open", CREATOR), ("open", "assigned", ADMIN_ID),
                                     ("assigned", "answered", TUTOR), ("answered", "assigned", CREATOR),
                                     ("assigned", "answered", TUTOR), ("answered", "closed", ADMIN_ID)]
    assert not any(label in admin.last.labels for label in ("↩️ 回复", "🔒 关闭"))

    # closed is read-only: the old buttons are refused kindly, nothing changes
    await alice.press("补充/追问")
    assert "已经关闭" in alice.last_alert
    await tutor.press("", data=ResStaffCB(id=rid, action=ResStaffAction.answer).pack())
    assert "已经关闭" in tutor.last_alert
    await alice.send("/resources")
    await alice.press(f"#{rid}")
    assert alice.rendered("resources/card") and not any("补充" in label for label in alice.last.labels)
    assert len(await trail(app, rid)) == 6


async def test_a_tutor_not_assigned_cannot_act(app, chat, people):
    alice, admin, tutor, tutor2, bob = (people[k] for k in ("alice", "admin", "tutor", "tutor2", "bob"))
    rid = await file_request(alice)
    await admin.press(f"打开需求 #{rid}")
    await admin.press("指派")
    await admin.press("王老师")
    before = await trail(app, rid)

    # the other tutor forges each button: refused, no form opened, nothing changed
    for action in (ResStaffAction.show, ResStaffAction.answer, ResStaffAction.close):
        await tutor2.press("", data=ResStaffCB(id=rid, action=action).pack())
        assert "没有指派给您" in tutor2.last_alert
    await tutor2.press("", data=ResStaffCB(id=rid, action=ResStaffAction.close_yes, arg="zzzzz").pack())
    assert "没有指派给您" in tutor2.last_alert
    await tutor2.press("", data=ResStaffCB(id=rid, action=ResStaffAction.pick, arg=str(TUTOR2)).pack())
    assert "仅限工作人员" in tutor2.last_alert
    await tutor2.send("我来回答")  # no answer form is open: not an answer
    assert (await fetch(app, rid)).answer is None
    # the service refuses the same, whatever the chat does
    async with app.sessionmaker.begin() as session:
        out = await resources.answer(session, Person(TUTOR2, "李老师", frozenset({Role.creator, Role.tutor})), rid,
                                     "伪造的答复")
        assert out.result is resources.Result.forbidden
    # a creator pressing a handler's button: not theirs to press
    await bob.press("", data=ResStaffCB(id=rid, action=ResStaffAction.answer).pack())
    assert "仅限工作人员" in bob.last_alert
    await tutor2.send("/requests")
    assert tutor2.rendered("resources/queue", staff=False) and f"#{rid}" not in tutor2.last_text
    assert (await fetch(app, rid)).status == ResourceStatus.assigned and await trail(app, rid) == before

    # once the request is given to the other tutor, the first one's old buttons no longer work
    await admin.press("改派")
    await admin.press("李老师")
    assert (await fetch(app, rid)).assignee_id == TUTOR2
    await tutor.press(f"打开需求 #{rid}")  # their old notification
    assert "没有指派给您" in tutor.last_alert
    await tutor2.send("/requests")
    assert f"#{rid}" in tutor2.last_text


async def test_a_creator_sees_only_their_own_requests(app, chat, people):
    alice, bob = people["alice"], people["bob"]
    rid = await file_request(alice)
    for action in (ResAction.open, ResAction.show, ResAction.more, ResAction.close):
        await bob.press("", data=ResCB(id=rid, action=action).pack())
        assert "没有找到这条需求" in bob.last_alert
    await bob.press("", data=ResCB(id=rid, action=ResAction.close_yes, arg="zzzzz").pack())
    assert "没有找到这条需求" in bob.last_alert
    await bob.send("/resources")
    assert f"#{rid}" not in bob.last_text and "还没有提出过需求" in bob.last_text
    await bob.send("/requests")  # operators' command: unknown to a creator
    assert not bob.rendered("resources/queue")
    assert (await fetch(app, rid)).status == ResourceStatus.open and await trail(app, rid) == [
        (None, "open", CREATOR)]
    # a forged id that does not exist, garbled data
    await alice.press("", data=ResCB(id=9999, action=ResAction.open).pack())
    assert "没有找到这条需求" in alice.last_alert
    await alice.press("", data="rs:1:explode")
    assert "已经失效" in alice.last_alert
    # an open request: no follow-up yet, but the creator may withdraw it
    await alice.press("", data=ResCB(id=rid, action=ResAction.more).pack())
    assert "还没有答复" in alice.last_alert
    await alice.press("", data=ResCB(id=rid, action=ResAction.close_yes, arg="1").pack())  # stamped in 1970
    assert alice.rendered("forms/errors/confirm_expired") and (await fetch(app, rid)).status == ResourceStatus.open
    await alice.press("", data=ResCB(id=rid, action=ResAction.open).pack())
    await alice.press("撤销需求")
    await alice.press("确认关闭")
    assert alice.rendered("resources/closed", creator=True)
    assert (await fetch(app, rid)).status == ResourceStatus.closed


async def test_the_trail_names_the_creator_as_the_card_does(app, chat, people):
    """The card names the creator by their registration (person_name); so does its 操作记录, not by
    the Telegram name (it said User1001 under 创作者：李明)."""
    from storage.models import Registration, User

    alice, admin = people["alice"], people["admin"]
    async with app.sessionmaker.begin() as session:
        (await session.get(User, CREATOR)).first_name = "TG昵称"
        reg = (await session.execute(select(Registration).where(Registration.user_id == CREATOR))).scalar_one()
        reg.person_name = "李明"
    rid = await file_request(alice)
    await admin.press(f"打开需求 #{rid}")
    card = admin.last_text
    assert "李明" in card.split("操作记录")[1] and "TG昵称" not in card


async def test_bad_input_is_explained_and_nothing_is_lost(app, chat, people):
    alice = people["alice"]
    await alice.send("/resources")
    await alice.press("新建需求")
    await alice.send("随便什么")  # a kind that is not one of the five
    assert alice.rendered("forms/errors/pick_one")
    assert "请点下方按钮选择一项" in alice.last_text and "拍摄场地" in alice.last.labels  # the buttons again
    await alice.send("拍摄场地")  # typed as on the button: taken
    await alice.send("要场地")  # too short
    assert alice.rendered("forms/errors/too_short")
    await alice.send("x" * 1001)  # too long
    assert alice.rendered("forms/errors/too_long")
    assert await count(app) == 0
    await alice.send("需要一个可以拍摄化学实验的实验室，约半天，北京市内。")
    assert "拍摄场地" in alice.last_text and "请核对" in alice.last_text
    await alice.press("提交需求")
    rid = alice.rendered("resources/filed").values["r"].id
    req = await fetch(app, rid)
    assert (req.kind, req.status) == ("venue", ResourceStatus.open)


async def test_staff_answer_directly_and_the_follow_up_comes_back_to_them(app, chat, people):
    alice, admin = people["alice"], people["admin"]
    rid = await file_request(alice, "渠道推广", "作品已在科普中国首发，希望推荐到更多渠道，比如学习强国。")
    await admin.press(f"打开需求 #{rid}")
    await admin.press("回复")
    await admin.send("已推荐给合作渠道，请留意后台消息。")
    req = await fetch(app, rid)
    assert (req.status, req.assignee_id) == (ResourceStatus.answered, ADMIN_ID)
    await alice.press("补充/追问")
    await alice.send("请问大概多久会有结果？")
    req = await fetch(app, rid)
    assert (req.status, req.assignee_id) == (ResourceStatus.assigned, ADMIN_ID)
    assert admin.rendered("resources/notice_assigned", follow_up=True)
    # the creator marks it solved once answered again
    await admin.press(f"打开需求 #{rid}")
    await admin.press("回复")
    await admin.send("一般一周内。")
    await alice.press("已解决")
    await alice.press("确认关闭")
    assert (await fetch(app, rid)).status == ResourceStatus.closed
    assert admin.rendered("resources/notice_closed")


async def test_the_operators_list_is_paged_and_filtered(app, chat, people):
    admin, tutor = people["admin"], people["tutor"]
    async with app.sessionmaker.begin() as session:
        alice = Person(CREATOR, "Alice", frozenset({Role.creator}))
        for i in range(8):
            await resources.file(session, alice, "data", f"需要第{i}组公开的气象数据，用于做图表。", now=NOW)
    await admin.send("/requests")
    first = admin.rendered("resources/queue", flt="act")
    assert first and first.values["page"].total == 8 and len(first.values["page"].items) == 6
    assert len(admin.last_text) < 4096
    await admin.press("下一页")
    assert admin.rendered("resources/queue").values["page"].page == 1
    await admin.press("已关闭")
    assert admin.rendered("resources/queue", flt="cls").values["page"].total == 0
    await admin.press("", data=ResStaffCB(id=0, action=ResStaffAction.page, arg="nonsense").pack())
    assert admin.rendered("resources/queue", flt="act")
    await tutor.send("/requests")
    assert tutor.rendered("resources/queue", staff=False).values["page"].total == 0
