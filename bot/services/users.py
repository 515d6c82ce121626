"""People and their roles. Everyone is a creator; tutors and reviewers are granted by invite;
admins are named in ADMIN_IDS."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Invite, ProcessedUpdate, User, UserRole, utcnow


class Role(StrEnum):
    creator = "creator"
    tutor = "tutor"
    reviewer = "reviewer"
    admin = "admin"


INVITABLE = (Role.tutor, Role.reviewer)
INVITE_TTL = timedelta(days=7)
SEEN_REFRESH = timedelta(minutes=10)


@dataclass(frozen=True)
class Person:
    """What handlers know of the user of an update (plain data, no ORM object)."""

    id: int
    first_name: str
    roles: frozenset[Role]

    def has(self, role: Role) -> bool:
        return role in self.roles


_USERS, _ROLES = User.__table__, UserRole.__table__
# built once, a Core statement (no ORM objects): the person is read on every update
_PERSON = (select(_USERS.c.first_name, _USERS.c.last_name, _USERS.c.username, _USERS.c.language_code,
                  _USERS.c.last_seen_at, _USERS.c.unreachable_at, _ROLES.c.role)
           .select_from(_USERS.outerjoin(_ROLES, _ROLES.c.user_id == _USERS.c.id))
           .where(_USERS.c.id == bindparam("id")))


async def load_person(session: AsyncSession, user_id: int, admin_ids: frozenset[int], *, first_name: str,
                      last_name: str | None = None, username: str | None = None,
                      language_code: str | None = None) -> Person:
    """The person behind an update, created or refreshed, with their roles: one query (and no ORM
    object) when nothing changed; the user row is loaded and written only when something did."""
    rows = (await session.execute(_PERSON, {"id": user_id})).all()
    now = utcnow()
    if not rows or _stale(rows[0], (first_name, last_name, username, language_code), now):
        await upsert_user(session, user_id, first_name=first_name, last_name=last_name, username=username,
                          language_code=language_code, now=now)
    roles = {Role.creator, *(Role(r.role) for r in rows if r.role in Role.__members__)}
    if user_id in admin_ids:
        roles.add(Role.admin)
    return Person(id=user_id, first_name=first_name, roles=frozenset(roles))


def _stale(row, fresh: tuple, now: datetime) -> bool:
    """What upsert_user would write: new names, a last-seen older than SEEN_REFRESH, a block lifted."""
    return ((row.first_name, row.last_name, row.username, row.language_code) != fresh
            or now - row.last_seen_at > SEEN_REFRESH or row.unreachable_at is not None)


async def upsert_user(
    session: AsyncSession,
    user_id: int,
    *,
    first_name: str,
    last_name: str | None = None,
    username: str | None = None,
    language_code: str | None = None,
    now: datetime | None = None,
) -> User:
    """Create or refresh a user; writes only when something changed (keeps SQLite's write lock free)."""
    now = now or utcnow()
    user = await session.get(User, user_id)
    if user is None:
        user = User(id=user_id, first_name=first_name, last_name=last_name, username=username,
                    language_code=language_code, created_at=now, last_seen_at=now)
        session.add(user)
        return user
    fresh = (first_name, last_name, username, language_code)
    if (user.first_name, user.last_name, user.username, user.language_code) != fresh:
        user.first_name, user.last_name, user.username, user.language_code = fresh
    if now - user.last_seen_at > SEEN_REFRESH:
        user.last_seen_at = now
    if user.unreachable_at is not None:  # wrote again: no longer blocking the bot
        user.unreachable_at = None
    return user


async def grant_role(session: AsyncSession, user_id: int, role: Role, granted_by: int | None) -> bool:
    """Give a role; False when the person already had it."""
    if await session.get(UserRole, (user_id, role.value)) is not None:
        return False
    session.add(UserRole(user_id=user_id, role=role.value, granted_by=granted_by, granted_at=utcnow()))
    return True


async def roles_of(session: AsyncSession, user_id: int) -> set[Role]:
    """The roles granted to a person (not counting ADMIN_IDS; every person is a creator besides)."""
    rows = (await session.execute(select(UserRole.role).where(UserRole.user_id == user_id))).scalars()
    return {Role(r) for r in rows if r in Role.__members__}


async def revoke_role(session: AsyncSession, user_id: int, role: Role) -> bool:
    """Take a role away; False when the person did not hold it."""
    row = await session.get(UserRole, (user_id, role.value))
    if row is None:
        return False
    await session.delete(row)
    await session.flush()
    return True


async def staff(session: AsyncSession) -> list[tuple[User, Role]]:
    rows = await session.execute(select(User, UserRole.role).join(UserRole, UserRole.user_id == User.id).order_by(UserRole.role, User.id))
    return [(user, Role(role)) for user, role in rows.all()]


async def create_invite(session: AsyncSession, role: Role, created_by: int, ttl: timedelta = INVITE_TTL) -> Invite:
    if role not in INVITABLE:
        raise ValueError(f"role {role} cannot be granted by invite")
    now = utcnow()
    invite = Invite(code=secrets.token_urlsafe(12), role=role.value, created_by=created_by, created_at=now,
                    expires_at=now + ttl)
    session.add(invite)
    return invite


class InviteOutcome(StrEnum):
    granted = "granted"
    already = "already"  # the person had the role: the invite stays unused for someone else
    used = "used"
    expired = "expired"
    unknown = "unknown"


async def redeem_invite(session: AsyncSession, code: str, user_id: int) -> tuple[InviteOutcome, Role | None]:
    """Grant the invite's role once. The invite is taken by one conditional UPDATE (… WHERE used_by
    IS NULL): of several simultaneous clicks exactly one changes the row, on SQLite too, where
    SELECT … FOR UPDATE locks nothing."""
    invite = await session.get(Invite, code)
    if invite is None:
        return InviteOutcome.unknown, None
    role = Role(invite.role)
    if invite.used_by is not None:
        return (InviteOutcome.already if invite.used_by == user_id else InviteOutcome.used), role
    now = utcnow()
    if invite.expires_at <= now:
        return InviteOutcome.expired, role
    if await session.get(UserRole, (user_id, role.value)) is not None:
        return InviteOutcome.already, role  # the invite stays unused for someone else
    taken = await session.execute(update(Invite).where(Invite.code == code, Invite.used_by.is_(None),
                                                       Invite.expires_at > now)
                                  .values(used_by=user_id, used_at=now)
                                  .execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        await session.refresh(invite)
        return (InviteOutcome.already if invite.used_by == user_id else InviteOutcome.used), role
    await session.refresh(invite)
    await grant_role(session, user_id, role, invite.created_by)
    return InviteOutcome.granted, role


async def last_update_id(session: AsyncSession) -> int:
    return (await session.execute(select(func.max(ProcessedUpdate.update_id)))).scalar() or 0


async def update_seen(session: AsyncSession, update_id: int) -> bool:
    return await session.get(ProcessedUpdate, update_id) is not None


_MARK = insert(ProcessedUpdate.__table__).values(update_id=bindparam("id"), processed_at=bindparam("at"))


async def mark_update(session: AsyncSession, update_id: int) -> None:
    """Handled: a Core insert in the update's transaction (a second copy fails it on the key)."""
    await session.execute(_MARK, {"id": update_id, "at": utcnow()})


async def prune_updates(session: AsyncSession, older_than: timedelta = timedelta(days=2), *,
                        now: datetime | None = None) -> int:
    """Telegram keeps undelivered updates 24 h; ids older than that cannot come back."""
    cutoff = (now or utcnow()) - older_than
    result = await session.execute(delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < cutoff))
    return result.rowcount or 0
