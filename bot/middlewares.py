"""Outer middleware: one unit of work per update.

Drops an update already handled (Telegram re-delivers after failures), opens the DB session,
upserts the user with their roles, commits at the end and rolls back on error.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import AnswerCallbackQuery, GetChat, GetFile, GetMe, GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import TelegramObject, Update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services import inbox, users
from storage.db import current_session, save_before_saying, write
from storage.fsm import flush_fsm, pending_fsm

log = logging.getLogger(__name__)
GET_METHODS = (GetFile, GetMe, GetChat, GetUpdates)  # requests that tell the person nothing


class UnitOfWork(BaseMiddleware):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], admin_ids: frozenset[int],
                 remember: int = 10_000, after_commit: Callable[[], None] | None = None) -> None:
        self.sessionmaker = sessionmaker
        self.after_commit = after_commit  # wakes the outbox sender when the update queued notifications
        self.admin_ids = admin_ids
        # update ids seen by this process, in flight or done: a duplicate is dropped without a query
        self.recent: OrderedDict[int, None] = OrderedDict()
        self.remember = remember
        # Telegram's update ids only grow: an id above the highest one recorded before this process
        # started cannot have been handled already, so only ids up to it are looked up
        self.high_water: int | None = None

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        update_id = event.update_id
        if update_id in self.recent:
            log.info("duplicate update %s dropped", update_id)
            return UNHANDLED
        self.recent[update_id] = None
        if len(self.recent) > self.remember:
            self.recent.popitem(last=False)

        outcome = data.get("inbox_outcome")  # the inbox worker's view of this attempt (bot/inbox.py)
        async with self.sessionmaker() as session:
            token = current_session.set(session)
            fsm_changes: dict = {}  # conversation changes kept outside the database, written after commit
            fsm_token = pending_fsm.set(fsm_changes)
            try:
                if self.high_water is None:
                    self.high_water = await users.last_update_id(session)
                if update_id <= self.high_water and await users.update_seen(session, update_id):
                    log.info("update %s was handled before a restart; dropped", update_id)
                    return UNHANDLED
                tg_user = data.get("event_from_user")
                if tg_user is not None and not tg_user.is_bot:
                    data["person"] = await users.load_person(
                        session, tg_user.id, self.admin_ids, first_name=tg_user.first_name,
                        last_name=tg_user.last_name, username=tg_user.username, language_code=tg_user.language_code)
                data["session"] = session
                result = await handler(event, data)
                queued = session.info.pop("outbox", False)

                async def commit() -> None:
                    await users.mark_update(session, update_id)
                    if outcome is not None:  # done in the same transaction as the update's own changes
                        await inbox.done(session, update_id)
                    await session.commit()

                try:
                    await write(session, commit)
                except IntegrityError:
                    # another process committed the same update first
                    await session.rollback()
                    log.info("update %s committed elsewhere; dropped", update_id)
                    return result
                if outcome is not None:
                    outcome["committed"] = True
                pending_fsm.reset(fsm_token)
                fsm_token = None
                await flush_fsm(fsm_changes)
                if queued and self.after_commit is not None:
                    self.after_commit()
                for then in session.info.pop("after_commit", ()):
                    then()  # work the update started that must see its rows (a file's check)
                return result
            except BaseException as exc:
                await session.rollback()
                self.recent.pop(update_id, None)  # a retry of a failed update may run again
                if outcome is not None:
                    outcome["error"] = exc
                raise
            finally:
                if fsm_token is not None:
                    pending_fsm.reset(fsm_token)
                current_session.reset(token)


class ExpiredQueries(BaseRequestMiddleware):
    """Answering a button press only stops its spinner: when Telegram says the press is too old to
    answer (the bot was slow, or it was answered already), the action itself still stands and the
    update must not fail (and roll back) for it."""

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        if not isinstance(method, AnswerCallbackQuery):
            return await make_request(bot, method)
        try:
            return await make_request(bot, method)
        except TelegramBadRequest as exc:
            if "query is too old" not in exc.message:
                raise
            log.info("button press %s could not be answered any more", method.callback_query_id)
            return True  # type: ignore[return-value]


class SaveBeforeReplying(BaseRequestMiddleware):
    """A Bot API request made while an update is handled (a reply) first writes the update's pending
    changes: if the database cannot take them, the update fails before anything is said."""

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        session = current_session.get()
        if session is not None and not isinstance(method, GET_METHODS):
            await save_before_saying(session)
        return await make_request(bot, method)
