"""Every status a row can have, in one place: the models' columns, the services' transition tables
and the handlers all use these enums (StrEnum: stored as their value)."""

from __future__ import annotations

from enum import StrEnum


class RegistrationStatus(StrEnum):
    awaiting_seal = "awaiting_seal"  # form filled; the signed and sealed scan is still to come
    pending_review = "pending_review"  # scan received; operators to decide
    approved = "approved"
    rejected = "rejected"  # with a reason and the fields to correct
    erased = "erased"  # the person deleted their data; kept anonymised for the record


class SubmissionStatus(StrEnum):
    draft = "draft"
    submitted = "submitted"  # waiting for reviewers to be assigned; may still be withdrawn
    withdrawn = "withdrawn"
    # staff sent it back for a file (staff_note says why): its files may be replaced, removed and
    # uploaded as in a draft, then it is submitted again; its answers stay, it can't be deleted
    returned = "returned"
    under_review = "under_review"  # reviewers assigned to its current round: no withdrawing now
    accepted = "accepted"  # 入选
    revise = "revise"  # 修改后再审: the creator prepares the next round
    rejected = "rejected"  # 不入选
    disqualified = "disqualified"  # 取消资格 (通知七(一)): at any stage, with a reason; nothing follows


# an application's files may still change (replaced, removed, uploaded) in these (修改后再审: the files
# of the next round, copied from the decided one when it was decided)
SUBMISSION_EDITABLE = frozenset({SubmissionStatus.draft, SubmissionStatus.returned, SubmissionStatus.revise})
# its answers may be edited in these
ANSWERS_EDITABLE = frozenset({SubmissionStatus.draft, SubmissionStatus.revise})


class FileStatus(StrEnum):
    checking = "checking"  # recorded; being downloaded and checked in the background (bot/checker.py)
    passed = "passed"
    warnings = "warnings"  # allowed, with advice
    failed = "failed"  # an error: the submission can't go until the file is replaced or removed
    deep_pending = "deep_pending"  # too big to download here: staff check it on their side


class RoundStatus(StrEnum):
    """One review round of a submission (round 1, then one more after each 修改后再审)."""

    waiting = "waiting"  # no reviewer could be assigned yet: in the operators' queue
    reviewing = "reviewing"  # reviewers assigned; their reviews are coming in
    decided = "decided"  # operators decided (ReviewRound.decision)
    stopped = "stopped"  # the submission was disqualified (or withdrawn before review) meanwhile


class AssignmentStatus(StrEnum):
    assigned = "assigned"  # the reviewer has it in /reviews
    submitted = "submitted"  # their review is in (final)
    declined = "declined"  # they declined with a reason: the round gets someone else
    reassigned = "reassigned"  # an operator gave it to someone else
    stopped = "stopped"  # the round stopped (disqualified) before they reviewed


class Verdict(StrEnum):
    """A reviewer's recommendation and the operators' decision on a round."""

    accept = "accept"  # 入选
    revise = "revise"  # 修改后再审
    reject = "reject"  # 不入选


class LessonStatus(StrEnum):
    """A person's progress in one 创作学院 lesson."""

    started = "started"  # opened; `page` remembers where they are
    done = "done"  # marked done (the quiz, if any, answered or skipped)


class TutorshipStatus(StrEnum):
    """A creator's one-on-one guidance (通知三(三))."""

    waiting = "waiting"  # asked for a tutor, none assigned yet: in the operators' queue
    active = "active"  # a tutor is assigned: messages are relayed both ways
    ended = "ended"  # either side ended it, or an operator did


class ResourceStatus(StrEnum):
    """A creator's 资源对接 request (expert consultation, venue, data, promotion, other)."""

    open = "open"  # filed, nobody handles it yet
    assigned = "assigned"  # an operator gave it to a tutor or a staff member
    answered = "answered"  # an answer went to the creator (they may follow up: it can be assigned again)
    closed = "closed"


class InquiryStatus(StrEnum):
    open = "open"
    answered = "answered"


class OutboxStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    held = "held"  # waits for something (the person has not opened the bot yet; quiet hours)


class BroadcastStatus(StrEnum):
    sending = "sending"  # confirmed: being fanned out into the outbox and delivered
    done = "done"  # every copy delivered or given up; its author got the report
    cancelled = "cancelled"  # stopped by an operator: copies not yet sent were dropped


class InboxStatus(StrEnum):
    pending = "pending"
    working = "working"
    done = "done"
    dead = "dead"
