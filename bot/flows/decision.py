"""Operators' forms on review: the decision on a round (`decision`, refs round_id) and disqualifying an
application (`disqualify`, refs submission_id). Both end with a summary to confirm; both ask the
policy again when confirmed (a role can be taken away while a form is open) and the services re-check
the rows under their locks, so of two operators deciding one round the second is told who was first.

The prompts are templates of content/templates/review_staff/ (prompt_*.j2), rendered once when the
forms are built (they depend on the campaign only); the records a form is about are shown by the
handler that opens it (review_staff/decide_context, disqualify_context).
"""

from __future__ import annotations

from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot import notices
from bot.callbacks import RoundAction, RoundCB, StaffAction, StaffSubCB
from bot.campaign import Campaign
from bot.flows import fields as f
from bot.flows.engine import Done, Form, Turn
from bot.render import Texts
from bot.services import reviews
from bot.services.listing import names_of
from bot.services.policy import Action, can
from bot.services.reviews import DecideResult, DisqualifyResult
from storage.models import ReviewRound, Submission
from storage.statuses import Verdict

MESSAGE_MAX = 1000
WORDS_MAX = 500
VERDICTS = tuple(f.Choice(v.value, label=f"review_staff.verdict.{v.value}")
                 for v in (Verdict.accept, Verdict.revise, Verdict.reject))
DISQUALIFY_KINDS = ("published", "licensed", "plagiarism", "other")
KINDS = tuple(f.Choice(k, label=f"review_staff.disqualify_kinds.{k}") for k in DISQUALIFY_KINDS)


def _button(text: str, data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=data)]])


# ---------------------------------------------------------------- the decision on a round


async def round_shown(turn: Turn) -> dict[str, Any]:
    """The round decided and its application (empty strings once gone)."""
    assert turn.draft is not None and turn.session is not None
    rnd = await turn.session.get(ReviewRound, int(turn.draft.refs["round_id"]))
    sub = await turn.session.get(Submission, rnd.submission_id) if rnd is not None else None
    return {"round_id": rnd.id if rnd else "", "number": rnd.number if rnd else "",
            "submission_id": sub.id if sub else "", "title": sub.title if sub else ""}


async def submit_decision(turn: Turn, values: dict[str, Any]) -> Done:
    person, texts, session, campaign = turn.person, turn.texts, turn.session, turn.campaign
    assert person is not None and session is not None and campaign is not None and turn.draft is not None
    if not can(person, Action.decide_round):
        return Done(texts.render("forms/errors/no_longer_staff"))
    round_id = int(turn.draft.refs["round_id"])
    out = await reviews.decide(session, campaign, round_id, person, values["verdict"], values["message"],
                               now=turn.now)
    back = _button(texts.label("review_staff.back_to_round"), RoundCB(id=round_id, action=RoundAction.open).pack())
    if out.result is DecideResult.decided:
        assert out.round is not None and out.submission is not None
        await notices.decided(session, texts, campaign, round_id)
        return Done(texts.render("review_staff/decided", sub=out.submission, rnd=out.round), back)
    by = None
    if out.result is DecideResult.already_decided and out.round is not None and out.round.decided_by:
        by = (await names_of(session, [out.round.decided_by], registered=False)).get(out.round.decided_by)
    decision = str(out.round.decision) if out.round is not None and out.round.decision else None
    return Done(texts.render("review_staff/decide_refused", result=str(out.result), decision=decision, by=by,
                             progress=out.progress), back if out.round is not None else None)


# ---------------------------------------------------------------- disqualifying an application


async def submission_shown(turn: Turn) -> dict[str, Any]:
    assert turn.draft is not None and turn.session is not None
    sub = await turn.session.get(Submission, int(turn.draft.refs["submission_id"]))
    return {"submission_id": sub.id if sub else "", "title": sub.title if sub else ""}


async def submit_disqualify(turn: Turn, values: dict[str, Any]) -> Done:
    person, texts, session = turn.person, turn.texts, turn.session
    assert person is not None and session is not None and turn.draft is not None
    if not can(person, Action.disqualify_submission):
        return Done(texts.render("forms/errors/no_longer_staff"))
    sub_id = int(turn.draft.refs["submission_id"])
    reason = texts.label("review_staff.disqualify_reason", kind=texts.label(
        f"review_staff.disqualify_kinds.{values['kind']}"), words=values["words"])
    out = await reviews.disqualify(session, sub_id, person, reason, now=turn.now)
    if out.result is DisqualifyResult.disqualified:
        assert out.submission is not None
        await notices.disqualified(session, texts, out.submission, reason)
        await notices.taken_away(session, texts, out.assignments_stopped, why="disqualified")
    back = _button(texts.label("review_staff.audit_back"),
                   StaffSubCB(id=sub_id, action=StaffAction.open).pack()) if out.submission is not None else None
    return Done(texts.render("review_staff/disqualify_result", result=str(out.result), sub=out.submission,
                             stopped=len(out.assignments_stopped)), back)


def decision_forms(campaign: Campaign) -> tuple[Form, ...]:
    words = Texts()  # the prompts depend on the campaign only: rendered once, here
    decision = Form(
        name="decision",
        title=words.label("review_staff.form_decision"),
        fields=(
            f.Field("verdict", f.choice(VERDICTS), accepts=frozenset({f.CHOICE}), choices=VERDICTS, columns=3,
                    prompt=words.render("review_staff/prompt_verdict", revise_days=campaign.review.revise_days)),
            f.Field("message", f.text(MESSAGE_MAX), limits={"max_len": MESSAGE_MAX},
                    prompt=words.render("review_staff/prompt_message", limit=MESSAGE_MAX)),
        ),
        on_submit=submit_decision,
        confirm_label="review_staff.confirm_decision",
        details=round_shown,
    )
    disqualify = Form(
        name="disqualify",
        title=words.label("review_staff.form_disqualify"),
        fields=(
            f.Field("kind", f.choice(KINDS), accepts=frozenset({f.CHOICE}), choices=KINDS, columns=2,
                    prompt=words.render("review_staff/prompt_kind")),
            f.Field("words", f.text(WORDS_MAX, min_len=2), limits={"max_len": WORDS_MAX},
                    prompt=words.render("review_staff/prompt_words", limit=WORDS_MAX)),
        ),
        on_submit=submit_disqualify,
        confirm_label="review_staff.confirm_disqualify",
        details=submission_shown,
    )
    return decision, disqualify
