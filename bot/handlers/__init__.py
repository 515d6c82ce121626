"""Routers, one per feature; built fresh by get_routers() so tests can make a new dispatcher."""

from __future__ import annotations

from aiogram import Router


def get_routers() -> list[Router]:
    from bot.handlers import admin, common, fallback, start

    # order matters: /cancel before forms, the catch-all fallback last
    return [common.build(), start.build(), admin.build(), fallback.build()]
