"""Reviewers (issue 10): the profile a reviewer declares once (fields chosen from the campaign's
list, fields in their own words, their 单位) and the pool `bot.services.assignment.choose` picks
from. No aiogram here.

    profile = await save_profile(session, campaign, person, fields=["frontier_tech"], other_fields="临床医学",
                                 unit="某大学")
    pool = await candidates(session)      # everyone holding the reviewer role, with their open load

After a profile is saved (or a reviewer joins), `bot.services.rounds.assign_waiting` gives the
rounds waiting for reviewers to whoever now fits.
"""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.campaign import Campaign
from bot.services.assignment import Candidate
from bot.services.policy import Action, can
from bot.services.users import Person, Role
from storage.models import ReviewAssignment, ReviewerProfile, UserRole, utcnow
from storage.statuses import AssignmentStatus

__all__ = ["MAX_OTHER_FIELDS", "MAX_UNIT", "candidates", "fields_of", "open_load", "profile_of", "save_profile"]

MAX_UNIT = 128  # reviewer_profiles.unit is String(128)
MAX_OTHER_FIELDS = 500


def fields_of(profile: ReviewerProfile | None) -> list[str]:
    """The field ids a profile holds ([] without a profile)."""
    return list(json.loads(profile.fields or "[]")) if profile is not None else []


async def profile_of(session: AsyncSession, user_id: int) -> ReviewerProfile | None:
    return await session.get(ReviewerProfile, user_id)


async def save_profile(session: AsyncSession, campaign: Campaign, person: Person, *, fields: list[str],
                       other_fields: str, unit: str) -> ReviewerProfile:
    """Create or replace the person's reviewer profile. PermissionError when they are not a
    reviewer (policy set_reviewer_profile); ValueError for a field id that is not one of the
    campaign's directions, or a unit / other fields too long. Field ids are kept once each, in
    the campaign's order. Never commits."""
    if not can(person, Action.set_reviewer_profile):
        raise PermissionError(f"person {person.id} may not set a reviewer profile")
    order = [d.id for d in campaign.topics.directions]
    unknown = sorted(set(fields) - set(order))
    if unknown:
        raise ValueError(f"unknown field ids: {', '.join(unknown)} (known: {', '.join(order)})")
    unit, other_fields = unit.strip(), other_fields.strip()
    if len(unit) > MAX_UNIT:
        raise ValueError(f"unit longer than {MAX_UNIT} characters")
    if len(other_fields) > MAX_OTHER_FIELDS:
        raise ValueError(f"other fields longer than {MAX_OTHER_FIELDS} characters")
    chosen = [f for f in order if f in set(fields)]
    profile = await session.get(ReviewerProfile, person.id, with_for_update=True)
    if profile is None:
        profile = ReviewerProfile(user_id=person.id)
        session.add(profile)
    profile.fields = json.dumps(chosen)
    profile.other_fields = other_fields
    profile.unit = unit
    profile.updated_at = utcnow()
    await session.flush()
    return profile


def _load_query():
    """reviewer id -> how many assignments they have open (status assigned)."""
    return (select(ReviewAssignment.reviewer_id, func.count().label("load"))
            .where(ReviewAssignment.status == AssignmentStatus.assigned)
            .group_by(ReviewAssignment.reviewer_id))


async def open_load(session: AsyncSession, reviewer_id: int) -> int:
    query = (select(func.count()).select_from(ReviewAssignment)
             .where(ReviewAssignment.reviewer_id == reviewer_id, ReviewAssignment.status == AssignmentStatus.assigned))
    return (await session.execute(query)).scalar_one()


async def candidates(session: AsyncSession) -> list[Candidate]:
    """Every person holding the reviewer role, with their profile (or no fields and no unit) and
    their open load, in user id order. One query."""
    load = _load_query().subquery()
    query = (select(UserRole.user_id, ReviewerProfile, func.coalesce(load.c.load, 0))
             .outerjoin(ReviewerProfile, ReviewerProfile.user_id == UserRole.user_id)
             .outerjoin(load, load.c.reviewer_id == UserRole.user_id)
             .where(UserRole.role == Role.reviewer.value)
             .order_by(UserRole.user_id))
    rows = (await session.execute(query)).all()
    return [Candidate(user_id=user_id, fields=frozenset(fields_of(profile)),
                      other_fields=profile.other_fields if profile else "",
                      unit=profile.unit if profile else "", open_load=int(count))
            for user_id, profile, count in rows]
