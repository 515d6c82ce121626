"""创作学院 in the chat (issue 11): lessons rendered from Markdown into Telegram HTML pages; /academy
with progress; reading across pages (the page remembered); the quiz as Telegram quiz polls and their
poll_answer recorded; 完成本课; the drip after approval with a controllable clock; forged buttons and
unknown polls; the lessons a review's feedback recommends."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.callbacks import LessonAction, LessonCB
from bot.jobs import academy as academy_jobs
from bot.lesson_pages import PAGE_LIMIT, blocks, paginate, split_block, to_html
from bot.sandbox.htmltext import parse_html, utf16_len
from bot.services import lessons
from bot.services.academy import Curriculum, parse_lesson
from storage.models import AuditEntry, LessonOffer, LessonProgress, QuizPoll, Registration
from storage.statuses import LessonStatus
from tests.conftest import approve_creator

NOW = datetime(2023, 6, 1, 4, 0, tzinfo=UTC)
PARAGRAPH = "选题要从公众真正关心的问题出发，先查清权威来源，再决定讲法。" * 12  # ~370 characters


def lesson_text(slug: str, title: str, order: int, *, criteria: str = "[]", paragraphs: int = 3,
                quiz: str = "") -> str:
    body = "\n\n".join(f"## 第{n}节\n\n{PARAGRAPH}\n\n- 要点 **{n}**\n- 参考 [科普中国](https://www.kepuchina.cn/)"
                       for n in range(1, paragraphs + 1))
    return (f'+++\nslug = "{slug}"\ntitle = "{title}"\norder = {order}\ncriteria = {criteria}\n'
            f'categories = []\nminutes = 6\n{quiz}\n+++\n# {title}\n\n{body}\n')


QUIZ = '''
[[quiz]]
question = "视频的分辨率至少要多少？"
options = ["720p", "1080p", "4K"]
answer = 1
explanation = "短边不少于 1080 像素，竖屏 1080×1920 也可以。"

[[quiz]]
question = "作品发给机器人时应当怎样发送？"
options = ["作为文件发送", "作为视频发送"]
answer = 0
explanation = "作为文件发送不会被压缩。"
'''


@pytest.fixture
def curriculum(app) -> Curriculum:
    """Three lessons: the first long enough for several pages, with a two-question quiz."""
    texts = [lesson_text("choose_topic", "选题：从六个方向找题", 1, criteria='["thoughtful"]', paragraphs=12,
                         quiz=QUIZ),
             lesson_text("scientific_accuracy", "科学性：核实与引用来源", 2, criteria='["scientific"]'),
             lesson_text("fact_check", "辟谣：核查一条说法", 3, criteria='["scientific", "accessible"]')]
    loaded = Curriculum([parse_lesson(text, f"{n}.md", app.campaign) for n, text in enumerate(texts)])
    app.dispatcher["curriculum"] = loaded
    app.dispatcher["clock"] = lambda: NOW
    return loaded


async def all_of(app, model, *where):
    async with app.sessionmaker() as session:
        return (await session.execute(select(model).where(*where))).scalars().all()


def plain(html: str) -> str:
    return parse_html(html)[0]


# ---------------------------------------------------------------- rendering (pure)


def test_markdown_becomes_telegram_html_with_everything_escaped():
    html = to_html('# 标题 <script>\n\n正文 **粗** *斜* `a<b` [链接](https://x.cn/?a=1&b="2") Tom & "Jerry"的故事\n'
                   '第二行\nnext\nline\n\n- 一\n- 二\n  1. 子项\n\n3. 三\n4. 四\n\n```python\nif a < b: print("&")\n```\n\n'
                   '[坏](javascript:alert(1)) <b>原样</b>')
    assert "<b>标题 &lt;script&gt;</b>" in html
    assert "<b>粗</b> <i>斜</i> <code>a&lt;b</code>" in html
    assert '<a href="https://x.cn/?a=1&amp;b=%222%22">链接</a>' in html
    assert "Tom &amp; &quot;Jerry&quot;的故事第二行 next line" in html  # a line break: none between CJK
    assert "• 一\n• 二\n    1. 子项" in html and "3. 三\n4. 四" in html
    assert '<pre><code class="language-python">if a &lt; b: print(&quot;&amp;&quot;)</code></pre>' in html
    assert "javascript" not in re.sub(r"\[坏\]\(javascript:alert\(1\)\)", "", html)  # no link made of it
    assert "&lt;b&gt;原样&lt;/b&gt;" in html  # raw HTML in the Markdown is text
    text, entities = parse_html(html)  # Telegram takes it
    assert {e["type"] for e in entities} >= {"bold", "italic", "code", "text_link", "pre"}
    assert 'Tom & "Jerry"' in text


def test_a_long_lesson_is_cut_into_balanced_pages_under_the_limit():
    md = "\n\n".join(f"## 第{n}节\n\n" + "科学性是科普作品的生命线，**每个数据都要有可靠来源**。" * 30 +
                     "\n\n- 要点：*注意* `code`\n- 要点二" for n in range(8))
    md += "\n\n" + "**一段很长的粗体没有句号" + "没有句号" * 800 + "**"  # one paragraph over a page
    assert len(md) > 10_000
    pages = paginate(md)
    assert len(pages) >= 4
    for page in pages:
        assert len(page) <= PAGE_LIMIT
        text, _ = parse_html(page)  # balanced: Telegram's parser takes it
        assert 0 < utf16_len(text) < 4096
        assert not page.endswith("</b>\n\n") and page.strip() == page
    # headings stay with the text after them; cuts fall at sentence ends
    assert all(not p.rstrip().endswith(("节</b>",)) for p in pages[:-1])
    assert pages[0].endswith("• 要点二") or pages[0].rstrip().endswith("。</b>") or "。" in pages[0][-3:]
    # the over-long bold paragraph: cut, each piece bold on its own
    tail = [p for p in pages if "一段很长的粗体" in p or p.startswith("<b>没有句号")]
    assert len(tail) >= 1 and all(p.count("<b>") == p.count("</b>") for p in pages)


def test_a_block_is_cut_at_sentence_ends_and_tags_reopened():
    block = "<b>" + "第一句话。" * 10 + "</b>" + "第二句话！" * 10
    pieces = split_block(block, 40)
    assert all(len(p) <= 40 for p in pieces) and len(pieces) == 3
    assert "".join(plain(p) for p in pieces) == plain(block)
    assert all(plain(p).endswith(("。", "！")) for p in pieces)
    assert pieces[1].startswith("<b>") and pieces[0].endswith("</b>")
    # an entity is never cut
    escaped = "a&amp;b" * 30
    assert all(not re.search(r"&\w*$", p) for p in split_block(escaped, 25))
    assert blocks("") == [] and paginate("") == [""]


# ---------------------------------------------------------------- reading, quiz, done


async def test_a_creator_reads_a_lesson_across_pages_answers_its_quiz_and_marks_it_done(app, chat, curriculum):
    alice = chat.user(1001, "Alice")
    await alice.send("/academy")
    assert alice.rendered("academy/list", total=3, done=0)
    assert "· 1. 选题：从六个方向找题" in alice.last_text and "含小测验" in alice.last_text
    assert "· 1. 选题" in alice.last.labels[0]

    await alice.press("选题：从六个方向找题")
    pages = paginate(curriculum["choose_topic"].body, title="选题：从六个方向找题")
    assert len(pages) >= 2 and not pages[0].startswith("<b>选题")  # the title is the page's header
    assert alice.rendered("academy/page", page=0, pages=len(pages))
    assert "（1/" in alice.last_text and "下一页 ▶️" in alice.last.labels
    (progress,) = await all_of(app, LessonProgress)
    assert (progress.slug, progress.status, progress.page) == ("choose_topic", LessonStatus.started, 0)
    assert [(a.from_status, a.to_status) for a in await all_of(app, AuditEntry, AuditEntry.entity == "lesson_progress")] \
        == [(None, "started")]

    await alice.press("下一页")
    assert alice.rendered("academy/page", page=1)
    assert (await all_of(app, LessonProgress))[0].page == 1

    # back to the list and in again: the page read last
    await alice.press("返回课程列表")
    assert "▶️ 1. 选题" in alice.last_text
    await alice.press("选题：从六个方向找题")
    assert alice.rendered("academy/page", page=1)

    for _ in range(len(pages) - 2):
        await alice.press("下一页")
    assert alice.rendered("academy/page", page=len(pages) - 1, last=True)
    assert "📝 小测验（2 题）" in alice.last.labels and "✅ 完成本课" in alice.last.labels

    # the quiz: a Telegram quiz poll per question, the next after each answer
    await alice.press("小测验")
    poll = alice.last_poll
    assert poll["type"] == "quiz" and not poll["is_anonymous"]
    assert poll["question"].startswith("1/2 视频的分辨率") and poll["correct_option_id"] == 1
    assert poll["explanation"].startswith("短边不少于 1080 像素")
    (sent,) = await all_of(app, QuizPoll)
    assert (sent.poll_id, sent.question, sent.correct_option, sent.chosen_option) == (poll["id"], 0, 1, None)

    await alice.answer_poll(1)
    second = alice.last_poll
    assert second["question"].startswith("2/2") and second["id"] != poll["id"]
    await alice.answer_poll(1)  # wrong
    assert alice.rendered("academy/quiz_result", score=lessons.Score(1, 2, 2))
    assert "答对 1/2 题" in plain(alice.last_text)
    assert "📝 重做小测验" in alice.last.labels  # one wrong: the result offers another try
    answers = {p.question: (p.chosen_option, p.correct) for p in await all_of(app, QuizPoll)}
    assert answers == {0: (1, True), 1: (1, False)}

    await alice.press("完成本课")
    assert alice.rendered("academy/marked_done", newly=True)
    assert "下一课：科学性" in alice.last.labels[0]
    (progress,) = await all_of(app, LessonProgress)
    assert progress.status == LessonStatus.done and progress.done_at is not None

    await alice.send("/academy")
    assert alice.rendered("academy/list", done=1)
    assert "✅ 1. 选题" in alice.last_text

    # the next lesson from the button; the done lesson reopened shows its score and no 完成本课
    await alice.press("下一课：科学性")
    assert alice.rendered("academy/page", page=0)
    assert "科学性：核实与引用来源" in alice.last_text


async def test_a_quiz_taken_again_counts_the_newest_answers_and_an_old_poll_is_ignored(app, chat, curriculum):
    alice = chat.user(1001, "Alice")
    await alice.press("", data=LessonCB(slug="choose_topic", action=LessonAction.quiz).pack())
    first = alice.last_poll
    await alice.press("", data=LessonCB(slug="choose_topic", action=LessonAction.quiz).pack())
    again = alice.last_poll
    assert first["id"] != again["id"]
    before = len(alice.history)
    await alice.answer_poll(0, poll_id=first["id"])  # the superseded poll: nothing happens
    assert len(alice.history) == before
    assert (await all_of(app, QuizPoll, QuizPoll.poll_id == first["id"]))[0].chosen_option is None
    await alice.answer_poll(1, poll_id=again["id"])
    assert alice.last_poll["question"].startswith("2/2")


async def test_an_answer_to_an_unknown_poll_is_ignored(app, chat, curriculum, caplog):
    caplog.set_level(logging.INFO, "bot.handlers.academy")
    alice = chat.user(1001, "Alice")
    await alice.send("/academy")
    before = len(alice.history)
    await chat.feed({"poll_answer": {"poll_id": "no-such-poll", "user": alice.tg_user, "option_ids": [0],
                                     "option_persistent_ids": ["0"]}})
    assert len(alice.history) == before
    assert await all_of(app, QuizPoll) == []
    assert "unknown or old poll no-such-poll" in caplog.text
    # someone else's poll
    await alice.press("", data=LessonCB(slug="choose_topic", action=LessonAction.quiz).pack())
    poll_id = alice.last_poll["id"]
    mallory = chat.user(1002, "Mallory")
    await chat.feed({"poll_answer": {"poll_id": poll_id, "user": mallory.tg_user, "option_ids": [1],
                                     "option_persistent_ids": ["1"]}})
    assert (await all_of(app, QuizPoll))[0].chosen_option is None and chat.tg.sent[1002] == []


async def test_forged_or_old_lesson_buttons_are_refused_kindly(app, chat, curriculum):
    alice = chat.user(1001, "Alice")
    await alice.press("", data=LessonCB(slug="no_such_lesson", action=LessonAction.open).pack())
    assert alice.rendered("academy/unknown_lesson")
    await alice.press("", data=LessonCB(slug="choose_topic", action=LessonAction.page, arg="99").pack())
    assert alice.rendered("academy/bad_page")
    await alice.press("", data=LessonCB(slug="choose_topic", action=LessonAction.page, arg="-1").pack())
    assert alice.last_alert == alice.rendered("academy/bad_page").text
    await alice.press("", data=LessonCB(slug="choose_topic", action=LessonAction.page, arg="²").pack())
    assert alice.last_alert == alice.rendered("academy/bad_page").text
    await alice.press("", data=LessonCB(slug="no_such_lesson", action=LessonAction.done).pack())
    await alice.press("", data=LessonCB(slug="scientific_accuracy", action=LessonAction.quiz).pack())
    assert alice.rendered("academy/no_quiz")
    await alice.press("", data="ls:choose_topic:explode")  # an action that does not exist
    await alice.press("", data="ac:notanumber")
    assert await all_of(app, LessonProgress) == [] and await all_of(app, QuizPoll) == []


async def test_without_lessons_the_academy_says_so(app, chat):
    app.dispatcher["curriculum"] = Curriculum([])
    alice = chat.user(1001, "Alice")
    await alice.send("/academy")
    assert alice.rendered("academy/unavailable")
    await alice.press("", data=LessonCB(slug="choose_topic", action=LessonAction.open).pack())
    assert alice.last_alert == alice.rendered("academy/unavailable").text


# ---------------------------------------------------------------- the drip


async def test_the_drip_offers_day_0_then_day_1_lessons_never_twice(app, chat, curriculum):
    alice = chat.user(1001, "Alice")
    await alice.send("/start")
    await approve_creator(app.sessionmaker, 1001)
    await approve_creator(app.sessionmaker, 1003, "另一个号")
    bob = chat.user(1003, "Bob")
    (reg,) = await all_of(app, Registration, Registration.user_id == 1001)
    approved = reg.reviewed_at
    sender = app.dispatcher["outbox"]

    async def run(at: datetime) -> int:
        n = await academy_jobs.offer_lessons(app.sessionmaker, at, campaign=app.campaign, texts=app.texts,
                                             curriculum=curriculum)
        await sender.drain(chat.bot)
        return n

    assert await run(approved - timedelta(minutes=1)) == 0  # nobody approved yet at that time
    assert await run(approved + timedelta(minutes=5)) == 2  # day 0: both creators
    alice.new()
    assert alice.rendered("academy/notice_drip", day=0)
    assert "选题：从六个方向找题" in alice.last_text
    assert alice.last.labels == ["📖 开始学习《选题：从六个方向找题》"]
    assert await run(approved + timedelta(hours=3)) == 0  # nothing twice
    assert await run(approved + timedelta(hours=23)) == 0  # day 1 has not come

    assert await run(approved + timedelta(days=1, minutes=5)) == 2  # day 1
    assert alice.rendered("academy/notice_drip", day=1)
    assert "科学性：核实与引用来源" in alice.last_text
    assert await run(approved + timedelta(days=1, hours=2)) == 0
    # the later lessons of the campaign's schedule are not in this curriculum: nothing more, ever
    assert await run(approved + timedelta(days=30)) == 0
    offers = {(o.user_id, o.slug, o.reason) for o in await all_of(app, LessonOffer)}
    assert offers == {(uid, slug, "drip") for uid in (1001, 1003) for slug in ("choose_topic", "scientific_accuracy")}

    # the notification's button opens the lesson below it (the notification stays)
    await alice.press("开始学习")
    assert alice.rendered("academy/page", page=0)
    assert len(chat.tg.sent[1003]) == 2 and bob.id == 1003


async def test_a_creator_approved_long_ago_catches_up_a_lesson_a_day_skipping_done_ones(app, chat, curriculum):
    await approve_creator(app.sessionmaker, 1001)
    (reg,) = await all_of(app, Registration, Registration.user_id == 1001)
    later = reg.reviewed_at + timedelta(days=40)
    async with app.sessionmaker.begin() as session:  # done before it was offered
        from bot.services.users import Person, Role
        alice = Person(1001, "Alice", frozenset({Role.creator}))
        assert isinstance(await lessons.mark_done(session, alice, curriculum, "choose_topic", now=later),
                          lessons.Marked)
    kwargs = {"campaign": app.campaign, "texts": app.texts, "curriculum": curriculum}
    assert await academy_jobs.offer_lessons(app.sessionmaker, later, **kwargs) == 1
    assert await academy_jobs.offer_lessons(app.sessionmaker, later + timedelta(hours=1), **kwargs) == 0
    assert [o.slug for o in await all_of(app, LessonOffer)] == ["scientific_accuracy"]


# ---------------------------------------------------------------- review feedback recommends lessons


def test_recommended_lessons_are_those_of_the_criterion_in_order(app, curriculum):
    assert [lesson.slug for lesson in lessons.recommended(curriculum, "scientific")] == \
        ["scientific_accuracy", "fact_check"]
    assert [lesson.slug for lesson in lessons.recommended(curriculum, "scientific", 1)] == ["scientific_accuracy"]
    assert [lesson.slug for lesson in lessons.recommended(curriculum, "scientific", skip={"scientific_accuracy"})] \
        == ["fact_check"]
    assert lessons.recommended(curriculum, "artistic") == [] and lessons.recommended(curriculum, None) == []
    assert lessons.criterion_id(app.campaign, "科学性") == "scientific"
    assert lessons.criterion_id(app.campaign, "没有这项") is None


async def test_review_feedback_lists_the_weakest_criterions_lessons_with_buttons(app, chat, curriculum, tmp_path):
    from tests import test_review_flow as flow
    from tests.test_submissions import IN_WINDOW

    app.dispatcher["clock"] = lambda: IN_WINDOW
    await approve_creator(app.sessionmaker, 1001)
    await chat.user(9001, "Boss").send("/start")
    alice = chat.user(1001, "Alice")
    await flow.make_reviewer(app, flow.R1, "评审甲")
    await flow.make_reviewer(app, flow.R2, "评审乙")
    sub_id = await flow.submitted_article(alice, tmp_path)

    from bot import notices
    from bot.services import reviews, rounds
    from bot.services.users import Person, Role
    async with app.sessionmaker.begin() as session:
        rnd = await rounds.round_of(session, sub_id, 1)
        for asg in await rounds.assignments_of(session, rnd.id):
            who = Person(asg.reviewer_id, "R", frozenset({Role.creator, Role.reviewer}))
            await reviews.record_review(session, app.campaign, asg.id, who,
                                        scores={c.id: 2 if c.id == "scientific" else 4 for c in app.campaign.criteria},
                                        comment="请核实数据来源。", staff_note=None, recommendation="revise",
                                        now=IN_WINDOW)
        out = await reviews.decide(session, app.campaign, rnd.id, flow.ADMIN, "revise", "请修改。", now=IN_WINDOW)
        assert out.result is reviews.DecideResult.decided
        await notices.decided(session, app.texts, app.campaign, rnd.id, curriculum=curriculum, now=IN_WINDOW)
    await app.dispatcher["outbox"].drain(chat.bot)

    feedback = alice.rendered("review/notice_feedback")
    assert [lesson.slug for lesson in feedback.values["recommended"]] == ["scientific_accuracy", "fact_check"]
    text = plain(alice.last_text)
    assert "相对薄弱的一项：科学性" in text
    assert "推荐学习：《科学性：核实与引用来源》、《辟谣：核查一条说法》" in text
    assert alice.last.labels[1:] == ["📖 科学性：核实与引用来源", "📖 辟谣：核查一条说法"]
    offers = {(o.slug, o.reason) for o in await all_of(app, LessonOffer, LessonOffer.user_id == 1001)}
    assert offers == {("scientific_accuracy", "review"), ("fact_check", "review")}

    await alice.press("辟谣：核查一条说法")
    assert alice.rendered("academy/page", page=0)
    assert "辟谣：核查一条说法" in alice.last_text


async def test_the_sandbox_refuses_a_bad_quiz_and_a_second_vote(chat):
    from bot.sandbox.emulator import ApiError, ControlError, Params

    emu, state = chat.emu, chat.tg.state
    alice = chat.user(1001, "Alice")
    await alice.send("/start")

    async def send(**values):
        return await emu.api_call(state, "sendPoll", Params({"chat_id": 1001, **values}, {}))

    with pytest.raises(ApiError, match="at least 2 option"):
        await send(question="问", options=["只有一个"], type="quiz", correct_option_id=0)
    with pytest.raises(ApiError, match="correct option"):
        await send(question="问", options=["甲", "乙"], type="quiz", correct_option_id=5)
    with pytest.raises(ApiError, match="must not exceed 300"):
        await send(question="问" * 301, options=["甲", "乙"], type="quiz", correct_option_id=0)
    sent = await send(question="问", options=["甲", {"text": "乙"}], type="quiz", correct_option_id=1,
                      is_anonymous=False, explanation="因为")
    assert sent["poll"]["options"][1]["text"] == "乙" and sent["poll"]["correct_option_id"] == 1
    result = emu.answer_poll(state, alice._me(), [0])
    assert result["update_id"] is not None and sent["poll"]["id"] == result["poll_id"]
    update = state.updates[-1]["poll_answer"]
    assert update["option_ids"] == [0] and update["user"]["id"] == 1001
    with pytest.raises(ControlError, match="one answer"):
        emu.answer_poll(state, alice._me(), [1])
    # the control API (kepubot sandbox): the newest poll, by option number
    from bot.sandbox.control import Control
    other = await send(question="再问", options=["甲", "乙", "丙"], type="regular", is_anonymous=False,
                       allows_multiple_answers=True)
    voted = await Control(emu).run("answer_poll", {"user_id": 1001, "option_ids": "0,2"})
    assert voted["poll_id"] == other["poll"]["id"] and state.updates[-1]["poll_answer"]["option_ids"] == [0, 2]
    assert emu.bots[state.id].chats[1001].messages[other["message_id"]]["poll"]["total_voter_count"] == 1


async def test_poll_answers_are_among_the_update_types_the_bot_asks_for(app, curriculum):
    assert "poll_answer" in app.dispatcher.resolve_used_update_types()


def test_every_shipped_lesson_page_fits_a_message_and_parses(app):
    """The lessons of content/academy/ as the chat shows them: each page, with its header and footer,
    is HTML Telegram takes and under 4096 characters."""
    shipped = app.dispatcher["curriculum"]
    for lesson in shipped.lessons:
        pages = paginate(lesson.body, title=lesson.title)
        for n, body in enumerate(pages):
            for status in ("started", "done"):
                html = app.texts.render("academy/page", lesson=lesson, page=n, pages=len(pages), body=body,
                                        last=n == len(pages) - 1, status=status, score=lessons.Score(1, 2, 2))
                text, _ = parse_html(html)
                assert 0 < utf16_len(text) < 4096, (lesson.file, n)
