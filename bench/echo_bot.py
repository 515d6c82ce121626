"""A bare aiogram 3 echo bot: the baseline for bench/bench_updates.py.

Env: BOT_TOKEN, BOT_API_URL (optional), BOT_API_LOCAL=1 (optional). DATABASE_URL is ignored.
"""

from __future__ import annotations

import asyncio
import logging
import os

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message


async def echo(message: Message) -> None:
    await message.answer(message.text or "?")


async def main() -> None:
    logging.basicConfig(level=logging.INFO)
    api_url = os.environ.get("BOT_API_URL")
    session = None
    if api_url:
        local = os.environ.get("BOT_API_LOCAL", "") in ("1", "true", "yes")
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_url, is_local=local))
    bot = Bot(os.environ["BOT_TOKEN"], session=session)
    dp = Dispatcher()
    dp.message.register(echo)  # no filters: nothing runs in a thread
    await dp.start_polling(bot)


if __name__ == "__main__":
    asyncio.run(main())
