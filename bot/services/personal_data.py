"""A person's own data: everything the bot holds on them (/mydata), and erasing it (/deletedata)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import registration
from bot.services.registration import ERASED
from bot.services.submissions import Status as SubmissionStatus
from storage.models import (
    FsmRecord,
    Inquiry,
    OutboxMessage,
    Submission,
    SubmissionFile,
    User,
    UserRole,
)


@dataclass(frozen=True)
class Export:
    user: dict[str, Any]
    roles: list[str]
    registration: dict[str, Any] | None
    inquiries: list[dict[str, Any]] = field(default_factory=list)
    submissions: list[dict[str, Any]] = field(default_factory=list)


def _row(obj: Any) -> dict[str, Any]:
    out = {}
    for col in obj.__table__.columns:
        value = getattr(obj, col.key)
        out[col.key] = value.isoformat() if hasattr(value, "isoformat") else value
    return out


async def export(session: AsyncSession, user_id: int) -> Export | None:
    user = await session.get(User, user_id)
    if user is None:
        return None
    roles = list((await session.execute(select(UserRole.role).where(UserRole.user_id == user_id))).scalars())
    reg = await registration.for_user(session, user_id)
    inquiries = (await session.execute(select(Inquiry).where(Inquiry.user_id == user_id))).scalars()
    subs = []
    for sub in (await session.execute(select(Submission).where(Submission.user_id == user_id))).scalars():
        files = (await session.execute(select(SubmissionFile).where(SubmissionFile.submission_id == sub.id))).scalars()
        subs.append({**_row(sub), "files": [_row(f) for f in files]})
    return Export(_row(user), roles, _row(reg) if reg else None, [_row(i) for i in inquiries], subs)


async def erase(session: AsyncSession, user_id: int) -> None:
    """Delete a person's data. What is already in the programme's records stays, without anything
    personal: a registration under review or approved is anonymised (status `erased`); submitted
    applications stay for the experts. Drafts, withdrawn applications, questions, unfinished forms
    and undelivered notifications go."""
    reg = await registration.for_user(session, user_id)
    if reg is not None:
        if reg.status in (registration.Status.pending_review.value, registration.Status.approved.value):
            registration.anonymise(reg)
        else:
            await session.delete(reg)
    for sub in (await session.execute(select(Submission).where(
            Submission.user_id == user_id,
            Submission.status.in_([SubmissionStatus.draft.value, SubmissionStatus.withdrawn.value])))).scalars():
        await session.delete(sub)
    await session.execute(delete(Inquiry).where(Inquiry.user_id == user_id))
    await session.execute(delete(OutboxMessage).where(OutboxMessage.chat_id == user_id,
                                                      OutboxMessage.status.in_(["pending", "failed"])))
    await session.execute(delete(FsmRecord).where(FsmRecord.key.like(f"%:{user_id}:{user_id}:%")))
    user = await session.get(User, user_id)
    if user is not None:
        user.first_name, user.last_name, user.username, user.language_code = ERASED, None, None, None
