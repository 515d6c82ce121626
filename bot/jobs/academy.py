"""创作学院's clock: the drip. A creator whose 科普号 is approved is offered the campaign's lessons
([academy] drip: a slug and a day after the approval) one at a time as their day comes, each once
(a lesson offered by a review, or done already, is not offered again). Nobody who turned the
lesson reminders off in /settings is offered one."""

from __future__ import annotations

import logging
from datetime import datetime

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.callbacks import LessonAction, LessonCB
from bot.campaign import Campaign
from bot.outbox import notify
from bot.render import Texts
from bot.services import lessons
from bot.services.academy import Curriculum
from bot.services.reminders import Kind, enabled

log = logging.getLogger(__name__)


async def offer_lessons(sessionmaker: async_sessionmaker[AsyncSession], now: datetime, *, campaign: Campaign,
                        texts: Texts, curriculum: Curriculum) -> int:
    """Each creator whose next drip lesson's day has come is told of it, with a button to open it;
    the offer is recorded (LessonOffer, reason "drip"). Returns how many were offered."""
    offered = 0
    async with sessionmaker.begin() as session:
        for due in await lessons.due_offers(session, campaign, curriculum, now=now):
            if not await enabled(session, due.user_id, Kind.lesson):  # turned off in /settings
                continue
            async with session.begin_nested():  # one creator's offer that fails leaves the others'
                if not await lessons.record_offers(session, due.user_id, [due.lesson.slug], lessons.DRIP, now=now):
                    continue
                button = InlineKeyboardButton(text=texts.label("academy.open_offer", title=due.lesson.title),
                                              callback_data=LessonCB(slug=due.lesson.slug,
                                                                     action=LessonAction.show).pack())
                offered += await notify(session, [due.user_id],
                                        texts.render("academy/notice_drip", lesson=due.lesson, day=due.day),
                                        InlineKeyboardMarkup(inline_keyboard=[[button]]))
    if offered:
        log.info("academy: %d lessons offered on the drip schedule", offered)
    return offered
