"""Command menus per role (setMyCommands with chat scopes)."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.render import Texts
from bot.services.users import Role, staff

log = logging.getLogger(__name__)

# which commands each role sees, in menu order; descriptions are labels (commands.<name>)
COMMANDS: dict[Role, tuple[str, ...]] = {
    Role.creator: ("start", "apply", "mywork", "academy", "tutor", "resources", "register", "profile", "ask", "rules",
                   "contact", "help", "settings", "mydata", "cancel"),
    Role.tutor: ("start", "mycreators", "requests", "tutorprofile", "academy", "ask", "rules", "contact", "help",
                 "settings", "mydata", "cancel"),
    Role.reviewer: ("start", "reviews", "myfields", "academy", "ask", "rules", "contact", "help", "settings", "mydata",
                    "cancel"),
    Role.admin: ("start", "pending", "review_queue", "submissions", "tutoring", "requests", "bigfiles", "questions",
                 "export", "broadcast", "broadcasts", "assign_tutor", "staff", "invite", "revoke", "deadletters",
                 "rules", "contact", "help", "settings", "cancel"),
}
RANK = (Role.admin, Role.reviewer, Role.tutor, Role.creator)


def commands_for(texts: Texts, roles: frozenset[Role]) -> list[BotCommand]:
    role = next(r for r in RANK if r in roles or r is Role.creator)
    return [BotCommand(command=name, description=texts.label(f"commands.{name}")) for name in COMMANDS[role]]


async def set_commands_for(bot: Bot, texts: Texts, chat_id: int, roles: frozenset[Role]) -> None:
    try:
        await bot.set_my_commands(commands_for(texts, roles), scope=BotCommandScopeChat(chat_id=chat_id))
    except TelegramAPIError as exc:  # e.g. an admin who never opened the bot: "chat not found"
        log.warning("could not set commands for chat %s: %s", chat_id, exc)


async def install_commands(bot: Bot, texts: Texts, admin_ids: frozenset[int],
                           sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await bot.set_my_commands(commands_for(texts, frozenset({Role.creator})), scope=BotCommandScopeAllPrivateChats())
    async with sessionmaker() as session:
        granted: dict[int, set[Role]] = {}
        for user, role in await staff(session):
            granted.setdefault(user.id, {Role.creator}).add(role)
    for admin in admin_ids:
        granted.setdefault(admin, {Role.creator}).add(Role.admin)
    for chat_id, roles in granted.items():
        await set_commands_for(bot, texts, chat_id, frozenset(roles))
