"""Expert review in the chat (issue 10): reviewers' queue, cards and reviews (reviewer), operators'
queue, rounds, decisions, every application, disqualifying and the export (staff)."""

from __future__ import annotations

from aiogram import Router

from bot.handlers.reviews import reviewer, staff


def build() -> Router:
    router = Router(name="reviews")
    router.include_routers(reviewer.build(), staff.build())
    return router
