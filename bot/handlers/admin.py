"""Operators: invite tutors and reviewers with one-time deep links, take a role away again, list the
staff, see the updates that failed for good."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.deep_linking import create_start_link
from sqlalchemy.ext.asyncio import AsyncSession

from bot import notices, tutoring_notices
from bot.callbacks import InviteCB
from bot.campaign import Campaign
from bot.commands import set_commands_for
from bot.config import Settings
from bot.filters import Can
from bot.keyboards import back_to_menu, staff_menu
from bot.render import Texts
from bot.services import inbox, resources, users
from bot.services.policy import Action
from bot.services.users import INVITABLE, Person, Role
from bot.ui import show, stale_button


async def _invite_text(bot: Bot, texts: Texts, session: AsyncSession, person: Person, role: Role) -> str:
    invite = await users.create_invite(session, role, person.id)
    link = await create_start_link(bot, f"inv_{invite.code}")
    return texts.render("invite_created", role=role.value, link=link, expires_at=invite.expires_at)


async def invite(message: Message, command: CommandObject, bot: Bot, texts: Texts, session: AsyncSession,
                 person: Person) -> None:
    """/invite tutor|reviewer makes a link at once; a bare /invite asks which role."""
    wanted = (command.args or "").strip().lower()
    role = next((r for r in INVITABLE if r.value == wanted), None)
    if role is None:
        await message.answer(texts.render("staff_menu", asked=wanted), reply_markup=staff_menu(texts))
        return
    await message.answer(await _invite_text(bot, texts, session, person, role), reply_markup=back_to_menu(texts))


async def invite_button(callback: CallbackQuery, callback_data: InviteCB, bot: Bot, texts: Texts,
                        session: AsyncSession, person: Person) -> None:
    role = next((r for r in INVITABLE if r.value == callback_data.role), None)
    if role is None:
        await stale_button(callback, texts)
        return
    await show(callback, await _invite_text(bot, texts, session, person, role), back_to_menu(texts))


async def revoke(message: Message, command: CommandObject, bot: Bot, texts: Texts, session: AsyncSession,
                 person: Person, campaign: Campaign, settings: Settings, clock: Callable[[], datetime]) -> None:
    """/revoke <user id> tutor|reviewer: the role goes; a reviewer's open assignments go to others
    (the new reviewers are told, and the one who left is told to stop)."""
    parts = (command.args or "").split()
    role = next((r for r in INVITABLE if len(parts) == 2 and r.value == parts[1].lower()), None)
    if role is None or not parts[0].isdigit():
        await message.answer(texts.render("revoked", outcome="usage"), reply_markup=staff_menu(texts))
        return
    user_id = int(parts[0])
    if not await users.revoke_role(session, user_id, role):
        await message.answer(texts.render("revoked", outcome="not_held", user_id=user_id, role=role.value),
                             reply_markup=staff_menu(texts))
        return
    released, creators, requests = [], [], []
    if role is Role.reviewer:
        released = await notices.reviewer_left(session, texts, campaign, settings.admin_ids, user_id, now=clock(),
                                               actor_id=person.id, why="not_reviewer")
    elif role is Role.tutor:  # their creators go back to the tutoring queue, their requests to the operators
        creators = await tutoring_notices.tutor_removed(session, texts, settings.admin_ids, user_id, now=clock(),
                                                        actor_id=person.id)
        requests = await resources.release_handler(session, user_id, now=clock(), actor_id=person.id)
    left = await users.roles_of(session, user_id) | {Role.creator}
    if user_id in settings.admin_ids:
        left.add(Role.admin)
    await set_commands_for(bot, texts, user_id, frozenset(left))
    await message.answer(texts.render("revoked", outcome="done", user_id=user_id, role=role.value,
                                      released=len(released), creators=len(creators), requests=len(requests),
                                      waiting=sum(r.round_waiting for r in released)), reply_markup=staff_menu(texts))


async def staff_list(message: Message, texts: Texts, session: AsyncSession) -> None:
    rows = [{"id": u.id, "name": u.first_name, "username": u.username, "role": r.value}
            for u, r in await users.staff(session)]
    await message.answer(texts.render("staff_list", staff=rows), reply_markup=staff_menu(texts))


async def dead_letters(message: Message, texts: Texts, session: AsyncSession) -> None:
    """Updates that failed for good (after retries, or at once for a bug): who, when, why."""
    rows, total = await inbox.dead_letters(session)
    shown = [{"update_id": r.update_id, "chat_key": r.chat_key, "at": r.finished_at or r.received_at,
              "attempts": r.attempts, "error": (r.last_error or "").splitlines()[0][:200] if r.last_error else "",
              "kind": inbox.kind_of(r.payload)} for r in rows]
    await message.answer(texts.render("dead_letters", rows=shown, total=total), reply_markup=back_to_menu(texts))


def build() -> Router:
    router = Router(name="admin")
    router.message.register(invite, Command("invite"), Can(Action.manage_staff))
    router.callback_query.register(invite_button, InviteCB.filter(), Can(Action.manage_staff))
    router.message.register(staff_list, Command("staff"), Can(Action.manage_staff))
    router.message.register(revoke, Command("revoke"), Can(Action.manage_staff))
    router.message.register(dead_letters, Command("deadletters"), Can(Action.see_dead_letters))
    return router
