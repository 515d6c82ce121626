"""Router filters. Async on purpose: aiogram runs sync filters in a thread."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message, TelegramObject

from bot.services.policy import Action, can
from bot.services.users import Person


class Can(Filter):
    """The person of this update may take `action` (bot.services.policy decides; the handler's
    service asks again about the object the button names, since a button's data is never trusted)."""

    def __init__(self, action: Action) -> None:
        self.action = action

    async def __call__(self, event: TelegramObject, person: Person | None = None) -> bool:
        return can(person, self.action)


class PrivateChat(Filter):
    async def __call__(self, event: TelegramObject, event_chat=None) -> bool:
        return event_chat is None or event_chat.type == "private"


class Carries(Filter):
    """The message carries one of these kinds of file (document, photo, video). A class, not
    `F.document | F.photo`: magic filters run in a thread for every message that reaches them."""

    def __init__(self, *kinds: str) -> None:
        self.kinds = kinds

    async def __call__(self, message: Message) -> bool:
        return any(getattr(message, kind, None) for kind in self.kinds)


class DataPrefix(Filter):
    """A button's data starts with one of these keys: a prefix (`prefix:` of a CallbackData), or a
    prefix and the data's first field (`m:cats`). Set on a router by `handlers.route_by_prefix`, so
    a press skips the routers none of whose buttons it is, instead of trying each of their
    handlers' filters in turn."""

    def __init__(self, keys: frozenset[str]) -> None:
        self.keys = keys

    async def __call__(self, query: CallbackQuery) -> bool:
        prefix, _, rest = (query.data or "").partition(":")
        return prefix in self.keys or f"{prefix}:{rest.partition(':')[0]}" in self.keys


class CommandNamed(Filter):
    """A message whose text (or caption) starts with one of these commands (`/start`, any case,
    with or without @the bot's name): a superset of what the router's Command filters take. Set by
    `handlers.route_by_prefix` on a router whose message handlers all want commands."""

    def __init__(self, commands: frozenset[str]) -> None:
        self.commands = commands

    async def __call__(self, message: Message) -> bool:
        text = message.text or message.caption
        first = text.split(maxsplit=1)[0] if text and not text.isspace() else ""
        return first[:1] == "/" and first[1:].partition("@")[0].lower() in self.commands
