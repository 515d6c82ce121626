"""The policy, as a table: every action for every role, and for a creator's own application, every
status for its owner and for someone else. Written out here, not derived from the code."""

from __future__ import annotations

import pytest

from bot.filters import Can
from bot.services.policy import RULES, Action, can
from bot.services.users import Person, Role
from storage.models import Registration, ResourceRequest, ReviewAssignment, ReviewRound, Submission, Tutorship
from storage.statuses import AssignmentStatus, ResourceStatus, RoundStatus, TutorshipStatus
from storage.statuses import SubmissionStatus as S

OWNER_ID = 1001


def person(role: Role, person_id: int = OWNER_ID) -> Person:
    return Person(person_id, "x", frozenset({Role.creator, role}))


STAFF_ONLY = {Action.decide_registration, Action.list_registrations, Action.answer_inquiry, Action.list_inquiries,
              Action.check_file_by_hand, Action.open_application, Action.manage_staff, Action.see_dead_letters,
              Action.assign_reviewers, Action.decide_round, Action.disqualify_submission, Action.list_submissions,
              Action.export_submissions, Action.assign_tutor, Action.list_resources, Action.broadcast}
REVIEWER_ONLY = {Action.set_reviewer_profile, Action.list_reviews, Action.review_assignment,
                 Action.decline_assignment}
TUTOR_ONLY = {Action.set_tutor_profile, Action.tutor_creators}
TUTORS_AND_STAFF = {Action.handle_resource}
CREATORS = {Action.view_submission, Action.edit_submission, Action.change_files, Action.submit_submission,
            Action.withdraw_submission, Action.delete_submission, Action.reopen_submission, Action.read_lessons,
            Action.ask_tutor, Action.end_tutorship, Action.request_resource}

# who may take the action at all (no object): role -> actions
ROLE_LEVEL = {
    Role.creator: CREATORS,
    Role.tutor: CREATORS | TUTOR_ONLY | TUTORS_AND_STAFF,
    Role.reviewer: CREATORS | REVIEWER_ONLY,
    Role.admin: CREATORS | STAFF_ONLY | TUTORS_AND_STAFF,
}

# the owner's own application: action -> the statuses in which they may
OWNER = {
    Action.view_submission: set(S),
    Action.edit_submission: {S.draft, S.revise},  # revise: its answers for the next round
    Action.change_files: {S.draft, S.returned, S.revise},
    Action.submit_submission: {S.draft, S.returned, S.revise},  # revise: the next review round
    Action.withdraw_submission: {S.submitted, S.returned},
    Action.delete_submission: {S.draft},
    Action.reopen_submission: {S.withdrawn},
}


def test_every_action_is_in_the_table():
    assert set(Action) == STAFF_ONLY | CREATORS | REVIEWER_ONLY | TUTOR_ONLY | TUTORS_AND_STAFF == set(RULES)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_role_level(role, action):
    assert can(person(role), action) is (action in ROLE_LEVEL[role])


@pytest.mark.parametrize("action", list(Action))
def test_nobody_may_do_anything(action):
    assert can(None, action) is False


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("action", sorted(OWNER))
@pytest.mark.parametrize("role", list(Role))
def test_own_application(role, action, status):
    sub = Submission(user_id=OWNER_ID, status=status)
    assert can(person(role), action, sub) is (status in OWNER[action])
    # someone else's application, whatever their role
    assert can(person(role, person_id=2002), action, sub) is False


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("role", list(Role))
def test_open_application_is_staff_and_never_a_draft(role, status):
    sub = Submission(user_id=OWNER_ID, status=status)
    assert can(person(role, person_id=9001), Action.open_application, sub) is (
        role is Role.admin and status is not S.draft)


@pytest.mark.parametrize("role", list(Role))
def test_deciding_a_registration_is_for_admins(role):
    reg = Registration(user_id=OWNER_ID)
    assert can(person(role, person_id=9001), Action.decide_registration, reg) is (role is Role.admin)
    assert can(person(role), Action.decide_registration, reg) is (role is Role.admin)


@pytest.mark.parametrize("role", list(Role))
async def test_the_router_filter_asks_the_policy(role):
    allowed = await Can(Action.list_inquiries)(object(), person=person(role))
    assert allowed is (role is Role.admin)
    assert await Can(Action.list_inquiries)(object(), person=None) is False


@pytest.mark.parametrize("status", list(AssignmentStatus))
@pytest.mark.parametrize("action", [Action.review_assignment, Action.decline_assignment])
def test_a_reviewer_acts_on_their_own_open_assignment_only(action, status):
    mine = ReviewAssignment(reviewer_id=OWNER_ID, status=status)
    assert can(person(Role.reviewer), action, mine) is (status is AssignmentStatus.assigned)
    assert can(person(Role.reviewer, person_id=2002), action, mine) is False  # another reviewer's
    assert can(person(Role.admin), action, mine) is False  # operators reassign, they don't review
    assert can(person(Role.creator), action, mine) is False


@pytest.mark.parametrize("status", list(RoundStatus))
def test_a_round_is_decided_while_it_is_being_reviewed(status):
    rnd = ReviewRound(status=status)
    assert can(person(Role.admin, 9001), Action.decide_round, rnd) is (status is RoundStatus.reviewing)
    assert can(person(Role.reviewer, 9001), Action.decide_round, rnd) is False


@pytest.mark.parametrize("status", list(S))
def test_disqualifying_is_for_staff_at_any_stage_after_a_draft(status):
    sub = Submission(user_id=OWNER_ID, status=status)
    expected = status in {S.submitted, S.returned, S.under_review, S.revise, S.accepted, S.rejected}
    assert can(person(Role.admin, 9001), Action.disqualify_submission, sub) is expected
    assert can(person(Role.reviewer, 9001), Action.disqualify_submission, sub) is False


@pytest.mark.parametrize("status", list(TutorshipStatus))
def test_a_tutorship_is_its_two_peoples_while_active(status):
    t = Tutorship(creator_id=OWNER_ID, tutor_id=2002, status=status)
    creator, tutor, other_tutor = person(Role.creator), person(Role.tutor, 2002), person(Role.tutor, 2003)
    active = status == TutorshipStatus.active
    assert can(creator, Action.ask_tutor, t) is active and can(tutor, Action.tutor_creators, t) is active
    assert not can(other_tutor, Action.tutor_creators, t) and not can(person(Role.creator, 1002), Action.ask_tutor, t)
    open_ = status != TutorshipStatus.ended
    assert can(creator, Action.end_tutorship, t) is open_ and can(tutor, Action.end_tutorship, t) is open_
    assert can(person(Role.admin, 9001), Action.end_tutorship, t) is open_
    assert not can(other_tutor, Action.end_tutorship, t)


@pytest.mark.parametrize("status", list(ResourceStatus))
def test_a_resource_request_is_handled_by_staff_or_its_tutor(status):
    r = ResourceRequest(user_id=OWNER_ID, kind="expert", description="x", status=status, assignee_id=2002)
    open_ = status != ResourceStatus.closed
    assert can(person(Role.admin, 9001), Action.handle_resource, r) is open_
    assert can(person(Role.tutor, 2002), Action.handle_resource, r) is open_
    assert not can(person(Role.tutor, 2003), Action.handle_resource, r)
    assert not can(person(Role.creator), Action.handle_resource, r)
