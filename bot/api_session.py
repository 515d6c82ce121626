"""The Bot API client session: requests without files go as JSON.

aiogram's AiohttpSession sends every request as an urlencoded form, and urlencoding quotes a
Chinese text byte by byte in Python (`urllib.parse.quote`): about 1 ms for one of our menu texts,
a tenth of the bot's time under load (yappi in bench/bench_updates.py). The Bot API takes the
same parameters as a JSON body, which the C encoder writes in microseconds. A request carrying a
file still goes as multipart, as aiogram builds it.
"""

from __future__ import annotations

import datetime
import json
from enum import Enum
from typing import Any, cast

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile, TelegramObject
from aiohttp import ClientError

JSON_HEADERS = {"Content-Type": "application/json"}


class _CarriesFile(Exception):
    """The request carries a file: it goes as multipart."""


def _resolved(value: Any, bot: Bot) -> Any:
    """The bot's defaults filled in; a default the bot does not set is left out, as aiogram does."""
    if isinstance(value, Default):
        return bot.default[value.name]
    if isinstance(value, dict):
        return {k: v for k, item in value.items() if (v := _resolved(item, bot)) is not None}
    if isinstance(value, list):
        return [v for item in value if (v := _resolved(item, bot)) is not None]
    return value


class JsonSession(AiohttpSession):
    def json_body(self, bot: Bot, method: TelegramMethod[Any]) -> bytes | None:
        """The request as JSON, or None when it carries a file (it goes as multipart). The method is
        dumped by pydantic and encoded by the C encoder in one pass; what JSON cannot hold as it is
        (the bot's defaults, dates, a file) goes through `special`, as aiogram's `prepare_value`
        would turn it (walking the values in Python cost 90 µs a message with a menu)."""
        body: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False, exclude_none=True).items():
            if isinstance(value, Default):
                value = bot.default[value.name]
            elif key != "reply_markup" and isinstance(value, dict | list):  # a keyboard holds no default
                value = _resolved(value, bot)  # link_preview_options' fields default to the bot's
            if value is not None:
                body[key] = value

        def special(value: Any) -> Any:
            if isinstance(value, Default):
                return bot.default[value.name]
            if isinstance(value, InputFile):
                raise _CarriesFile
            if isinstance(value, datetime.timedelta):
                return round((datetime.datetime.now() + value).timestamp())  # noqa: DTZ005 - as aiogram does
            if isinstance(value, datetime.datetime):
                return round(value.timestamp())
            if isinstance(value, Enum):
                return value.value
            if isinstance(value, TelegramObject):
                return value.model_dump(warnings=False, exclude_none=True)
            raise TypeError(f"{type(value).__name__} cannot be sent to the Bot API")

        try:
            return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=special).encode()
        except _CarriesFile:
            return None

    async def make_request(self, bot: Bot, method: TelegramMethod[TelegramType],
                           timeout: int | None = None) -> TelegramType:
        body = self.json_body(bot, method)
        if body is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(url, data=body, headers=JSON_HEADERS,
                                    timeout=self.timeout if timeout is None else timeout) as resp:
                raw_result = await resp.text()
        except TimeoutError as e:
            raise TelegramNetworkError(method=method, message="Request timeout error") from e
        except ClientError as e:
            raise TelegramNetworkError(method=method, message=f"{type(e).__name__}: {e}") from e
        response = self.check_response(bot=bot, method=method, status_code=resp.status, content=raw_result)
        return cast(TelegramType, response.result)

