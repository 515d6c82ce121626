"""Applying with works and topics: the application form (apply), files checked against the
category's rules (upload), a person's applications and their cards (mywork), and the operators'
side (staff)."""

from __future__ import annotations

from aiogram import Router

from bot.handlers.applications import apply, mywork, staff, upload


def build() -> Router:
    router = Router(name="applications")
    # order matters: the upload step's hint takes any other message in that state; mywork ends with
    # the answer to an application's buttons its status no longer allows
    router.include_routers(apply.build(), upload.build(), staff.build(), mywork.build())
    return router
