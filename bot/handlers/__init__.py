"""Routers, one per feature; built fresh by get_routers() so tests can make a new dispatcher."""

from __future__ import annotations

from aiogram import Router

from bot.campaign import Campaign
from bot.filters import PrivateChat


def get_routers(campaign: Campaign) -> list[Router]:
    from bot.flows import engine
    from bot.handlers import admin, common, fallback, inquiry, registration, start, submissions

    # every feature answers private chats only: an operator's /pending typed in a group would post
    # applicants' phones and scans there. A router meant for groups goes beside `private`, not in it.
    private = Router(name="private")
    private.message.filter(PrivateChat())
    private.callback_query.filter(PrivateChat())
    # order matters: /cancel before the forms, forms before the menus, the catch-all fallback last
    private.include_routers(common.build(), engine.build(), inquiry.build(), registration.build(campaign),
                            submissions.build(campaign), start.build(), admin.build(), fallback.build())
    return [private]
