"""Status changes of the domain's rows, in one place: each entity's table of allowed transitions,
and the one `transition()` that refuses any other and writes an audit row (who, when, from, to,
why) in the same transaction. A new row's first status is a transition from None. The inbox and
the outbox are machinery (thousands of rows a day): they use their enums, without audit rows.
No aiogram here."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    AuditEntry,
    Broadcast,
    Inquiry,
    LessonProgress,
    Registration,
    ResourceRequest,
    ReviewAssignment,
    ReviewRound,
    Submission,
    SubmissionFile,
    Tutorship,
    utcnow,
)
from storage.statuses import (
    AssignmentStatus,
    BroadcastStatus,
    FileStatus,
    InquiryStatus,
    LessonStatus,
    RegistrationStatus,
    ResourceStatus,
    RoundStatus,
    SubmissionStatus,
    TutorshipStatus,
)

Reg, Sub, File, Inq = RegistrationStatus, SubmissionStatus, FileStatus, InquiryStatus
Rnd, Asg = RoundStatus, AssignmentStatus
Les, Tut, Res = LessonStatus, TutorshipStatus, ResourceStatus

# from -> the statuses it may go to. A status that goes to itself is an event worth recording
# (a scan replaced while waiting for review, the form saved again before its scan came, another
# file failed by hand while the application is back with its creator).
REGISTRATION: dict[StrEnum | None, frozenset[StrEnum]] = {
    None: frozenset({Reg.awaiting_seal}),
    # the form saved again (corrected before the scan came); the scan came
    Reg.awaiting_seal: frozenset({Reg.awaiting_seal, Reg.pending_review, Reg.erased}),
    # a newer scan replaces the first; the operators decide; a form corrected meanwhile needs a new seal
    Reg.pending_review: frozenset({Reg.pending_review, Reg.approved, Reg.rejected, Reg.awaiting_seal, Reg.erased}),
    Reg.approved: frozenset({Reg.erased}),
    # corrected in place as a new round: the form again (awaiting_seal), or only the scan
    Reg.rejected: frozenset({Reg.awaiting_seal, Reg.pending_review, Reg.erased}),
    Reg.erased: frozenset(),
}

SUBMISSION: dict[StrEnum | None, frozenset[StrEnum]] = {
    None: frozenset({Sub.draft}),  # a new draft, or a withdrawn application copied as a new draft
    Sub.draft: frozenset({Sub.submitted}),  # (a draft is deleted, not withdrawn)
    # returned: staff failed a file by hand; under_review: reviewers assigned (no withdrawing after)
    Sub.submitted: frozenset({Sub.withdrawn, Sub.returned, Sub.under_review, Sub.disqualified}),
    Sub.returned: frozenset({Sub.submitted, Sub.withdrawn, Sub.returned, Sub.disqualified}),  # another file failed meanwhile
    Sub.under_review: frozenset({Sub.accepted, Sub.revise, Sub.rejected, Sub.disqualified}),  # the round's decision
    Sub.revise: frozenset({Sub.submitted, Sub.disqualified}),  # submitted again: the next round
    Sub.accepted: frozenset({Sub.disqualified}),  # 通知七(一): found out later
    Sub.rejected: frozenset({Sub.disqualified}),
    Sub.withdrawn: frozenset(),  # reopening makes a new draft; this one stays withdrawn
    Sub.disqualified: frozenset(),
}

# a review round: waiting for reviewers (none available), being reviewed, decided; stopped when the
# submission is disqualified (or withdrawn before review) meanwhile
ROUND: dict[StrEnum | None, frozenset[StrEnum]] = {
    None: frozenset({Rnd.waiting, Rnd.reviewing}),
    Rnd.waiting: frozenset({Rnd.reviewing, Rnd.stopped}),
    Rnd.reviewing: frozenset({Rnd.decided, Rnd.waiting, Rnd.stopped}),  # waiting: every reviewer declined
    Rnd.decided: frozenset(),
    Rnd.stopped: frozenset(),
}

ASSIGNMENT: dict[StrEnum | None, frozenset[StrEnum]] = {
    None: frozenset({Asg.assigned}),
    Asg.assigned: frozenset({Asg.submitted, Asg.declined, Asg.reassigned, Asg.stopped}),
    Asg.submitted: frozenset(),  # a review is final
    Asg.declined: frozenset(),
    Asg.reassigned: frozenset(),
    Asg.stopped: frozenset(),
}

# a 创作学院 lesson: opened, then marked done (opening a done lesson again changes nothing)
LESSON: dict[StrEnum | None, frozenset[StrEnum]] = {
    None: frozenset({Les.started, Les.done}),
    Les.started: frozenset({Les.done}),
    Les.done: frozenset(),
}

# one-on-one guidance: waiting for a tutor (the operators' queue), active, ended; a tutor who
# leaves (role taken away) sends their creators back to waiting
TUTORSHIP: dict[StrEnum | None, frozenset[StrEnum]] = {
    None: frozenset({Tut.waiting, Tut.active}),
    Tut.waiting: frozenset({Tut.active, Tut.ended}),
    Tut.active: frozenset({Tut.ended, Tut.waiting, Tut.active}),  # active -> active: another tutor
    Tut.ended: frozenset(),
}

# 资源对接: open, assigned to a tutor or staff member (again: to someone else), answered (the
# creator may follow up: assigned again), closed; back to open when its handler lost the role
RESOURCE: dict[StrEnum | None, frozenset[StrEnum]] = {
    None: frozenset({Res.open}),
    Res.open: frozenset({Res.assigned, Res.answered, Res.closed}),
    Res.assigned: frozenset({Res.assigned, Res.answered, Res.closed, Res.open}),
    Res.answered: frozenset({Res.assigned, Res.answered, Res.closed, Res.open}),
    Res.closed: frozenset(),
}

# an operator's broadcast: sending until every copy is delivered or given up, or stopped by an operator
BROADCAST: dict[StrEnum | None, frozenset[StrEnum]] = {
    None: frozenset({BroadcastStatus.sending}),
    BroadcastStatus.sending: frozenset({BroadcastStatus.done, BroadcastStatus.cancelled}),
    BroadcastStatus.done: frozenset(),
    BroadcastStatus.cancelled: frozenset(),
}

_JUDGED = frozenset({File.passed, File.warnings, File.failed})
FILE: dict[StrEnum | None, frozenset[StrEnum]] = {
    # uploaded: checked in the background, or too big (staff check it); a copy keeps its verdict
    None: frozenset({File.checking, File.deep_pending, File.passed, File.warnings}),
    # the background check's verdict; or the download showed it too big to check here
    File.checking: frozenset({*_JUDGED, File.deep_pending}),
    File.deep_pending: frozenset({File.passed, File.failed}),  # staff checked it by hand
    # the answers changed: the stored report judged again (no new download, so never back to checking)
    File.passed: _JUDGED - {File.passed},
    File.warnings: _JUDGED - {File.warnings},
    File.failed: _JUDGED - {File.failed},
}

INQUIRY: dict[StrEnum | None, frozenset[StrEnum]] = {
    None: frozenset({Inq.open}),
    Inq.open: frozenset({Inq.answered}),
    Inq.answered: frozenset(),
}

# model -> (audit entity name, status attribute, table)
TABLES: dict[type, tuple[str, str, dict[StrEnum | None, frozenset[StrEnum]]]] = {
    Registration: ("registrations", "status", REGISTRATION),
    Submission: ("submissions", "status", SUBMISSION),
    SubmissionFile: ("submission_files", "check_status", FILE),
    Inquiry: ("inquiries", "status", INQUIRY),
    ReviewRound: ("review_rounds", "status", ROUND),
    ReviewAssignment: ("review_assignments", "status", ASSIGNMENT),
    LessonProgress: ("lesson_progress", "status", LESSON),
    Tutorship: ("tutorships", "status", TUTORSHIP),
    ResourceRequest: ("resource_requests", "status", RESOURCE),
    Broadcast: ("broadcasts", "status", BROADCAST),
}


class IllegalTransition(Exception):
    """A status change its entity's table does not allow. Services check `allowed()` first where a
    person's click can ask for it (and answer with an outcome); this is the guard behind them."""

    def __init__(self, entity: str, entity_id: int | None, current: StrEnum | None, to: StrEnum) -> None:
        super().__init__(f"{entity} {entity_id}: {current} -> {to} is not allowed")
        self.entity, self.entity_id, self.current, self.to = entity, entity_id, current, to


def status_of(obj: object) -> StrEnum | None:
    _, attribute, _ = TABLES[type(obj)]
    return getattr(obj, attribute)


def allowed(obj: object, to: StrEnum) -> bool:
    """May this row go to `to` from where it is now?"""
    _, _, table = TABLES[type(obj)]
    return to in table.get(status_of(obj), frozenset())


async def transition(session: AsyncSession,
                     obj: Registration | Submission | SubmissionFile | Inquiry | ReviewRound | ReviewAssignment,
                     to: StrEnum, *, actor_id: int | None, reason: str | None = None,
                     now: datetime | None = None) -> AuditEntry:
    """Change the row's status to `to` and record it; IllegalTransition when its table forbids it.
    A new row (no id yet) is added and flushed, so that its audit row names it. Never commits."""
    entity, attribute, _ = TABLES[type(obj)]
    current = status_of(obj)
    if not allowed(obj, to):
        raise IllegalTransition(entity, getattr(obj, "id", None), current, to)
    setattr(obj, attribute, to)
    if obj.id is None:
        session.add(obj)
        await session.flush()
    entry = AuditEntry(entity=entity, entity_id=obj.id, from_status=None if current is None else str(current),
                       to_status=str(to), actor_id=actor_id, at=now or utcnow(), reason=reason)
    session.add(entry)
    if isinstance(obj, Submission):
        obj.status_at = entry.at  # what /submissions sorts by, without reading the audit
    elif isinstance(obj, ReviewAssignment):
        from bot.services.rounds import count_assignment  # rounds changes statuses through here

        await count_assignment(session, obj, current, to, entry.at)  # what the operators' queue reads
    return entry
