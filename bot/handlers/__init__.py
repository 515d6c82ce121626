"""Routers, one per feature; built fresh by get_routers() so tests can make a new dispatcher."""

from __future__ import annotations

from aiogram import Router


def get_routers() -> list[Router]:
    from bot.flows import engine
    from bot.handlers import admin, common, fallback, inquiry, start

    # order matters: /cancel before the forms, forms before the menus, the catch-all fallback last
    return [common.build(), engine.build(), inquiry.build(), start.build(), admin.build(), fallback.build()]
