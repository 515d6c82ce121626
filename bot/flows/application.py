"""The application form (申报): a work or a topic, its category and answers, the originality
declaration. Confirming saves a draft; the files come next, in the upload step."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram.fsm.state import State, StatesGroup

from bot.campaign import Campaign
from bot.flows import fields as f
from bot.flows.engine import Done, Form, Turn
from bot.services import submissions
from bot.services.submissions import OTHER_DIRECTION
from storage.models import Submission
from storage.statuses import SubmissionStatus

LIMITS = {"title": 50, "summary": 500, "knowledge_points": 500, "content_intro": 2000,
          "team_qualifications": 1000, "execution_plan": 2000, "past_works": 1000}


class UploadSG(StatesGroup):
    files = State()  # data: {"submission_id": N}


def _long(name: str, *, min_len: int = 10, **kw: Any) -> f.Field:
    return f.Field(name, f.text(LIMITS[name], min_len=min_len), limits={"max_len": LIMITS[name]}, **kw)


def application_form(campaign: Campaign, on_saved: Callable[[Turn, Submission], Awaitable[Done]]) -> Form:
    """`on_saved(turn, submission)` says the draft is saved and leads to the upload step (a Done
    with then_state=UploadSG.files, then_data={"submission_id": id})."""
    kinds = (f.Choice("work", label="application.kinds.work"), f.Choice("topic", label="application.kinds.topic"))

    def categories(values: dict[str, Any]) -> list[f.Choice]:
        group = campaign.work_categories if values.get("kind") == "work" else campaign.topic_categories
        return [f.Choice(c.id, text=c.name) for c in group]

    def category(values: dict[str, Any]):
        return campaign.category(values["category"]) if values.get("category") else None

    def video_forms(values: dict[str, Any]) -> tuple[str, ...]:
        cat = category(values)
        return cat.forms if cat else ()

    form_choices, parse_form = f.listed(video_forms, "v")
    directions = tuple(f.Choice(d.id, text=d.name) for d in campaign.topics.directions) + (
        f.Choice(OTHER_DIRECTION, label="application.other_direction"),)
    declare = (f.Choice("yes", label="application.declare"),)

    def is_topic(values: dict[str, Any]) -> bool:
        return values.get("kind") == "topic"

    async def submit(turn: Turn, values: dict[str, Any]) -> Done:
        assert turn.session is not None and turn.person is not None and turn.draft is not None
        try:
            sub = await submissions.save_draft(turn.session, turn.person.id, values,
                                               turn.draft.refs.get("submission_id"))
        except submissions.NotDraft:
            return Done(turn.texts.render("application/not_draft"))
        except submissions.TooManyDrafts:  # drafts made meanwhile (a copy of a withdrawn one)
            return Done(turn.texts.render("application/too_many_drafts", limit=submissions.MAX_OPEN_DRAFTS))
        return await on_saved(turn, sub)

    async def details(turn: Turn) -> dict[str, Any]:
        """The next round's number when the answers being edited are those of an application sent
        back for 修改后再审 (None for a draft)."""
        sub_id = turn.draft.refs.get("submission_id") if turn.draft else None
        sub = await turn.session.get(Submission, sub_id) if sub_id and turn.session is not None else None
        return {"next_round": sub.round if sub is not None and sub.status == SubmissionStatus.revise else None}

    return Form(
        name="application",
        fields=(
            f.Field("kind", f.choice(kinds), accepts=frozenset({f.CHOICE, f.TEXT}), choices=kinds,
                    resets=("category",)),
            f.Field("category", f.choice(categories), accepts=frozenset({f.CHOICE, f.TEXT}), choices=categories,
                    resets=("video_form",)),
            f.Field("video_form", parse_form, accepts=frozenset({f.CHOICE, f.TEXT}), choices=form_choices,
                    when=lambda v: bool(video_forms(v))),
            f.Field("title", f.text(LIMITS["title"], min_len=2, single_line=True), limits={"max_len": LIMITS["title"]}),
            f.Field("direction", f.choice(directions), accepts=frozenset({f.CHOICE, f.TEXT}), choices=directions),
            _long("summary"),
            f.Field("knowledge_points", f.items(LIMITS["knowledge_points"], 20),
                    limits={"max_len": LIMITS["knowledge_points"]}, when=lambda v: v.get("category") == "comics"),
            f.Field("pages", f.integer(1, 999), when=lambda v: v.get("category") == "h5"),
            f.Field("levels", f.integer(1, 999), when=lambda v: v.get("category") == "game"),
            _long("content_intro", when=is_topic),
            _long("team_qualifications", when=is_topic),
            _long("execution_plan", when=is_topic),
            _long("past_works", min_len=2, when=is_topic, optional=True),
            f.Field("declaration", f.choice(declare), accepts=frozenset({f.CHOICE}), choices=declare),
        ),
        on_submit=submit,
        confirm_label="form.save_draft",  # the summary saves a draft; submitting comes after the files
        details=details,
    )
