"""Who may do what to which object, in one place. `can(person, action)` is the role-level rule (the
`Can(action)` router filter asks it before a handler runs); `can(person, action, obj)` adds the
object-level rule (the owner, in a status that allows it), which the services ask about the row a
button names, since a button's data is never trusted. Asked by the button that opens a staff action
and again by the form that finishes it (a role can be taken away while the form is open: an
operator removed from ADMIN_IDS must not finish a rejection or an answer begun before).
No aiogram here."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from bot.services.transitions import allowed
from bot.services.users import Person, Role
from storage.statuses import (
    ANSWERS_EDITABLE,
    SUBMISSION_EDITABLE,
    AssignmentStatus,
    ResourceStatus,
    RoundStatus,
    SubmissionStatus,
    TutorshipStatus,
)


class Action(StrEnum):
    decide_registration = "decide_registration"  # approve or send back a 科普号 registration
    list_registrations = "list_registrations"  # /pending: applicants' forms, phones, scans
    answer_inquiry = "answer_inquiry"  # answer someone's question as the programme's staff
    list_inquiries = "list_inquiries"  # /questions
    check_file_by_hand = "check_file_by_hand"  # pass or fail a file too big for the checks
    open_application = "open_application"  # read someone's submitted application and its files
    manage_staff = "manage_staff"  # /invite tutors and reviewers, /staff, the staff menu
    see_dead_letters = "see_dead_letters"  # /deadletters: updates the bot could not handle
    # a creator's own application
    view_submission = "view_submission"  # its card, answers and files
    edit_submission = "edit_submission"  # change its answers (a draft, or for the next round after 修改后再审)
    change_files = "change_files"  # upload, replace, remove files (a draft, or returned by staff)
    submit_submission = "submit_submission"
    withdraw_submission = "withdraw_submission"
    delete_submission = "delete_submission"  # a draft only
    reopen_submission = "reopen_submission"  # a withdrawn one, copied as a new draft
    # expert review (issue 10)
    set_reviewer_profile = "set_reviewer_profile"  # a reviewer's fields and 单位, for matching
    list_reviews = "list_reviews"  # /reviews: the reviewer's own queue
    review_assignment = "review_assignment"  # open and score a round given to them
    decline_assignment = "decline_assignment"  # give it back, with a reason
    assign_reviewers = "assign_reviewers"  # the queue, reassigning, assigning the waiting ones
    decide_round = "decide_round"  # 入选 / 修改后再审 / 不入选 when the reviews are in
    disqualify_submission = "disqualify_submission"  # 取消资格, at any stage, with a reason
    list_submissions = "list_submissions"  # /submissions: every application, filtered
    export_submissions = "export_submissions"  # /export: the .xlsx of applications, reviews, audit
    # 创作学院 and tutoring (issue 11)
    read_lessons = "read_lessons"  # /academy: lessons, progress, quizzes
    ask_tutor = "ask_tutor"  # /tutor: ask for a tutor; write to one's own tutor (object: the tutorship)
    end_tutorship = "end_tutorship"  # either side ends their tutoring (object: the tutorship)
    request_resource = "request_resource"  # 资源对接: file a request
    set_tutor_profile = "set_tutor_profile"  # a tutor's fields and how many creators they take
    tutor_creators = "tutor_creators"  # /mycreators; answer one's own creators (object: the tutorship)
    assign_tutor = "assign_tutor"  # /assign_tutor, the tutoring queue, ending anyone's tutoring
    handle_resource = "handle_resource"  # answer / close a resource request (object: staff any, a tutor theirs)
    list_resources = "list_resources"  # the operators' list of resource requests, assigning them
    broadcast = "broadcast"  # write to a segment of people, see and stop broadcasts


STAFF = frozenset({Role.admin})
REVIEWERS = frozenset({Role.reviewer})
TUTORS = frozenset({Role.tutor})
EVERYONE = frozenset({Role.creator})  # every person is a creator

RULES: dict[Action, frozenset[Role]] = {
    Action.decide_registration: STAFF,
    Action.list_registrations: STAFF,
    Action.answer_inquiry: STAFF,
    Action.list_inquiries: STAFF,
    Action.check_file_by_hand: STAFF,
    Action.open_application: STAFF,  # later: the reviewer it is assigned to
    Action.manage_staff: STAFF,
    Action.see_dead_letters: STAFF,
    Action.view_submission: EVERYONE,
    Action.edit_submission: EVERYONE,
    Action.change_files: EVERYONE,
    Action.submit_submission: EVERYONE,
    Action.withdraw_submission: EVERYONE,
    Action.delete_submission: EVERYONE,
    Action.reopen_submission: EVERYONE,
    Action.set_reviewer_profile: REVIEWERS,
    Action.list_reviews: REVIEWERS,
    Action.review_assignment: REVIEWERS,
    Action.decline_assignment: REVIEWERS,
    Action.assign_reviewers: STAFF,
    Action.decide_round: STAFF,
    Action.disqualify_submission: STAFF,
    Action.list_submissions: STAFF,
    Action.export_submissions: STAFF,
    Action.read_lessons: EVERYONE,
    Action.ask_tutor: EVERYONE,
    Action.end_tutorship: EVERYONE,
    Action.request_resource: EVERYONE,
    Action.set_tutor_profile: TUTORS,
    Action.tutor_creators: TUTORS,
    Action.assign_tutor: STAFF,
    Action.handle_resource: STAFF | TUTORS,
    Action.list_resources: STAFF,
    Action.broadcast: STAFF,
}


def owner(person: Person, obj: Any) -> bool:
    return getattr(obj, "user_id", None) == person.id


def assigned_to(person: Person, assignment: Any) -> bool:
    """A review assignment that is this reviewer's and still open (a submitted review is final; a
    declined, reassigned or stopped one is no longer theirs)."""
    return assignment.reviewer_id == person.id and assignment.status == AssignmentStatus.assigned


# the object-level rule of an action, beside its roles; an action without one is role-level only
OBJECT_RULES: dict[Action, Callable[[Person, Any], bool]] = {
    Action.open_application: lambda p, sub: sub.status != SubmissionStatus.draft,  # a draft is private
    Action.view_submission: owner,
    Action.edit_submission: lambda p, sub: owner(p, sub) and sub.status in ANSWERS_EDITABLE,
    Action.change_files: lambda p, sub: owner(p, sub) and sub.status in SUBMISSION_EDITABLE,
    Action.submit_submission: lambda p, sub: owner(p, sub) and allowed(sub, SubmissionStatus.submitted),
    Action.withdraw_submission: lambda p, sub: owner(p, sub) and allowed(sub, SubmissionStatus.withdrawn),
    Action.delete_submission: lambda p, sub: owner(p, sub) and sub.status == SubmissionStatus.draft,
    Action.reopen_submission: lambda p, sub: owner(p, sub) and sub.status == SubmissionStatus.withdrawn,
    Action.review_assignment: assigned_to,
    Action.decline_assignment: assigned_to,
    Action.decide_round: lambda p, rnd: rnd.status == RoundStatus.reviewing,
    Action.disqualify_submission: lambda p, sub: allowed(sub, SubmissionStatus.disqualified),
    # a tutorship: the creator writes to their active tutor; the tutor to their active creator;
    # either side (or staff) ends one that is not ended yet
    Action.ask_tutor: lambda p, t: t.creator_id == p.id and t.status == TutorshipStatus.active,
    Action.tutor_creators: lambda p, t: t.tutor_id == p.id and t.status == TutorshipStatus.active,
    Action.end_tutorship: lambda p, t: (p.id in (t.creator_id, t.tutor_id) or Role.admin in p.roles)
    and t.status != TutorshipStatus.ended,
    # a resource request: staff handle any open one; a tutor only those assigned to them
    Action.handle_resource: lambda p, r: r.status != ResourceStatus.closed
    and (Role.admin in p.roles or r.assignee_id == p.id),
}


def can(person: Person | None, action: Action, obj: Any = None) -> bool:
    """Whether this person, with the roles loaded for the current update, may take `action`
    (and, given the object, take it on that object now)."""
    if person is None or not RULES[action] & person.roles:
        return False
    rule = OBJECT_RULES.get(action)
    return obj is None or rule is None or rule(person, obj)
