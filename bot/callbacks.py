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


class ProfileCB(CallbackData, prefix="p"):
    action: str  # register | mydata | erase | erase_yes


class ManualCheckCB(CallbackData, prefix="mc"):
    file: int
    passed: bool


class SubCB(CallbackData, prefix="s"):
    id: int
    action: str  # open | upload | edit | submit | later | withdraw | withdraw_yes | delete | delete_yes
