"""Before the bot starts: its data folder is private, and the database (and Redis, when set) answer.

A database that is still starting (a container next to ours) is waited for with back-off, one log
line per try; one that never answers stops start-up with one line that says what to check, instead
of a traceback of 160 lines. Redis is pinged here too: otherwise it would be noticed only when
every update fails.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

from bot.config import Settings, SettingsError, async_db_url, mask_url

log = logging.getLogger("kepubot")


def secure_data_dir(settings: Settings) -> None:
    """Files made from now on are this user's only (database, downloads, temp files), and the data
    folder and an SQLite database in it are not readable by others."""
    os.umask(0o077)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    url = async_db_url(settings.effective_database_url)
    if url.startswith("sqlite"):
        path = Path(url.partition(":///")[2])
        for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if part.is_file():
                os.chmod(part, 0o600)


async def _try_database(url: str) -> None:
    from sqlalchemy import text

    from storage.db import make_engine

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


async def _try_redis(url: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        await redis.ping()
    finally:
        await redis.aclose()


async def _wait(what: str, where: str, attempt, budget: float) -> None:
    deadline = time.monotonic() + budget
    delay = 0.5
    while True:
        try:
            await attempt()
            return
        except Exception as exc:  # noqa: BLE001 - any failure to connect is reported the same way
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            left = deadline - time.monotonic()
            if left <= 0:
                raise SettingsError(f"{what} at {where} cannot be reached ({reason}); check that it runs and "
                                    f"that the URL is right") from None
            log.warning("%s at %s not reachable yet (%s); trying again in %.0f s", what, where, reason,
                        min(delay, left))
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, 15)


async def check_services(settings: Settings) -> None:
    url = async_db_url(settings.effective_database_url)
    await _wait("the database", mask_url(url), lambda: _try_database(url), settings.startup_wait)
    if settings.redis_url:
        redis_url = settings.redis_url
        await _wait("Redis", mask_url(redis_url), lambda: _try_redis(redis_url), settings.startup_wait)
