"""Status changes go through one transition table per entity: every legal change works and writes
exactly one audit row; every other is refused and writes nothing. The services use it too."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.services import inquiries, personal_data, registration, submissions, transitions
from bot.services.transitions import IllegalTransition, transition
from bot.services.users import Person, Role, upsert_user
from storage.db import make_engine
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

USER = 1001
ADMIN = Person(9001, "Admin", frozenset({Role.creator, Role.admin}))


@pytest.fixture
async def session(db_url):
    engine = make_engine(db_url)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session:
        await upsert_user(session, USER, first_name="Alice")
        await session.flush()
        yield session
        await session.rollback()
    await engine.dispose()


def _registration(n: int) -> Registration:
    text = {name: "x" for name in ("account_name", "subject_type", "subject_name", "person_name", "unit", "position",
                                   "title", "field", "phone", "email", "experience", "recommender")}
    return Registration(user_id=USER, **{**text, "account_name": f"号{n}"}, account_key=f"key-{n}")


async def _submission(session) -> Submission:
    sub = Submission(user_id=USER, kind="work", category="article", title="光", answers="{}",
                     status=SubmissionStatus.draft)
    session.add(sub)
    await session.flush()
    return sub


COUNTER = itertools.count()


async def _make(session, model: type, status):
    """A row of `model` in `status` (None: a new row, not added yet), put there without transition()."""
    n = next(COUNTER)
    if model is Registration:
        obj = _registration(n)
    elif model is Submission:
        obj = Submission(user_id=USER, kind="work", category="article", title="光", answers="{}")
    elif model is SubmissionFile:
        sub = await _submission(session)
        obj = SubmissionFile(submission_id=sub.id, file_id=f"f{n}", file_unique_id=f"u{n}", file_name="a.docx",
                             sent_as="document")
    elif model is ReviewRound:
        sub = await _submission(session)
        obj = ReviewRound(submission_id=sub.id, number=1)
    elif model is ReviewAssignment:
        sub = await _submission(session)
        rnd = ReviewRound(submission_id=sub.id, number=1, status=RoundStatus.reviewing)
        session.add(rnd)
        await session.flush()
        obj = ReviewAssignment(round_id=rnd.id, reviewer_id=USER + 1, due_at=utcnow())
    elif model is LessonProgress:
        obj = LessonProgress(user_id=USER, slug=f"lesson-{n}")
    elif model is Tutorship:
        obj = Tutorship(creator_id=USER, tutor_id=USER + 1)
    elif model is ResourceRequest:
        obj = ResourceRequest(user_id=USER, kind="expert", description="想请一位天文学专家审读脚本")
    elif model is Broadcast:
        obj = Broadcast(author_id=USER, segment="all", payload="{}", total=1, cursor=0, queued=0, fanned_out=False)
    else:
        obj = Inquiry(user_id=USER, topic="other", question="什么时候截止？")
    if status is not None:
        setattr(obj, transitions.TABLES[model][1], status)
        session.add(obj)
        await session.flush()
    return obj


async def _audit(session) -> list[AuditEntry]:
    return list((await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars())


ENUMS = {Registration: RegistrationStatus, Submission: SubmissionStatus, SubmissionFile: FileStatus,
         Inquiry: InquiryStatus, ReviewRound: RoundStatus, ReviewAssignment: AssignmentStatus,
         LessonProgress: LessonStatus, Tutorship: TutorshipStatus, ResourceRequest: ResourceStatus,
         Broadcast: BroadcastStatus}
LEGAL = [(model, src, dst) for model, (_, _, table) in transitions.TABLES.items()
         for src, targets in table.items() for dst in sorted(targets)]
ILLEGAL = [(model, src, dst) for model, (_, _, table) in transitions.TABLES.items()
           for src in (None, *ENUMS[model]) for dst in ENUMS[model] if dst not in table.get(src, ())]


def test_every_status_has_a_row_in_its_table():
    for model, (_, _, table) in transitions.TABLES.items():
        assert set(table) == {None, *ENUMS[model]}, model


@pytest.mark.parametrize(("model", "src", "dst"), LEGAL, ids=lambda v: getattr(v, "__name__", str(v)))
async def test_a_legal_transition_changes_the_status_and_writes_one_audit_row(session, model, src, dst):
    obj = await _make(session, model, src)
    await transition(session, obj, dst, actor_id=USER, reason="因为")
    await session.flush()
    column = transitions.TABLES[model][1]
    stored = (await session.execute(select(getattr(model, column)).where(model.id == obj.id))).scalar_one()
    assert stored is dst
    [entry] = await _audit(session)
    assert (entry.entity, entry.entity_id, entry.from_status, entry.to_status, entry.actor_id, entry.reason) == (
        transitions.TABLES[model][0], obj.id, None if src is None else src.value, dst.value, USER, "因为")
    assert entry.at is not None


@pytest.mark.parametrize(("model", "src", "dst"), ILLEGAL, ids=lambda v: getattr(v, "__name__", str(v)))
async def test_an_illegal_transition_is_refused_and_writes_nothing(session, model, src, dst):
    obj = await _make(session, model, src)
    with pytest.raises(IllegalTransition):
        await transition(session, obj, dst, actor_id=USER)
    assert transitions.status_of(obj) == src
    await session.flush()
    assert await _audit(session) == []


@pytest.mark.parametrize(("model", "src", "dst"), [
    (Submission, SubmissionStatus.withdrawn, SubmissionStatus.submitted),
    (Submission, SubmissionStatus.submitted, SubmissionStatus.draft),
    (Registration, RegistrationStatus.approved, RegistrationStatus.rejected),
    (Registration, RegistrationStatus.erased, RegistrationStatus.approved),
    (Inquiry, InquiryStatus.answered, InquiryStatus.open),
    (SubmissionFile, FileStatus.passed, FileStatus.checking),  # no re-download exists: a re-judge moves passed
    # issue 10: no withdrawing under review, no second decision, nothing after a decision but disqualifying
    (Submission, SubmissionStatus.under_review, SubmissionStatus.withdrawn),
    (Submission, SubmissionStatus.accepted, SubmissionStatus.rejected),
    (Submission, SubmissionStatus.rejected, SubmissionStatus.submitted),
    (Submission, SubmissionStatus.disqualified, SubmissionStatus.submitted),
    (ReviewRound, RoundStatus.decided, RoundStatus.decided),
    (ReviewAssignment, AssignmentStatus.submitted, AssignmentStatus.assigned),
])
def test_the_named_illegal_changes_are_in_the_illegal_list(model, src, dst):
    assert (model, src, dst) in ILLEGAL


# ------------------------------------------------------------------ the services go through it


async def test_a_registration_round_is_recorded(session):
    values = {"account_name": "小科说", "subject_type": "individual", "subject_name": "Alice", "person_name": "Alice",
              "unit": "某大学", "position": "教师", "title": "讲师", "field": "物理", "phone": "+8613800138000",
              "email": "a@example.org", "experience": "多年科普经历。", "experience_file": None, "recommender": "学会"}
    reg = await registration.save_form(session, USER, values)
    await registration.attach_scan(session, USER, {"file_id": "scan", "kind": "document"})
    outcome, _ = await registration.decide(session, reg.id, ADMIN, approve=False, reason="电话 13800138000 打不通")
    assert outcome is registration.Decision.done
    # approved -> rejected is refused by the table, so a second decision is "not pending"
    outcome, _ = await registration.decide(session, reg.id, ADMIN, approve=True)
    assert outcome is registration.Decision.not_pending
    outcome, _ = await registration.decide(session, reg.id, Person(USER, "Alice", frozenset({Role.creator})),
                                           approve=True)
    assert outcome is registration.Decision.forbidden
    await session.flush()
    rows = [(a.from_status, a.to_status, a.actor_id, a.reason) for a in await _audit(session)]
    assert rows == [(None, "awaiting_seal", USER, None), ("awaiting_seal", "pending_review", USER, None),
                    ("pending_review", "rejected", ADMIN.id, "电话 13800138000 打不通")]
    assert (await session.get(Registration, reg.id)).status is RegistrationStatus.rejected


async def test_an_approved_registration_takes_no_new_form(session):
    reg = await _make(session, Registration, RegistrationStatus.approved)
    values = {**registration.values_of(reg), "account_name": reg.account_name}
    with pytest.raises(IllegalTransition):
        await registration.save_form(session, USER, values)
    assert reg.status is RegistrationStatus.approved
    assert await _audit(session) == []


async def test_an_inquiry_is_answered_once(session):
    inquiry = await inquiries.ask(session, USER, inquiries.Topic.other, "什么时候截止？")
    assert await inquiries.answer(session, inquiry.id, ADMIN, "月底") is inquiries.AnswerOutcome.answered
    assert await inquiries.answer(session, inquiry.id, ADMIN, "再答") is inquiries.AnswerOutcome.already
    creator = Person(USER, "Alice", frozenset({Role.creator}))
    assert await inquiries.answer(session, inquiry.id, creator, "x") is inquiries.AnswerOutcome.forbidden
    await session.flush()
    assert [(a.entity, a.from_status, a.to_status, a.actor_id) for a in await _audit(session)] == [
        ("inquiries", None, "open", USER), ("inquiries", "open", "answered", ADMIN.id)]
    assert (await session.get(Inquiry, inquiry.id)).answer == "月底"


async def test_withdrawing_twice_is_refused_and_recorded_once(session):
    sub = await _make(session, Submission, SubmissionStatus.submitted)
    assert await submissions.withdraw(session, sub) is True
    assert await submissions.withdraw(session, sub) is False
    await session.flush()
    assert [(a.from_status, a.to_status) for a in await _audit(session)] == [("submitted", "withdrawn")]


async def test_erasing_keeps_the_history_without_its_reasons(session):
    reg = await _make(session, Registration, RegistrationStatus.pending_review)
    await transition(session, reg, RegistrationStatus.rejected, actor_id=ADMIN.id, reason="手机号 13800138000 有误")
    await upsert_user(session, ADMIN.id, first_name="Admin")
    await session.flush()
    other = Inquiry(user_id=ADMIN.id, topic="other", question="?")
    await transition(session, other, InquiryStatus.open, actor_id=ADMIN.id, reason="someone else's")
    await session.flush()
    await personal_data.erase(session, USER)
    await session.flush()
    rows = [(a.entity, a.entity_id, a.from_status, a.to_status, a.actor_id, a.reason) for a in await _audit(session)]
    assert rows == [("registrations", reg.id, "pending_review", "rejected", ADMIN.id, None),
                    ("inquiries", other.id, None, "open", ADMIN.id, "someone else's")]
    count = (await session.execute(select(func.count()).select_from(AuditEntry))).scalar_one()
    assert count == 2
