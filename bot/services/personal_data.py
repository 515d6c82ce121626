"""A person's own data: everything the bot holds on them (/mydata), and erasing it (/deletedata)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import registration
from bot.services.registration import ERASED
from bot.services.submissions import Status as SubmissionStatus
from storage.models import (
    AuditEntry,
    FsmRecord,
    Inquiry,
    LessonOffer,
    LessonProgress,
    OutboxMessage,
    QuizPoll,
    Registration,
    ReminderPref,
    ReminderSent,
    ResourceRequest,
    ReviewerProfile,
    Submission,
    SubmissionFile,
    TutorMessage,
    TutorProfile,
    Tutorship,
    User,
    UserRole,
)

# columns that mean nothing to the person (Telegram's internal file identities, our uniqueness keys,
# the rows' links to each other, staff ids) stay out of the export
INTERNAL = {"file_id", "file_unique_id", "account_key", "user_id", "submission_id", "reviewed_by", "answered_by",
            "admin_ids", "about_user_id", "chat_id", "creator_id", "tutor_id", "assigned_by", "sender_id",
            "recipient_id", "assignee_id", "tutorship_id", "result_message_id"}
# columns holding JSON: exported as the objects they are, not as strings inside the JSON
NESTED = {"answers", "report", "staff_note", "manual_reason", "experience_file", "scan", "fields_to_fix", "history"}
# application statuses erasing removes; any other (submitted, or back with the creator) stays for the experts
ERASABLE = (SubmissionStatus.draft, SubmissionStatus.withdrawn)

# Every column that holds a Telegram user id, and what erase() does with the person's rows there.
# tests/test_privacy.py finds such columns in the models by name: a new one fails it until listed.
ERASED_COLUMNS = {
    "users.id": "anonymised: names, username and language erased; the row stays for what refers to it",
    "inquiries.user_id": "deleted with the questions and their answers",
    "registrations.user_id": "deleted; anonymised (status erased) while submitted applications need it",
    "submissions.user_id": "drafts and withdrawn applications deleted; submitted ones stay for the experts",
    "outbox.chat_id": "every notification to the person deleted, sent or not",
    "outbox.about_user_id": "every notification about the person (cards and questions sent to staff) deleted",
    "fsm_states.key": "their own conversation deleted; operators' open forms about them scrubbed (SQL storage)",
    "reviewer_profiles.user_id": "a reviewer's declared fields and 单位 deleted",
    "lesson_progress.user_id": "their 创作学院 progress deleted",
    "quiz_polls.user_id": "their quiz answers deleted",
    "lesson_offers.user_id": "the lessons offered to them deleted",
    "tutor_profiles.user_id": "a tutor's declared fields and capacity deleted",
    "tutorships.creator_id": "their tutoring deleted, with its relayed messages",
    "tutor_messages.sender_id": "every relayed message they sent deleted (the copies in the other person's "
                                "Telegram chat are that person's)",
    "tutor_messages.recipient_id": "every relayed message they received deleted",
    "resource_requests.user_id": "their resource requests deleted",
    "reminders_sent.user_id": "the record of reminders sent to them deleted",
    "reminder_prefs.user_id": "their reminder settings deleted",
}
KEPT_COLUMNS = {
    "user_roles.user_id": "a staff role is access the programme gave, not data the person gave; operators take it back",
    "user_roles.granted_by": "who granted someone a role: that operator's action on another person's record",
    "invites.created_by": "who made an invite: the operator's action, part of the staff access record",
    "invites.used_by": "who gained a staff role by which invite: the staff access record",
    "inquiries.answered_by": "the staff member who answered someone else's question: part of that person's record",
    "registrations.reviewed_by": "the operator who decided someone else's registration: part of that record",
    "review_rounds.decided_by": "the operator who decided someone else's review round: part of that record",
    "review_assignments.reviewer_id": "who reviewed someone else's work: the record of that review (the creator "
                                      "sees the words without the reviewer's name)",
    "tutorships.tutor_id": "the tutor of someone else's tutoring: part of that creator's record (a tutor who "
                           "leaves sends their creators back to the queue)",
    "tutorships.assigned_by": "the operator who assigned a tutor: the operator's action on someone else's record",
    "resource_requests.assignee_id": "who handles someone else's resource request: part of that request",
    "broadcasts.author_id": "the operator who sent a broadcast: the operator's action, part of the broadcast's record",
    "audit.actor_id": "who changed a status: the record keeps ids and statuses; the reasons of the person's rows "
                      "(staff's words may quote them) are erased",
}


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
    notifications: int = 0  # messages to the person or about them (copies sent to staff) still stored
    unfinished_form: str | None = None  # the form they are filling in, if any

    def json(self) -> bytes:
        return json.dumps(self.data, ensure_ascii=False, indent=2).encode()


def _notification(row: OutboxMessage, user_id: int) -> dict[str, Any]:
    """A stored notification as the person may read it: to them or to the staff (not which
    operator), its text and what it carried (file names, not the files)."""
    payload = json.loads(row.payload)
    attachments = [{"kind": a.get("kind"), "file_name": a.get("filename")} for a in payload.get("attachments", [])]
    view = {"to": "you" if row.chat_id == user_id else "staff", "status": row.status,
            "created_at": _value("created_at", row.created_at), "sent_at": _value("sent_at", row.sent_at),
            "text": payload.get("text"), "attachments": attachments}
    if payload.get("kind") == "copy":  # a relayed message: its text is the chat message it copies
        view["copy_of"] = {"chat": "you" if payload.get("from_chat_id") == user_id else "other",
                           "message_id": payload.get("message_id")}
    return view


async def export(session: AsyncSession, user_id: int, *,
                 conversation: dict[str, Any] | None = None) -> Export | None:
    """Everything stored about the person. `conversation`: their chat's FSM state and data (read by
    the caller through the FSM storage, SQL or Redis): an unfinished form and what it holds."""
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
    notifications = [_notification(row, user_id) for row in (await session.execute(
        select(OutboxMessage).where(or_(OutboxMessage.chat_id == user_id, OutboxMessage.about_user_id == user_id))
        .order_by(OutboxMessage.id))).scalars()]
    open_form = None
    if conversation and (conversation.get("state") or conversation.get("data")):
        open_form = (conversation.get("data") or {}).get("form")
        conversation = {"state": conversation.get("state"), "data": _value("data", conversation.get("data"))}
    else:
        conversation = None
    data = {"user": _row(user), "roles": roles, "registration": reg_data,
            "submissions": subs, "inquiries": [_row(i) for i in inquiries], "files": files,
            "notifications": notifications, "conversation": conversation,
            **await _growth(session, user_id)}
    return Export(data, reg.status if reg else None, reg.account_name if reg else None, dict(statuses), files,
                  len(inquiries), len(notifications), open_form)


async def _growth(session: AsyncSession, user_id: int) -> dict[str, Any]:
    """创作学院 progress and quiz answers, lessons offered, a tutor's profile, their tutoring with
    the messages relayed in it (as creator, or sent/received as tutor), resource requests."""
    def rows(model: Any, *where: Any, order: Any) -> Any:
        return select(model).where(*where).order_by(order)

    progress = (await session.execute(rows(LessonProgress, LessonProgress.user_id == user_id,
                                           order=LessonProgress.id))).scalars()
    quiz = (await session.execute(rows(QuizPoll, QuizPoll.user_id == user_id, order=QuizPoll.sent_at))).scalars()
    offers = (await session.execute(rows(LessonOffer, LessonOffer.user_id == user_id,
                                         order=LessonOffer.offered_at))).scalars()
    profile = await session.get(TutorProfile, user_id)
    tutorships = (await session.execute(rows(Tutorship, Tutorship.creator_id == user_id, order=Tutorship.id))).scalars()
    messages = (await session.execute(rows(TutorMessage, or_(TutorMessage.sender_id == user_id,
                                                            TutorMessage.recipient_id == user_id),
                                           order=TutorMessage.id))).scalars()
    requests = (await session.execute(rows(ResourceRequest, ResourceRequest.user_id == user_id,
                                           order=ResourceRequest.id))).scalars()
    return {"academy": {"lessons": [_row(p, drop=frozenset({"id"})) for p in progress],
                        "quiz_answers": [_row(q, drop=frozenset({"poll_id"})) for q in quiz],
                        "offered": [_row(o) for o in offers]},
            "tutor_profile": _row(profile) if profile else None,
            "tutoring": [_row(t) for t in tutorships],
            "tutoring_messages": [{**_row(m, drop=frozenset({"id", "outbox_id", "source_message_id"})),
                                   "sent_by_you": m.sender_id == user_id} for m in messages],
            "resource_requests": [_row(r) for r in requests]}


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
                   kept_submissions=kept, drafts=counts.get(SubmissionStatus.draft, 0),
                   withdrawn=counts.get(SubmissionStatus.withdrawn, 0), inquiries=asked)


async def erase(session: AsyncSession, user_id: int) -> Erasure:
    """Delete a person's data; afterwards they are a new user who may register again. What the
    experts must keep stays, without anything personal: submitted applications, and then the
    registration as an anonymised record (status `erased`). Everything else goes: the registration
    otherwise, drafts, withdrawn applications, questions, unfinished forms, undelivered notifications."""
    plan = await erasure_plan(session, user_id)
    about = await _about(session, user_id)
    await _erase_audit_reasons(session, user_id)
    reg = await registration.for_user(session, user_id, lock=True)
    if reg is not None and plan.registration_kept:
        await registration.anonymise(session, reg)
    elif plan.kept_submissions == 0:  # no application needs them: earlier anonymised records go too
        await session.execute(delete(Registration).where(Registration.user_id == user_id))
    for sub in (await session.execute(select(Submission).where(Submission.user_id == user_id,
                                                               Submission.status.in_(ERASABLE)))).scalars():
        await session.delete(sub)
    await session.execute(delete(Inquiry).where(Inquiry.user_id == user_id))
    await session.execute(delete(ReviewerProfile).where(ReviewerProfile.user_id == user_id))
    for model in (LessonProgress, QuizPoll, LessonOffer, TutorProfile, ResourceRequest, ReminderSent, ReminderPref):
        await session.execute(delete(model).where(model.user_id == user_id))
    await session.execute(delete(TutorMessage).where(or_(TutorMessage.sender_id == user_id,
                                                         TutorMessage.recipient_id == user_id)))
    await session.execute(delete(Tutorship).where(Tutorship.creator_id == user_id))
    # copies of their data in notifications (to them, and about them to staff), sent or not: a row
    # being sent right now is delivered still, and its sender's update then finds no row
    await session.execute(delete(OutboxMessage).where(or_(OutboxMessage.chat_id == user_id,
                                                          OutboxMessage.about_user_id == user_id)))
    await session.execute(delete(FsmRecord).where(FsmRecord.key.like(f"%:{user_id}:{user_id}:%")))
    await scrub_forms_about(session, about)
    user = await session.get(User, user_id)
    if user is not None:
        user.first_name, user.last_name, user.username, user.language_code = ERASED, None, None, None
    return plan


async def _erase_audit_reasons(session: AsyncSession, user_id: int) -> None:
    """The status history of the person's rows keeps its ids and statuses; its reasons (an
    operator's words on a rejection or a failed file, which may quote the person) are erased."""
    subs = select(Submission.id).where(Submission.user_id == user_id)
    owned = {
        "registrations": select(Registration.id).where(Registration.user_id == user_id),
        "submissions": subs,
        "submission_files": select(SubmissionFile.id).where(SubmissionFile.submission_id.in_(subs)),
        "inquiries": select(Inquiry.id).where(Inquiry.user_id == user_id),
    }
    await session.execute(update(AuditEntry).where(
        AuditEntry.reason.is_not(None),
        or_(*(and_(AuditEntry.entity == entity, AuditEntry.entity_id.in_(ids)) for entity, ids in owned.items())))
        .values(reason=None).execution_options(synchronize_session=False))


@dataclass(frozen=True)
class About:
    """How an operator's open form names the person: the `about` key a form about a person carries
    in its extra, or the id of one of their records (forms opened before `about` existed)."""

    user_id: int
    registrations: frozenset[int]
    inquiries: frozenset[int]
    submissions: frozenset[int]  # only those erasing deletes: a form about a kept application stays

    def matches(self, extra: Any) -> bool:
        if not isinstance(extra, dict):
            return False
        return (extra.get("about") == self.user_id or extra.get("registration_id") in self.registrations
                or extra.get("inquiry_id") in self.inquiries or extra.get("submission_id") in self.submissions)


async def _about(session: AsyncSession, user_id: int) -> About:
    regs = (await session.execute(select(Registration.id).where(Registration.user_id == user_id))).scalars()
    asked = (await session.execute(select(Inquiry.id).where(Inquiry.user_id == user_id))).scalars()
    subs = (await session.execute(select(Submission.id).where(Submission.user_id == user_id,
                                                              Submission.status.in_(ERASABLE)))).scalars()
    return About(user_id, frozenset(regs), frozenset(asked), frozenset(subs))


def _scrubbed(extra: dict[str, Any]) -> dict[str, Any]:
    """A form's extra without the person in it: record ids stay (the submit then finds the record
    gone and says so), every other text becomes ERASED, and `about` goes."""
    return {key: (ERASED if isinstance(value, str) and not key.endswith("_id") else value)
            for key, value in extra.items() if key != "about"}


async def scrub_forms_about(session: AsyncSession, about: About) -> int:
    """Operators' unfinished forms about the person (a rejection of their registration, an answer to
    their question), in the SQL FSM storage. A draft names the person by ids in its `refs` (drafts
    stored before typed drafts also copied texts into `extra`: those become ERASED); the open form
    stays open so that its submit tells the operator the applicant erased their data (instead of
    their next message falling through as if nothing was open); a form offered to replace an open
    one (`pending`) and a parked draft about them are dropped. Only conversations with a state and
    `refs` or `extra` are read. Returns how many changed. (With Redis FSM storage these stay until
    the operator finishes or cancels the form.)"""
    rows = (await session.execute(select(FsmRecord).where(
        FsmRecord.state.is_not(None),
        or_(FsmRecord.data.like('%"refs"%'), FsmRecord.data.like('%"extra"%'))))).scalars()
    changed = 0
    for row in rows:
        try:
            data = json.loads(row.data)
        except ValueError:
            continue
        touched = False
        for key in ("refs", "extra"):  # "extra": a draft stored before the typed drafts, copied texts and all
            if about.matches(data.get(key)):
                data[key] = _scrubbed(data[key])
                touched = True
        if isinstance(data.get("pending"), dict) and about.matches(data["pending"].get("refs")
                                                                   or data["pending"].get("extra")):
            data.pop("pending")
            touched = True
        parked = data.get("parked")
        if isinstance(parked, list):  # drafts put aside: one about the person is dropped
            kept = [d for d in parked if not (isinstance(d, dict) and about.matches(d.get("refs")))]
            if len(kept) != len(parked):
                data["parked"] = kept
                touched = True
        if touched:
            row.data = json.dumps(data, ensure_ascii=False)
            changed += 1
    return changed
