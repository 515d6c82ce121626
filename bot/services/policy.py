"""Who may do what: one named rule per staff action, asked by the button that opens an action and
again by the form that finishes it (a role can be taken away while the form is open: an operator
removed from ADMIN_IDS must not finish a rejection or an answer begun before). No aiogram here."""

from __future__ import annotations

from enum import StrEnum

from bot.services.users import Person, Role


class Action(StrEnum):
    decide_registration = "decide_registration"  # approve or send back a 科普号 registration
    list_registrations = "list_registrations"  # /pending: applicants' forms, phones, scans
    answer_inquiry = "answer_inquiry"  # answer someone's question as the programme's staff
    list_inquiries = "list_inquiries"  # /questions
    check_file_by_hand = "check_file_by_hand"  # pass or fail a file too big for the checks
    open_application = "open_application"  # read someone's submitted application and its files


RULES: dict[Action, frozenset[Role]] = {
    Action.decide_registration: frozenset({Role.admin}),
    Action.list_registrations: frozenset({Role.admin}),
    Action.answer_inquiry: frozenset({Role.admin}),
    Action.list_inquiries: frozenset({Role.admin}),
    Action.check_file_by_hand: frozenset({Role.admin}),
    Action.open_application: frozenset({Role.admin}),
}


def can(person: Person | None, action: Action) -> bool:
    """Whether this person, with the roles loaded for the current update, may take `action`."""
    return person is not None and bool(RULES[action] & person.roles)
