"""The 科普号 registration form (科普中国科普号推荐申请表) and the operators' rejection form, as data."""

from __future__ import annotations

from typing import Any

from aiogram.types import BufferedInputFile
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import RegCB
from bot.campaign import Campaign
from bot.flows import fields as f
from bot.flows.engine import Done, Form, Turn
from bot.outbox import notify
from bot.services import recommendation_form, registration
from bot.services.policy import Action, can
from bot.services.registration import FIXABLE, LIMITS
from bot.services.transitions import IllegalTransition

DOC_EXTENSIONS = ("pdf", "doc", "docx", "jpg", "jpeg", "png")
SCAN_EXTENSIONS = ("pdf", "jpg", "jpeg", "png")
MAX_FILE = 20 * 1024 * 1024  # what the cloud Bot API lets a bot download


def _line(name: str, **kw: Any) -> f.Field:
    return f.Field(name, f.text(LIMITS[name], single_line=True), limits={"max_len": LIMITS[name]}, **kw)


_name_text = f.text(LIMITS["account_name"], min_len=2, single_line=True)


def parse_account_name(answer: f.Answer, values: dict[str, Any]) -> str:
    """The account name as typed: one line of 2–30 characters, none of them invisible (a control
    or format character would make a look-alike of another name), and not made of symbols whose
    uniqueness key overflows (registration.name_problem)."""
    if answer.kind == f.TEXT and registration.name_problem(answer.text or "") == "invisible":
        raise f.Invalid("name_invisible")  # before cleaning: a tab or line break is one too
    value = _name_text(answer, values)
    if problem := registration.name_problem(value):
        raise f.Invalid(f"name_{problem}")
    return value


async def _name_free(value: str, turn: Turn) -> None:
    assert turn.session is not None and turn.person is not None
    if await registration.name_taken(turn.session, value, turn.person.id):
        raise f.Invalid("name_taken", name=value)


def recommender_choices(campaign: Campaign):
    units = campaign.recommending_units
    lists = {"provincial": units.provincial, "society": units.societies}

    def choices(values: dict[str, Any]) -> list[f.Choice]:
        group = values.get("recommender_group")
        return [f.Choice(f"{group[0]}{i}", text=name) for i, name in enumerate(lists.get(group, ()))]

    def parse(answer: f.Answer, values: dict[str, Any]) -> str:
        group = values.get("recommender_group")
        options = choices(values)
        if answer.kind == f.CHOICE:
            match = next((o.text for o in options if o.value == answer.text), None)
            if match is None:
                raise f.Invalid("pick_one")
            return match
        typed = f.text(LIMITS["recommender"], min_len=2, single_line=True)(answer, values)
        exact = next((o.text for o in options if o.text == typed), None)
        if exact or group == "other":
            return exact or typed
        raise f.Invalid("recommender_not_listed", typed=typed)

    return choices, parse


def registration_form(campaign: Campaign) -> Form:
    subject_types = tuple(f.Choice(s.id, text=s.name) for s in campaign.subject_types)
    groups = (f.Choice("provincial", label="recommender_groups.provincial"),
              f.Choice("society", label="recommender_groups.society"),
              f.Choice("other", label="recommender_groups.other"))
    choices, parse_recommender = recommender_choices(campaign)

    async def submit(turn: Turn, values: dict[str, Any]) -> Done:
        assert turn.session is not None and turn.person is not None
        try:
            reg = await registration.save_form(turn.session, turn.person.id, values)
        except registration.NameTaken:
            raise f.Invalid("name_taken", name=values["account_name"], field="account_name") from None
        except registration.NameUnusual:
            raise f.Invalid("name_unusual", field="account_name") from None
        except IllegalTransition:  # approved meanwhile (a correction form opened before)
            return Done(turn.texts.render("registration/not_editable"))
        subject = campaign.subject_type(reg.subject_type)
        document = await recommendation_form.build_apart(values, needs_seal=subject.needs_seal)
        await turn.bot.send_document(turn.chat_id, BufferedInputFile(document, filename=form_filename(values)),
                                     caption=turn.texts.render("registration/form_caption"))
        return Done(turn.texts.render("registration/next_steps", needs_seal=subject.needs_seal,
                                      recommender=reg.recommender))

    return Form(
        name="registration",
        fields=(
            f.Field("account_name", parse_account_name, limits={"max_len": LIMITS["account_name"]},
                    verify=_name_free),
            f.Field("subject_type", f.choice(subject_types), accepts=frozenset({f.CHOICE, f.TEXT}),
                    choices=subject_types),
            _line("subject_name"),
            _line("person_name"),
            _line("unit"),
            _line("position"),
            _line("title"),
            _line("field"),
            f.Field("phone", f.phone(), accepts=frozenset({f.TEXT, f.CONTACT}), share_contact=True),
            f.Field("email", f.email()),
            f.Field("experience", f.text(LIMITS["experience"], min_len=10), limits={"max_len": LIMITS["experience"]}),
            f.Field("experience_file", f.document(DOC_EXTENSIONS, MAX_FILE), accepts=frozenset({f.DOCUMENT, f.PHOTO}),
                    optional=True, limits={"extensions": DOC_EXTENSIONS}),
            f.Field("recommender_group", f.choice(groups), accepts=frozenset({f.CHOICE, f.TEXT}), choices=groups,
                    resets=("recommender",)),
            f.Field("recommender", parse_recommender, accepts=frozenset({f.CHOICE, f.TEXT}), choices=choices,
                    limits={"allow_other": campaign.recommending_units.allow_other}),
        ),
        on_submit=submit,
    )


def form_filename(values: dict[str, Any]) -> str:
    return f"科普号推荐申请表-{values['account_name']}.docx"


FIX_CHOICES = tuple(f.Choice(name, label=f"forms.registration.{name}") for name in FIXABLE)


async def registration_shown(turn: Turn) -> dict[str, Any]:
    """The application being sent back, read by id: its account name (none once the applicant erased
    their data)."""
    assert turn.draft is not None and turn.session is not None
    reg = await registration.by_id(turn.session, turn.draft.refs["registration_id"])
    name = reg.account_name if reg is not None else ""
    return {"account_name": "" if name == registration.ERASED else name}


async def submit_rejection(turn: Turn, values: dict[str, Any]) -> Done:
    person, texts, session = turn.person, turn.texts, turn.session
    assert person is not None and session is not None and turn.draft is not None
    # the form may have been opened before the operator's role was taken away
    if not can(person, Action.decide_registration):
        return Done(texts.render("forms/errors/no_longer_staff"))
    reg_id = int(turn.draft.refs["registration_id"])
    name = (await turn.details())["account_name"]  # before deciding: empty when the applicant erased their data
    outcome, reg = await registration.decide(session, reg_id, person, approve=False,
                                             reason=values["reason"], fields=values["fields"])
    if outcome is registration.Decision.done and reg is not None:
        kb = InlineKeyboardBuilder()
        kb.button(text=texts.label("registration.fix"), callback_data=RegCB(id=reg.id, action="fix").pack())
        await notify(session, [reg.user_id], texts.render("registration/rejected", reason=reg.decision_reason,
                                                          fields=registration.fixes_of(reg)), kb.as_markup(),
                     about=reg.user_id)
    return Done(texts.render("registration/decided", outcome=outcome.value, approve=False, id=reg_id,
                             account_name=name))


REJECTION = Form(
    name="registration_reject",
    fields=(
        f.Field("fields", f.choice(FIX_CHOICES), accepts=frozenset({f.CHOICE}), choices=FIX_CHOICES, multi=True),
        f.Field("reason", f.text(500, min_len=4), limits={"max_len": 500}),
    ),
    on_submit=submit_rejection,
    confirm=False,
    details=registration_shown,
)
