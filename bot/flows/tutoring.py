"""The tutor profile (/tutorprofile): the directions a tutor guides in (the campaign's list), their
fields in their own words, and how many creators they take at once (1–50). Saving it gives waiting
creators to whoever now has room (each side is told)."""

from __future__ import annotations

from typing import Any

from bot import tutoring_notices
from bot.campaign import Campaign
from bot.flows import fields as f
from bot.flows.engine import Done, Form, Turn
from bot.services import tutoring
from bot.services.policy import Action, can

PROFILE = "tutor_profile"


def profile_form(campaign: Campaign) -> Form:
    directions = tuple(f.Choice(d.id, text=d.name) for d in campaign.topics.directions)

    async def on_submit(turn: Turn, values: dict[str, Any]) -> Done:
        person, texts, session = turn.person, turn.texts, turn.session
        assert person is not None and session is not None
        if not can(person, Action.set_tutor_profile):
            return Done(texts.render("tutoring/no_longer_tutor"))
        known = {d.id for d in campaign.topics.directions}
        chosen = [v for v in values.get("fields") or [] if v in known]  # a draft older than the campaign file
        other = values.get("other_fields") or ""
        if not chosen and not other:
            raise f.Invalid("fields_or_other", field="other_fields")
        capacity = int(values.get("capacity") or tutoring.DEFAULT_CAPACITY)
        await tutoring.save_profile(session, campaign, person, fields=chosen, other_fields=other,
                                    capacity=capacity, now=turn.now)
        matched = await tutoring.assign_waiting(session, campaign, now=turn.now)
        await tutoring_notices.assigned(session, texts, matched)
        mine = sum(1 for t in matched if t.tutor_id == person.id)
        names = [d.name for d in campaign.topics.directions if d.id in chosen]
        return Done(texts.render("tutoring/profile_saved", fields=names, other_fields=other, capacity=capacity,
                                 received=mine))

    return Form(
        name=PROFILE,
        fields=(
            f.Field("fields", f.choice(directions), accepts=frozenset({f.CHOICE}), choices=directions, multi=True,
                    optional=True),
            # in words: needed when no direction was chosen (matching has nothing else to go on)
            f.Field("other_fields", f.text(tutoring.MAX_OTHER_FIELDS), optional=lambda v: bool(v.get("fields")),
                    limits={"max_len": tutoring.MAX_OTHER_FIELDS}),
            f.Field("capacity", f.integer(tutoring.MIN_CAPACITY, tutoring.MAX_CAPACITY),
                    limits={"minimum": tutoring.MIN_CAPACITY, "maximum": tutoring.MAX_CAPACITY}),
        ),
        on_submit=on_submit,
        parallel=True,  # an unfinished form elsewhere is parked, not dropped
        confirm_label="tutoring.save_profile",
    )


def tutoring_forms(campaign: Campaign) -> tuple[Form, ...]:
    return (profile_form(campaign),)
