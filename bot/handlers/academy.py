"""创作学院 in the chat: /academy (and the menu's 📚 button) lists the lessons with the person's
progress; a lesson is read page by page (上一页/下一页, the page remembered); its quiz goes out as
Telegram quiz polls, one question at a time, and each `poll_answer` is recorded; 完成本课 marks it
done. Buttons name a lesson by slug: bot/services/lessons.py checks it against the curriculum (the
app puts it in the dispatcher's data as `curriculum`), and a lesson or page that is not there gets a
kind alert."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, PollAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import AcademyCB, LessonAction, LessonCB, MenuCB, Pressed, Section
from bot.filters import Can
from bot.handlers.applications.common import page_of, pager
from bot.keyboards import back_to_menu
from bot.render import Texts
from bot.services import lessons
from bot.services.academy import Curriculum, Lesson
from bot.services.lessons import Opened, Refused
from bot.services.policy import Action
from bot.services.users import Person
from bot.ui import not_allowed, show

log = logging.getLogger(__name__)

LESSONS_PER_PAGE = 10  # /academy: one button per lesson
TITLE_CHARS = 30  # of a title on a button
ICONS = {"done": "✅", "started": "▶️"}


def _button(texts: Texts, key: str, data: str, **fmt: Any) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=texts.label(f"academy.{key}", **fmt), callback_data=data)


def _lesson(texts: Texts, key: str, slug: str, action: LessonAction, arg: str = "", **fmt: Any) -> InlineKeyboardButton:
    return _button(texts, key, LessonCB(slug=slug, action=action, arg=arg).pack(), **fmt)


def _to_list(texts: Texts) -> InlineKeyboardButton:
    return _button(texts, "to_list", MenuCB(section=Section.academy).pack())


async def _refused(callback: CallbackQuery, texts: Texts, why: Refused) -> None:
    if why is Refused.not_allowed:
        await not_allowed(callback, texts)
    else:
        await callback.answer(texts.render(f"academy/{why.value}"), show_alert=True)


# ---------------------------------------------------------------- /academy


async def list_view(session: AsyncSession, texts: Texts, person: Person, curriculum: Curriculum | None,
                    page: int) -> tuple[str, InlineKeyboardMarkup]:
    if not curriculum:
        return texts.render("academy/unavailable"), back_to_menu(texts)
    items = await lessons.overview(session, person.id, curriculum)
    shown, page, pages = page_of(items, page, LESSONS_PER_PAGE)
    text = texts.render("academy/list", items=shown, total=len(items), page=page, pages=pages,
                        done=sum(1 for item in items if item.status == "done"))
    rows = [[_lesson(texts, "lesson", item.lesson.slug, LessonAction.open, icon=ICONS.get(item.status or "", "·"),
                     number=item.number, title=item.lesson.title[:TITLE_CHARS])] for item in shown]
    rows += pager(texts, page, pages, lambda to: AcademyCB(page=to).pack())
    return text, back_to_menu(texts, rows=rows)


async def academy(message: Message, texts: Texts, session: AsyncSession, person: Person,
                  curriculum: Curriculum | None = None) -> None:
    """/academy: the lessons in order with the person's progress, a button each."""
    text, markup = await list_view(session, texts, person, curriculum, 0)
    await message.answer(text, reply_markup=markup, disable_web_page_preview=True)


async def academy_button(callback: CallbackQuery, texts: Texts, session: AsyncSession, person: Person,
                         callback_data: MenuCB | AcademyCB, curriculum: Curriculum | None = None) -> None:
    """The menu's 📚 创作学院, 返回课程列表, or another page of the list: in place of the message."""
    page = callback_data.page if isinstance(callback_data, AcademyCB) else 0
    text, markup = await list_view(session, texts, person, curriculum, page)
    await show(callback, text, markup)


# ---------------------------------------------------------------- a lesson


def page_view(texts: Texts, opened: Opened) -> tuple[str, InlineKeyboardMarkup]:
    lesson, page, pages = opened.lesson, opened.page, len(opened.pages)
    text = texts.render("academy/page", lesson=lesson, page=page, pages=pages, body=opened.pages[page],
                        last=opened.last_page, status=str(opened.status), score=opened.score)
    rows = pager(texts, page, pages, lambda to: LessonCB(slug=lesson.slug, action=LessonAction.page, arg=str(to)).pack())
    if opened.last_page:
        if lesson.quiz:
            key = "quiz_again" if opened.score is not None else "quiz"
            rows.append([_lesson(texts, key, lesson.slug, LessonAction.quiz, n=len(lesson.quiz))])
        if opened.status != "done":
            rows.append([_lesson(texts, "done", lesson.slug, LessonAction.done)])
        elif opened.next_lesson is not None:
            rows.append([_next(texts, opened.next_lesson)])
    rows.append([_to_list(texts)])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def _next(texts: Texts, lesson: Lesson) -> InlineKeyboardButton:
    return _lesson(texts, "next_lesson", lesson.slug, LessonAction.show, title=lesson.title[:TITLE_CHARS])


async def open_lesson(callback: CallbackQuery, callback_data: LessonCB, texts: Texts, session: AsyncSession,
                      person: Person, curriculum: Curriculum | None = None, **data: Any) -> None:
    """A lesson at the page last read (open, show) or at the page pressed (上一页/下一页)."""
    if not curriculum:
        await callback.answer(texts.render("academy/unavailable"), show_alert=True)
        return
    page = None
    if callback_data.action is LessonAction.page:
        if not (callback_data.arg.isascii() and callback_data.arg.isdigit()):
            await _refused(callback, texts, Refused.bad_page)
            return
        page = int(callback_data.arg)
    opened = await lessons.open_lesson(session, person, curriculum, callback_data.slug, page, now=data["clock"]())
    if isinstance(opened, Refused):
        await _refused(callback, texts, opened)
        return
    text, markup = page_view(texts, opened)
    if callback_data.action is LessonAction.show:  # a notification's button: the notification stays
        await callback.answer()
        await callback.bot.send_message(person.id, text, reply_markup=markup, disable_web_page_preview=True)
    else:
        await show(callback, text, markup)


async def mark_done(callback: CallbackQuery, callback_data: LessonCB, texts: Texts, session: AsyncSession,
                    person: Person, curriculum: Curriculum | None = None, **data: Any) -> None:
    """完成本课: recorded; the next lesson offered."""
    if not curriculum:
        await callback.answer(texts.render("academy/unavailable"), show_alert=True)
        return
    marked = await lessons.mark_done(session, person, curriculum, callback_data.slug, now=data["clock"]())
    if isinstance(marked, Refused):
        await _refused(callback, texts, marked)
        return
    rows = [[_next(texts, marked.next_lesson)]] if marked.next_lesson is not None else []
    rows.append([_to_list(texts)])
    await callback.answer()
    await callback.bot.send_message(person.id, texts.render("academy/marked_done", lesson=marked.lesson,
                                                            newly=marked.newly, next_lesson=marked.next_lesson),
                                    reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


# ---------------------------------------------------------------- quizzes


async def send_question(bot: Bot, session: AsyncSession, texts: Texts, user_id: int, lesson: Lesson, index: int,
                        now) -> bool:
    """One question as a Telegram quiz poll (not anonymous: its answer comes back as a poll_answer),
    recorded by its poll id. The texts go as plain text: no parse mode."""
    question = lessons.question_of(lesson, index)
    try:
        sent = await bot.send_poll(
            user_id, question=f"{index + 1}/{len(lesson.quiz)} {question.question}"[:300],
            options=list(question.options), type="quiz", is_anonymous=False, correct_option_id=question.answer,
            explanation=question.explanation, explanation_parse_mode=None, question_parse_mode=None)
    except TelegramAPIError as exc:
        log.warning("academy: quiz %s question %d could not be sent to %s: %s", lesson.slug, index, user_id, exc)
        await bot.send_message(user_id, texts.render("academy/quiz_failed"))
        return False
    if sent.poll is None:
        return False
    await lessons.record_poll(session, user_id, lesson, index, sent.poll.id, now=now)
    return True


async def start_quiz(callback: CallbackQuery, callback_data: LessonCB, texts: Texts, session: AsyncSession,
                     person: Person, curriculum: Curriculum | None = None, **data: Any) -> None:
    """小测验: a few words, then the first question (the next one follows each answer)."""
    if not curriculum:
        await callback.answer(texts.render("academy/unavailable"), show_alert=True)
        return
    lesson = lessons.quiz_of(person, curriculum, callback_data.slug)
    if isinstance(lesson, Refused):
        await _refused(callback, texts, lesson)
        return
    await callback.answer()
    await callback.bot.send_message(person.id, texts.render("academy/quiz_intro", lesson=lesson))
    await send_question(callback.bot, session, texts, person.id, lesson, 0, data["clock"]())


async def poll_answered(poll_answer: PollAnswer, bot: Bot, texts: Texts, session: AsyncSession,
                        curriculum: Curriculum | None = None, **data: Any) -> None:
    """A quiz poll answered: recorded; the next question, or after the last the score with 完成本课
    or the next lesson. A poll the bot does not know (or an old one) is only logged."""
    user = poll_answer.user
    if user is None or not curriculum:
        log.info("academy: poll answer %s ignored (no user or no curriculum)", poll_answer.poll_id)
        return
    now = data["clock"]()
    out = await lessons.record_answer(session, curriculum, poll_answer.poll_id, user.id, poll_answer.option_ids,
                                      now=now)
    if out is None:
        log.info("academy: answer of user %s to unknown or old poll %s ignored", user.id, poll_answer.poll_id)
        return
    if out.next_question is not None:
        await send_question(bot, session, texts, user.id, out.lesson, out.next_question, now)
        return
    done = await lessons.done_slugs(session, user.id)
    next_lesson = lessons.next_after(curriculum, out.lesson, done)
    rows = []
    if out.status != "done":
        rows.append([_lesson(texts, "done", out.lesson.slug, LessonAction.done)])
    elif next_lesson is not None:
        rows.append([_next(texts, next_lesson)])
    if out.score.correct < out.score.total:  # what the words offer: another try
        rows.append([_lesson(texts, "quiz_again", out.lesson.slug, LessonAction.quiz)])
    rows.append([_lesson(texts, "back_to_lesson", out.lesson.slug, LessonAction.show)])
    rows.append([_to_list(texts)])
    await bot.send_message(user.id, texts.render("academy/quiz_result", lesson=out.lesson, score=out.score,
                                                 status=str(out.status or ""), next_lesson=next_lesson),
                           reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


# ---------------------------------------------------------------- routing


def build() -> Router:
    router = Router(name="academy")
    reader = Can(Action.read_lessons)
    router.message.register(academy, Command("academy"), reader)
    on = router.callback_query.register
    on(academy_button, MenuCB.filter(F.section == Section.academy), reader)
    on(academy_button, AcademyCB.filter(), reader)
    on(open_lesson, LessonCB.filter(F.action.in_({LessonAction.open, LessonAction.show, LessonAction.page})), reader)
    on(start_quiz, LessonCB.filter(F.action == LessonAction.quiz), reader)
    on(mark_done, LessonCB.filter(F.action == LessonAction.done), reader)
    # garbled or forged data (an unknown action), or someone the policy refuses
    on(stale, Pressed(LessonCB, AcademyCB))
    router.poll_answer.register(poll_answered, reader)
    return router


async def stale(callback: CallbackQuery, texts: Texts) -> None:
    await callback.answer(texts.render("academy/unknown_lesson"), show_alert=True)

