"""Routers, one per feature; built fresh by get_routers() so tests can make a new dispatcher."""

from __future__ import annotations

from aiogram import Router

from bot.campaign import Campaign


def get_routers(campaign: Campaign) -> list[Router]:
    from bot.flows import engine
    from bot.handlers import admin, common, fallback, inquiry, registration, start, submissions

    # order matters: /cancel before the forms, forms before the menus, the catch-all fallback last
    return [common.build(), engine.build(), inquiry.build(), registration.build(campaign),
            submissions.build(campaign), start.build(), admin.build(), fallback.build()]
