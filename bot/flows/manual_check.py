"""The operators' reason for failing a big file by hand (/bigfiles → 不通过): the rule that failed
and their own words. The creator reads both; a submitted application goes back to them."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import SubCB
from bot.flows import fields as f
from bot.flows.engine import Form, SubmitContext, register
from bot.notify import notify
from bot.services import submissions
from bot.services.policy import Action, can
from bot.services.submissions import MANUAL_RULES

RULE_CHOICES = tuple(f.Choice(rule, label=f"application.fail_rules.{rule}") for rule in MANUAL_RULES)
REASON_MAX = 500


async def submit_manual_fail(ctx: SubmitContext) -> str:
    # the form may have been opened before the role was taken away, or the file decided meanwhile
    if not can(ctx.person, Action.check_file_by_hand):
        return ctx.texts.render("forms/errors/no_longer_staff")
    result = await submissions.record_manual_check(ctx.session, int(ctx.extra["file_id"]), False,
                                                   rule=ctx.values["rule"], text=ctx.values["text"],
                                                   by=ctx.person.id)
    if result is None:
        return ctx.texts.render("application/manual_done_already")
    open_it = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=ctx.texts.label("application.open_returned"),
        callback_data=SubCB(id=result.sub.id, action="open").pack())]])
    await notify(ctx.session, [result.sub.user_id], ctx.texts.render(
        "application/manual_result", row=result.row, sub=result.sub, passed=False, reason=result.reason,
        returned=result.returned), open_it, about=result.sub.user_id)
    return ctx.texts.render("application/manual_recorded", row=result.row, passed=False, reason=result.reason,
                            returned=result.returned)


MANUAL_FAIL = register(Form(
    name="manual_fail",
    fields=(
        f.Field("rule", f.choice(RULE_CHOICES), accepts=frozenset({f.CHOICE}), choices=RULE_CHOICES),
        f.Field("text", f.text(REASON_MAX, min_len=2), limits={"max_len": REASON_MAX}),
    ),
    on_submit=submit_manual_fail,
    confirm=False,
))
