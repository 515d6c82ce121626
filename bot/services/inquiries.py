"""Questions to the programme's staff (咨询) and their answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.policy import Action, can
from bot.services.transitions import allowed, transition
from bot.services.users import Person
from storage.models import Inquiry, User, utcnow
from storage.statuses import InquiryStatus

Status = InquiryStatus

MAX_QUESTION = 2000
MAX_ANSWER = 3000


class Topic(StrEnum):
    register = "register"  # 科普号注册: the notice names 王波
    apply = "apply"  # 作品申报: 杨茗
    other = "other"


@dataclass(frozen=True)
class InquiryView:
    id: int
    user_id: int
    asker: str
    topic: str
    question: str
    status: InquiryStatus
    answer: str | None
    created_at: datetime | None = None
    username: str | None = None


async def ask(session: AsyncSession, user_id: int, topic: Topic, question: str) -> Inquiry:
    inquiry = Inquiry(user_id=user_id, topic=topic.value, question=question, created_at=utcnow())
    await transition(session, inquiry, Status.open, actor_id=user_id, now=inquiry.created_at)
    return inquiry


def _view(inquiry: Inquiry, user: User) -> InquiryView:
    return InquiryView(inquiry.id, inquiry.user_id, user.first_name, inquiry.topic, inquiry.question, inquiry.status,
                       inquiry.answer, inquiry.created_at, user.username)


async def open_questions(session: AsyncSession, limit: int = 10) -> tuple[list[InquiryView], int]:
    """Questions not answered yet, oldest first, and how many there are in all (operators' list)."""
    where = Inquiry.status == Status.open
    total = (await session.execute(select(func.count()).select_from(Inquiry).where(where))).scalar_one()
    rows = await session.execute(select(Inquiry, User).join(User, User.id == Inquiry.user_id).where(where)
                                 .order_by(Inquiry.created_at, Inquiry.id).limit(limit))
    return [_view(inquiry, user) for inquiry, user in rows.all()], total


async def get(session: AsyncSession, inquiry_id: int) -> InquiryView | None:
    row = (await session.execute(select(Inquiry, User.first_name).join(User, User.id == Inquiry.user_id)
                                 .where(Inquiry.id == inquiry_id))).first()
    if row is None:
        return None
    inquiry, name = row
    return InquiryView(inquiry.id, inquiry.user_id, name, inquiry.topic, inquiry.question, inquiry.status,
                       inquiry.answer)


class AnswerOutcome(StrEnum):
    answered = "answered"
    already = "already"
    missing = "missing"
    forbidden = "forbidden"  # the person may not answer questions (any more)


async def answer(session: AsyncSession, inquiry_id: int, staff: Person, text: str) -> AnswerOutcome:
    """`staff` answers the question (policy: answer_inquiry); the answer goes to the asker."""
    if not can(staff, Action.answer_inquiry):
        return AnswerOutcome.forbidden
    inquiry = await session.get(Inquiry, inquiry_id, with_for_update=True)
    if inquiry is None:
        return AnswerOutcome.missing
    if not allowed(inquiry, Status.answered):
        return AnswerOutcome.already
    now = utcnow()
    await transition(session, inquiry, Status.answered, actor_id=staff.id, now=now)
    inquiry.answer, inquiry.answered_by, inquiry.answered_at = text, staff.id, now
    return AnswerOutcome.answered
