"""Registering a 科普号: the recommendation form, the sealed scan, the operators' decision,
/profile, /mydata and erasing one's data."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot import notices, tutoring_notices
from bot.callbacks import (
    CONFIRM_MINUTES,
    MenuCB,
    Pressed,
    ProfileAction,
    ProfileCB,
    RegAction,
    RegCB,
    Section,
    fresh,
    minute_stamp,
)
from bot.campaign import Campaign
from bot.config import Settings
from bot.filters import Can, Carries
from bot.flows import fields as f
from bot.flows.engine import Forms, answer_of, form_title, start_form, turn_of
from bot.flows.registration import MAX_FILE, REJECTION, SCAN_EXTENSIONS, form_filename
from bot.keyboards import back_to_menu, button, main_menu
from bot.outbox import notify
from bot.render import Texts
from bot.services import personal_data, recommendation_form, registration, resources
from bot.services.policy import Action
from bot.services.registration import SCAN, Status
from bot.services.users import Person, Role
from bot.ui import not_allowed, show, stale_button

parse_scan = f.document(SCAN_EXTENSIONS, MAX_FILE)
MIN_SCAN_SIDE = 1000  # px on the long side: a smaller photo of an A4 form is hard to read
FORM = "registration"


def profile_keyboard(texts: Texts, reg) -> InlineKeyboardMarkup:
    first = []
    if reg is None:
        first = [button(texts, "registration.start", ProfileCB(action=ProfileAction.register).pack())]
    elif reg.status == Status.rejected:
        first = [button(texts, "registration.fix", RegCB(id=reg.id, action=RegAction.fix).pack())]
    return back_to_menu(texts, extra=[*first,
                                      button(texts, "registration.mydata", ProfileCB(action=ProfileAction.mydata).pack()),
                                      button(texts, "registration.erase", ProfileCB(action=ProfileAction.erase).pack())])


async def profile_view(session: AsyncSession, texts: Texts, campaign: Campaign, user_id: int) -> tuple[str, object]:
    reg = await registration.for_user(session, user_id)
    values = registration.values_of(reg) if reg else None
    subject = campaign.subject_type(reg.subject_type).name if reg else None
    text = texts.render("registration/profile", reg=reg, values=values, subject=subject,
                        fixes=registration.fixes_of(reg) if reg else [])
    return text, profile_keyboard(texts, reg)


async def register(event: Message | CallbackQuery, bot: Bot, texts: Texts, session: AsyncSession, person: Person,
                   campaign: Campaign, **data: Any) -> None:
    """/register (or 注册 on the menu, or on /profile) opens the 推荐申请表; with a registration
    already made it shows its status."""
    if isinstance(event, CallbackQuery):
        await event.answer()
    if await registration.for_user(session, person.id) is None:
        await start_form(turn_of(person.id, bot=bot, texts=texts, session=session, person=person, campaign=campaign,
                                 **data), FORM)
        return
    text, markup = await profile_view(session, texts, campaign, person.id)
    await bot.send_message(person.id, text, reply_markup=markup)


async def profile(message: Message, texts: Texts, session: AsyncSession, person: Person, campaign: Campaign) -> None:
    text, markup = await profile_view(session, texts, campaign, person.id)
    await message.answer(text, reply_markup=markup)


# ---------------------------------------------------------------- the signed, sealed scan


async def scan(message: Message, texts: Texts, session: AsyncSession, person: Person, settings: Settings,
               campaign: Campaign) -> None:
    """A photo or PDF sent outside any form: the scan of the signed and sealed form, if one is
    awaited, or a newer one replacing the scan that waits for review."""
    reg = await registration.for_user(session, person.id)
    if not registration.scan_awaited(reg):
        raise SkipHandler  # not ours: the fallback explains what files are for
    answer = answer_of(message)
    try:
        file = parse_scan(answer, {})
    except f.Invalid as problem:
        await message.answer(texts.render(f"forms/errors/{problem.template}", **problem.context) + "\n" +
                             texts.render("registration/scan_again"))
        return
    file["kind"] = answer.kind
    small = None
    if message.photo:  # Telegram states a photo's size; a document image's size is unknown here
        largest = message.photo[-1]
        if max(largest.width, largest.height) < MIN_SCAN_SIDE:
            small = max(largest.width, largest.height)
    outcome, reg = await registration.attach_scan(session, person.id, file)
    if outcome is registration.ScanOutcome.not_expected or reg is None:
        raise SkipHandler
    await message.answer(texts.render("registration/scan_received", replaced=outcome is registration.ScanOutcome.replaced,
                                      small=small, min_side=MIN_SCAN_SIDE))
    await notify_staff(session, texts, campaign, sorted(settings.admin_ids), reg, small=small)


async def notify_staff(session: AsyncSession, texts: Texts, campaign: Campaign, chat_ids: list[int], reg, *,
                       small: int | None = None) -> None:
    """The operators' card: the generated form, the 经历附页 and the scan, then the applicant's
    answers, who they are on Telegram, and what was asked in earlier rounds."""
    values = registration.values_of(reg)
    card = await registration.staff_card(session, reg)
    kb = InlineKeyboardBuilder()
    kb.button(text=texts.label("registration.approve"), callback_data=RegCB(id=reg.id, action=RegAction.approve).pack())
    kb.button(text=texts.label("registration.reject"), callback_data=RegCB(id=reg.id, action=RegAction.reject).pack())
    subject = campaign.subject_type(reg.subject_type)
    document = BufferedInputFile(await recommendation_form.build_apart(values, needs_seal=subject.needs_seal),
                                 filename=form_filename(values))
    attachments: list = [("document", document)]
    if card.experience_file:
        attachments.append((registration.sent_as(card.experience_file), card.experience_file["file_id"]))
    if card.scan:
        attachments.append((registration.sent_as(card.scan), card.scan["file_id"]))
    text = texts.render("registration/for_staff", reg=reg, values=values, subject=subject.name, card=card,
                        small=small, min_side=MIN_SCAN_SIDE)
    # the card carries the applicant's data: erasing it deletes these copies too
    await notify(session, chat_ids, text, kb.as_markup(), attachments=attachments, about=reg.user_id)


async def pending(event: Message | CallbackQuery, bot: Bot, texts: Texts, session: AsyncSession, person: Person,
                  campaign: Campaign) -> None:
    """/pending, or its count on an operator's /start: the registrations waiting for a decision,
    each with its form, scan and buttons."""
    if isinstance(event, CallbackQuery):
        await event.answer()
    waiting, total = await registration.pending(session)
    await bot.send_message(person.id, texts.render("registration/pending", shown=len(waiting), total=total))
    for reg in waiting:
        await notify_staff(session, texts, campaign, [person.id], reg)


# ---------------------------------------------------------------- operators decide


async def decided_already(callback: CallbackQuery, texts: Texts, reg) -> bool:
    """Say so when the registration can no longer be decided (erased, or decided meanwhile)."""
    if reg is None or reg.status == Status.erased:
        # the applicant deleted their data: this card's buttons can never work again
        await callback.answer(texts.render("registration/gone", erased=reg is not None), show_alert=True)
        await drop_buttons(callback)
        return True
    if reg.status != Status.pending_review:
        await callback.answer(texts.render("registration/not_pending", found=True), show_alert=True)
        return True
    return False


async def approve(callback: CallbackQuery, callback_data: RegCB, texts: Texts, session: AsyncSession,
                  person: Person, campaign: Campaign, clock: Callable[[], datetime]) -> None:
    reg = await registration.by_id(session, callback_data.id)
    if await decided_already(callback, texts, reg):
        return
    outcome, reg = await registration.decide(session, reg.id, person, approve=True)
    await show(callback, texts.render("registration/decided", outcome=outcome.value, approve=True,
                                      id=callback_data.id, account_name=reg.account_name if reg else ""))
    if outcome is registration.Decision.done and reg is not None:
        window_open = campaign.is_open(clock())  # the way on: applying, or else learning meanwhile
        way_on = Section.apply if window_open else Section.academy
        await notify(session, [reg.user_id], texts.render("registration/approved", account_name=reg.account_name,
                                                          window_open=window_open),
                     back_to_menu(texts, [button(texts, f"menu.{way_on.value}", MenuCB(section=way_on).pack())]),
                     about=reg.user_id)


async def reject(callback: CallbackQuery, callback_data: RegCB, texts: Texts, session: AsyncSession,
                 person: Person, **data: Any) -> None:
    """不通过 asks why first (the rejection form: what to correct, and a reason)."""
    reg = await registration.by_id(session, callback_data.id)
    if await decided_already(callback, texts, reg):
        return
    await callback.answer()
    await start_form(turn_of(person.id, texts=texts, session=session, person=person, **data), REJECTION.name,
                     refs={"registration_id": reg.id, "about": reg.user_id})  # erasing the applicant's data drops this draft


# ---------------------------------------------------------------- the creator corrects


async def fix(callback: CallbackQuery, callback_data: RegCB, bot: Bot, texts: Texts, session: AsyncSession,
              person: Person, campaign: Campaign, **data: Any) -> None:
    reg = await registration.for_user(session, person.id)
    if reg is None or reg.id != callback_data.id or reg.status != Status.rejected:
        await stale_button(callback, texts)
        return
    await callback.answer()
    fixes = [name for name in registration.fixes_of(reg) if name != SCAN]
    if not fixes and SCAN in registration.fixes_of(reg):
        await bot.send_message(person.id, texts.render("registration/scan_again"))
        return
    values = registration.values_of(reg)
    values["recommender_group"] = group_of(campaign, values["recommender"])
    await start_form(turn_of(person.id, bot=bot, texts=texts, session=session, person=person, campaign=campaign,
                             **data), FORM, values=values, edit_only=fixes or ["account_name"])


# ---------------------------------------------------------------- personal data


async def mydata(event: Message | CallbackQuery, bot: Bot, state: FSMContext, texts: Texts,
                 session: AsyncSession, person: Person, forms: Forms) -> None:
    """Everything the bot holds on this person: a short summary, then the whole as a JSON file.
    Their conversation's state (an unfinished form) is read through FSMContext: SQL or Redis."""
    if isinstance(event, CallbackQuery):
        await event.answer()
    conversation = {"state": await state.get_state(), "data": await state.get_data()}
    data = await personal_data.export(session, person.id, conversation=conversation)
    if data is None:
        return
    unfinished = forms.get(data.unfinished_form or "")
    await bot.send_message(person.id, texts.render("registration/mydata", data=data,
                                                   unfinished=form_title(unfinished, texts) if unfinished else None))
    await bot.send_document(person.id, BufferedInputFile(data.json(), filename=f"我的数据-{person.id}.json"),
                            caption=texts.render("registration/mydata_file"))


async def erase_ask(event: Message | CallbackQuery, bot: Bot, texts: Texts, session: AsyncSession,
                    person: Person, clock) -> None:
    """/deletedata (or 删除我的数据 on /profile): what erasing deletes and keeps, and 确认."""
    if isinstance(event, CallbackQuery):
        await event.answer()
    await ask_erase(bot, texts, session, person, clock())


async def ask_erase(bot: Bot, texts: Texts, session: AsyncSession, person: Person, now, *,
                    expired: bool = False) -> None:
    """What erasing deletes and keeps, and the 确认 button: it holds the minute it was made and
    works for CONFIRM_MINUTES (a weeks-old one asks again instead of erasing)."""
    plan = await personal_data.erasure_plan(session, person.id)
    kb = InlineKeyboardBuilder()
    kb.button(text=texts.label("registration.erase_yes"),
              callback_data=ProfileCB(action=ProfileAction.erase_yes, arg=minute_stamp(now)).pack())
    kb.button(text=texts.label("menu.back"), callback_data=MenuCB(section=Section.home).pack())
    kb.adjust(1)
    text = texts.render("registration/erase_confirm", plan=plan)
    if expired:
        text = texts.render("forms/errors/confirm_expired", minutes=CONFIRM_MINUTES) + "\n\n" + text
    await bot.send_message(person.id, text, reply_markup=kb.as_markup())


async def erase(callback: CallbackQuery, callback_data: ProfileCB, bot: Bot, state: FSMContext, texts: Texts,
                session: AsyncSession, person: Person, campaign: Campaign, settings: Settings, clock) -> None:
    if not fresh(callback_data.arg, clock()):  # an old button (or one from before stamps): ask again
        await callback.answer()
        await ask_erase(bot, texts, session, person, clock(), expired=True)
        return
    if person.has(Role.reviewer):  # their open reviews go to others before their name goes
        await notices.reviewer_left(session, texts, campaign, settings.admin_ids, person.id, now=clock(),
                                    actor_id=person.id, why="erased")
    if person.has(Role.tutor):  # their creators go back to the queue, their requests to the operators
        await tutoring_notices.tutor_removed(session, texts, settings.admin_ids, person.id, now=clock(),
                                             actor_id=person.id)
        await resources.release_handler(session, person.id, now=clock(), actor_id=person.id)
    done = await personal_data.erase(session, person.id)
    await state.clear()
    await show(callback, texts.render("registration/erased", plan=done), main_menu(texts, None))


def build() -> Router:
    router = Router(name="registration")
    on_message, on_button = router.message.register, router.callback_query.register
    on_message(register, Command("register"))
    on_button(register, MenuCB.filter(F.section == Section.register))
    on_button(register, ProfileCB.filter(F.action == ProfileAction.register))
    on_message(profile, Command("profile"))
    on_message(scan, StateFilter(None), Carries("document", "photo"))
    # operators only; a command from anyone else gets the fallback's "unknown command"
    on_message(pending, Command("pending"), Can(Action.list_registrations))
    on_button(pending, MenuCB.filter(F.section == Section.pending), Can(Action.list_registrations))
    on_button(approve, RegCB.filter(F.action == RegAction.approve), Can(Action.decide_registration))
    on_button(reject, RegCB.filter(F.action == RegAction.reject), Can(Action.decide_registration))
    on_button(fix, RegCB.filter(F.action == RegAction.fix))
    on_message(mydata, Command("mydata"))
    on_button(mydata, ProfileCB.filter(F.action == ProfileAction.mydata))
    on_message(erase_ask, Command("deletedata"))
    on_button(erase_ask, ProfileCB.filter(F.action == ProfileAction.erase))
    on_button(erase, ProfileCB.filter(F.action == ProfileAction.erase_yes))
    # the operators' buttons pressed by someone the policy does not allow (forged, or no longer staff)
    on_button(not_allowed, MenuCB.filter(F.section == Section.pending))
    on_button(not_allowed, Pressed(RegCB), ~Can(Action.decide_registration))
    return router


async def drop_buttons(callback: CallbackQuery) -> None:
    """Take the buttons off the message pressed (an operator's card that can no longer be acted on)."""
    if isinstance(callback.message, Message) and callback.message.reply_markup:
        try:
            await callback.message.edit_reply_markup(reply_markup=None)
        except TelegramBadRequest:  # already gone, or too old to edit: the alert said enough
            pass


def group_of(campaign: Campaign, recommender: str) -> str:
    units = campaign.recommending_units
    if recommender in units.provincial:
        return "provincial"
    if recommender in units.societies:
        return "society"
    return "other"
