"""Forms for asking the staff a question and for answering it."""

from __future__ import annotations

from typing import Any

from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import InquiryCB
from bot.flows import fields as f
from bot.flows.engine import Done, Form, Turn
from bot.outbox import notify
from bot.services import inquiries
from bot.services.inquiries import MAX_ANSWER, MAX_QUESTION, Topic
from bot.services.policy import Action, can

TOPICS = tuple(f.Choice(t.value, f"inquiry_topics.{t.value}") for t in Topic)


async def submit_question(turn: Turn, values: dict[str, Any]) -> Done:
    person, texts = turn.person, turn.texts
    assert person is not None and turn.session is not None and turn.settings is not None
    inquiry = await inquiries.ask(turn.session, person.id, Topic(values["topic"]), values["question"])
    kb = InlineKeyboardBuilder()
    kb.button(text=texts.label("inquiry.reply"), callback_data=InquiryCB(id=inquiry.id).pack())
    text = texts.render("inquiry/for_staff", id=inquiry.id, asker=person.first_name,
                        user_id=person.id, topic=inquiry.topic, question=inquiry.question)
    await notify(turn.session, sorted(turn.settings.admin_ids), text, kb.as_markup(),
                 about=person.id)  # erased with the asker's data
    return Done(texts.render("inquiry/received", id=inquiry.id))


async def question_shown(turn: Turn) -> dict[str, Any]:
    """The question being answered, read by id (gone when the asker erased their data)."""
    assert turn.draft is not None and turn.session is not None
    inquiry_id = turn.draft.refs["inquiry_id"]
    view = await inquiries.get(turn.session, inquiry_id)
    return {"inquiry_id": inquiry_id, "asker": view.asker if view else "", "question": view.question if view else ""}


async def submit_answer(turn: Turn, values: dict[str, Any]) -> Done:
    person, texts, session = turn.person, turn.texts, turn.session
    assert person is not None and session is not None and turn.draft is not None
    # the form may have been opened before the operator's role was taken away
    if not can(person, Action.answer_inquiry):
        return Done(texts.render("forms/errors/no_longer_staff"))
    inquiry_id = turn.draft.refs["inquiry_id"]
    outcome = await inquiries.answer(session, inquiry_id, person, values["answer"])
    if outcome is inquiries.AnswerOutcome.answered:
        view = await inquiries.get(session, inquiry_id)
        assert view is not None
        await notify(session, [view.user_id], texts.render("inquiry/answer", id=inquiry_id,
                                                          question=view.question, answer=values["answer"]),
                     about=view.user_id)
    return Done(texts.render("inquiry/answered", id=inquiry_id, outcome=outcome.value))


QUESTION = Form(
    name="inquiry",
    fields=(
        f.Field("topic", f.choice(TOPICS), accepts=frozenset({f.CHOICE}), choices=TOPICS),
        f.Field("question", f.text(MAX_QUESTION, min_len=5), limits={"max_len": MAX_QUESTION}),
    ),
    on_submit=submit_question,
)

ANSWER = Form(
    name="inquiry_answer",
    fields=(f.Field("answer", f.text(MAX_ANSWER, min_len=2), limits={"max_len": MAX_ANSWER}),),
    on_submit=submit_answer,
    confirm=False,
    details=question_shown,
)
