"""创作学院 in the chat (通知三(三)): a person's progress through the lessons, their quizzes (one
Telegram quiz poll per question, the answers recorded), the lessons offered on the drip schedule
after a 科普号 is approved, and the lessons a review recommends. No aiogram here.

Every status change of a lesson's progress goes through `transition` (started, done), so the audit
trail has it. Slugs and page numbers come from buttons: they are checked against the curriculum here
and an unknown one is a `Refused`, never an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaign import Campaign
from bot.lesson_pages import paginate
from bot.services.academy import ACADEMY, Curriculum, CurriculumError, Lesson, QuizQuestion, load_curriculum
from bot.services.policy import Action, can
from bot.services.transitions import transition
from bot.services.users import Person
from storage.models import LessonOffer, LessonProgress, QuizPoll, Registration, utcnow
from storage.statuses import LessonStatus, RegistrationStatus

log = logging.getLogger(__name__)

DRIP, REVIEW = "drip", "review"  # LessonOffer.reason
# at most one drip lesson a day: a creator approved before the academy opened (or while the job was
# stopped) catches up a lesson a day, not seven notifications at once
DRIP_GAP = timedelta(hours=20)


class Refused(StrEnum):
    not_allowed = "not_allowed"
    unknown_lesson = "unknown_lesson"  # a slug no lesson has (removed since, or forged)
    bad_page = "bad_page"  # a page the lesson does not have
    no_quiz = "no_quiz"


@dataclass(frozen=True)
class Score:
    correct: int
    answered: int
    total: int  # the lesson's questions


@dataclass(frozen=True)
class Listed:
    """A lesson in /academy with the person's progress."""

    number: int  # 1, 2, … in the curriculum's order
    lesson: Lesson
    status: LessonStatus | None


@dataclass(frozen=True)
class Opened:
    lesson: Lesson
    pages: list[str]  # Telegram HTML
    page: int  # 0-based
    status: LessonStatus
    score: Score | None  # its quiz, when any question was answered
    next_lesson: Lesson | None  # the next one not done yet, after this one

    @property
    def last_page(self) -> bool:
        return self.page == len(self.pages) - 1


@dataclass(frozen=True)
class Marked:
    lesson: Lesson
    newly: bool  # False: it was done already
    next_lesson: Lesson | None


@dataclass(frozen=True)
class Answered:
    """A quiz answer recorded: the next question to send, or (after the last) the score."""

    lesson: Lesson
    question: int
    correct: bool
    next_question: int | None
    score: Score | None
    status: LessonStatus | None


# ---------------------------------------------------------------- progress


async def progress_of(session: AsyncSession, user_id: int) -> dict[str, LessonProgress]:
    rows = await session.execute(select(LessonProgress).where(LessonProgress.user_id == user_id))
    return {row.slug: row for row in rows.scalars()}


async def done_slugs(session: AsyncSession, user_id: int) -> set[str]:
    rows = await session.execute(select(LessonProgress.slug).where(
        LessonProgress.user_id == user_id, LessonProgress.status == LessonStatus.done))
    return set(rows.scalars())


async def overview(session: AsyncSession, user_id: int, curriculum: Curriculum) -> list[Listed]:
    """Every lesson in order, with the person's progress (None: not opened yet)."""
    progress = await progress_of(session, user_id)
    return [Listed(n, lesson, progress[lesson.slug].status if lesson.slug in progress else None)
            for n, lesson in enumerate(curriculum.lessons, start=1)]


def next_after(curriculum: Curriculum, lesson: Lesson, done: set[str]) -> Lesson | None:
    """The first lesson after this one that is not done yet."""
    return next((later for later in curriculum.lessons if later.order > lesson.order and later.slug not in done),
                None)


async def open_lesson(session: AsyncSession, person: Person, curriculum: Curriculum, slug: str,
                      page: int | None = None, *, now: datetime) -> Opened | Refused:
    """A page of a lesson (`page` None: the page last read, the first at the first visit). Opening
    starts the lesson; the page is remembered."""
    if not can(person, Action.read_lessons):
        return Refused.not_allowed
    lesson = curriculum.get(slug)
    if lesson is None:
        return Refused.unknown_lesson
    pages = paginate(lesson.body, title=lesson.title)
    progress = (await progress_of(session, person.id)).get(slug)
    if page is None:
        page = min(progress.page, len(pages) - 1) if progress is not None else 0  # the lesson may be shorter now
    elif not 0 <= page < len(pages):
        return Refused.bad_page
    if progress is None:
        progress = LessonProgress(user_id=person.id, slug=slug, page=page, started_at=now, updated_at=now)
        await transition(session, progress, LessonStatus.started, actor_id=person.id, now=now)
    else:
        progress.page, progress.updated_at = page, now
    done = await done_slugs(session, person.id)
    return Opened(lesson, pages, page, progress.status, await score_of(session, person.id, lesson),
                  next_after(curriculum, lesson, done))


async def mark_done(session: AsyncSession, person: Person, curriculum: Curriculum, slug: str, *,
                    now: datetime) -> Marked | Refused:
    """完成本课 (the quiz, if any, answered or not). Done twice: nothing changes."""
    if not can(person, Action.read_lessons):
        return Refused.not_allowed
    lesson = curriculum.get(slug)
    if lesson is None:
        return Refused.unknown_lesson
    progress = (await progress_of(session, person.id)).get(slug)
    newly = progress is None or progress.status != LessonStatus.done
    if progress is None:
        progress = LessonProgress(user_id=person.id, slug=slug, page=0, started_at=now, updated_at=now)
    if newly:
        await transition(session, progress, LessonStatus.done, actor_id=person.id, now=now)
        progress.done_at = progress.updated_at = now
    done = await done_slugs(session, person.id) | {slug}
    return Marked(lesson, newly, next_after(curriculum, lesson, done))


# ---------------------------------------------------------------- quizzes


def quiz_of(person: Person, curriculum: Curriculum, slug: str) -> Lesson | Refused:
    """The lesson whose quiz is to be sent (its questions go one poll at a time)."""
    if not can(person, Action.read_lessons):
        return Refused.not_allowed
    lesson = curriculum.get(slug)
    if lesson is None:
        return Refused.unknown_lesson
    return lesson if lesson.quiz else Refused.no_quiz


def question_of(lesson: Lesson, index: int) -> QuizQuestion:
    return lesson.quiz[index]


async def record_poll(session: AsyncSession, user_id: int, lesson: Lesson, index: int, poll_id: str, *,
                      now: datetime) -> QuizPoll:
    """A question sent as a Telegram quiz poll: its poll id, to recognise the answer. A question sent
    again gets a later time than the one before (the newest counts), even when the clock stands still."""
    before = (await _latest_polls(session, user_id, lesson.slug)).get(index)
    sent_at = max(now, before.sent_at + timedelta(microseconds=1)) if before is not None else now
    poll = QuizPoll(poll_id=poll_id, user_id=user_id, slug=lesson.slug, question=index,
                    correct_option=lesson.quiz[index].answer, sent_at=sent_at)
    session.add(poll)
    return poll


async def _latest_polls(session: AsyncSession, user_id: int, slug: str) -> dict[int, QuizPoll]:
    """The newest poll of each question of the lesson sent to the person (a quiz taken again replaces
    the earlier polls)."""
    rows = await session.execute(select(QuizPoll).where(QuizPoll.user_id == user_id, QuizPoll.slug == slug)
                                 .order_by(QuizPoll.sent_at, QuizPoll.poll_id))
    latest: dict[int, QuizPoll] = {}
    for poll in rows.scalars():
        if poll.question not in latest or poll.sent_at >= latest[poll.question].sent_at:
            latest[poll.question] = poll
    return latest


async def score_of(session: AsyncSession, user_id: int, lesson: Lesson) -> Score | None:
    """The person's latest answers to the lesson's quiz (None: none answered)."""
    if not lesson.quiz:
        return None
    latest = await _latest_polls(session, user_id, lesson.slug)
    answered = [p for i, p in latest.items() if i < len(lesson.quiz) and p.chosen_option is not None]
    if not answered:
        return None
    return Score(sum(1 for p in answered if p.correct), len(answered), len(lesson.quiz))


async def record_answer(session: AsyncSession, curriculum: Curriculum, poll_id: str, user_id: int,
                        option_ids: Iterable[int], *, now: datetime) -> Answered | None:
    """A poll_answer: recorded on its QuizPoll. None (nothing recorded, the caller logs it) for a poll
    the bot does not know, someone else's, one answered already (a re-delivery), a vote retracted,
    or an old one: a question sent again since, or of a lesson no longer in the curriculum."""
    options = list(option_ids)
    poll = await session.get(QuizPoll, poll_id)
    if poll is None or poll.user_id != user_id or poll.chosen_option is not None or not options:
        return None
    lesson = curriculum.get(poll.slug)
    if lesson is None or poll.question >= len(lesson.quiz):
        return None
    latest = await _latest_polls(session, user_id, poll.slug)
    if latest.get(poll.question) is not poll:
        return None
    poll.chosen_option, poll.answered_at = options[0], now
    poll.correct = options[0] == poll.correct_option
    following = poll.question + 1 if poll.question + 1 < len(lesson.quiz) else None
    score = await score_of(session, user_id, lesson) if following is None else None
    progress = (await progress_of(session, user_id)).get(lesson.slug)
    return Answered(lesson, poll.question, poll.correct, following, score,
                    progress.status if progress is not None else None)


# ---------------------------------------------------------------- offers: the drip, and reviews


@dataclass(frozen=True)
class DueOffer:
    user_id: int
    lesson: Lesson
    day: int  # days after approval


async def due_offers(session: AsyncSession, campaign: Campaign, curriculum: Curriculum, *,
                     now: datetime) -> list[DueOffer]:
    """For each creator whose 科普号 registration is approved: the first drip lesson whose day has
    come (counted from the approval) that was neither offered (by the drip or a review) nor done;
    none for a creator offered a drip lesson in the last DRIP_GAP."""
    schedule = sorted(campaign.academy.drip, key=lambda item: item.day)
    if not schedule:
        return []
    approved = (await session.execute(
        select(Registration.user_id, func.min(Registration.reviewed_at))
        .where(Registration.status == RegistrationStatus.approved, Registration.reviewed_at.is_not(None))
        .group_by(Registration.user_id))).all()
    if not approved:
        return []
    offered: dict[int, set[str]] = {}
    last_drip: dict[int, datetime] = {}
    for user_id, slug, reason, at in (await session.execute(
            select(LessonOffer.user_id, LessonOffer.slug, LessonOffer.reason, LessonOffer.offered_at))).all():
        offered.setdefault(user_id, set()).add(slug)
        if reason == DRIP and (user_id not in last_drip or at > last_drip[user_id]):
            last_drip[user_id] = at
    done: dict[int, set[str]] = {}
    for user_id, slug in (await session.execute(select(LessonProgress.user_id, LessonProgress.slug)
                                                .where(LessonProgress.status == LessonStatus.done))).all():
        done.setdefault(user_id, set()).add(slug)
    due = []
    for user_id, approved_at in approved:
        if user_id in last_drip and now - last_drip[user_id] < DRIP_GAP:
            continue
        skip = offered.get(user_id, set()) | done.get(user_id, set())
        for item in schedule:
            if approved_at + timedelta(days=item.day) > now:
                break
            if item.slug not in skip and item.slug in curriculum:
                due.append(DueOffer(user_id, curriculum[item.slug], item.day))
                break
    return due


async def record_offers(session: AsyncSession, user_id: int, slugs: Iterable[str], reason: str, *,
                        now: datetime) -> list[str]:
    """Record lessons offered to the person (each at most once, whatever the reason); returns the
    slugs newly recorded."""
    wanted = list(dict.fromkeys(slugs))
    if not wanted:
        return []
    known = set((await session.execute(select(LessonOffer.slug).where(
        LessonOffer.user_id == user_id, LessonOffer.slug.in_(wanted)))).scalars())
    fresh = [slug for slug in wanted if slug not in known]
    session.add_all(LessonOffer(user_id=user_id, slug=slug, reason=reason, offered_at=now) for slug in fresh)
    return fresh


def criterion_id(campaign: Campaign, name: str | None) -> str | None:
    """The id of a review criterion named `name` (review feedback names its weakest criterion)."""
    return next((c.id for c in campaign.criteria if c.name == name or c.id == name), None) if name else None


def recommended(curriculum: Curriculum, criterion_id: str | None, limit: int = 2, *,
                skip: Iterable[str] = ()) -> list[Lesson]:
    """The first `limit` lessons (in order) tagged with the criterion, those in `skip` (done) left out."""
    if not criterion_id:
        return []
    skipped = set(skip)
    return [lesson for lesson in curriculum.for_criterion(criterion_id) if lesson.slug not in skipped][:limit]


async def recommend_for_review(session: AsyncSession, campaign: Campaign, curriculum: Curriculum, user_id: int,
                               weakest: str | None, *, now: datetime | None = None, limit: int = 2) -> list[Lesson]:
    """The lessons a review's feedback recommends (its weakest criterion's, not done yet), recorded
    as offered (reason "review") so the drip does not offer them again."""
    lessons = recommended(curriculum, criterion_id(campaign, weakest), limit,
                          skip=await done_slugs(session, user_id))
    await record_offers(session, user_id, [lesson.slug for lesson in lessons], REVIEW, now=now or utcnow())
    return lessons


# ---------------------------------------------------------------- the curriculum shipped


_shipped: dict[int, tuple[Campaign, Curriculum]] = {}


def shipped(campaign: Campaign) -> Curriculum:
    """The lessons of content/academy/, loaded once per campaign: for callers that were not handed the
    curriculum the app loaded at start-up. A broken folder gives no lessons here (the app itself
    refuses to start with one)."""
    cached = _shipped.get(id(campaign))
    if cached is not None and cached[0] is campaign:
        return cached[1]
    try:
        curriculum = load_curriculum(ACADEMY, campaign) if ACADEMY.is_dir() else Curriculum([])
    except CurriculumError as exc:
        log.warning("academy: the lessons cannot be loaded (%s); none recommended", exc)
        curriculum = Curriculum([])
    _shipped[id(campaign)] = (campaign, curriculum)
    return curriculum
