"""Forms for asking the staff a question and for answering it."""

from __future__ import annotations

from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import InquiryCB
from bot.flows import fields as f
from bot.flows.engine import Form, SubmitContext, register
from bot.notify import notify
from bot.services import inquiries
from bot.services.inquiries import MAX_ANSWER, MAX_QUESTION, Topic
from bot.services.policy import Action, can

TOPICS = tuple(f.Choice(t.value, f"inquiry_topics.{t.value}") for t in Topic)


async def submit_question(ctx: SubmitContext) -> str:
    inquiry = await inquiries.ask(ctx.session, ctx.person.id, Topic(ctx.values["topic"]), ctx.values["question"])
    admins = ctx.extra.get("admin_ids", [])
    kb = InlineKeyboardBuilder()
    kb.button(text=ctx.texts.label("inquiry.reply"), callback_data=InquiryCB(id=inquiry.id).pack())
    text = ctx.texts.render("inquiry/for_staff", id=inquiry.id, asker=ctx.person.first_name,
                            user_id=ctx.person.id, topic=inquiry.topic, question=inquiry.question)
    await notify(ctx.session, admins, text, kb.as_markup(), about=ctx.person.id)  # erased with the asker's data
    return ctx.texts.render("inquiry/received", id=inquiry.id)


async def submit_answer(ctx: SubmitContext) -> str:
    # the form may have been opened before the operator's role was taken away
    if not can(ctx.person, Action.answer_inquiry):
        return ctx.texts.render("forms/errors/no_longer_staff")
    inquiry_id = int(ctx.extra["inquiry_id"])
    outcome = await inquiries.answer(ctx.session, inquiry_id, ctx.person.id, ctx.values["answer"])
    if outcome is inquiries.AnswerOutcome.answered:
        view = await inquiries.get(ctx.session, inquiry_id)
        assert view is not None
        await notify(ctx.session, [view.user_id], ctx.texts.render("inquiry/answer", id=inquiry_id,
                                                              question=view.question, answer=ctx.values["answer"]),
                     about=view.user_id)
    return ctx.texts.render("inquiry/answered", id=inquiry_id, outcome=outcome.value)


QUESTION = register(Form(
    name="inquiry",
    fields=(
        f.Field("topic", f.choice(TOPICS), accepts=frozenset({f.CHOICE}), choices=TOPICS),
        f.Field("question", f.text(MAX_QUESTION, min_len=5), limits={"max_len": MAX_QUESTION}),
    ),
    on_submit=submit_question,
))

ANSWER = register(Form(
    name="inquiry_answer",
    fields=(f.Field("answer", f.text(MAX_ANSWER, min_len=2), limits={"max_len": MAX_ANSWER}),),
    on_submit=submit_answer,
    confirm=False,
))
