"""A person's own data: everything the bot holds on them (/mydata), and erasing it (/deletedata)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import registration
from bot.services.registration import ERASED
from bot.services.submissions import Status as SubmissionStatus
from storage.models import (
    FsmRecord,
    Inquiry,
    OutboxMessage,
    Registration,
    Submission,
    SubmissionFile,
    User,
    UserRole,
)

# columns that mean nothing to the person (Telegram's internal file identities, our uniqueness keys,
# the rows' links to each other, staff ids) stay out of the export
INTERNAL = {"file_id", "file_unique_id", "account_key", "user_id", "submission_id", "reviewed_by", "answered_by"}
# columns holding JSON: exported as the objects they are, not as strings inside the JSON
NESTED = {"answers", "report", "staff_note", "manual_reason", "experience_file", "scan", "fields_to_fix", "history"}
# application statuses erasing removes; any other (submitted, or back with the creator) stays for the experts
ERASABLE = (SubmissionStatus.draft.value, SubmissionStatus.withdrawn.value)


def _value(key: str, value: Any) -> Any:
    if key in NESTED and isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: _value(k, v) for k, v in value.items() if k not in INTERNAL}
    if isinstance(value, list):
        return [_value(key, v) for v in value]
    return value.isoformat() if hasattr(value, "isoformat") else value


def _row(obj: Any, *, drop: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {col.key: _value(col.key, getattr(obj, col.key)) for col in obj.__table__.columns
            if col.key not in INTERNAL and col.key not in drop}


@dataclass(frozen=True)
class Export:
    """The export's content (`data`, written as the JSON file) and the counts its summary shows."""

    data: dict[str, Any]
    registration_status: str | None
    account_name: str | None
    submissions: dict[str, int]  # status -> how many
    files: list[dict[str, str]]  # every file of the person's own: {"name", "where"}
    inquiries: int

    def json(self) -> bytes:
        return json.dumps(self.data, ensure_ascii=False, indent=2).encode()


async def export(session: AsyncSession, user_id: int) -> Export | None:
    user = await session.get(User, user_id)
    if user is None:
        return None
    roles = list((await session.execute(select(UserRole.role).where(UserRole.user_id == user_id))).scalars())
    reg = await registration.for_user(session, user_id)
    inquiries = list((await session.execute(select(Inquiry).where(Inquiry.user_id == user_id)
                                            .order_by(Inquiry.id))).scalars())
    files: list[dict[str, str]] = []
    reg_data = None
    if reg is not None:
        reg_data = _row(reg)
        for column, where in (("experience_file", "experience_file"), ("scan", "scan")):
            ref = registration.file_of(getattr(reg, column))
            if ref:
                files.append({"name": ref.get("file_name") or "", "where": where})
    subs = []
    statuses: Counter[str] = Counter()
    for sub in (await session.execute(select(Submission).where(Submission.user_id == user_id)
                                      .order_by(Submission.id))).scalars():
        statuses[sub.status] += 1
        rows = (await session.execute(select(SubmissionFile).where(SubmissionFile.submission_id == sub.id)
                                      .order_by(SubmissionFile.id))).scalars()
        sub_files = [_row(f, drop=frozenset({"id"})) for f in rows]
        files += [{"name": f["file_name"], "where": f"submission:{sub.id}"} for f in sub_files]
        subs.append({**_row(sub), "files": sub_files})
    data = {"user": _row(user), "roles": roles, "registration": reg_data,
            "submissions": subs, "inquiries": [_row(i) for i in inquiries], "files": files}
    return Export(data, reg.status if reg else None, reg.account_name if reg else None, dict(statuses), files,
                  len(inquiries))


@dataclass(frozen=True)
class Erasure:
    """What erasing a person's data deletes and what it keeps, told before and after."""

    registration: str | None  # the live registration's account name, if there is one
    registration_kept: bool  # kept as an anonymised record, for the applications the experts keep
    kept_submissions: int  # submitted applications kept for the experts, without contact details
    drafts: int
    withdrawn: int
    inquiries: int


async def erasure_plan(session: AsyncSession, user_id: int) -> Erasure:
    reg = await registration.for_user(session, user_id)
    counts = dict((await session.execute(select(Submission.status, func.count()).where(Submission.user_id == user_id)
                                         .group_by(Submission.status))).all())
    kept = sum(n for status, n in counts.items() if status not in ERASABLE)
    asked = (await session.execute(select(func.count()).select_from(Inquiry)
                                   .where(Inquiry.user_id == user_id))).scalar_one()
    return Erasure(registration=reg.account_name if reg else None, registration_kept=reg is not None and kept > 0,
                   kept_submissions=kept, drafts=counts.get(SubmissionStatus.draft.value, 0),
                   withdrawn=counts.get(SubmissionStatus.withdrawn.value, 0), inquiries=asked)


async def erase(session: AsyncSession, user_id: int) -> Erasure:
    """Delete a person's data; afterwards they are a new user who may register again. What the
    experts must keep stays, without anything personal: submitted applications, and then the
    registration as an anonymised record (status `erased`). Everything else goes: the registration
    otherwise, drafts, withdrawn applications, questions, unfinished forms, undelivered notifications."""
    plan = await erasure_plan(session, user_id)
    reg = await registration.for_user(session, user_id, lock=True)
    if reg is not None and plan.registration_kept:
        registration.anonymise(reg)
    elif plan.kept_submissions == 0:  # no application needs them: earlier anonymised records go too
        await session.execute(delete(Registration).where(Registration.user_id == user_id))
    for sub in (await session.execute(select(Submission).where(Submission.user_id == user_id,
                                                               Submission.status.in_(ERASABLE)))).scalars():
        await session.delete(sub)
    await session.execute(delete(Inquiry).where(Inquiry.user_id == user_id))
    await session.execute(delete(OutboxMessage).where(OutboxMessage.chat_id == user_id,
                                                      OutboxMessage.status.in_(["pending", "held", "failed"])))
    await session.execute(delete(FsmRecord).where(FsmRecord.key.like(f"%:{user_id}:{user_id}:%")))
    user = await session.get(User, user_id)
    if user is not None:
        user.first_name, user.last_name, user.username, user.language_code = ERASED, None, None, None
    return plan
