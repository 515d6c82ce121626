"""科普号 registration: the recommendation form's answers, the sealed scan, the operators' decision,
(a person's own data: personal_data.py). No aiogram here."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.policy import Action, can
from bot.services.transitions import IllegalTransition, allowed, transition
from bot.services.users import Person
from storage.models import Registration, User, utcnow
from storage.statuses import RegistrationStatus

Status = RegistrationStatus


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


class NameUnusual(Exception):
    """The name's key would not fit the key column (see KEY_MAX): made of expanding symbols."""


KEY_MAX = 64  # registrations.account_key is String(64)
# Characters that show nothing, besides Unicode's format characters (category Cf: zero-width space
# and joiners, bidi marks, soft hyphen, word joiner, BOM…): the rest of Unicode's default-ignorable
# code points. Dropped from the key; a name containing any of them is refused (`name_problem`).
INVISIBLE = frozenset(chr(c) for c in (0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0,
                                       *range(0x180B, 0x1810), *range(0xFE00, 0xFE10),
                                       *range(0xE0100, 0xE01F0)))
# Latin look-alikes of Cyrillic and Greek letters (after casefold, so lower case only), as Unicode's
# confusables.txt pairs them: ΚΕΡU (Greek) and кеpu (Cyrillic) name the same account as KEPU. Kept
# small on purpose: letters that look like a Latin letter in common fonts; ν and υ follow their
# capitals (Ν, Υ), which is how a look-alike of a name in capitals is made.
CONFUSABLES = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j", "к": "k", "ӏ": "l",
    "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "ѕ": "s", "т": "t", "у": "y", "х": "x", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "ѵ": "v",
    # Greek
    "α": "a", "β": "b", "ε": "e", "ζ": "z", "η": "h", "ι": "i", "κ": "k", "μ": "m", "ν": "n", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "y", "χ": "x", "ϲ": "c", "ϳ": "j",
})
SEPARATORS = re.compile(r"[\s\u3000·・._\-]+")


def _shown(char: str) -> bool:
    return unicodedata.category(char) != "Cf" and char not in INVISIBLE


def account_key(name: str) -> str:
    """The identity of an account name for uniqueness: names that read the same are the same.
    NFKC (width, compatibility forms: ＫＥＰＵ == KEPU), casefold, invisible characters dropped
    (format characters Cf and INVISIBLE), Cyrillic and Greek look-alikes as Latin (CONFUSABLES),
    separators (spaces, dots, dashes, ·) dropped: ＫＥＰＵ 科普 == kepu科普 == кеpu\u200b科普.
    May be longer than the name (NFKC expands ﷽ to 18 characters): `name_problem` refuses a name
    whose key exceeds KEY_MAX."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    folded = "".join(c for c in folded if _shown(c)).translate(CONFUSABLES)
    # NFKC again: dropping a joiner may join what it kept apart; casefold may leave forms to compose
    return SEPARATORS.sub("", unicodedata.normalize("NFKC", folded))


def name_problem(name: str) -> str | None:
    """Why a typed account name can't be used, or None: "invisible" (a control or format character,
    or another invisible one: such a name can pass for another), "unusual" (its key would exceed
    KEY_MAX: a 30-character name of symbols that expand under NFKC; no real name needs them, and
    refusing is clearer than keeping a name whose identity would be cut or hashed)."""
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") or c in INVISIBLE for c in name):
        return "invisible"
    if len(account_key(name)) > KEY_MAX:
        return "unusual"
    return None


async def name_taken(session: AsyncSession, name: str, user_id: int) -> bool:
    query = select(Registration.user_id).where(Registration.account_key == account_key(name))
    owner = (await session.execute(query)).scalar()
    return owner is not None and owner != user_id


async def for_user(session: AsyncSession, user_id: int, *, lock: bool = False) -> Registration | None:
    """The person's live registration: an erased one (kept anonymised after /deletedata) is not
    theirs any more, so after erasing they are a new user who may register again."""
    query = (select(Registration).where(Registration.user_id == user_id, Registration.status != Status.erased)
             .order_by(Registration.id.desc()).limit(1))
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar()


async def by_id(session: AsyncSession, registration_id: int) -> Registration | None:
    return await session.get(Registration, registration_id)


def values_of(reg: Registration) -> dict[str, Any]:
    """The stored answers in the form's shape, to pre-fill a correction."""
    values = {name: getattr(reg, name) for name in FIELDS if name != "experience_file"}
    values["experience_file"] = json.loads(reg.experience_file) if reg.experience_file else None
    return values


def fixes_of(reg: Registration) -> list[str]:
    return json.loads(reg.fields_to_fix) if reg.fields_to_fix else []


def history_of(reg: Registration) -> list[dict[str, Any]]:
    """The earlier send-backs of this registration: [{round, reason, fields, at}], oldest first."""
    return json.loads(reg.history) if reg.history else []


def file_of(stored: str | None) -> dict[str, Any] | None:
    return json.loads(stored) if stored else None


def sent_as(ref: dict[str, Any]) -> str:
    """How to send a stored file ref again: a photo stays a photo, anything else is a document."""
    if ref.get("kind") in ("photo", "document"):
        return ref["kind"]
    return "photo" if not ref.get("file_name") and (ref.get("mime_type") or "").startswith("image/") else "document"


async def save_form(session: AsyncSession, user_id: int, values: dict[str, Any]) -> Registration:
    """Store the confirmed form (new, or corrected after a rejection). The printed form changes with
    the data, so it has to be signed and sealed again: the status goes back to awaiting_seal.
    IllegalTransition when the registration can't take a new form (approved meanwhile)."""
    if len(account_key(values["account_name"])) > KEY_MAX:  # a draft from before the name check
        raise NameUnusual(values["account_name"])
    if await name_taken(session, values["account_name"], user_id):
        raise NameTaken(values["account_name"])
    reg = await for_user(session, user_id, lock=True)
    if reg is None:
        reg = Registration(user_id=user_id, created_at=utcnow(), round=1, scan_count=0)
    elif not allowed(reg, Status.awaiting_seal):
        raise IllegalTransition("registrations", reg.id, reg.status, Status.awaiting_seal)
    elif reg.status == Status.rejected:
        reg.round = (reg.round or 1) + 1  # corrected after a send-back: the operators see a new round
    for name in FIELDS:
        value = values.get(name)
        if name == "experience_file":
            value = json.dumps(value, ensure_ascii=False) if value else None
        setattr(reg, name, value)
    reg.account_key = account_key(values["account_name"])
    reg.scan = None
    reg.scan_count = 0
    reg.updated_at = utcnow()
    try:
        async with session.begin_nested():  # a new row is flushed by transition(): inside, too
            await transition(session, reg, Status.awaiting_seal, actor_id=user_id, now=reg.updated_at)
            await session.flush()
    except IntegrityError as exc:  # someone took the name between our check and the insert
        raise NameTaken(values["account_name"]) from exc
    return reg


class ScanOutcome(StrEnum):
    accepted = "accepted"
    replaced = "replaced"  # a newer scan while the registration waits for review: the newest counts
    not_expected = "not_expected"  # nothing awaits a scan (no registration, or approved)


def scan_awaited(reg: Registration | None) -> bool:
    """Whether a photo or PDF sent outside a form is this registration's scan: the first one, one
    asked for again by an operator, or a replacement while the registration waits for review."""
    if reg is None:
        return False
    return (reg.status in (Status.awaiting_seal, Status.pending_review)
            or (reg.status == Status.rejected and fixes_of(reg) == [SCAN]))


async def attach_scan(session: AsyncSession, user_id: int, file: dict[str, Any]) -> tuple[ScanOutcome, Registration | None]:
    reg = await for_user(session, user_id, lock=True)
    if reg is None:
        return ScanOutcome.not_expected, None
    if not scan_awaited(reg):
        return ScanOutcome.not_expected, reg
    outcome = ScanOutcome.replaced if reg.status == Status.pending_review else ScanOutcome.accepted
    if reg.status == Status.rejected:  # only the scan was sent back: this scan is the new round
        reg.round = (reg.round or 1) + 1
        reg.scan_count = 0
    reg.scan = json.dumps(file, ensure_ascii=False)
    reg.scan_count = (reg.scan_count or 0) + 1
    reg.updated_at = utcnow()
    await transition(session, reg, Status.pending_review, actor_id=user_id, now=reg.updated_at)
    if outcome is ScanOutcome.accepted:
        reg.submitted_at = reg.updated_at  # a replacement keeps its place in the operators' queue
    reg.decision_reason, reg.fields_to_fix = None, None
    return outcome, reg


class Decision(StrEnum):
    done = "done"
    not_pending = "not_pending"  # decided by someone else already, or changed meanwhile
    erased = "erased"  # the applicant deleted their data: only an anonymised record is left
    missing = "missing"  # no such registration (deleted with the applicant's data, or never was)
    forbidden = "forbidden"  # the person may not decide registrations (any more)


async def decide(session: AsyncSession, registration_id: int, staff: Person, *, approve: bool,
                 reason: str | None = None, fields: list[str] | None = None) -> tuple[Decision, Registration | None]:
    """An operator approves the registration or sends it back (`reason`, `fields` to correct)."""
    reg = await session.get(Registration, registration_id, with_for_update=True)
    if reg is None:
        return Decision.missing, None
    if not can(staff, Action.decide_registration, reg):
        return Decision.forbidden, None
    if reg.status == Status.erased:
        return Decision.erased, reg
    target = Status.approved if approve else Status.rejected
    if not allowed(reg, target):
        return Decision.not_pending, reg
    now = utcnow()
    await transition(session, reg, target, actor_id=staff.id, reason=reason, now=now)
    reg.decision_reason = reason
    fixes = [f for f in (fields or []) if f in FIXABLE]
    reg.fields_to_fix = None if approve else json.dumps(fixes)
    reg.reviewed_by, reg.reviewed_at = staff.id, now
    if not approve:  # the card of the next round shows what was asked before
        reg.history = json.dumps([*history_of(reg), {"round": reg.round or 1, "reason": reason, "fields": fixes,
                                                      "at": now.isoformat()}], ensure_ascii=False)
    return Decision.done, reg


async def pending(session: AsyncSession, limit: int = 10) -> tuple[list[Registration], int]:
    """Registrations waiting for a decision, oldest first, and how many there are in all."""
    where = Registration.status == Status.pending_review
    total = (await session.execute(select(func.count()).select_from(Registration).where(where))).scalar_one()
    rows = (await session.execute(select(Registration).where(where).order_by(Registration.submitted_at)
                                  .limit(limit))).scalars().all()
    return list(rows), total


async def is_approved(session: AsyncSession, user_id: int) -> bool:
    reg = await for_user(session, user_id)
    return reg is not None and reg.status == Status.approved


async def anonymise(session: AsyncSession, reg: Registration) -> None:
    """Keep a registration that is in the programme's records, without anything personal in it
    (the person erased their data: they are the actor)."""
    for name in ("subject_name", "person_name", "unit", "position", "title", "field", "phone", "email",
                 "experience", "recommender"):
        setattr(reg, name, ERASED)
    reg.account_name = ERASED
    reg.account_key = f"erased-{reg.id}"
    reg.experience_file = reg.scan = None
    reg.decision_reason = reg.fields_to_fix = reg.history = None
    await transition(session, reg, Status.erased, actor_id=reg.user_id)


@dataclass(frozen=True)
class StaffCard:
    """What the operators' card shows beside the form: who applied (their Telegram name and
    @username), the 经历附页 to send with it, and the earlier send-backs of a resubmission."""

    name: str
    username: str | None
    experience_file: dict[str, Any] | None
    scan: dict[str, Any] | None
    history: list[dict[str, Any]]


async def staff_card(session: AsyncSession, reg: Registration) -> StaffCard:
    user = await session.get(User, reg.user_id)
    name = " ".join(part for part in (user.first_name, user.last_name) if part) if user else ""
    return StaffCard(name=name, username=user.username if user else None,
                     experience_file=file_of(reg.experience_file), scan=file_of(reg.scan), history=history_of(reg))
