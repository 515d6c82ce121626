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
from storage.statuses import SUBMISSION_EDITABLE, SubmissionStatus


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
    edit_submission = "edit_submission"  # change its answers (a draft)
    change_files = "change_files"  # upload, replace, remove files (a draft, or returned by staff)
    submit_submission = "submit_submission"
    withdraw_submission = "withdraw_submission"
    delete_submission = "delete_submission"  # a draft only
    reopen_submission = "reopen_submission"  # a withdrawn one, copied as a new draft


STAFF = frozenset({Role.admin})
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
}


def owner(person: Person, obj: Any) -> bool:
    return getattr(obj, "user_id", None) == person.id


# the object-level rule of an action, beside its roles; an action without one is role-level only
OBJECT_RULES: dict[Action, Callable[[Person, Any], bool]] = {
    Action.open_application: lambda p, sub: sub.status != SubmissionStatus.draft,  # a draft is private
    Action.view_submission: owner,
    Action.edit_submission: lambda p, sub: owner(p, sub) and sub.status == SubmissionStatus.draft,
    Action.change_files: lambda p, sub: owner(p, sub) and sub.status in SUBMISSION_EDITABLE,
    Action.submit_submission: lambda p, sub: owner(p, sub) and allowed(sub, SubmissionStatus.submitted),
    Action.withdraw_submission: lambda p, sub: owner(p, sub) and allowed(sub, SubmissionStatus.withdrawn),
    Action.delete_submission: lambda p, sub: owner(p, sub) and sub.status == SubmissionStatus.draft,
    Action.reopen_submission: lambda p, sub: owner(p, sub) and sub.status == SubmissionStatus.withdrawn,
}


def can(person: Person | None, action: Action, obj: Any = None) -> bool:
    """Whether this person, with the roles loaded for the current update, may take `action`
    (and, given the object, take it on that object now)."""
    if person is None or not RULES[action] & person.roles:
        return False
    rule = OBJECT_RULES.get(action)
    return obj is None or rule is None or rule(person, obj)
