"""Handlers open forms with a Turn made from what aiogram hands them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaign import Campaign
from bot.config import Settings
from bot.flows.engine import Forms, Turn
from bot.render import Texts
from bot.services.users import Person


def turn_of(chat_id: int, *, bot: Bot, state: FSMContext, texts: Texts, forms: Forms,
            session: AsyncSession | None = None, person: Person | None = None, settings: Settings | None = None,
            campaign: Campaign | None = None, clock: Callable[[], datetime] | None = None, **_: Any) -> Turn:
    """A Turn for `chat_id` from a handler's data (`turn_of(chat_id, **data)`: the rest is ignored)."""
    return Turn(bot=bot, state=state, texts=texts, chat_id=chat_id, forms=forms, session=session, person=person,
                settings=settings, campaign=campaign, clock=clock)
