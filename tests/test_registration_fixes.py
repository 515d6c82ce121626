"""Issue 7, registration and personal data: erasing makes a new user, the operators' card (who,
附页, rounds), replacing the scan while it waits, a readable /mydata, and the smaller things (a file
from someone not registered, free text offered to the staff, no unit seal on a team's form, field
names quoted in lists, /pending from a button)."""

from __future__ import annotations

import io
import json

import docx
from sqlalchemy import select

from bot.services import recommendation_form, registration
from storage.models import Inquiry, Registration, Submission, SubmissionFile, utcnow
from tests.conftest import ADMIN_ID
from tests.harness import ChatUser
from tests.media import make_image
from tests.test_registration import ANSWERS, fill_registration, submit_scan, table_rows, under_review
from tests.test_submissions import IN_WINDOW


async def registrations(app) -> list[Registration]:
    async with app.sessionmaker() as session:
        return list((await session.execute(select(Registration).order_by(Registration.id))).scalars())


async def fill_with_attachment(alice: ChatUser, *, subject: str = "团队") -> None:
    """The registration form with a 经历附页, up to the summary."""
    await alice.send("/register")
    await alice.send(ANSWERS["account_name"])
    await alice.press(subject)
    for key in ("subject_name", "person_name", "unit", "position", "title", "field"):
        await alice.send(ANSWERS[key])
    await alice.contact("8613800138000")
    await alice.send(ANSWERS["email"])
    await alice.send(ANSWERS["experience"])
    await alice.upload_bytes(b"%PDF-1.4 " + b"1" * 500, "经历附页.pdf")
    await alice.press("全国学会")
    await alice.press("中国天文学会")
    assert "请核对" in alice.last_text


async def add_submitted_application(app, user_id: int) -> int:
    """A submitted application with one checked file, written as the submissions service leaves it."""
    async with app.sessionmaker.begin() as session:
        sub = Submission(user_id=user_id, kind="work", category="article", title="光的折射",
                         answers=json.dumps({"title": "光的折射", "knowledge_points": ["折射", "全反射"]},
                                            ensure_ascii=False),
                         status="submitted", created_at=utcnow(), updated_at=utcnow(), submitted_at=utcnow())
        session.add(sub)
        await session.flush()
        session.add(SubmissionFile(submission_id=sub.id, file_id="Fdoc", file_unique_id="Udoc", file_name="光的折射.docx",
                                   file_size=1234, sent_as="document", check_status="passed",
                                   report=json.dumps({"items": [{"rule": "chars", "status": "passed"}]})))
        return sub.id


# ------------------------------------------------------------------ 1. /deletedata does not lock anyone out


async def test_erasing_makes_a_new_user_who_can_register_again(chat, app, tmp_path):
    alice, boss = await under_review(chat, tmp_path)
    card = boss.last
    assert "通过" in " ".join(card.labels)
    await alice.send("/deletedata")
    confirm = alice.last_text
    assert "将删除" in confirm and "小科说天文" in confirm and "匿名" not in confirm and "重新注册" in confirm
    await alice.press("确认删除")
    assert "已删除" in alice.last_text and "/register" in alice.last_text and "保留" not in alice.last_text
    assert await registrations(app) == []  # no application needs it: nothing of it is left

    # the operator's old card: a clear reason, and its buttons go
    await boss.press("通过", message_id=card.message_id)
    assert "已删除个人数据" in chat.tg.alerts[-1][1]
    assert chat.tg.messages[(boss.id, card.message_id)].markup is None

    # a new user: /apply asks to register, /register opens the form
    replies = await alice.send("/apply")
    assert "需要先注册科普号" in replies[-1].text and "尚未通过" not in replies[-1].text
    assert "📝 注册科普号 / 我的科普号" in replies[-1].labels  # a button there, too
    await fill_registration(alice, name="小科说天文")  # the old name is free again
    await alice.press("确认提交")
    rows = await registrations(app)
    assert [r.status for r in rows] == ["awaiting_seal"]


async def test_erasing_keeps_an_anonymised_record_for_submitted_applications(chat, app, tmp_path):
    alice, boss = await under_review(chat, tmp_path)
    card = boss.last
    await boss.press("通过")
    old_id = (await registrations(app))[0].id
    await add_submitted_application(app, 1001)
    await alice.send("/deletedata")
    confirm = alice.last_text
    assert "将保留" in confirm and "已提交的 1 份申报" in confirm and "匿名记录" in confirm
    await alice.press("确认删除")
    erased = alice.last_text
    assert "已提交的 1 份申报保留给评审专家，其中不含您的联系方式" in erased and "匿名记录" in erased
    [reg] = await registrations(app)
    assert (reg.status, reg.person_name, reg.phone, reg.scan, reg.history) == ("erased", "已删除", "已删除", None, None)

    await boss.press("", message_id=card.message_id, data=f"r:{old_id}:approve")
    assert "已删除个人数据" in chat.tg.alerts[-1][1]
    # the erased record is not theirs any more: /register opens the form and makes a new row
    replies = await alice.send("/profile")
    assert "还没有注册科普号" in replies[0].text
    await fill_registration(alice)
    await alice.press("确认提交")
    rows = await registrations(app)
    assert [r.status for r in rows] == ["erased", "awaiting_seal"] and rows[1].id != old_id
    async with app.sessionmaker() as session:
        live = await registration.for_user(session, 1001)
    assert live is not None and live.id == rows[1].id


async def test_a_rejection_typed_after_the_applicant_erased(chat, app, tmp_path):
    alice, boss = await under_review(chat, tmp_path)
    await boss.press("退回修改")
    await boss.press("职称")
    await boss.press("完成")
    await alice.send("/deletedata")
    await alice.press("确认删除")
    await boss.send("职称请填写正式评定的职称。")
    assert "已删除个人数据" in boss.last_text and "未生效" in boss.last_text


# ------------------------------------------------------------------ 6. the operators' card


async def test_staff_card_names_the_applicant_sends_the_attachment_and_marks_rounds(chat, app, tmp_path):
    alice = chat.user(1001, "Alice", username="alice_sci")
    boss = chat.user(ADMIN_ID, "Boss")
    await boss.send("/start")
    await fill_with_attachment(alice)
    await alice.press("确认提交")
    boss.new()
    await submit_scan(alice, tmp_path)
    staff = boss.new()
    assert [m.method for m in staff] == ["sendDocument", "sendDocument", "sendDocument", "sendMessage"]
    assert staff[1].raw["document"].startswith("F") and chat.tg.files[staff[1].raw["document"]][1] == "经历附页.pdf"
    text = staff[-1].text
    assert "Alice" in text and "@alice_sci" in text and "经历附页" in text and "第 2 轮" not in text

    await boss.press("退回修改")
    await boss.press("所属单位（团队、个人）名称")
    await boss.press("职称")
    await boss.press("完成")
    await boss.send("职称请填写正式评定的职称。")
    assert "「所属单位（团队、个人）名称」、「职称」" in alice.last_text
    profile = (await alice.send("/profile"))[0].text
    assert "「所属单位（团队、个人）名称」、「职称」" in profile
    await alice.press("修改并重新提交")
    await alice.send("星空科普工作室")
    await alice.send("研究员")
    await alice.press("确认提交")
    [reg] = await registrations(app)
    assert (reg.round, reg.status) == (2, "awaiting_seal")
    assert json.loads(reg.history)[0]["reason"] == "职称请填写正式评定的职称。"
    assert json.loads(reg.history)[0]["fields"] == ["subject_name", "title"] and json.loads(reg.history)[0]["round"] == 1
    boss.new()
    await submit_scan(alice, tmp_path, "scan2.pdf")
    text = boss.new()[-1].text
    assert "第 2 轮" in text and "职称请填写正式评定的职称" in text and "「职称」" in text

    # a scan-only send-back: the new scan is the next round
    await boss.press("退回修改")
    await boss.press("签字盖章扫描件")
    await boss.press("完成")
    await boss.send("扫描件模糊，看不清公章。")
    await submit_scan(alice, tmp_path, "scan3.pdf")
    text = boss.last_text
    assert "第 3 轮" in text and "扫描件模糊" in text
    [reg] = await registrations(app)
    assert (reg.round, reg.scan_count, len(json.loads(reg.history))) == (3, 1, 2)


# ------------------------------------------------------------------ 11. replacing the scan while it waits


async def test_the_scan_can_be_replaced_while_waiting_and_a_tiny_one_is_flagged(chat, app, tmp_path):
    alice, boss = await under_review(chat, tmp_path)
    boss.new()
    replies = await alice.upload(make_image(tmp_path / "small.jpg", 800, 600), as_="photo")
    assert "替换" in replies[0].text and "800 像素" in replies[0].text and "清晰" in replies[0].text
    staff = boss.new()
    assert staff[-1].method == "sendMessage" and "已更换扫描件" in staff[-1].text and "800 像素" in staff[-1].text
    assert [m.method for m in staff] == ["sendDocument", "sendPhoto", "sendMessage"]
    [reg] = await registrations(app)
    assert (reg.status, reg.scan_count, json.loads(reg.scan)["kind"]) == ("pending_review", 2, "photo")

    small_scan = json.loads(reg.scan)["file_id"]
    replies = await alice.upload(make_image(tmp_path / "clear.jpg", 1240, 1754), as_="photo")
    assert "替换" in replies[0].text and "像素" not in replies[0].text
    [reg] = await registrations(app)
    newest = json.loads(reg.scan)["file_id"]
    assert reg.scan_count == 3 and newest != small_scan
    assert [m.raw.get("photo") for m in boss.new() if m.method == "sendPhoto"] == [newest]  # the newest counts
    app.dispatcher["clock"] = lambda: IN_WINDOW  # within the application window
    await boss.press("通过")
    assert "已通过审核" in alice.last_text and "现在可以申报作品或选题了" in alice.last_text
    await alice.press("申报作品/选题")  # the notice's way on
    assert "申报类型" in alice.last_text
    await alice.send("/cancel")
    # approved: a photo is no longer a scan
    replies = await alice.upload(make_image(tmp_path / "late.jpg", 1240, 1754), as_="photo")
    assert "替换" not in replies[0].text


async def test_a_small_first_scan_is_accepted_with_a_warning(chat, app, tmp_path):
    alice = chat.user(1001, "Alice")
    await fill_registration(alice)
    await alice.press("确认提交")
    replies = await alice.upload(make_image(tmp_path / "tiny.jpg", 640, 480), as_="photo")
    assert "已提交审核" in replies[0].text and "640 像素" in replies[0].text
    [reg] = await registrations(app)
    assert (reg.status, reg.scan_count) == ("pending_review", 1)


# ------------------------------------------------------------------ 13. a readable /mydata


async def test_mydata_is_a_summary_and_a_readable_json(chat, app, tmp_path):
    alice, boss = await under_review(chat, tmp_path)  # the registration without an attachment
    await boss.press("退回修改")
    await boss.press("职称")
    await boss.press("完成")
    await boss.send("职称请填写正式评定的职称。")
    await add_submitted_application(app, 1001)
    alice.new()
    replies = await alice.send("/mydata")
    summary, document = replies[0], replies[-1]
    assert document.document and document.document["file_name"].endswith(".json")
    text = summary.text
    assert "小科说天文" in text and "已退回" in text and "申报：1 份" in text and "已提交 1" in text
    assert "文件：2 个" in text and "scan.pdf" in text and "光的折射.docx" in text and "申报 #" in text
    exported = json.loads(document.file_bytes)
    raw = document.file_bytes.decode()
    for internal in ("file_unique_id", "account_key", "file_id", "submission_id"):
        assert f'"{internal}"' not in raw, internal
    reg = exported["registration"]
    assert reg["person_name"] == "张三" and reg["scan"]["file_name"] == "scan.pdf"
    assert reg["fields_to_fix"] == ["title"] and reg["history"][0]["reason"] == "职称请填写正式评定的职称。"
    [sub] = exported["submissions"]
    assert sub["answers"]["knowledge_points"] == ["折射", "全反射"]
    assert sub["files"][0]["report"]["items"][0]["status"] == "passed" and "id" not in sub["files"][0]
    assert {f["name"] for f in exported["files"]} == {"scan.pdf", "光的折射.docx"}


# ------------------------------------------------------------------ smaller things


async def test_a_file_from_someone_not_registered_says_register_first(chat, app, tmp_path):
    alice = chat.user(1001, "Alice")
    replies = await alice.upload_bytes(b"%PDF-1.4 hello", "random.pdf")
    assert "请先注册" in replies[0].text and "/register" in replies[0].text and "/apply" not in replies[0].text
    replies = await alice.upload(make_image(tmp_path / "p.jpg", 1200, 900), as_="photo")
    assert "请先注册" in replies[0].text


async def test_free_text_on_the_menu_can_be_sent_to_staff_as_a_question(chat, app):
    alice = chat.user(1001, "Alice")
    boss = chat.user(ADMIN_ID, "Boss")
    await boss.send("/start")
    question = "申报截止时间是什么时候？"
    replies = await alice.send(question)
    assert "发给工作人员" in replies[0].text and any("发给工作人员" in label for label in replies[0].labels)
    await alice.press("发给工作人员")
    assert "咨询类别" in alice.last_text
    await alice.press("作品申报")
    assert "请核对" in alice.last_text and question in alice.last_text
    await alice.press("确认提交")
    async with app.sessionmaker() as session:
        [inquiry] = (await session.execute(select(Inquiry))).scalars().all()
    assert (inquiry.question, inquiry.topic) == (question, "apply")
    assert question in boss.last_text
    # the button data carries no text
    assert all(question not in (b.get("callback_data") or "") for m in alice.history for b in m.buttons)


async def test_an_older_free_text_button_opens_the_question_form_from_the_start(chat, app):
    alice = chat.user(1001, "Alice")
    first = (await alice.send("第一个问题是什么呢？"))[0]
    await alice.send("你好")  # a later text takes the place of the first one
    await alice.press("发给工作人员", message_id=first.message_id)
    assert "咨询类别" in alice.last_text
    await alice.press("作品申报")
    assert "请写下您的问题" in alice.last_text


async def test_the_printed_form_has_a_unit_seal_only_where_one_is_needed(chat, app):
    alice = chat.user(1001, "Alice")
    await fill_registration(alice)  # a team
    replies = await alice.press("确认提交")
    document = next(r for r in replies if r.document)
    assert "单位公章" not in table_rows(document.file_bytes)["所属单位（团队、个人）"][1]
    values = {**ANSWERS, "subject_type": "organisation", "phone": "+8613800138000", "recommender": "中国天文学会",
              "experience_file": None}
    sealed = docx.Document(io.BytesIO(recommendation_form.build(values, needs_seal=True)))
    assert "（单位公章）" in sealed.tables[0].rows[1].cells[1].text
    individual = docx.Document(io.BytesIO(recommendation_form.build({**values, "subject_type": "individual"},
                                                                     needs_seal=False)))
    assert "（单位公章）" not in individual.tables[0].rows[1].cells[1].text


async def test_pending_from_a_button_for_operators_only(chat, app, tmp_path):
    alice, boss = await under_review(chat, tmp_path)
    boss.new()
    replies = await boss.press("", data="m:pending")
    assert "共有 1 份" in replies[0].text and "小科说天文" in replies[-1].text
    mallory = chat.user(1002, "Mallory")
    assert await mallory.press("", data="m:pending") == []
    assert "仅限工作人员" in chat.tg.alerts[-1][1]
