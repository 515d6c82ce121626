"""Reviewers' forms: the review (made from the campaign's criteria), declining, the reviewer profile.

The review is one field per criterion of the campaign file (buttons lo..hi of its scale; a typed
number, full width too, is accepted), then the comment for the creator, a note for staff only and
the recommendation; the summary is confirmed before the review is final. Each review is its own
draft (`parallel`), so a reviewer with several items keeps a draft of each; the services re-check
everything when it is submitted (the assignment may have been taken away meanwhile)."""

from __future__ import annotations

import json
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot import notices
from bot.callbacks import ReviewAction, ReviewCB
from bot.campaign import Campaign
from bot.flows import fields as f
from bot.flows.engine import Done, Form, Turn
from bot.render import Texts
from bot.services import reviewers, reviews, rounds
from bot.services.policy import Action, can
from bot.services.reviews import COMMENT_MAX, NOTE_MAX, ReviewResult
from bot.services.rounds import Declined
from bot.services.scores import ScoreError, validate_score
from storage.models import Review, ReviewRound
from storage.statuses import Verdict

DECLINE_MAX = 500
VERDICTS = tuple(f.Choice(v.value, label=f"reviewer.verdict.{v.value}") for v in Verdict)
EXTRA_FIELDS = ("comment", "staff_note", "recommendation")  # the review's fields after the scores


def queue_button(texts: Texts) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=texts.label("reviewer.to_queue"), callback_data=ReviewCB(id=0, action=ReviewAction.queue).pack())]])


# ---------------------------------------------------------------- what the prompts show


async def assignment_shown(turn: Turn) -> dict[str, Any]:
    """The item being reviewed (or declined), read by id: its title, round and due date (empty when
    it is no longer the reviewer's)."""
    assert turn.draft is not None
    assignment_id = turn.draft.refs.get("assignment_id")
    view = None
    if turn.session is not None and turn.person is not None and assignment_id is not None:
        view = await reviews.assignment_for(turn.session, turn.person, int(assignment_id))
    if view is None:
        return {"found": False, "title": "", "round": 0, "due_at": None, "sub_id": 0}
    return {"found": True, "title": view.submission.title, "round": view.round.number,
            "due_at": view.assignment.due_at, "sub_id": view.submission.id}


# ---------------------------------------------------------------- the review


def score_parser(name: str, scale: tuple[int, int]) -> f.Parser:
    """A score pressed or typed ("4", "４", "4分") on the campaign's scale."""
    lo, hi = scale

    def parse(answer: f.Answer, values: dict[str, Any]) -> int:
        try:
            return validate_score(answer.text or "", scale)
        except ScoreError:
            raise f.Invalid("score_invalid", criterion=name, lo=lo, hi=hi) from None

    return parse


def _problem(form: Form, values: dict[str, Any], problems: dict[str, reviews.Problem]) -> f.Invalid | None:
    """The first problem the service found, in the form's order, as the engine's Invalid that sends
    the reviewer back to that answer (everything else entered stays)."""
    for fld in form.fields:
        problem = problems.get(fld.name)
        if problem is None:
            continue
        context = dict(problem.context)
        if problem.template == "too_long":  # the shared template speaks of max_len and length
            context = {"max_len": context.get("limit", 0), "length": len(str(values.get(fld.name) or ""))}
        return f.Invalid(problem.template, field=fld.name, **context)
    return None


def review_form(campaign: Campaign) -> Form:
    lo, hi = campaign.review.scale
    options = tuple(f.Choice(str(n), text=str(n)) for n in range(lo, hi + 1))
    columns = min(len(options), 6)

    async def on_submit(turn: Turn, values: dict[str, Any]) -> Done:
        person, texts, session = turn.person, turn.texts, turn.session
        assert person is not None and session is not None and turn.draft is not None and turn.settings is not None
        assignment_id = int(turn.draft.refs["assignment_id"])
        if not can(person, Action.review_assignment):
            return Done(texts.render("review/no_longer_reviewer"))
        scores = {c.id: values.get(c.id) for c in campaign.criteria}
        out = await reviews.record_review(
            session, campaign, assignment_id, person, scores=scores, comment=values.get("comment") or "",
            staff_note=values.get("staff_note"), recommendation=values.get("recommendation") or "",
            now=turn.now)
        if out.result is ReviewResult.invalid:
            problem = _problem(form, values, out.problems)
            if problem is not None:
                raise problem
            problems = [texts.render(f"forms/errors/{p.template}", **p.context) for p in out.problems.values()]
            return Done(texts.render("review/review_result", result=out.result.value, problems=problems,
                                     details=await turn.details()))
        if out.result is ReviewResult.recorded:
            assert out.assignment is not None and out.review is not None
            if out.round_complete:
                await notices.reviews_in(session, texts, turn.settings.admin_ids, out.assignment.round_id)
            return Done(texts.render("review/recorded", details=await turn.details(),
                                     review=own_review(campaign, out.review)), queue_button(texts))
        return Done(texts.render("review/review_result", result=out.result.value, problems=[],
                                 details=await turn.details()), queue_button(texts))

    criteria = tuple(
        f.Field(c.id, score_parser(c.name, (lo, hi)), accepts=frozenset({f.CHOICE, f.TEXT}), choices=options,
                columns=columns, label=c.name, prompt=f"{c.description}\n（{lo}–{hi} 分，{hi} 分最高）")
        for c in campaign.criteria)
    form = Form(
        name="review",
        fields=(
            *criteria,
            f.Field("comment", f.text(COMMENT_MAX, min_len=2), limits={"max_len": COMMENT_MAX}),
            f.Field("staff_note", f.text(NOTE_MAX), optional=True, limits={"max_len": NOTE_MAX}),
            f.Field("recommendation", f.choice(VERDICTS), accepts=frozenset({f.CHOICE, f.TEXT}), choices=VERDICTS,
                    columns=3),
        ),
        on_submit=on_submit,
        parallel=True,
        confirm_label="reviewer.confirm_review",
        details=assignment_shown,
    )
    return form


def own_review(campaign: Campaign, review: Review | reviews.ReviewView) -> dict[str, Any]:
    """A review (a Review row or a ReviewView) as the templates show it to its reviewer."""
    scores = review.scores if isinstance(review.scores, dict) else json.loads(review.scores)
    return {"scores": [{"name": c.name, "score": scores.get(c.id)} for c in campaign.criteria],
            "recommendation": str(review.recommendation), "comment": review.comment,
            "staff_note": review.staff_note, "submitted_at": review.submitted_at}


# ---------------------------------------------------------------- declining


async def submit_decline(turn: Turn, values: dict[str, Any]) -> Done:
    person, texts, session, campaign = turn.person, turn.texts, turn.session, turn.campaign
    assert person is not None and session is not None and turn.draft is not None
    assert campaign is not None and turn.settings is not None
    if not can(person, Action.decline_assignment):
        return Done(texts.render("review/no_longer_reviewer"))
    details = await turn.details()
    out = await rounds.decline(session, campaign, int(turn.draft.refs["assignment_id"]), person,
                               values.get("reason") or "", now=turn.now)
    if out.result is Declined.no_reason:
        raise f.Invalid("too_short", field="reason", min_len=2, length=0)
    if out.result is Declined.done:
        assert out.assignment is not None
        if out.replacement is not None:
            await notices.assigned(session, texts, [(out.assignment.round_id, out.replacement)])
        else:  # nobody could take it: the round waits (or is one reviewer short) in the operators' queue
            rnd = await session.get(ReviewRound, out.assignment.round_id)
            if rnd is not None:
                await notices.round_waiting(session, texts, turn.settings.admin_ids, rnd)
    return Done(texts.render("review/declined", result=out.result.value, details=details), queue_button(texts))


DECLINE = Form(
    name="decline_review",
    fields=(f.Field("reason", f.text(DECLINE_MAX, min_len=2), limits={"max_len": DECLINE_MAX}),),
    on_submit=submit_decline,
    parallel=True,
    confirm_label="reviewer.confirm_decline",
    details=assignment_shown,
)


# ---------------------------------------------------------------- the reviewer profile


def profile_form(campaign: Campaign) -> Form:
    directions = tuple(f.Choice(d.id, text=d.name) for d in campaign.topics.directions)

    async def on_submit(turn: Turn, values: dict[str, Any]) -> Done:
        person, texts, session = turn.person, turn.texts, turn.session
        assert person is not None and session is not None and turn.settings is not None
        if not can(person, Action.set_reviewer_profile):
            return Done(texts.render("review/no_longer_reviewer"))
        known = {d.id for d in campaign.topics.directions}
        chosen = [v for v in values.get("fields") or [] if v in known]  # a draft older than the campaign file
        other = values.get("other_fields") or ""
        if not chosen and not other:
            raise f.Invalid("fields_or_other", field="other_fields")
        await reviewers.save_profile(session, campaign, person, fields=chosen, other_fields=other,
                                     unit=values.get("unit") or "")
        pairs = await rounds.assign_waiting(session, campaign, now=turn.now, actor_id=None)
        await notices.assigned(session, texts, pairs)
        mine = sum(1 for _, reviewer_id in pairs if reviewer_id == person.id)
        names = [d.name for d in campaign.topics.directions if d.id in chosen]
        return Done(texts.render("review/profile_saved", fields=names, other_fields=other,
                                 unit=values.get("unit") or "", received=mine),
                    queue_button(texts))

    return Form(
        name="reviewer_profile",
        fields=(
            f.Field("fields", f.choice(directions), accepts=frozenset({f.CHOICE}), choices=directions, multi=True,
                    optional=True),
            # in words: needed when no direction was chosen (matching has nothing else to go on)
            f.Field("other_fields", f.text(reviewers.MAX_OTHER_FIELDS), optional=lambda v: bool(v.get("fields")),
                    limits={"max_len": reviewers.MAX_OTHER_FIELDS}),
            f.Field("unit", f.text(reviewers.MAX_UNIT, min_len=2, single_line=True),
                    limits={"max_len": reviewers.MAX_UNIT}),
        ),
        on_submit=on_submit,
        parallel=True,  # an unfinished review is parked, not dropped
        confirm_label="reviewer.save_profile",
    )


def review_forms(campaign: Campaign) -> tuple[Form, ...]:
    return review_form(campaign), DECLINE, profile_form(campaign)
