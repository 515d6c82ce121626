"""/settings (issue 12): each person's reminder kinds on or off, and the quiet hours.

The kinds shown are those of the person's roles (creators: deadline … branding; reviewers also
review_due; operators also digest), each with ✅/⬜ and a button that turns it off or on; the
message is edited in place. Decisions, review feedback and answers to questions are notifications,
not reminders: the view says they always arrive and are never held.

A button names the kind and what it does (`st:off.deadline`): an unknown kind (forged or garbled)
or one not for the person's roles gets a kind alert and nothing changes.
"""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import Pressed, SettingsAction, SettingsCB
from bot.campaign import Campaign
from bot.keyboards import back_to_menu
from bot.render import Texts
from bot.services import reminders
from bot.services.reminders import Kind
from bot.services.users import Person, Role
from bot.ui import show, stale_button

# what each role may be reminded of (everyone is a creator); in the order Kind lists them
FOR_ROLE: dict[Role, frozenset[Kind]] = {
    Role.creator: frozenset({Kind.deadline, Kind.draft_idle, Kind.seal_waiting, Kind.sent_back,
                             Kind.revise_pending, Kind.lesson, Kind.branding}),
    Role.reviewer: frozenset({Kind.review_due}),
    Role.admin: frozenset({Kind.digest}),
}


def kinds_for(person: Person) -> list[Kind]:
    """The reminder kinds this person's roles receive, in Kind's order."""
    theirs = {Role.creator, *person.roles}
    return [kind for kind in Kind if any(kind in FOR_ROLE.get(role, ()) for role in theirs)]


async def view(texts: Texts, session: AsyncSession, campaign: Campaign,
               person: Person) -> tuple[str, InlineKeyboardMarkup]:
    chosen = await reminders.settings_of(session, person.id)
    kinds = kinds_for(person)
    items = [{"kind": kind.value, "name": texts.label(f"reminders.kinds.{kind.value}"), "on": chosen[kind]}
             for kind in kinds]
    start, end = campaign.reminders.quiet_hours
    rows = [[InlineKeyboardButton(
        text=texts.label("settings.toggle_on" if item["on"] else "settings.toggle_off", name=item["name"]),
        callback_data=SettingsCB(action=SettingsAction.off if item["on"] else SettingsAction.on,
                                 arg=item["kind"]).pack())] for item in items]
    text = texts.render("settings/view", items=items, quiet_start=start, quiet_end=end,
                        overnight=start > end, timezone=campaign.timezone)
    return text, back_to_menu(texts, rows=rows)


async def settings(message: Message, texts: Texts, session: AsyncSession, campaign: Campaign,
                   person: Person) -> None:
    """/settings: the person's reminder kinds with ✅/⬜ and the quiet hours."""
    text, markup = await view(texts, session, campaign, person)
    await message.answer(text, reply_markup=markup, disable_web_page_preview=True)


async def toggle(callback: CallbackQuery, callback_data: SettingsCB, texts: Texts, session: AsyncSession,
                 campaign: Campaign, person: Person, **data: Any) -> None:
    """A kind turned on or off; the view edited in place."""
    try:
        kind = Kind(callback_data.arg)
    except ValueError:
        await callback.answer(texts.render("settings/refused", reason="unknown"), show_alert=True)
        return
    if kind not in kinds_for(person):
        await callback.answer(texts.render("settings/refused", reason="not_yours"), show_alert=True)
        return
    await reminders.set_enabled(session, person.id, kind, callback_data.action == SettingsAction.on,
                                now=data["clock"]())
    await show(callback, *await view(texts, session, campaign, person))


def build() -> Router:
    router = Router(name="settings")
    router.message.register(settings, Command("settings"))
    router.callback_query.register(toggle, SettingsCB.filter(F.action.in_({SettingsAction.on, SettingsAction.off})))
    router.callback_query.register(stale_button, Pressed(SettingsCB))  # garbled data no handler above reads
    return router
