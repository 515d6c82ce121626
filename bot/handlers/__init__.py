"""Routers, one per feature; built fresh by get_routers() so tests can make a new dispatcher.
Handlers are module-level functions; what they need comes as aiogram's keyword arguments: the
dispatcher's data (settings, campaign, clock, checker, forms, ...) and the update's (session,
person)."""

from __future__ import annotations

from aiogram import Router

from bot.campaign import Campaign
from bot.filters import PrivateChat
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
    return [private]
