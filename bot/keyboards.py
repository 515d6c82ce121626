"""Inline keyboards. Labels come from content/templates/labels.toml through Texts.label."""

from __future__ import annotations

from collections.abc import Iterable

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import CategoryCB, InviteCB, MenuCB, Section
from bot.render import Texts
from bot.services.users import INVITABLE, Person, Role


def button(texts: Texts, key: str, data: str, **fmt) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=texts.label(key, **fmt), callback_data=data)


def main_menu(texts: Texts, person: Person | None) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.row(button(texts, "menu.reg", MenuCB(section=Section.register).pack()))
    for section in (Section.about, Section.categories, Section.directions, Section.rules,
                    Section.contact, Section.ask, Section.help):
        kb.add(button(texts, f"menu.{section.value}", MenuCB(section=section).pack()))
    if person is not None and person.has(Role.admin):
        kb.add(button(texts, "menu.staff", MenuCB(section=Section.staff).pack()))
    kb.adjust(1, 2)
    return kb.as_markup()


def back_to_menu(texts: Texts, extra: Iterable[InlineKeyboardButton] = ()) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for b in extra:
        kb.row(b)
    kb.row(button(texts, "menu.back", MenuCB(section=Section.home).pack()))
    return kb.as_markup()


def categories_menu(texts: Texts, categories: Iterable) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for cat in categories:
        kb.add(InlineKeyboardButton(text=cat.name, callback_data=CategoryCB(id=cat.id).pack()))
    kb.adjust(2)
    kb.row(button(texts, "menu.back", MenuCB(section=Section.home).pack()))
    return kb.as_markup()


def category_back(texts: Texts) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.row(button(texts, "menu.back_categories", MenuCB(section=Section.categories).pack()))
    kb.row(button(texts, "menu.back", MenuCB(section=Section.home).pack()))
    return kb.as_markup()


def staff_menu(texts: Texts) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for role in INVITABLE:
        kb.add(button(texts, f"invite.{role.value}", InviteCB(role=role.value).pack()))
    kb.adjust(1)
    kb.row(button(texts, "menu.back", MenuCB(section=Section.home).pack()))
    return kb.as_markup()
