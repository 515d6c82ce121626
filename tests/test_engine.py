"""Form engine v2 (issue 9 part 1): every answer goes through one write that applies `resets`
(skip and multi-choice too), fields made from data (prompt, label, columns, after), per-form
intro/summary, drafts of older versions, parked drafts of parallel forms, and every registered form
renders (StrictUndefined) for representative answers."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Dispatcher, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import Message

from bot.campaign import load_campaign
from bot.config import Settings
from bot.flows import engine
from bot.flows import fields as f
from bot.flows.catalog import all_forms
from bot.flows.draft import Draft
from bot.flows.engine import Done, Form, Forms, FormSG, Turn, draft_of, leave_open, move_to, start_form
from bot.render import Texts
from tests.harness import Conversation

# ------------------------------------------------------------------ a small dispatcher running test forms

LEVELS = (f.Choice("hi", text="高"), f.Choice("lo", text="低"))
TAGS = (f.Choice("a", text="光学"), f.Choice("b", text="声学"), f.Choice("c", text="力学"))
SUBMITTED: list[tuple[str, dict[str, Any]]] = []


async def _record(turn: Turn, values: dict[str, Any]) -> Done:
    assert turn.draft is not None
    SUBMITTED.append((turn.draft.form, values))
    return Done(f"已提交 {turn.draft.form}")


def _choice(name: str, options, **kw: Any) -> f.Field:
    return f.Field(name, f.choice(options), accepts=frozenset({f.CHOICE, f.TEXT}), choices=options, **kw)


SURVEY = Form(  # no template file anywhere: prompts and labels are the fields' own words
    name="survey",
    title="问卷",
    fields=(
        _choice("level", LEVELS, optional=True, resets=("detail",), prompt="您的程度？", label="程度"),
        f.Field("detail", f.text(50), prompt="说说细节", label="细节"),
        _choice("tags", TAGS, multi=True, resets=("note",), prompt="选择标签", label="标签"),
        f.Field("note", f.text(50), prompt="备注<一句话>", label="备注"),
    ),
    on_submit=_record,
)


def scored(criteria: list[tuple[str, str]], answers: dict[str, str]) -> Form:
    """A review made from data: each criterion scored 1-5, with feedback after each score."""
    scores = tuple(f.Choice(str(n), text=str(n)) for n in range(1, 6))

    async def feedback(value: str, turn: Turn) -> str | None:
        return "满分！" if value == "5" else None

    return Form(name="review", title="评审", parallel=True, on_submit=_record, fields=tuple(
        _choice(key, scores, prompt=f"请为「{name}」打分（1-5）", label=name, columns=5, after=feedback)
        for key, name in criteria))


QUIZ = Form(name="quiz", title="测验", parallel=True, confirm=False, on_submit=_record, fields=(
    _choice("q1", (f.Choice("t", text="对"), f.Choice("f", text="错")), prompt="光速有限吗？", label="第1题",
            after=lambda v, turn: _quiz_feedback(v)),
))


async def _quiz_feedback(value: str) -> str:
    return "✅ 正确：光速约 30 万千米/秒。" if value == "t" else "❌ 不对：光速是有限的。"


CRITERIA = [("accuracy", "科学性"), ("clarity", "通俗性")]
TEST_FORMS = Forms(SURVEY, scored(CRITERIA, {}), QUIZ)


@pytest.fixture
def chat() -> Conversation:
    """Only the engine and a command per form, over memory storage: no database needed."""
    SUBMITTED.clear()
    opener = Router()

    async def open_form(message: Message, state: FSMContext, texts: Texts, forms: Forms) -> None:
        name = (message.text or "").removeprefix("/")
        turn = Turn(bot=message.bot, state=state, texts=texts, chat_id=message.chat.id, forms=forms)
        await start_form(turn, name)

    async def cancel(message: Message, state: FSMContext) -> None:  # what /cancel does (bot/handlers/common.py)
        await message.answer("已取消" if await leave_open(state) else "没有进行中的操作")

    opener.message.register(open_form, Command("survey", "review", "quiz"))
    opener.message.register(cancel, Command("cancel"))
    dp = Dispatcher(storage=MemoryStorage(), texts=Texts(), forms=TEST_FORMS)
    dp.include_routers(opener, engine.build(TEST_FORMS))
    return Conversation(dp)


async def fill_survey(user) -> None:
    await user.send("/survey")
    await user.press("高")
    await user.send("细节一")
    await user.press("光学")
    await user.press("声学")
    await user.press("完成")
    await user.send("备注一")
    assert "请核对" in user.last_text


# ------------------------------------------------------------------ item 3: one write, resets for every answer


async def test_skipping_a_changed_answer_resets_its_dependants(chat):
    alice = chat.user(1001)
    await fill_survey(alice)
    await alice.press("✏️ 程度")
    await alice.press("跳过")
    # 细节 depended on 程度: it is asked again instead of keeping the old answer
    assert "您改了「程度」" in alice.last_text and "细节" in alice.last_text
    await alice.send("细节二")
    await alice.press("确认")
    assert SUBMITTED == [("survey", {"level": None, "detail": "细节二", "tags": ["a", "b"], "note": "备注一"})]


async def test_a_changed_multi_choice_resets_its_dependants(chat):
    alice = chat.user(1001)
    await fill_survey(alice)
    await alice.press("✏️ 标签")
    await alice.press("力学")
    await alice.press("完成")
    assert "您改了「标签」" in alice.last_text and "备注" in alice.last_text
    await alice.send("备注二")
    await alice.press("确认")
    assert SUBMITTED == [("survey", {"level": "hi", "detail": "细节一", "tags": ["a", "b", "c"], "note": "备注二"})]


async def test_the_same_multi_choice_again_keeps_its_dependants(chat):
    alice = chat.user(1001)
    await fill_survey(alice)
    await alice.press("✏️ 标签")
    await alice.press("力学")
    await alice.press("力学")  # toggled back: the answer is as before
    await alice.press("完成")
    assert "请核对" in alice.last_text and "备注一" in alice.last_text


# ------------------------------------------------------------------ item 4: fields made from data


async def test_a_form_made_from_data_needs_no_template_files(chat):
    alice = chat.user(1001)
    await alice.send("/review")
    intro, prompt = alice.history[-2:]
    assert "共 2 项" in intro.text  # the generic intro
    assert "第 1/2 项：科学性" in prompt.text and "请为「科学性」打分（1-5）" in prompt.text
    assert [len(row) for row in prompt.markup["inline_keyboard"]][0] == 5  # columns=5: one row of scores
    await alice.press("5")
    assert "满分！" in alice.history[-2].text  # the after hook's feedback, before the next question
    assert "第 2/2 项：通俗性" in alice.last_text
    await alice.press("3")
    assert "<b>科学性</b>：5" in alice.last_text and "<b>通俗性</b>：3" in alice.last_text
    await alice.press("确认")
    assert SUBMITTED == [("review", {"accuracy": "5", "clarity": "3"})]
    assert alice.last_text == "已提交 review"


async def test_a_quiz_answer_gets_its_feedback(chat):
    alice = chat.user(1001)
    await alice.send("/quiz")
    await alice.press("错")
    texts = [s.text for s in alice.history[-2:]]
    assert texts == ["❌ 不对：光速是有限的。", "已提交 quiz"]


async def test_a_prompt_of_data_is_escaped(chat):
    alice = chat.user(1001)
    await fill_survey(alice)
    await alice.press("✏️ 备注")
    assert "备注&lt;一句话&gt;" in alice.last_text


# ------------------------------------------------------------------ item 8: parallel forms park the open draft


async def test_a_parallel_form_parks_the_open_draft_and_its_buttons_bring_it_back(chat):
    alice = chat.user(1001)
    await alice.send("/survey")
    await alice.press("高")
    survey_prompt = alice.last  # 细节, with the survey's buttons
    await alice.send("/review")
    assert "第 1/2 项：科学性" in alice.last_text  # no "continue or drop" question
    await alice.press("4")
    await alice.press("4")
    await alice.press("确认")
    assert alice.last_text == "已提交 review"
    state = chat.dp.fsm.get_context(bot=chat.bot, chat_id=alice.id, user_id=alice.id)
    assert await state.get_state() == FormSG.parked.state
    parked = await draft_of(state, await state.get_state(), TEST_FORMS)
    assert parked is not None and parked.form == "survey" and parked.values == {"level": "hi"}
    # the survey's old 放弃填写 button: not stale, it brings the survey back where it stopped
    await alice.press("放弃填写", message_id=survey_prompt.message_id)
    assert "第 2/4 项：细节" in alice.last_text
    await alice.send("细节一")
    assert "选择标签" in alice.last_text


async def test_two_parallel_drafts_switch_by_their_buttons(chat):
    alice = chat.user(1001)
    await alice.send("/review")
    review_prompt = alice.last
    await alice.send("/quiz")
    await alice.press("4", message_id=review_prompt.message_id)  # the review comes back, the quiz is parked
    assert "第 1/2 项：科学性" in alice.last_text
    state = chat.dp.fsm.get_context(bot=chat.bot, chat_id=alice.id, user_id=alice.id)
    data = await state.get_data()
    assert data["form"] == "review" and [d["form"] for d in data["parked"]] == ["quiz"]


async def test_a_form_that_is_not_parallel_still_asks_continue_or_drop(chat):
    alice = chat.user(1001)
    await alice.send("/review")
    await alice.send("/survey")
    assert "还有一份未填完的「评审」" in alice.last_text and "开始新的「问卷」" in alice.last_text
    await alice.press("继续填写")
    assert "科学性" in alice.last_text


async def test_cancelling_keeps_the_parked_drafts(chat):
    alice = chat.user(1001)
    await alice.send("/survey")
    await alice.send("/quiz")
    await alice.press("放弃填写")
    state = chat.dp.fsm.get_context(bot=chat.bot, chat_id=alice.id, user_id=alice.id)
    assert await state.get_state() == FormSG.parked.state
    draft = await draft_of(state, FormSG.parked.state, TEST_FORMS)
    assert draft is not None and draft.form == "survey"


async def test_the_cancel_command_keeps_the_parked_drafts(chat):
    alice = chat.user(1001)
    await alice.send("/survey")
    await alice.press("高")
    await alice.send("/quiz")  # the survey is parked
    await alice.send("/cancel")
    assert alice.last_text == "已取消"
    state = chat.dp.fsm.get_context(bot=chat.bot, chat_id=alice.id, user_id=alice.id)
    assert await state.get_state() == FormSG.parked.state
    draft = await draft_of(state, FormSG.parked.state, TEST_FORMS)
    assert draft is not None and draft.form == "survey" and draft.values == {"level": "hi"}
    await alice.send("/cancel")  # nothing open any more: the parked survey still waits
    assert alice.last_text == "没有进行中的操作"
    assert await draft_of(state, await state.get_state(), TEST_FORMS) is not None


# ------------------------------------------------------------------ item 1: the draft at the FSM edge


def test_a_draft_stored_by_the_old_engine_loads_without_settings_or_copied_texts():
    old = {"form": "inquiry_answer", "fid": "a1b2c3", "step": 0, "values": {"answer": "好"}, "editing": False,
           "extra": {"inquiry_id": 3, "asker": "Alice", "question": "竖屏可以吗？", "about": 1001,
                     "admin_ids": [9001], "local_api": True},
           "pending": {"form": "inquiry", "extra": {"admin_ids": [9001]}, "values": {}, "edit_only": [],
                       "at_summary": False}}
    draft = Draft.load(old, reviewing=False)
    assert draft is not None and draft.nonce == "a1b2c3" and draft.values == {"answer": "好"}
    assert draft.refs == {"inquiry_id": 3, "about": 1001}
    assert draft.pending is not None and draft.pending.form == "inquiry" and draft.pending.refs == {}
    dumped = draft.dump()
    assert "extra" not in dumped and "Alice" not in str(dumped) and "9001" not in str(dumped)
    assert Draft.load(dumped) == draft


async def test_an_old_draft_in_storage_continues_with_its_old_buttons(app):
    """A draft saved before this version (key "fid", settings in "extra") after a deploy."""
    chat = Conversation(app.dispatcher)
    alice = chat.user(1001, "Alice")
    await alice.send("/start")
    state = app.dispatcher.fsm.get_context(bot=chat.bot, chat_id=alice.id, user_id=alice.id)
    await state.set_state(FormSG.asking)
    await state.set_data({"form": "inquiry", "fid": "0ld0ld", "step": 1, "values": {"topic": "other"},
                          "extra": {"admin_ids": [9001]}, "editing": False})
    replies = await alice.send("/start")
    assert "未填完的「咨询」" in replies[0].text
    await alice.press("", data=engine.FormCB(fid="0ld0ld", step=1, action=engine.FormAction.back).pack())
    assert "第 1/2 项" in alice.last_text
    await alice.press("其他问题")
    await alice.send("旧草稿里的问题：可以吗？")
    await alice.press("确认提交")
    assert "已收到" in alice.last_text or "#" in alice.last_text
    data = await state.get_data()
    assert "extra" not in data and "fid" not in data


# ------------------------------------------------------------------ item 9: every registered form renders


def _samples(fld: f.Field, values: dict[str, Any]) -> list[Any]:
    """Representative answers of a field: each option, or a value of its kind."""
    options = fld.options(values)
    if fld.multi:
        return [[o.value for o in options]]
    if options:
        # listed() fields keep the words, choice() fields the value
        return [o.text if fld.parse is not None and _keeps_words(fld, o, values) else o.value for o in options]
    if fld.name == "message":  # a broadcast: a text, or a photo or document with its caption
        return [{"html": "<b>截止提醒</b>", "media": None, "file_id": None, "name": None, "length": 4},
                {"html": "海报", "media": "photo", "file_id": "x", "name": None, "length": 2},
                {"html": "", "media": "document", "file_id": "x", "name": "指南.pdf", "length": 0}]
    if fld.name == "ids":
        return [[1, 2]]
    if fld.accepts & {f.DOCUMENT, f.PHOTO}:
        return [{"file_id": "x", "file_unique_id": "u", "file_name": "经历.pdf", "mime_type": "application/pdf",
                 "file_size": 1000}]
    if fld.name in ("pages", "levels"):
        return [12]
    if fld.name == "knowledge_points":
        return [["光的折射", "全反射"]]
    return ["光的折射与生活" if fld.name != "email" else "a@example.org"]


def _keeps_words(fld: f.Field, opt: f.Choice, values: dict[str, Any]) -> bool:
    try:
        return fld.parse(f.Answer(f.CHOICE, text=opt.value), values) != opt.value
    except f.Invalid:
        return False


def _walks(form: Form) -> list[dict[str, Any]]:
    """Answer sets that reach every option of every choice: the form filled with first options,
    then, for each field and each of its other options, filled with that option there."""
    walks = [_filled(form)]
    for i, fld in enumerate(form.fields):
        earlier = _filled(form, upto=i)
        if fld.applies(earlier):
            walks += [_filled(form, at=(i, pick)) for pick in range(1, len(_samples(fld, earlier)))]
    return walks


def _filled(form: Form, *, upto: int | None = None, at: tuple[int, int] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for j, fld in enumerate(form.fields[:upto]):
        if fld.applies(values):
            samples = _samples(fld, values)
            values[fld.name] = samples[at[1] if at and at[0] == j and at[1] < len(samples) else 0]
    return values


async def test_every_registered_form_renders(app, settings: Settings):
    campaign = load_campaign(settings.campaign_file)
    texts = app.texts

    async def on_saved(turn, sub):  # the upload handlers' part: not rendered here
        raise AssertionError

    forms = all_forms(campaign, on_saved)
    assert set(forms) == {"registration", "registration_reject", "application", "inquiry", "inquiry_answer",
                          "manual_fail", "review", "decline_review", "reviewer_profile", "decision", "disqualify",
                          "tutor_profile", "resource_request", "resource_answer", "resource_more", "broadcast"}
    refs = {"registration_id": 1, "inquiry_id": 1, "file_id": 1, "submission_id": 1, "about": 1, "round_id": 1,
            "assignment_id": 1, "request_id": 1}
    bot = Conversation(app.dispatcher).bot
    state = app.dispatcher.fsm.get_context(bot=bot, chat_id=1, user_id=1)
    rendered = 0
    async with app.sessionmaker() as session:
        for form in forms.values():
            for values in _walks(form):
                for editing in (False, True):
                    draft = Draft(form=form.name, values=values, refs=refs, editing=editing)
                    turn = Turn(bot=bot, state=state, texts=texts, chat_id=1, forms=forms, session=session,
                                settings=settings, campaign=campaign, draft=draft)
                    assert await engine.intro_text(turn)
                    summary, markup = await engine.summary_view(turn)
                    assert "请核对" in summary and len(summary) <= 4096
                    for i, fld in enumerate(form.fields):
                        if not fld.applies(values):
                            continue
                        draft.step = i
                        assert engine.field_label(form, fld.name, texts)
                        assert await engine.prompt_text(turn)
                        for opt in fld.options(values):
                            assert engine.choice_text(opt, texts)
                        engine.field_keyboard(turn, fld)
                        rendered += 1
    assert rendered > 100


async def test_a_step_outside_forms_keeps_the_parked_drafts(chat):
    """The upload step (a state outside forms) entered and left: the parked drafts survive both."""
    from aiogram.fsm.state import State, StatesGroup

    class Step(StatesGroup):
        files = State()

    alice = chat.user(1001)
    await alice.send("/survey")
    await alice.press("高")
    await alice.send("/quiz")  # the survey is parked
    state = chat.dp.fsm.get_context(bot=chat.bot, chat_id=alice.id, user_id=alice.id)
    await move_to(state, Step.files, {"submission_id": 7})
    data = await state.get_data()
    assert await state.get_state() == Step.files.state and data["submission_id"] == 7
    assert [d["form"] for d in data["parked"]] == ["survey"]
    assert await leave_open(state) is True
    assert await state.get_state() == FormSG.parked.state
    draft = await draft_of(state, FormSG.parked.state, TEST_FORMS)
    assert draft is not None and draft.form == "survey" and draft.values == {"level": "hi"}
