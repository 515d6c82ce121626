"""Everything is wired here and nowhere else: bot, storage, dispatcher, scheduler, polling/webhook."""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.api_session import JsonSession
from bot.campaign import Campaign, load_campaign
from bot.checker import Checker
from bot.config import Settings, async_db_url, mask_token, mask_url
from bot.handlers import build_forms, get_routers
from bot.inbox import Inbox
from bot.middlewares import ExpiredQueries, SaveBeforeReplying, UnitOfWork
from bot.outbox.sender import OutboxSender
from bot.render import Texts
from bot.retry import RetryRequests
from bot.services.academy import ACADEMY, Curriculum, load_curriculum
from storage.db import make_engine, make_sessionmaker
from storage.fsm import AfterCommitStorage, SQLStorage
from storage.models import utcnow

log = logging.getLogger("kepubot")
WEBHOOK_PATH = "/webhook"


@dataclass
class App:
    """The running parts, so the command line and the tests can build and close them alike."""

    settings: Settings
    campaign: Campaign
    texts: Texts
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    storage: BaseStorage
    dispatcher: Dispatcher

    async def close(self) -> None:
        await self.storage.close()
        await self.engine.dispose()


def api_server(settings: Settings) -> TelegramAPIServer:
    if settings.bot_api_url:
        return TelegramAPIServer.from_base(settings.bot_api_url.rstrip("/"), is_local=settings.bot_api_local)
    return PRODUCTION


class PinResponseModels(BaseRequestMiddleware):
    """aiogram reads every Bot API answer through `Response[T]`, a pydantic generic model built on
    first use and cached weakly by pydantic: an earlier stop measured it built again after garbage
    collections (about 2.7 ms, a fifth of the bot's time under load, py-spy). With pydantic 2.13 the
    classes were not collected in a check of all 42; each is kept here from its first use anyway,
    for a dict lookup a request (building all 42 at start took 130 ms of the start, profiled)."""

    kept: ClassVar[dict[Any, type]] = {}

    async def __call__(self, make_request: NextRequestMiddlewareType[TelegramType], bot: Bot,
                       method: TelegramMethod[TelegramType]) -> Response[TelegramType]:
        returning = method.__returning__
        if returning not in self.kept:
            self.kept[returning] = Response[returning]
        return await make_request(bot, method)


def build_bot(settings: Settings, session: AiohttpSession | None = None) -> Bot:
    session = session or JsonSession(api=api_server(settings))
    session.middleware(PinResponseModels())
    session.middleware(RetryRequests())
    session.middleware(SaveBeforeReplying())
    session.middleware(ExpiredQueries())
    return Bot(settings.bot_token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def build_storage(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[BaseStorage, BaseEventIsolation]:
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage

        redis = RedisStorage.from_url(settings.redis_url)
        # conversation changes are written after the update's commit, so both succeed or fail together
        return AfterCommitStorage(redis), RedisEventIsolation(redis=redis.redis)
    return SQLStorage(sessionmaker), SimpleEventIsolation()


def build_texts(settings: Settings, campaign: Campaign) -> Texts:
    return Texts(timezone=settings.timezone, globals_={"campaign": campaign})


def build_dispatcher(settings: Settings, campaign: Campaign, texts: Texts,
                     sessionmaker: async_sessionmaker[AsyncSession], storage: BaseStorage,
                     isolation: BaseEventIsolation | None = None, curriculum: Curriculum | None = None) -> Dispatcher:
    dp = Dispatcher(storage=storage, events_isolation=isolation or SimpleEventIsolation(),
                    settings=settings, campaign=campaign, texts=texts, sessionmaker=sessionmaker,
                    clock=utcnow,  # tests set another clock to act inside the campaign's window
                    curriculum=curriculum if curriculum is not None else load_curriculum(ACADEMY, campaign))
    sender = OutboxSender(sessionmaker, per_second=settings.outbox_per_second, shared=settings.inbox_shared)
    dp["outbox"] = sender
    dp["checker"] = Checker(sessionmaker, campaign, texts, settings)  # uploads checked after their commit
    dp["inbox"] = Inbox(sessionmaker, dp, workers=settings.inbox_workers, pool_size=settings.db_pool_size,
                        shared=settings.inbox_shared)
    # the unit of work opens before aiogram's FSM middleware (and after the one that finds the sender),
    # so the conversation's state is read in the update's own session: one connection per update
    outer = dp.update.outer_middleware
    outer.unregister(dp.fsm)
    outer.register(UnitOfWork(sessionmaker, settings.admin_ids, after_commit=sender.wake))
    outer.register(dp.fsm)
    forms = dp["forms"] = build_forms(campaign)
    dp.include_routers(*get_routers(forms))
    return dp


def build_app(settings: Settings) -> App:
    campaign = load_campaign(settings.campaign_file)
    curriculum = load_curriculum(ACADEMY, campaign)  # a broken lesson stops start-up, naming file and key
    texts = build_texts(settings, campaign)
    engine = make_engine(async_db_url(settings.effective_database_url), busy_seconds=settings.sqlite_busy_seconds,
                         pool_size=settings.db_pool_size, pool_timeout=settings.db_pool_timeout)
    sessionmaker = make_sessionmaker(engine)
    storage, isolation = build_storage(settings, sessionmaker)
    dp = build_dispatcher(settings, campaign, texts, sessionmaker, storage, isolation, curriculum)
    return App(settings, campaign, texts, engine, sessionmaker, storage, dp)


def describe(settings: Settings) -> str:
    """The one start-up line: database, FSM storage, Bot API server and mode, secrets masked."""
    fsm = f"redis ({mask_url(settings.redis_url)})" if settings.redis_url else "sql"
    api = settings.bot_api_url or "https://api.telegram.org"
    if settings.bot_api_local:
        api += " (local mode)"
    mode = f"webhook ({settings.webhook_url})" if settings.webhook_url else "polling"
    return (f"kepubot starting: database={mask_url(async_db_url(settings.effective_database_url))} "
            f"fsm={fsm} bot_api={api} mode={mode} token={mask_token(settings.bot_token)}")


async def check_operators(bot: Bot, admin_ids: frozenset[int],
                          sessionmaker: async_sessionmaker[AsyncSession]) -> list[int]:
    """At start: which ADMIN_IDS chats the bot can reach (getChat). Telegram lets a bot write only to
    people who opened it; notifications to the others are held until they send /start. Held ones of
    the operators who can be reached now go out. Returns the ids that cannot be reached."""
    from aiogram.exceptions import TelegramAPIError

    from bot.outbox import queue

    unreachable, reachable = [], []
    for chat_id in sorted(admin_ids):
        try:
            await bot.get_chat(chat_id)
        except TelegramAPIError as exc:
            unreachable.append(chat_id)
            log.debug("getChat %s: %s", chat_id, exc)
        else:
            reachable.append(chat_id)
    if unreachable:
        log.warning("operators the bot cannot reach yet (ADMIN_IDS %s): they have not opened the bot. "
                    "Each must open it in Telegram and send /start; until then their notifications are "
                    "kept waiting (outbox status 'held') and delivered after their /start.",
                    ", ".join(map(str, unreachable)))
    async with sessionmaker.begin() as session:
        if released := await queue.release_held(session, reachable):
            log.info("outbox: %d held notifications to operators now reachable go out", released)
    return unreachable


async def run(settings: Settings, *, intake: bool = True) -> None:
    """The bot. `intake` False (`kepubot worker`): another process receives the updates (polling or
    the webhook) and this one only handles them from the shared inbox (PostgreSQL)."""
    from bot.commands import install_commands
    from bot.inbox import poll
    from bot.jobs import build_scheduler
    from storage.migrate import upgrade_async

    log.info(describe(settings))
    await upgrade_async(async_db_url(settings.effective_database_url))
    app = build_app(settings)
    bot = build_bot(settings)
    if not intake:
        app.dispatcher["inbox"].shared = True  # a worker is never alone: it must not take others' work
        app.dispatcher["outbox"].shared = True  # nor another sender's lease
    scheduler = build_scheduler(settings, app.sessionmaker, shared=app.dispatcher["inbox"].shared,
                                given={"campaign": app.campaign, "texts": app.texts,
                                       "curriculum": app.dispatcher["curriculum"]})
    sending = asyncio.create_task(app.dispatcher["outbox"].run(bot), name="outbox")
    inbox_runner = app.dispatcher["inbox"]
    try:
        await install_commands(bot, app.texts, settings.admin_ids, app.sessionmaker)
        await check_operators(bot, settings.admin_ids, app.sessionmaker)
        await app.dispatcher["checker"].resume(bot)  # files a stop left unchecked
        await inbox_runner.start(bot)  # updates a stop left unhandled go first
        # what start-up built (modules, routers, templates, models: 290,000 objects) lives as long as
        # the process: the collector stops walking it (a full collection took 180 ms, every few seconds
        # under load in bench/bench_updates.py). No collection first: it found 10 unreachable objects
        # and took 170 ms of the start.
        gc.freeze()
        scheduler.start()
        allowed = app.dispatcher.resolve_used_update_types()
        if not intake:
            log.info("worker: handling updates from the shared inbox; %d workers", inbox_runner.workers)
            await asyncio.Event().wait()
        elif settings.webhook_url:
            await _run_webhook(app, bot, allowed)
        else:
            await bot.delete_webhook(drop_pending_updates=False)
            log.info("polling; %d inbox workers", inbox_runner.workers)
            await poll(bot, inbox_runner, allowed)
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)  # its clean stop frees the outbox's lease
        await inbox_runner.stop()
        scheduler.shutdown(wait=False)
        await bot.session.close()
        await app.close()


def webhook_app(app: App, bot: Bot) -> web.Application:
    """POST /webhook: a request without Telegram's secret header (or with another) gets 401 and is
    never handled; a good one is stored in the inbox and answered 200 at once."""
    secret = (app.settings.webhook_secret or "").encode()
    intake = app.dispatcher["inbox"]

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not secret or not hmac.compare_digest(given, secret):
            return web.Response(status=401)
        try:
            update = await request.json()
        except ValueError:
            return web.Response(status=400)
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return web.Response(status=400)
        await intake.receive([update])
        return web.Response(status=200)

    web_app = web.Application(client_max_size=2 * 1024 * 1024)
    web_app.router.add_post(WEBHOOK_PATH, receive)
    return web_app


async def _run_webhook(app: App, bot: Bot, allowed: list[str]) -> None:
    settings = app.settings
    runner = web.AppRunner(webhook_app(app, bot))
    await runner.setup()
    # listen first, then tell Telegram where: no update is posted to a port that isn't open yet
    await web.TCPSite(runner, settings.webhook_host, settings.webhook_port).start()
    await bot.set_webhook(settings.webhook_url.rstrip("/") + WEBHOOK_PATH, secret_token=settings.webhook_secret,
                          allowed_updates=allowed)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
