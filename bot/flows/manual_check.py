"""The operators' reason for failing a big file by hand (/bigfiles → 不通过): the rule that failed
and their own words. The creator reads both; a submitted application goes back to them."""

from __future__ import annotations

from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import SubCB
from bot.flows import fields as f
from bot.flows.engine import Done, Form, Turn
from bot.outbox import notify
from bot.services import submissions
from bot.services.policy import Action, can
from bot.services.submissions import MANUAL_RULES

RULE_CHOICES = tuple(f.Choice(rule, label=f"application.fail_rules.{rule}") for rule in MANUAL_RULES)
REASON_MAX = 500


async def file_shown(turn: Turn) -> dict[str, Any]:
    """The file being failed and its application, read by id (empty once it is decided or gone)."""
    assert turn.draft is not None and turn.session is not None
    refs = turn.draft.refs
    waiting = await submissions.waiting_file(turn.session, refs["file_id"])
    row, sub = waiting if waiting else (None, None)
    return {"file_name": row.file_name if row else "", "submission_id": refs.get("submission_id", ""),
            "title": sub.title if sub else ""}


async def submit_manual_fail(turn: Turn, values: dict[str, Any]) -> Done:
    person, texts, session = turn.person, turn.texts, turn.session
    assert person is not None and session is not None and turn.draft is not None
    # the form may have been opened before the role was taken away, or the file decided meanwhile
    if not can(person, Action.check_file_by_hand):
        return Done(texts.render("forms/errors/no_longer_staff"))
    result = await submissions.record_manual_check(session, int(turn.draft.refs["file_id"]), False,
                                                   rule=values["rule"], text=values["text"], by=person)
    if result is None:
        return Done(texts.render("application/manual_done_already"))
    open_it = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=texts.label("application.open_returned"),
        callback_data=SubCB(id=result.sub.id, action="open").pack())]])
    await notify(session, [result.sub.user_id], texts.render(
        "application/manual_result", row=result.row, sub=result.sub, passed=False, reason=result.reason,
        returned=result.returned), open_it, about=result.sub.user_id)
    return Done(texts.render("application/manual_recorded", row=result.row, passed=False, reason=result.reason,
                             returned=result.returned))


MANUAL_FAIL = Form(
    name="manual_fail",
    fields=(
        f.Field("rule", f.choice(RULE_CHOICES), accepts=frozenset({f.CHOICE}), choices=RULE_CHOICES),
        f.Field("text", f.text(REASON_MAX, min_len=2), limits={"max_len": REASON_MAX}),
    ),
    on_submit=submit_manual_fail,
    confirm=False,
    details=file_shown,
)
