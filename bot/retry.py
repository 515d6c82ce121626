"""Replies survive Telegram's flood limits: a request answered 429 is sent again after the wait
Telegram asks for (when short), and one answered 5xx is tried once more. Network errors are not
retried: the first request may have arrived, and a reply must not be sent twice."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response, TelegramType

log = logging.getLogger(__name__)


class RetryRequests(BaseRequestMiddleware):
    def __init__(self, max_wait: float = 10.0, attempts: int = 3) -> None:
        self.max_wait = max_wait
        self.attempts = attempts

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        if isinstance(method, GetUpdates):  # polling has its own back-off
            return await make_request(bot, method)
        server_errors = 0
        for attempt in range(1, self.attempts + 1):
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if exc.retry_after > self.max_wait or attempt == self.attempts:
                    raise
                log.info("%s: flood limit, retrying in %s s", method.__api_method__, exc.retry_after)
                await asyncio.sleep(exc.retry_after)
            except TelegramServerError:
                server_errors += 1
                if server_errors > 1 or attempt == self.attempts:
                    raise
                await asyncio.sleep(0.5)
        raise AssertionError("unreachable")
