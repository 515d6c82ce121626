"""Routers, one per feature; built fresh by get_routers() so tests can make a new dispatcher.
Handlers are module-level functions; what they need comes as aiogram's keyword arguments: the
dispatcher's data (settings, campaign, clock, checker, forms, ...) and the update's (session,
person)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from enum import Enum

from aiogram import Router
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData, CallbackQueryFilter
from aiogram.types import BotCommand
from magic_filter import MagicFilter
from magic_filter.operations import ComparatorOperation, FunctionOperation, GetAttributeOperation
from magic_filter.util import in_op

from bot.callbacks import Pressed
from bot.campaign import Campaign
from bot.filters import CommandNamed, DataPrefix, PrivateChat
from bot.flows.engine import Forms


def build_forms(campaign: Campaign) -> Forms:
    """Every form, built once (some read the campaign); the app puts them in the dispatcher's data,
    so handlers receive them as `forms`."""
    from bot.flows.catalog import all_forms
    from bot.handlers.applications.apply import on_saved

    return all_forms(campaign, on_saved)


def get_routers(forms: Forms) -> list[Router]:
    from bot.flows import engine
    from bot.handlers import (
        academy,
        admin,
        applications,
        broadcast,
        common,
        fallback,
        inquiry,
        registration,
        reminders,
        resources,
        reviews,
        settings,
        start,
        tutoring,
    )

    # every feature answers private chats only: an operator's /pending typed in a group would post
    # applicants' phones and scans there. A router meant for groups goes beside `private`, not in it.
    private = Router(name="private")
    private.message.filter(PrivateChat())
    private.callback_query.filter(PrivateChat())
    # order matters: /cancel before the forms, forms before the menus, the catch-all fallback last
    private.include_routers(common.build(), engine.build(forms), inquiry.build(), registration.build(),
                            applications.build(), reviews.build(), academy.build(), tutoring.build(),
                            resources.build(), reminders.build(), settings.build(), broadcast.build(), start.build(), admin.build(), fallback.build())
    for router in private.sub_routers:
        route_by_prefix(router)
    return [private]


def press_keys(router: Router) -> frozenset[str] | None:
    """The presses any button handler of the router (or of its sub-routers) may take, as keys: a
    CallbackData prefix (`mw`), or the prefix and a value of the data's first field when the
    handler's rule pins that field (`m:cats` for `MenuCB.filter(F.section == Section.categories)`).
    None when one of them takes a press by some other filter (or by none): any press may be its."""
    return _tree_keys(router, "callback_query", _handler_press_keys)


def _tree_keys(router: Router, observer: str, keys_of: Callable[[HandlerObject], set[str] | None]
               ) -> frozenset[str] | None:
    """The union of `keys_of` over the observer's handlers in the router and its sub-routers; None
    as soon as one handler has none (it may take any event)."""
    found: set[str] = set()
    for handler in getattr(router, observer).handlers:
        mine = keys_of(handler)
        if not mine:
            return None
        found |= mine
    for sub in router.sub_routers:
        theirs = _tree_keys(sub, observer, keys_of)
        if theirs is None:
            return None
        found |= theirs
    return frozenset(found)


def _handler_press_keys(handler: HandlerObject) -> set[str] | None:
    kinds = [f.callback for f in handler.filters or () if isinstance(f.callback, CallbackQueryFilter | Pressed)]
    if any(kind.__separator__ != ":" for f in kinds for kind in _kinds(f)):
        return None  # DataPrefix reads the data up to ":"
    return {key for f in handler.filters or () for key in _press_keys(f.callback)}


def _kinds(callback: CallbackQueryFilter | Pressed) -> tuple[type[CallbackData], ...]:
    return callback.kinds if isinstance(callback, Pressed) else (callback.callback_data,)


def _press_keys(callback: object) -> set[str]:
    if isinstance(callback, Pressed):
        return {kind.__prefix__ for kind in callback.kinds}
    if not isinstance(callback, CallbackQueryFilter):
        return set()
    kind = callback.callback_data
    pinned = _pinned(kind, callback.rule)
    if pinned is None:
        return {kind.__prefix__}
    return {f"{kind.__prefix__}{kind.__separator__}{value}" for value in pinned}


def _pinned(kind: type[CallbackData], rule: object) -> set[str] | None:
    """The values a rule `F.<first field> == v` or `F.<first field>.in_({...})` allows for the
    data's first field, as packed; None when the rule says anything else (or the class packs its
    data its own way): then every press with the prefix may be the handler's."""
    if kind.pack is not CallbackData.pack or not isinstance(rule, MagicFilter) or not kind.model_fields:
        return None
    operations = rule._operations  # noqa: SLF001 - read only, to index the handlers
    if len(operations) != 2 or not isinstance(operations[0], GetAttributeOperation):
        return None
    if operations[0].name != next(iter(kind.model_fields)):
        return None
    test = operations[1]
    if isinstance(test, ComparatorOperation) and test.comparator is operator.eq:
        values = [test.right]
    elif isinstance(test, FunctionOperation) and test.function is in_op and len(test.args) == 1 and not test.kwargs \
            and isinstance(test.args[0], set | frozenset | list | tuple):
        values = list(test.args[0])
    else:
        return None
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
        return None
    return {v.value if isinstance(v, Enum) else str(v) for v in values}


def message_commands(router: Router) -> frozenset[str] | None:
    """The commands (lower case, without the slash) of every message handler of the router and
    its sub-routers; None when one of them takes a message by some other filter (a state, a file,
    any text) or a command by a pattern or another prefix: then any message may be its."""
    return _tree_keys(router, "message", _handler_commands)


def _handler_commands(handler: HandlerObject) -> set[str] | None:
    mine: set[str] = set()
    for f in handler.filters or ():
        if isinstance(f.callback, Command):
            names = _command_names(f.callback)
            if names is None:
                return None
            mine |= names
    return mine


def _command_names(command: Command) -> set[str] | None:
    if tuple(command.prefix) != ("/",):
        return None
    names = set()
    for one in command.commands:
        if isinstance(one, BotCommand):
            one = one.command
        if not isinstance(one, str):  # a pattern
            return None
        names.add(one.lower())
    return names


def route_by_prefix(router: Router) -> None:
    """A press goes past a router at once when none of its buttons may be the press (by prefix,
    and by the first field where handlers pin it), and a command past a router none of whose
    message handlers takes it: the same outcome as trying each handler's filters (they would all
    refuse), without the cost (17 routers and 131 filter checks for a menu press, 22 and 60 for
    /start before; measured by counting aiogram's checks). Done for every router of the tree."""
    keys = press_keys(router)
    if keys is not None:
        router.callback_query.filter(DataPrefix(keys))
    commands = message_commands(router)
    if commands is not None:
        router.message.filter(CommandNamed(commands))
    for sub in router.sub_routers:
        route_by_prefix(sub)
