"""SQLAlchemy 2 models. Times are stored in UTC; show them in the campaign's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.statuses import (
    AssignmentStatus,
    BroadcastStatus,
    FileStatus,
    InboxStatus,
    InquiryStatus,
    LessonStatus,
    OutboxStatus,
    RegistrationStatus,
    ResourceStatus,
    RoundStatus,
    SubmissionStatus,
    TutorshipStatus,
    Verdict,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone, so we add it back on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StatusType(TypeDecorator[StrEnum]):
    """A status column: stored as the enum's value in a VARCHAR (the values are the strings the
    rows always held, so no data migration), read back as the enum's member; a value outside the
    enum is refused on write."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: StrEnum | str | None, dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    """Everyone who has written to the bot. Admins come from ADMIN_IDS, other roles from UserRole."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str] = mapped_column(String(256), default="")
    last_name: Mapped[str | None] = mapped_column(String(256))
    username: Mapped[str | None] = mapped_column(String(64))
    language_code: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the person blocked the bot (Telegram said so when a message was sent): broadcasts skip them
    # until they write to the bot again
    unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    granted_by: Mapped[int | None] = mapped_column(BigInteger)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Invite(Base):
    """A one-time deep link (t.me/<bot>?start=inv_<code>) that grants a staff role."""

    __tablename__ = "invites"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_by: Mapped[int | None] = mapped_column(BigInteger)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProcessedUpdate(Base):
    """update_ids already handled: Telegram may deliver an update twice after a failure."""

    __tablename__ = "processed_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class InboxUpdate(Base):
    """An update from Telegram, written here first and acknowledged; workers handle it after (in
    order per person, retried on transient failures, parked as dead after that)."""

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_chat_key_update_id", "chat_key", "update_id"),)

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_key: Mapped[int] = mapped_column(BigInteger)  # whose updates run one at a time, in order
    payload: Mapped[str] = mapped_column(Text)  # the update's JSON as Telegram sent it
    status: Mapped[InboxStatus] = mapped_column(StatusType(InboxStatus, 12), index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class FsmRecord(Base):
    """Conversation state and form drafts (aiogram FSM), so a half-filled form survives a restart."""

    __tablename__ = "fsm_states"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[str] = mapped_column(Text, default="{}")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Inquiry(Base):
    """A question a person asks the programme's staff through the bot (咨询), and its answer."""

    __tablename__ = "inquiries"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    topic: Mapped[str] = mapped_column(String(32))
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[InquiryStatus] = mapped_column(StatusType(InquiryStatus, 16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[int | None] = mapped_column(BigInteger)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Registration(Base):
    """A 科普号 registration: the 科普中国科普号推荐申请表, its signed and sealed scan, and the
    operators' decision. One live registration per person (a rejected one is corrected in place,
    as a new round); after /deletedata an erased, anonymised one may stay beside a new one."""

    __tablename__ = "registrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    account_name: Mapped[str] = mapped_column(String(64))
    account_key: Mapped[str] = mapped_column(String(64), unique=True)  # case- and width-folded, for uniqueness
    subject_type: Mapped[str] = mapped_column(String(16))  # organisation | team | individual
    subject_name: Mapped[str] = mapped_column(String(128))
    person_name: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(128))
    position: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(128))
    phone: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(254))
    experience: Mapped[str] = mapped_column(Text)
    experience_file: Mapped[str | None] = mapped_column(Text)  # JSON file reference (附页)
    recommender: Mapped[str] = mapped_column(String(128))
    status: Mapped[RegistrationStatus] = mapped_column(StatusType(RegistrationStatus, 24), index=True)
    scan: Mapped[str | None] = mapped_column(Text)  # JSON file reference of the signed, sealed form
    decision_reason: Mapped[str | None] = mapped_column(Text)
    fields_to_fix: Mapped[str | None] = mapped_column(Text)  # JSON list of field names
    reviewed_by: Mapped[int | None] = mapped_column(BigInteger)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the scan arrived
    round: Mapped[int] = mapped_column(default=1, server_default="1")  # 1, then +1 after each send-back
    history: Mapped[str | None] = mapped_column(Text)  # JSON list of earlier send-backs: round, reason, fields, at
    scan_count: Mapped[int] = mapped_column(default=0, server_default="0")  # scans received this round


class Submission(Base):
    """An application with a work (作品) or a topic (选题): the form's answers, its files, its status."""

    __tablename__ = "submissions"
    # /submissions pages newest status change first: read in this index's order, a page at a time
    __table_args__ = (Index("ix_submissions_status_at_id", "status_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # work | topic
    category: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(128))
    answers: Mapped[str] = mapped_column(Text)  # JSON: every answer of the application form
    status: Mapped[SubmissionStatus] = mapped_column(StatusType(SubmissionStatus, 16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    staff_note: Mapped[str | None] = mapped_column(Text)  # JSON: why staff returned it to the creator
    round: Mapped[int] = mapped_column(default=1, server_default="1")  # the review round its files and answers are for
    # its last status change (the newest audit row's time), kept by transitions.transition()
    status_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubmissionFile(Base):
    """A file of a submission and what the checks found in it."""

    __tablename__ = "submission_files"
    # a file once per round (修改后再审 copies the decided round's files to the next)
    __table_args__ = (UniqueConstraint("submission_id", "round", "file_unique_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    file_id: Mapped[str] = mapped_column(String(255))
    file_unique_id: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(255))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    sent_as: Mapped[str] = mapped_column(String(16))  # document | photo | video
    check_status: Mapped[FileStatus] = mapped_column(StatusType(FileStatus, 16), index=True)
    report: Mapped[str | None] = mapped_column(Text)  # JSON of the checks' Report
    manual_reason: Mapped[str | None] = mapped_column(Text)  # JSON: an operator's reason for failing it by hand
    report_message_id: Mapped[int | None] = mapped_column(BigInteger)  # the chat message that becomes its report
    media_group_id: Mapped[str | None] = mapped_column(String(64))  # an album's files share one report card
    round: Mapped[int] = mapped_column(default=1, server_default="1")  # the review round it was sent for
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(Base):
    """A message to someone other than the person of the update (a notification), written in the
    update's transaction and delivered by the sender after commit: rate limited, retried."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    payload: Mapped[str] = mapped_column(Text)  # JSON: text, reply_markup, attachments
    # the person the message is about (a registration card sent to operators): erased with their data
    about_user_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    status: Mapped[OutboxStatus] = mapped_column(StatusType(OutboxStatus, 16), index=True)
    parts_sent: Mapped[int] = mapped_column(default=0)  # attachments already delivered (no repeats on retry)
    attempts: Mapped[int] = mapped_column(default=0)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # the message Telegram made of the row's last part (a relayed copy): a reply to it is traced back
    result_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # the broadcast this row is one copy of (its delivery report counts them); sent after notifications
    broadcast_id: Mapped[int | None] = mapped_column(index=True)
    # queued by a scan for many people (reminders): sent after notifications, before broadcasts' copies
    bulk: Mapped[bool] = mapped_column(default=False, server_default=false())


class AuditEntry(Base):
    """One status change of a domain row (registration, submission, submission_file, inquiry): who,
    when, from what to what and why. Written by bot.services.transitions in the change's own
    transaction. Erasing a person's data keeps the ids and statuses and erases the reason."""

    __tablename__ = "audit"
    # (entity, entity_id, at): /submissions takes each application's last change from the index alone
    __table_args__ = (Index("ix_audit_entity_entity_id_at", "entity", "entity_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(24))  # the row's table, e.g. "submissions"
    entity_id: Mapped[int] = mapped_column(BigInteger)
    from_status: Mapped[str | None] = mapped_column(String(24))  # None: the row was made with `to_status`
    to_status: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)  # who did it; None: the bot itself (a check)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text)  # staff's words (may quote the person: erased with them)


class ReviewRound(Base):
    """One review round of a submission: its reviewers' assignments and the operators' decision.
    Every earlier round stays (with its files, reviews and decision) when 修改后再审 opens the next."""

    __tablename__ = "review_rounds"
    __table_args__ = (UniqueConstraint("submission_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column()  # 1, 2, …
    status: Mapped[RoundStatus] = mapped_column(StatusType(RoundStatus, 16), index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decision: Mapped[Verdict | None] = mapped_column(StatusType(Verdict, 8))
    decision_message: Mapped[str | None] = mapped_column(Text)  # the operators' words to the creator
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revise_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # 修改后再审: the next round's deadline
    # its assignments, counted as they change (rounds.count_assignment, from transitions.transition), so
    # the operators' queue reads the round instead of grouping every open round's assignments
    active_count: Mapped[int] = mapped_column(default=0, server_default="0")  # assigned or submitted
    assigned_count: Mapped[int] = mapped_column(default=0, server_default="0")  # still reviewing
    done_count: Mapped[int] = mapped_column(default=0, server_default="0")  # reviews in
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when a reviewer last left it (declined …)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the last review came in


class ReviewAssignment(Base):
    """A reviewer given a round to review (never twice the same round), until their review is in."""

    __tablename__ = "review_assignments"
    __table_args__ = (UniqueConstraint("round_id", "reviewer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("review_rounds.id", ondelete="CASCADE"), index=True)
    # not a foreign key: a reviewer who deletes their data leaves the record of what was reviewed
    reviewer_id: Mapped[int] = mapped_column(BigInteger, index=True)
    status: Mapped[AssignmentStatus] = mapped_column(StatusType(AssignmentStatus, 12), index=True)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decline_reason: Mapped[str | None] = mapped_column(Text)


class Review(Base):
    """A reviewer's review of a round: a score per campaign criterion, words for the creator,
    optional words for staff only, and a recommendation."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("review_assignments.id", ondelete="CASCADE"),
                                               unique=True)
    scores: Mapped[str] = mapped_column(Text)  # JSON: criterion id -> score on the campaign's scale
    comment: Mapped[str] = mapped_column(Text)  # for the creator (shown without the reviewer's name)
    staff_note: Mapped[str | None] = mapped_column(Text)  # for staff only
    recommendation: Mapped[Verdict] = mapped_column(StatusType(Verdict, 8))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReviewerProfile(Base):
    """What a reviewer declares once: their fields (campaign directions and free text) and their
    单位, for matching and for conflicts of interest."""

    __tablename__ = "reviewer_profiles"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    fields: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of campaign direction ids
    other_fields: Mapped[str] = mapped_column(Text, default="")
    unit: Mapped[str] = mapped_column(String(128), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


__all__ = ["Base", "InboxUpdate", "User", "UserRole", "Invite", "ProcessedUpdate", "FsmRecord", "Inquiry", "Registration", "Submission", "SubmissionFile", "OutboxMessage", "AuditEntry",
           "ReviewRound", "ReviewAssignment", "Review", "ReviewerProfile",
           "StatusType", "utcnow", "UTCDateTime"]


# ---------------------------------------------------------------- 创作学院 and tutoring (issue 11)


class LessonProgress(Base):
    """A person's progress in one lesson of content/academy/ (by its slug): the page they are on."""

    __tablename__ = "lesson_progress"
    __table_args__ = (UniqueConstraint("user_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(64))
    status: Mapped[LessonStatus] = mapped_column(StatusType(LessonStatus, 16))
    page: Mapped[int] = mapped_column(default=0)  # 0-based page of the lesson last shown
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class QuizPoll(Base):
    """A lesson's quiz question sent as a Telegram quiz poll; its poll_answer is recorded here."""

    __tablename__ = "quiz_polls"

    poll_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # Telegram's poll id
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(64))
    question: Mapped[int] = mapped_column()  # index of the question in the lesson's quiz
    correct_option: Mapped[int] = mapped_column()
    chosen_option: Mapped[int | None] = mapped_column()
    correct: Mapped[bool | None] = mapped_column()
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LessonOffer(Base):
    """A lesson offered to a person (the drip schedule after approval, or a review's weakest
    criterion): each at most once."""

    __tablename__ = "lesson_offers"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(16))  # drip | review
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TutorProfile(Base):
    """A tutor's fields (the campaign's directions, and their own words) and how many creators they take."""

    __tablename__ = "tutor_profiles"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    fields: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of direction ids
    other_fields: Mapped[str] = mapped_column(Text, default="")
    capacity: Mapped[int] = mapped_column(default=5)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Tutorship(Base):
    """A creator's one-on-one guidance with a tutor (tutor_id None while it waits for one)."""

    __tablename__ = "tutorships"

    id: Mapped[int] = mapped_column(primary_key=True)
    creator_id: Mapped[int] = mapped_column(BigInteger, index=True)
    tutor_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    status: Mapped[TutorshipStatus] = mapped_column(StatusType(TutorshipStatus, 16), index=True)
    assigned_by: Mapped[int | None] = mapped_column(BigInteger)  # None: matched automatically
    request: Mapped[str | None] = mapped_column(Text)  # what the creator wrote when asking for a tutor
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TutorMessage(Base):
    """One message relayed between a creator and their tutor (the conversation's history)."""

    __tablename__ = "tutor_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    tutorship_id: Mapped[int] = mapped_column(ForeignKey("tutorships.id", ondelete="CASCADE"), index=True)
    sender_id: Mapped[int] = mapped_column(BigInteger)
    recipient_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # text | photo | document | video | voice | …
    text: Mapped[str | None] = mapped_column(Text)  # the text or caption
    file_id: Mapped[str | None] = mapped_column(String(255))
    source_message_id: Mapped[int] = mapped_column(BigInteger)  # in the sender's chat
    outbox_id: Mapped[int | None] = mapped_column(index=True)  # the relay's outbox row
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ResourceRequest(Base):
    """A creator's 资源对接 request and what became of it."""

    __tablename__ = "resource_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # expert | venue | data | promotion | other
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[ResourceStatus] = mapped_column(StatusType(ResourceStatus, 16), index=True)
    assignee_id: Mapped[int | None] = mapped_column(BigInteger)  # a tutor or a staff member
    answer: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# ---------------------------------------------------------------- reminders (issue 12)


class ReminderSent(Base):
    """A reminder the bot decided to send, once per logical occasion: `key` is (person, kind, subject,
    occasion), e.g. "deadline:1001:window:7d". Written in the same transaction as its outbox row, so
    a scan that runs twice, two processes or a restart never send one twice."""

    __tablename__ = "reminders_sent"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReminderPref(Base):
    """A person's choice for one kind of reminder (no row: the kind's default, on)."""

    __tablename__ = "reminder_prefs"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled: Mapped[bool] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# ---------------------------------------------------------------- broadcasts (issue 12)


class Broadcast(Base):
    """An operator's message to a segment of people. One row: a job fans it out into outbox rows in
    batches, in the order of the recipients' ids, moving `cursor` (the last id queued) in the same
    transaction, so a restart or a second process never queues anyone twice."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(BigInteger)
    segment: Mapped[str] = mapped_column(String(32))  # bot.services.broadcasts.Segment's kind
    segment_arg: Mapped[str | None] = mapped_column(Text)  # JSON: the category, or the list of ids
    payload: Mapped[str] = mapped_column(Text)  # JSON: the outbox payload every recipient gets
    status: Mapped[BroadcastStatus] = mapped_column(StatusType(BroadcastStatus, 16), index=True)
    total: Mapped[int] = mapped_column(default=0)  # recipients counted when it was confirmed
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)  # the last recipient id queued
    queued: Mapped[int] = mapped_column(default=0)  # outbox rows queued so far
    fanned_out: Mapped[bool] = mapped_column(default=False)  # every recipient has a row
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Lease(Base):
    """A job only one process may do at a time (the outbox sender: Telegram's limits are per bot):
    held by `holder` until `expires_at`, renewed while it works, taken over by another when it
    expires (its holder died)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
