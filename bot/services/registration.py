"""科普号 registration: the recommendation form's answers, the sealed scan, the operators' decision,
(a person's own data: personal_data.py). No aiogram here."""

from __future__ import annotations

import json
import re
import unicodedata
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Registration, utcnow


class Status(StrEnum):
    awaiting_seal = "awaiting_seal"  # form filled; the signed and sealed scan is still to come
    pending_review = "pending_review"  # scan received; operators to decide
    approved = "approved"
    rejected = "rejected"  # with a reason and the fields to correct
    erased = "erased"  # the person deleted their data; kept anonymised for the record


# the form's fields in the order of the 推荐申请表; the flow asks them in this order
FIELDS = ("account_name", "subject_type", "subject_name", "person_name", "unit", "position", "title",
          "field", "phone", "email", "experience", "experience_file", "recommender")
SCAN = "scan"  # not a form field, but something an operator can ask to be redone
FIXABLE = (*FIELDS, SCAN)
LIMITS = {"account_name": 30, "subject_name": 100, "person_name": 30, "unit": 100, "position": 50, "title": 50,
          "field": 100, "experience": 3000, "recommender": 100}
ERASED = "已删除"


class NameTaken(Exception):
    pass


def account_key(name: str) -> str:
    """Case- and width-insensitive identity of an account name: ＫＥＰＵ 科普 == kepu科普."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return re.sub(r"[\s\u3000·・._\-]+", "", folded)


async def name_taken(session: AsyncSession, name: str, user_id: int) -> bool:
    query = select(Registration.user_id).where(Registration.account_key == account_key(name))
    owner = (await session.execute(query)).scalar()
    return owner is not None and owner != user_id


async def for_user(session: AsyncSession, user_id: int) -> Registration | None:
    return (await session.execute(select(Registration).where(Registration.user_id == user_id))).scalar()


async def by_id(session: AsyncSession, registration_id: int) -> Registration | None:
    return await session.get(Registration, registration_id)


def values_of(reg: Registration) -> dict[str, Any]:
    """The stored answers in the form's shape, to pre-fill a correction."""
    values = {name: getattr(reg, name) for name in FIELDS if name != "experience_file"}
    values["experience_file"] = json.loads(reg.experience_file) if reg.experience_file else None
    return values


def fixes_of(reg: Registration) -> list[str]:
    return json.loads(reg.fields_to_fix) if reg.fields_to_fix else []


async def save_form(session: AsyncSession, user_id: int, values: dict[str, Any]) -> Registration:
    """Store the confirmed form (new, or corrected after a rejection). The printed form changes with
    the data, so it has to be signed and sealed again: the status goes back to awaiting_seal."""
    if await name_taken(session, values["account_name"], user_id):
        raise NameTaken(values["account_name"])
    reg = await for_user(session, user_id)
    if reg is None:
        reg = Registration(user_id=user_id, created_at=utcnow())
        session.add(reg)
    for name in FIELDS:
        value = values.get(name)
        if name == "experience_file":
            value = json.dumps(value, ensure_ascii=False) if value else None
        setattr(reg, name, value)
    reg.account_key = account_key(values["account_name"])
    reg.status = Status.awaiting_seal.value
    reg.scan = None
    reg.updated_at = utcnow()
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # someone took the name between our check and the insert
        raise NameTaken(values["account_name"]) from exc
    return reg


class ScanOutcome(StrEnum):
    accepted = "accepted"
    not_expected = "not_expected"  # nothing awaits a scan (no registration, or under review/approved)


async def attach_scan(session: AsyncSession, user_id: int, file: dict[str, Any]) -> tuple[ScanOutcome, Registration | None]:
    reg = await for_user(session, user_id)
    if reg is None:
        return ScanOutcome.not_expected, None
    scan_requested = reg.status == Status.rejected.value and fixes_of(reg) == [SCAN]
    if reg.status != Status.awaiting_seal.value and not scan_requested:
        return ScanOutcome.not_expected, reg
    reg.scan = json.dumps(file, ensure_ascii=False)
    reg.status = Status.pending_review.value
    reg.submitted_at = reg.updated_at = utcnow()
    reg.decision_reason, reg.fields_to_fix = None, None
    return ScanOutcome.accepted, reg


class Decision(StrEnum):
    done = "done"
    not_pending = "not_pending"  # decided by someone else already, or changed meanwhile
    missing = "missing"


async def decide(session: AsyncSession, registration_id: int, staff_id: int, *, approve: bool,
                 reason: str | None = None, fields: list[str] | None = None) -> tuple[Decision, Registration | None]:
    reg = await session.get(Registration, registration_id, with_for_update=True)
    if reg is None:
        return Decision.missing, None
    if reg.status != Status.pending_review.value:
        return Decision.not_pending, reg
    reg.status = (Status.approved if approve else Status.rejected).value
    reg.decision_reason = reason
    reg.fields_to_fix = None if approve else json.dumps([f for f in (fields or []) if f in FIXABLE])
    reg.reviewed_by, reg.reviewed_at = staff_id, utcnow()
    return Decision.done, reg


async def pending(session: AsyncSession, limit: int = 10) -> tuple[list[Registration], int]:
    """Registrations waiting for a decision, oldest first, and how many there are in all."""
    where = Registration.status == Status.pending_review.value
    total = (await session.execute(select(func.count()).select_from(Registration).where(where))).scalar_one()
    rows = (await session.execute(select(Registration).where(where).order_by(Registration.submitted_at)
                                  .limit(limit))).scalars().all()
    return list(rows), total


async def is_approved(session: AsyncSession, user_id: int) -> bool:
    reg = await for_user(session, user_id)
    return reg is not None and reg.status == Status.approved.value


def anonymise(reg: Registration) -> None:
    """Keep a registration that is in the programme's records, without anything personal in it."""
    for name in ("subject_name", "person_name", "unit", "position", "title", "field", "phone", "email",
                 "experience", "recommender"):
        setattr(reg, name, ERASED)
    reg.account_name = ERASED
    reg.account_key = f"erased-{reg.id}"
    reg.experience_file = reg.scan = None
    reg.status = Status.erased.value
