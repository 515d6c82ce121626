"""Inline keyboards. Labels come from content/templates/labels.toml through Texts.label."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from weakref import WeakKeyDictionary

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import (
    BroadcastAction,
    BroadcastCB,
    CategoryCB,
    InquiryCB,
    InviteCB,
    MenuCB,
    ResStaffAction,
    ResStaffCB,
    ReviewAction,
    ReviewCB,
    Section,
    TutorAction,
    TutorCB,
)
from bot.render import Texts
from bot.services.inquiries import InquiryView
from bot.services.resources import NOBODY_YET
from bot.services.staff import Waiting
from bot.services.users import INVITABLE, Person, Role


def button(texts: Texts, key: str, data: str, **fmt) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=texts.label(key, **fmt), callback_data=data)


MENU_SECTIONS = (Section.about, Section.categories, Section.directions, Section.rules, Section.contact,
                 Section.ask, Section.help)


def main_menu(texts: Texts, person: Person | None, waiting: Waiting | None = None) -> InlineKeyboardMarkup:
    """The main menu; `waiting` (operators only) puts their lists, with counts, on top. The rows
    are made once per kind of person (a caller may add a row: each call gets its own lists)."""
    admin, reviewer = person is not None and person.has(Role.admin), person is not None and person.has(Role.reviewer)
    made = _MENUS.setdefault(texts, {})
    rows = made.get((admin, reviewer))
    if rows is None:
        rows = made[(admin, reviewer)] = _menu_rows(texts, admin=admin, reviewer=reviewer)
    rows = [list(row) for row in rows]
    if waiting is not None:
        rows[0:0] = in_rows(staff_lists(texts, waiting), 2)
    return InlineKeyboardMarkup(inline_keyboard=rows)


# the menus' rows per Texts (labels never change while it lives), for (admin, reviewer): 150 µs a
# menu made anew, on every /start and 返回主菜单
_MENUS: WeakKeyDictionary[Texts, dict[Any, list[list[InlineKeyboardButton]]]] = WeakKeyDictionary()


def _menu_rows(texts: Texts, *, admin: bool, reviewer: bool) -> list[list[InlineKeyboardButton]]:
    buttons = [button(texts, f"menu.{s.value}", MenuCB(section=s).pack()) for s in MENU_SECTIONS]
    if admin:
        buttons.append(button(texts, "menu.staff", MenuCB(section=Section.staff).pack()))
    work = [button(texts, "menu.apply", MenuCB(section=Section.apply).pack()),
            button(texts, "menu.mywork", MenuCB(section=Section.mywork).pack())]
    growth = [button(texts, f"menu.{s.value}", MenuCB(section=s).pack())
              for s in (Section.academy, Section.tutor, Section.resources)]
    rows = [[button(texts, "menu.reg", MenuCB(section=Section.register).pack())], work, growth, *in_rows(buttons, 2)]
    if reviewer:  # their review queue first
        rows.insert(0, [button(texts, "menu.reviews", ReviewCB(id=0, action=ReviewAction.queue).pack())])
    return rows


def staff_lists(texts: Texts, waiting: Waiting) -> list[InlineKeyboardButton]:
    """Operators: a button to each list of what waits for them, with its count."""
    return [button(texts, "staff.pending", MenuCB(section=Section.pending).pack(), n=waiting.registrations),
            button(texts, "staff.bigfiles", MenuCB(section=Section.bigfiles).pack(), n=waiting.big_files),
            button(texts, "staff.questions", MenuCB(section=Section.questions).pack(), n=waiting.questions),
            button(texts, "staff.reviews", MenuCB(section=Section.review_queue).pack(), n=waiting.reviews),
            button(texts, "staff.tutoring", TutorCB(id=0, action=TutorAction.queue).pack(), n=waiting.tutoring),
            button(texts, "staff.requests", ResStaffCB(id=0, action=ResStaffAction.page, arg=f"{NOBODY_YET}-0").pack(),
                   n=waiting.requests)]


def questions_list(texts: Texts, questions: Iterable[InquiryView]) -> InlineKeyboardMarkup:
    """Operators' open questions: a 回复 button for each (the same reply flow as the notification's)."""
    return back_to_menu(texts, [button(texts, "inquiry.reply_to", InquiryCB(id=q.id).pack(), id=q.id,
                                       name=q.asker[:16])
                                for q in questions])


def back_to_menu(texts: Texts, extra: Iterable[InlineKeyboardButton] = (),
                 rows: list[list[InlineKeyboardButton]] | None = None) -> InlineKeyboardMarkup:
    """`extra` buttons one per row (or ready `rows`), then 返回主菜单."""
    rows = [*(rows or []), *([b] for b in extra)]
    rows.append([button(texts, "menu.back", MenuCB(section=Section.home).pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def in_rows(buttons: list[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[i:i + width] for i in range(0, len(buttons), width)]


def categories_menu(texts: Texts, categories: Iterable) -> InlineKeyboardMarkup:
    categories = tuple(categories)
    made = _MENUS.setdefault(texts, {})
    key = ("categories", tuple((cat.id, cat.name) for cat in categories))
    rows = made.get(key)
    if rows is None:
        buttons = [InlineKeyboardButton(text=cat.name, callback_data=CategoryCB(id=cat.id).pack()) for cat in categories]
        rows = made[key] = back_to_menu(texts, rows=in_rows(buttons, 2)).inline_keyboard
    return InlineKeyboardMarkup(inline_keyboard=[list(row) for row in rows])


def category_back(texts: Texts) -> InlineKeyboardMarkup:
    return back_to_menu(texts, [button(texts, "menu.back_categories", MenuCB(section=Section.categories).pack())])


def staff_menu(texts: Texts) -> InlineKeyboardMarkup:
    """Operators' tools: broadcasts, then an invite link for each staff role."""
    broadcasts = [button(texts, "broadcasts.new", BroadcastCB(id=0, action=BroadcastAction.new).pack()),
                  button(texts, "broadcasts.list", BroadcastCB(id=0, action=BroadcastAction.list).pack())]
    invites = [button(texts, f"invite.{role.value}", InviteCB(role=role.value).pack()) for role in INVITABLE]
    return back_to_menu(texts, rows=[broadcasts, *([b] for b in invites)])
