"""Button data factories. Short prefixes keep every button under Telegram's 64 bytes.
Handlers re-check that the person pressing may act on what the data names."""

from __future__ import annotations

from datetime import datetime
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


class MyWorkCB(CallbackData, prefix="mw"):
    page: int  # /mywork's list, page by page (the first page is MenuCB(section=mywork))


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
    action: str  # register | mydata | erase | erase_yes.<minute stamp> (see `stamped`)


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


# ---------------------------------------------------------------- confirmations expire
# A confirmation button (delete, withdraw, erase …) carries the minute it was made, so one pressed
# weeks later is refused: its action reads "delete_yes.<minute in base 36>" (6 characters more).

CONFIRM_MINUTES = 10


def minute_stamp(now: datetime) -> str:
    """The minute `now` falls in (minutes since 1970, base 36: 5 characters until the year 5700)."""
    n, digits = int(now.timestamp()) // 60, ""
    while True:
        n, d = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[d] + digits
        if n == 0:
            return digits


def fresh(stamp: str | None, now: datetime, minutes: int = CONFIRM_MINUTES) -> bool:
    """Was a button stamped (minute_stamp) at most `minutes` ago? A missing or garbled stamp (a
    button made before stamps existed, or forged) is not fresh; a minute ahead is tolerated."""
    try:
        made = int(stamp or "", 36)
    except ValueError:
        return False
    return -1 <= int(now.timestamp()) // 60 - made <= minutes


def stamped(action: str, now: datetime) -> str:
    """A confirmation's action with the minute it was made: stamped("delete_yes", now) -> "delete_yes.rq3k2"."""
    return f"{action}.{minute_stamp(now)}"


def unstamped(action: str) -> tuple[str, str | None]:
    """The action and its stamp (None when it has none): the handler then asks fresh(stamp, now)."""
    name, dot, stamp = action.partition(".")
    return name, (stamp if dot else None)
