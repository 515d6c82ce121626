"""Registering a 科普号: every field of the 推荐申请表, edits from the summary, the printed .docx, the
sealed scan, the operators' decision, correction after rejection, personal data, and bad input."""

from __future__ import annotations

import io
import json

import docx
import pytest
from sqlalchemy import select

from storage.models import Inquiry, Registration, User
from tests.conftest import ADMIN_ID
from tests.harness import ChatUser
from tests.media import make_image

ANSWERS = {
    "account_name": "小科说天文",
    "subject_name": "星空科普团队",
    "person_name": "张三",
    "unit": "中国科学院国家天文台",
    "position": "科普部主任",
    "title": "副研究员",
    "field": "天文学",
    "email": "zhang@example.org",
    "experience": "长期从事天文科普创作，制作科普短视频一百余部，出版科普图书两部。",
}


async def fill_registration(alice: ChatUser, *, name: str = ANSWERS["account_name"], via_menu: bool = False,
                            subject: str = "团队") -> None:
    """Walk every field of the form up to the summary."""
    if via_menu:
        await alice.send("/start")
        replies = await alice.press("注册科普号")
    else:
        replies = await alice.send("/register")
    assert "推荐申请表" in replies[0].text and "第 1/" in replies[1].text
    await alice.send(name)
    await alice.press(subject)
    for key in ("subject_name", "person_name", "unit", "position", "title", "field"):
        replies = await alice.send(ANSWERS[key])
        assert replies, key
    assert "分享我的手机号" in alice.last.labels[0]
    replies = await alice.contact("8613800138000")
    assert "已记录" in replies[0].text and replies[0].markup == {"remove_keyboard": True}
    await alice.send(ANSWERS["email"])
    await alice.send(ANSWERS["experience"])
    await alice.press("跳过")
    await alice.press("全国学会")
    await alice.press("中国天文学会")
    assert "请核对" in alice.last_text


def table_rows(data: bytes) -> dict[str, list[str]]:
    document = docx.Document(io.BytesIO(data))
    rows = {}
    for row in document.tables[0].rows:
        cells = []
        for cell in row.cells:  # merged cells repeat: keep each once
            if not cells or cells[-1] != cell.text:
                cells.append(cell.text)
        rows[cells[0]] = cells
    return rows


async def submit_scan(alice: ChatUser, tmp_path, name: str = "scan.pdf") -> list:
    scan = tmp_path / name
    scan.write_bytes(b"%PDF-1.4\n% signed and sealed\n" + b"0" * 2000)
    return await alice.upload(scan)


async def under_review(chat, tmp_path) -> tuple[ChatUser, ChatUser]:
    """A creator whose registration and scan are in, and the operator who will decide."""
    alice = chat.user(1001, "Alice")
    boss = chat.user(ADMIN_ID, "Boss")
    await boss.send("/start")
    await fill_registration(alice)
    await alice.press("确认提交")
    await submit_scan(alice, tmp_path)
    return alice, boss


async def test_register_review_approve(chat, app, tmp_path):
    alice = chat.user(1001, "Alice")
    boss = chat.user(ADMIN_ID, "Boss")
    await boss.send("/start")
    await fill_registration(alice, via_menu=True)
    summary = alice.last_text
    for value in (*ANSWERS.values(), "+8613800138000", "中国天文学会", "团队"):
        assert value in summary, value
    # edit two fields from the summary; nothing else is asked again
    await alice.press("职称")
    assert "修改：职称" in alice.last_text
    await alice.send("研究员")
    assert "请核对" in alice.last_text
    await alice.press("邮箱")
    await alice.send("zhang.san@nao.cas.cn")
    summary = alice.last_text
    assert "研究员" in summary and "副研究员" not in summary and "zhang.san@nao.cas.cn" in summary

    old_summary = alice.last
    replies = await alice.press("确认提交")
    document = next(r for r in replies if r.document)
    # the summary's buttons belong to a finished form now
    await alice.press("", data=next(b["callback_data"] for b in old_summary.buttons if "确认提交" in b["text"]))
    assert "失效" in chat.tg.alerts[-1][1] and alice.new() == []
    assert document.document["file_name"].endswith(".docx")
    rows = table_rows(document.file_bytes)
    assert rows["拟申请\n科普号名称"][1] == "小科说天文"
    assert "团队：星空科普团队" in rows["所属单位（团队、个人）"][1]
    assert "负责人（签名）" in rows["所属单位（团队、个人）"][1]
    assert rows["姓名"][1:] == ["张三", "单位", "中国科学院国家天文台"]
    assert rows["职务"][1:] == ["科普部主任", "职称", "研究员"]
    assert rows["专业领域"][1] == "天文学"
    assert rows["联系电话"][1:] == ["+8613800138000", "邮箱", "zhang.san@nao.cas.cn"]
    experience = next(cells for label, cells in rows.items() if label.startswith("长期从事"))
    assert "（可另附页）" in experience[0]
    assert "中国天文学会" in rows["推荐单位意见"][1]
    assert "推荐单位公章" in rows["推荐单位意见"][1]
    assert "签名" in replies[-1].text and "中国天文学会" in replies[-1].text
    async with app.sessionmaker() as session:
        reg = (await session.execute(select(Registration))).scalar_one()
    assert (reg.status, reg.title, reg.phone) == ("awaiting_seal", "研究员", "+8613800138000")

    boss.new()
    replies = await submit_scan(alice, tmp_path)
    assert [m.method for m in replies] == ["sendMessage"]
    assert "已提交审核" in replies[0].text
    staff = boss.new()
    assert [m.method for m in staff] == ["sendDocument", "sendDocument", "sendMessage"]
    assert "小科说天文" in staff[-1].text and "通过" in " ".join(staff[-1].labels)
    assert table_rows(staff[0].file_bytes)["姓名"][1] == "张三"

    # /pending shows the same card again to an operator who missed the notification
    listed = await boss.send("/pending")
    assert "共有 1 份" in listed[0].text and "小科说天文" in listed[-1].text
    replies = await alice.send("/pending")
    assert "不认识这个命令" in replies[0].text
    await boss.press("通过")
    assert "已通过科普号申请" in boss.last_text
    assert "已通过审核" in alice.last_text
    # past the 2024 window: the notice says so, and its way on is the academy, not /apply
    assert "现在不在申报时间内" in alice.last_text and "现在可以申报" not in alice.last_text
    await alice.press("创作学院")
    assert alice.rendered("academy/list")
    assert "没有待审核" in (await boss.send("/pending"))[0].text
    async with app.sessionmaker() as session:
        reg = (await session.execute(select(Registration))).scalar_one()
    assert reg.status == "approved" and reg.reviewed_by == ADMIN_ID
    # a second press of the old button changes nothing
    await boss.press("", data=f"r:{reg.id}:approve")
    assert "已经处理过了" in chat.tg.alerts[-1][1]
    profile = (await alice.send("/profile"))[0].text
    assert "已通过" in profile and "小科说天文" in profile


async def test_rejection_and_correction(chat, app, tmp_path):
    alice, boss = await under_review(chat, tmp_path)
    await boss.press("退回修改")
    await boss.press("职称")
    await boss.press("推荐单位")
    await boss.press("完成")
    await boss.send("职称请填写正式评定的职称；推荐单位应为省级科协。")
    assert "已退回科普号申请" in boss.last_text
    rejected = alice.last_text
    assert "职称请填写正式评定的职称" in rejected and "「职称」、「推荐单位」" in rejected
    async with app.sessionmaker() as session:
        reg = (await session.execute(select(Registration))).scalar_one()
        assert reg.status == "rejected" and json.loads(reg.fields_to_fix) == ["title", "recommender"]

    await alice.press("修改并重新提交")
    assert "修改：职称" in alice.last_text
    await alice.send("研究员")
    assert "修改：推荐单位" in alice.last_text
    replies = await alice.send("北京市科学技术协会")
    assert "没有在推荐单位列表中找到" in replies[0].text  # the group is still 全国学会
    await alice.send("中国天文学会")
    assert "请核对" in alice.last_text and "研究员" in alice.last_text and "张三" in alice.last_text
    await alice.press("推荐单位类别")
    await alice.press("省级科协")
    await alice.press("北京市科学技术协会")
    assert "请核对" in alice.last_text and "北京市科学技术协会" in alice.last_text
    replies = await alice.press("确认提交")
    assert any(r.document for r in replies)
    async with app.sessionmaker() as session:
        reg = (await session.execute(select(Registration))).scalar_one()
    assert (reg.status, reg.title, reg.recommender, reg.person_name) == \
        ("awaiting_seal", "研究员", "北京市科学技术协会", "张三")
    await submit_scan(alice, tmp_path, "scan2.pdf")
    await boss.press("通过")
    assert "已通过审核" in alice.last_text


async def test_rejection_asking_only_for_a_new_scan(chat, app, tmp_path):
    alice, boss = await under_review(chat, tmp_path)
    await boss.press("退回修改")
    await boss.press("签字盖章扫描件")
    await boss.press("完成")
    await boss.send("扫描件模糊，看不清推荐单位公章。")
    assert "只需重新上传签字盖章的扫描件" in alice.last_text
    replies = await submit_scan(alice, tmp_path, "clear.pdf")
    assert "已提交审核" in replies[-1].text
    async with app.sessionmaker() as session:
        assert (await session.execute(select(Registration.status))).scalar_one() == "pending_review"


# ------------------------------------------------------------------ bad input


async def test_bad_answers_keep_what_was_entered(chat):
    alice = chat.user(1001, "Alice")
    await alice.send("/register")
    replies = await alice.send("   ")
    assert "太短" in replies[0].text
    replies = await alice.send("名" * 5000)
    assert "最多 30 个字" in replies[0].text and "5000" in replies[0].text
    replies = await alice.sticker()
    assert "不需要贴纸" in replies[0].text
    replies = await alice.voice()
    assert "不需要语音" in replies[0].text
    await alice.send("小科说天文")
    await alice.press("个人")
    for key in ("subject_name", "person_name", "unit", "position", "title", "field"):
        await alice.send(ANSWERS[key])
    for bad in ("12345", "138001380001", "abc"):
        replies = await alice.send(bad)
        assert "不是有效的电话号码" in replies[0].text, bad
    replies = await alice.contact_of_someone_else()
    assert "本人的手机号" in replies[0].text
    await alice.send("010-63581731")
    for bad in ("zhang@", "zhang.example.org", "a@b"):
        replies = await alice.send(bad)
        assert "不是有效的邮箱" in replies[0].text, bad
    await alice.send("zhang@example.org")
    assert "科普创作的经历" in alice.last_text
    replies = await alice.send("太短")
    assert "太短" in replies[0].text
    await alice.send(ANSWERS["experience"])
    replies = await alice.upload_bytes(b"", "附页.pdf")
    assert "空的" in replies[0].text
    replies = await alice.upload_bytes(b"MZ\x90\x00" * 10, "附页.exe")
    assert "格式不支持" in replies[0].text
    await alice.upload_bytes(b"%PDF-1.4 " + b"1" * 100, "附页.pdf")
    assert "推荐单位类别" in alice.last_text
    await alice.press("其他单位")
    await alice.send("深圳市科学技术协会")
    summary = alice.last_text
    assert "010-63581731" in summary and "附页.pdf" in summary and "深圳市科学技术协会" in summary


async def test_account_name_must_be_unique_ignoring_case_and_width(chat, tmp_path):
    alice = chat.user(1001, "Alice")
    await fill_registration(alice, name="Kepu 天文")
    await alice.press("确认提交")
    bob = chat.user(1002, "Bob")
    await bob.send("/register")
    replies = await bob.send("ＫＥＰＵ天文")
    assert "已被使用" in replies[0].text
    replies = await bob.send("kepu 天文")
    assert "已被使用" in replies[0].text
    await bob.send("Bob 的科普号")
    assert "注册主体" in bob.last_text


async def test_name_taken_between_check_and_submit(chat, app):
    alice = chat.user(1001, "Alice")
    bob = chat.user(1002, "Bob")
    await fill_registration(alice, name="同名科普")
    await fill_registration(bob, name="同名科普")
    await alice.press("确认提交")
    await bob.press("确认提交")
    assert "已被使用" in bob.last_text and "修改：拟申请科普号名称" in bob.last_text
    await bob.send("另一个科普号")
    assert "请核对" in bob.last_text
    await bob.press("确认提交")
    async with app.sessionmaker() as session:
        names = sorted((await session.execute(select(Registration.account_name))).scalars())
    assert names == ["另一个科普号", "同名科普"]


async def test_scan_must_be_an_image_or_pdf(chat, tmp_path, app):
    alice = chat.user(1001, "Alice")
    await fill_registration(alice)
    await alice.press("确认提交")
    replies = await alice.upload_bytes(b"PK\x03\x04 not a scan", "scan.zip")
    assert "格式不支持" in replies[0].text and "拍照或扫描" in replies[0].text
    replies = await alice.upload_bytes(b"", "scan.pdf")
    assert "空的" in replies[0].text
    replies = await alice.upload(tmp_path / "huge.pdf", data=b"%PDF-1.4", size=25 * 1024 * 1024)
    assert "文件太大了" in replies[0].text and "25.0 MB" in replies[0].text
    async with app.sessionmaker() as session:
        assert (await session.execute(select(Registration.status))).scalar_one() == "awaiting_seal"
    replies = await alice.upload(make_image(tmp_path / "scan.jpg", 1200, 1700), as_="photo")
    assert "已提交审核" in replies[0].text


async def test_a_file_without_a_registration_gets_a_hint(chat):
    alice = chat.user(1001, "Alice")
    replies = await alice.upload_bytes(b"%PDF-1.4 hello", "random.pdf")
    assert "请先注册" in replies[0].text and "/register" in replies[0].text


async def test_forged_registration_ids(chat, app, tmp_path):
    alice, boss = await under_review(chat, tmp_path)
    async with app.sessionmaker() as session:
        reg_id = (await session.execute(select(Registration.id))).scalar_one()
    mallory = chat.user(1002, "Mallory")
    await mallory.press("", data=f"r:{reg_id}:approve")
    assert "仅限工作人员" in chat.tg.alerts[-1][1]
    await mallory.press("", data=f"r:{reg_id}:fix")
    assert "失效" in chat.tg.alerts[-1][1]
    await boss.press("", data="r:999999:approve")
    assert "没有找到" in chat.tg.alerts[-1][1]
    async with app.sessionmaker() as session:
        assert (await session.execute(select(Registration.status))).scalar_one() == "pending_review"


async def test_same_update_twice_submits_once(chat, app):
    alice = chat.user(1001, "Alice")
    await fill_registration(alice)
    summary = alice.last
    data = next(b["callback_data"] for b in summary.buttons if "确认提交" in b["text"])
    update = {"update_id": 4242, "callback_query": {"id": "cq-dup", "from": alice.tg_user, "chat_instance": "ci",
                                                     "data": data, "message": {"message_id": summary.message_id,
                                                                               "date": 1, "chat": {"id": 1001, "type": "private"},
                                                                               "text": "…"}}}
    await chat.feed(dict(update))
    await chat.feed(dict(update))
    documents = [m for m in alice.history if m.document]
    assert len(documents) == 1
    async with app.sessionmaker() as session:
        assert len((await session.execute(select(Registration))).scalars().all()) == 1


async def test_restart_in_the_middle_of_registration(app, settings):
    from bot.app import build_app
    from tests.harness import Conversation

    alice = Conversation(app.dispatcher).user(1001, "Alice")
    await alice.send("/register")
    await alice.send("重启测试科普号")
    await alice.press("单位")
    await app.close()
    restarted = build_app(settings)
    try:
        alice2 = Conversation(restarted.dispatcher, first_update_id=5000).user(1001, "Alice")
        await alice2.send("某某研究所")
        assert "第 4/" in alice2.last_text and "负责人姓名" in alice2.last_text
    finally:
        await restarted.close()


# ------------------------------------------------------------------ personal data


async def test_mydata_and_erasure(chat, app, tmp_path):
    alice = chat.user(1001, "Alice")
    await fill_registration(alice)
    await alice.press("确认提交")
    await submit_scan(alice, tmp_path)
    replies = await alice.send("/mydata")
    exported = json.loads(replies[-1].file_bytes)
    assert exported["registration"]["person_name"] == "张三" and exported["user"]["id"] == 1001
    await alice.send("/deletedata")
    # no submitted application needs it: the registration under review goes with the rest
    assert "小科说天文" in alice.last_text and "匿名" not in alice.last_text
    await alice.press("确认删除")
    assert "已删除" in alice.last_text
    async with app.sessionmaker() as session:
        assert (await session.execute(select(Registration))).first() is None
        user = await session.get(User, 1001)
        assert user.first_name == "已删除"
        assert (await session.execute(select(Inquiry))).first() is None


async def test_erasure_before_review_deletes_the_registration(chat, app):
    alice = chat.user(1001, "Alice")
    await fill_registration(alice)
    await alice.press("确认提交")
    await alice.send("/deletedata")
    assert "匿名化" not in alice.last_text
    await alice.press("确认删除")
    async with app.sessionmaker() as session:
        assert (await session.execute(select(Registration))).first() is None


@pytest.mark.parametrize(("typed", "stored"), [
    ("13800138000", "+8613800138000"), ("+86 138 0013 8000", "+8613800138000"),
    ("010-63581731", "010-63581731"), ("0755 8888 8888", "075588888888"), ("12345", None), ("+85212345678", "+85212345678"),
])
def test_phone_formats(typed, stored):
    from bot.flows.fields import normalise_phone

    assert normalise_phone(typed) == stored


async def test_the_phone_keyboard_is_closed_when_leaving_the_phone_question(chat):
    alice = chat.user(1001, "Alice")
    await alice.send("/register")
    await alice.send("小科说天文")
    await alice.press("个人")
    for key in ("subject_name", "person_name", "unit", "position", "title", "field"):
        await alice.send(ANSWERS[key])
    assert alice.last.markup["keyboard"][0][0]["request_contact"] is True
    replies = await alice.send("⬅️ 上一步")
    assert replies[0].markup == {"remove_keyboard": True} and "专业领域" in replies[1].text
    await alice.send("天文学")
    replies = await alice.send("/cancel")
    assert replies[0].markup == {"remove_keyboard": True} and "已取消" in replies[0].text
