"""Button data factories. Short prefixes keep every button under Telegram's 64 bytes.
Handlers re-check that the person pressing may act on what the data names."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class Section(StrEnum):
    home = "home"
    about = "about"
    categories = "cats"
    directions = "dirs"
    rules = "rules"
    contact = "contact"
    help = "help"
    staff = "staff"
    ask = "ask"
    register = "reg"
    apply = "apply"
    mywork = "mywork"
    # operators' lists, reached from the counts on their /start
    pending = "pending"  # registrations waiting for a decision (/pending)
    bigfiles = "big"  # files too big to check here (/bigfiles)
    questions = "qs"  # open questions (/questions)


class MenuCB(CallbackData, prefix="m"):
    section: Section


class CategoryCB(CallbackData, prefix="cat"):
    id: str


class InviteCB(CallbackData, prefix="inv"):
    role: str


class InquiryCB(CallbackData, prefix="q"):
    id: int


class RegCB(CallbackData, prefix="r"):
    id: int
    action: str  # approve | reject | fix


class TypedQuestionCB(CallbackData, prefix="tq"):
    n: int  # the id of the person's message typed on the main menu; its text waits in their FSM data


class ProfileCB(CallbackData, prefix="p"):
    action: str  # register | mydata | erase | erase_yes


class ManualCheckCB(CallbackData, prefix="mc"):
    file: int
    passed: bool


class SubCB(CallbackData, prefix="s"):
    id: int
    action: str  # open | upload | edit | submit | submit_yes | later | withdraw | withdraw_yes | delete |
    # delete_yes | drop_failed | copy | replace | replace_no | fx_<form field>


class FileCB(CallbackData, prefix="sf"):
    """A file of one's own application (the handler finds its submission and checks the owner)."""

    file: int
    action: str  # open | remove | remove_yes


class StaffSubCB(CallbackData, prefix="ss"):
    """Operators open someone's application (the handler checks the admin role)."""

    id: int
    action: str  # open
