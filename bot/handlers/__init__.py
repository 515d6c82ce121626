"""Routers, one per feature; built fresh by get_routers() so tests can make a new dispatcher.
Handlers are module-level functions; what they need comes as aiogram's keyword arguments: the
dispatcher's data (settings, campaign, clock, checker, forms, ...) and the update's (session,
person)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters.callback_data import CallbackQueryFilter

from bot.callbacks import Pressed
from bot.campaign import Campaign
from bot.filters import DataPrefix, PrivateChat
from bot.flows.engine import Forms


def build_forms(campaign: Campaign) -> Forms:
    """Every form, built once (some read the campaign); the app puts them in the dispatcher's data,
    so handlers receive them as `forms`."""
    from bot.flows.catalog import all_forms
    from bot.handlers.applications.apply import on_saved

    return all_forms(campaign, on_saved)


def get_routers(forms: Forms) -> list[Router]:
    from bot.flows import engine
    from bot.handlers import (
        academy,
        admin,
        applications,
        broadcast,
        common,
        fallback,
        inquiry,
        registration,
        reminders,
        resources,
        reviews,
        settings,
        start,
        tutoring,
    )

    # every feature answers private chats only: an operator's /pending typed in a group would post
    # applicants' phones and scans there. A router meant for groups goes beside `private`, not in it.
    private = Router(name="private")
    private.message.filter(PrivateChat())
    private.callback_query.filter(PrivateChat())
    # order matters: /cancel before the forms, forms before the menus, the catch-all fallback last
    private.include_routers(common.build(), engine.build(forms), inquiry.build(), registration.build(),
                            applications.build(), reviews.build(), academy.build(), tutoring.build(),
                            resources.build(), reminders.build(), settings.build(), broadcast.build(), start.build(), admin.build(), fallback.build())
    for router in private.sub_routers:
        route_by_prefix(router)
    return [private]


def button_prefixes(router: Router) -> frozenset[str] | None:
    """The CallbackData prefixes of every button handler in the router and its sub-routers; None
    when one of them takes a press by some other filter (or by none), so any press may be its."""
    found: set[str] = set()
    for handler in router.callback_query.handlers:
        mine = {kind.__prefix__ for f in handler.filters or () for kind in _kinds(f.callback)}
        if not mine:
            return None
        found |= mine
    for sub in router.sub_routers:
        theirs = button_prefixes(sub)
        if theirs is None:
            return None
        found |= theirs
    return frozenset(found)


def _kinds(callback: object) -> tuple[type, ...]:
    if isinstance(callback, CallbackQueryFilter):
        return (callback.callback_data,)
    if isinstance(callback, Pressed):
        return callback.kinds
    return ()


def route_by_prefix(router: Router) -> None:
    """A press goes past a feature's router at once when none of its buttons has the press's
    prefix: the same outcome as trying each handler's filter (they would all refuse), without the
    cost (ten routers and forty filters per press before, measured under bench/bench_updates.py)."""
    prefixes = button_prefixes(router)
    if prefixes is not None:
        router.callback_query.filter(DataPrefix(prefixes))
