"""The routers' index (bot/handlers/__init__.py `route_by_prefix`): a press or a command skips the
routers none of whose handlers could take it, and never one that could."""

from __future__ import annotations

import re
from collections import Counter

import aiogram.dispatcher.event.telegram as telegram_observer
import pytest
from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandStart
from aiogram.filters.callback_data import CallbackData, CallbackQueryFilter
from aiogram.types import CallbackQuery, Chat, Message, User

from bot.callbacks import MenuCB, Pressed, Section
from bot.filters import CommandNamed, DataPrefix
from bot.handlers import get_routers, message_commands, press_keys, route_by_prefix


def offline_bot() -> Bot:
    """A Bot that knows its own name without asking Telegram (a Command with a mention asks)."""
    bot = Bot("424242:TEST")
    bot._me = User(id=424242, is_bot=True, first_name="科普号创作助手", username="kepu_test_bot")  # noqa: SLF001
    return bot


def walk(router: Router):
    yield router
    for sub in router.sub_routers:
        yield from walk(sub)


@pytest.fixture
def tree(app) -> Router:
    return app.dispatcher.sub_routers[0]


def _router_filter(router: Router, observer: str, kind: type):
    found = [f.callback for f in getattr(router, observer)._handler.filters or () if isinstance(f.callback, kind)]
    return found[0] if found else None


def _press(data: str) -> CallbackQuery:
    user = User(id=1001, is_bot=False, first_name="A")
    return CallbackQuery(id="1", from_user=user, chat_instance="c", data=data)


def _message(text: str) -> Message:
    return Message(message_id=1, date=0, chat=Chat(id=1001, type="private"), text=text,
                   from_user=User(id=1001, is_bot=False, first_name="A"))


async def _takes(router: Router, observer: str, event, bot: Bot) -> bool:
    """Would any handler of this router (or of its sub-routers) accept the event by its button or
    command filters alone (a superset of what it handles: permission filters are not asked)?"""
    for one in walk(router):
        for handler in getattr(one, observer).handlers:
            for f in handler.filters or ():
                if isinstance(f.callback, CallbackQueryFilter | Pressed):
                    if await f.callback(event):
                        return True
                elif isinstance(f.callback, Command) and await f.callback(event, bot):
                    return True
    return False


PRESSES = [MenuCB(section=s).pack() for s in Section] + [
    "m:nope", "m:", "m", "mw:2", "mw:x", "r:12:approve", "r:12:fix", "s:3:open", "s:3:pg_2", "cat:video",
    "x:1", "", ":", "m:cats:extra"]


async def test_no_router_refuses_a_press_one_of_its_handlers_could_take(tree: Router):
    bot = offline_bot()
    indexed = 0
    for router in walk(tree):
        gate = _router_filter(router, "callback_query", DataPrefix)
        if gate is None:
            continue
        indexed += 1
        for data in PRESSES:
            press = _press(data)
            if await _takes(router, "callback_query", press, bot):
                assert await gate(press), f"{router.name} refuses {data!r}, which one of its handlers takes"
    assert indexed >= 10  # the feature routers are indexed at all
    await bot.session.close()


async def test_no_router_refuses_a_command_one_of_its_handlers_could_take(tree: Router):
    bot = offline_bot()
    commands = {str(name).lower() for router in walk(tree) for handler in router.message.handlers
                for f in handler.filters or () if isinstance(f.callback, Command) for name in f.callback.commands}
    assert {"start", "pending", "help", "cancel"} <= commands
    texts = [t for c in sorted(commands) for t in (f"/{c}", f"/{c.upper()}", f"/{c}@kepu_test_bot x", f"  /{c} a b")]
    texts += ["hello", "/", "/nope", "start", ""]
    gated = 0
    for router in walk(tree):
        gate = _router_filter(router, "message", CommandNamed)
        if gate is None:
            continue
        gated += 1
        for text in texts:
            message = _message(text) if text else _message("x").model_copy(update={"text": None})
            if await _takes(router, "message", message, bot):
                assert await gate(message), f"{router.name} refuses {text!r}, which one of its handlers takes"
            if text in ("hello", "start", "/nope"):
                assert not await gate(message), f"{router.name} lets {text!r} in: no handler of it wants it"
    assert gated >= 5
    await bot.session.close()


def test_a_pinned_first_field_narrows_the_key_and_anything_else_keeps_the_prefix():
    router = Router()
    router.callback_query.register(lambda c: None, MenuCB.filter())  # any section: the prefix
    assert press_keys(router) == frozenset({"m"})

    pinned = Router()
    pinned.callback_query.register(lambda c: None, MenuCB.filter(F.section == Section.academy))
    pinned.callback_query.register(lambda c: None, MenuCB.filter(F.section.in_({Section.tutor, Section.home})))
    assert press_keys(pinned) == frozenset({"m:acad", "m:tutor", "m:home"})

    other = Router()
    other.callback_query.register(lambda c: None, MenuCB.filter(F.section != Section.academy))  # not an equality
    assert press_keys(other) == frozenset({"m"})

    class Semi(CallbackData, prefix="semi", sep=";"):
        n: int

    other_separator = Router()
    other_separator.callback_query.register(lambda c: None, Semi.filter())
    assert press_keys(other_separator) is None  # DataPrefix reads up to ":": no index for it

    open_ended = Router()
    open_ended.callback_query.register(lambda c: None)  # takes any press
    assert press_keys(open_ended) is None

    commands = Router()
    commands.message.register(lambda m: None, CommandStart())
    commands.message.register(lambda m: None, Command("Pending", "help"))
    assert message_commands(commands) == frozenset({"start", "pending", "help"})
    pattern = Router()
    pattern.message.register(lambda m: None, Command(re.compile(r"item_\d+")))
    assert message_commands(pattern) is None
    route_by_prefix(pattern)
    assert _router_filter(pattern, "message", CommandNamed) is None


async def test_a_menu_press_and_a_command_pass_only_the_routers_that_may_take_them(chat, monkeypatch):
    entered: Counter[str] = Counter()
    trigger = telegram_observer.TelegramEventObserver.trigger

    async def counting(self, event, **kwargs):
        entered[self.event_name] += 1
        return await trigger(self, event, **kwargs)

    monkeypatch.setattr(telegram_observer.TelegramEventObserver, "trigger", counting)
    alice = chat.user(1001, "Alice")
    await alice.send("/start")
    assert entered["message"] <= 12  # 22 routers before the index
    assert "欢迎" in alice.last_text
    entered.clear()
    await alice.press("申报类别与要求")
    assert entered["callback_query"] <= 5  # 17 routers before
    assert "申报类别与要求" in alice.last_text


def test_the_tree_is_indexed_below_the_top(app):
    # sub-routers (applications.apply …) carry their own index, not only the feature's router
    names = {r.name for r in walk(get_routers(app.dispatcher["forms"])[0])
             if _router_filter(r, "callback_query", DataPrefix) is not None}
    assert any("." in name for name in names), names

