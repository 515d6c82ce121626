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
    submitted = "submitted"  # waiting for the experts; may still be withdrawn
    withdrawn = "withdrawn"
    # staff sent it back for a file (staff_note says why): its files may be replaced, removed and
    # uploaded as in a draft, then it is submitted again; its answers stay, it can't be deleted
    returned = "returned"


# an application's files may still change (replaced, removed, uploaded) in these
SUBMISSION_EDITABLE = frozenset({SubmissionStatus.draft, SubmissionStatus.returned})


class FileStatus(StrEnum):
    checking = "checking"  # recorded; being downloaded and checked in the background (bot/checker.py)
    passed = "passed"
    warnings = "warnings"  # allowed, with advice
    failed = "failed"  # an error: the submission can't go until the file is replaced or removed
    deep_pending = "deep_pending"  # too big to download here: staff check it on their side


class InquiryStatus(StrEnum):
    open = "open"
    answered = "answered"


class OutboxStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    held = "held"  # waits for something (the person has not opened the bot yet; quiet hours)


class InboxStatus(StrEnum):
    pending = "pending"
    working = "working"
    done = "done"
    dead = "dead"
