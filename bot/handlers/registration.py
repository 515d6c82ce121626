"""Registering a 科普号: the recommendation form, the sealed scan, the operators' decision,
/profile, /mydata and erasing one's data."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import CONFIRM_MINUTES, MenuCB, ProfileCB, RegCB, Section, fresh, stamped, unstamped
from bot.campaign import Campaign
from bot.config import Settings
from bot.filters import Carries, HasRole
from bot.flows import fields as f
from bot.flows.engine import answer_of, start_form
from bot.flows.registration import MAX_FILE, REJECTION, SCAN_EXTENSIONS, form_filename, registration_form
from bot.keyboards import back_to_menu, button, main_menu
from bot.notify import notify
from bot.render import Texts
from bot.services import personal_data, recommendation_form, registration
from bot.services.policy import Action, can
from bot.services.registration import SCAN, Status
from bot.services.users import Person, Role
from bot.ui import show

parse_scan = f.document(SCAN_EXTENSIONS, MAX_FILE)
MIN_SCAN_SIDE = 1000  # px on the long side: a smaller photo of an A4 form is hard to read


def profile_keyboard(texts: Texts, reg) -> InlineKeyboardMarkup:
    first = []
    if reg is None:
        first = [button(texts, "registration.start", ProfileCB(action="register").pack())]
    elif reg.status == Status.rejected.value:
        first = [button(texts, "registration.fix", RegCB(id=reg.id, action="fix").pack())]
    return back_to_menu(texts, extra=[*first, button(texts, "registration.mydata", ProfileCB(action="mydata").pack()),
                                      button(texts, "registration.erase", ProfileCB(action="erase").pack())])


def build(campaign: Campaign) -> Router:
    router = Router(name="registration")
    form = registration_form(campaign)

    async def profile_text(session: AsyncSession, texts: Texts, user_id: int) -> tuple[str, object]:
        reg = await registration.for_user(session, user_id)
        values = registration.values_of(reg) if reg else None
        subject = campaign.subject_type(reg.subject_type).name if reg else None
        text = texts.render("registration/profile", reg=reg, values=values, subject=subject,
                            fixes=registration.fixes_of(reg) if reg else [])
        return text, profile_keyboard(texts, reg)

    async def open_or_show(chat_id: int, bot: Bot, state: FSMContext, texts: Texts, session: AsyncSession,
                           person: Person) -> None:
        if await registration.for_user(session, person.id) is None:
            await start_form(form, chat_id, bot, state, texts)
            return
        text, markup = await profile_text(session, texts, person.id)
        await bot.send_message(chat_id, text, reply_markup=markup)

    @router.message(Command("register"))
    async def register_command(message: Message, bot: Bot, state: FSMContext, texts: Texts, session: AsyncSession,
                               person: Person) -> None:
        """/register opens the 推荐申请表; with a registration already made it shows its status."""
        await open_or_show(message.chat.id, bot, state, texts, session, person)

    @router.callback_query(MenuCB.filter(F.section == Section.register))
    @router.callback_query(ProfileCB.filter(F.action == "register"))
    async def register_button(callback: CallbackQuery, bot: Bot, state: FSMContext, texts: Texts,
                              session: AsyncSession, person: Person) -> None:
        await callback.answer()
        await open_or_show(callback.from_user.id, bot, state, texts, session, person)

    @router.message(Command("profile"))
    async def profile(message: Message, texts: Texts, session: AsyncSession, person: Person) -> None:
        text, markup = await profile_text(session, texts, person.id)
        await message.answer(text, reply_markup=markup)

    # ---------------------------------------------------------------- the signed, sealed scan

    @router.message(StateFilter(None), Carries("document", "photo"))
    async def scan(message: Message, bot: Bot, texts: Texts, session: AsyncSession, person: Person,
                   settings: Settings) -> None:
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
        await notify_staff(session, texts, sorted(settings.admin_ids), reg, small=small)

    async def notify_staff(session: AsyncSession, texts: Texts, chat_ids: list[int], reg, *,
                           small: int | None = None) -> None:
        """The operators' card: the generated form, the 经历附页 and the scan, then the applicant's
        answers, who they are on Telegram, and what was asked in earlier rounds."""
        values = registration.values_of(reg)
        card = await registration.staff_card(session, reg)
        kb = InlineKeyboardBuilder()
        kb.button(text=texts.label("registration.approve"), callback_data=RegCB(id=reg.id, action="approve").pack())
        kb.button(text=texts.label("registration.reject"), callback_data=RegCB(id=reg.id, action="reject").pack())
        subject = campaign.subject_type(reg.subject_type)
        document = BufferedInputFile(recommendation_form.build(values, needs_seal=subject.needs_seal),
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

    async def list_pending(chat_id: int, bot: Bot, texts: Texts, session: AsyncSession) -> None:
        waiting, total = await registration.pending(session)
        await bot.send_message(chat_id, texts.render("registration/pending", shown=len(waiting), total=total))
        for reg in waiting:
            await notify_staff(session, texts, [chat_id], reg)

    @router.message(Command("pending"), HasRole(Role.admin))
    async def pending(message: Message, bot: Bot, texts: Texts, session: AsyncSession) -> None:
        """Operators: the registrations waiting for a decision, each with its form, scan and buttons."""
        await list_pending(message.chat.id, bot, texts, session)

    @router.callback_query(MenuCB.filter(F.section == Section.pending))
    async def pending_button(callback: CallbackQuery, bot: Bot, texts: Texts, session: AsyncSession,
                             person: Person) -> None:
        """The operators' list of registrations from a button (their /start counts): as /pending."""
        if not can(person, Action.list_registrations):
            await callback.answer(texts.render("not_allowed"), show_alert=True)
            return
        await callback.answer()
        await list_pending(callback.from_user.id, bot, texts, session)

    # ---------------------------------------------------------------- operators decide

    @router.callback_query(RegCB.filter(F.action.in_({"approve", "reject"})))
    async def decide(callback: CallbackQuery, callback_data: RegCB, bot: Bot, state: FSMContext, texts: Texts,
                     session: AsyncSession, person: Person) -> None:
        if not can(person, Action.decide_registration):
            await callback.answer(texts.render("not_allowed"), show_alert=True)
            return
        reg = await registration.by_id(session, callback_data.id)
        if reg is None or reg.status == Status.erased.value:
            # the applicant deleted their data: this card's buttons can never work again
            await callback.answer(texts.render("registration/gone", erased=reg is not None), show_alert=True)
            await drop_buttons(callback)
            return
        if reg.status != Status.pending_review.value:
            await callback.answer(texts.render("registration/not_pending", found=True), show_alert=True)
            return
        if callback_data.action == "reject":
            await callback.answer()
            await start_form(REJECTION, callback.from_user.id, bot, state, texts,
                             extra={"registration_id": reg.id, "account_name": reg.account_name,
                                    "about": reg.user_id})  # erasing the applicant's data drops this draft
            return
        outcome, reg = await registration.decide(session, reg.id, person.id, approve=True)
        await show(callback, texts.render("registration/decided", outcome=outcome.value, approve=True,
                                          id=callback_data.id, account_name=reg.account_name if reg else ""))
        if outcome is registration.Decision.done and reg is not None:
            await notify(session, [reg.user_id], texts.render("registration/approved", account_name=reg.account_name),
                         about=reg.user_id)

    # ---------------------------------------------------------------- the creator corrects

    @router.callback_query(RegCB.filter(F.action == "fix"))
    async def fix(callback: CallbackQuery, callback_data: RegCB, bot: Bot, state: FSMContext, texts: Texts,
                  session: AsyncSession, person: Person) -> None:
        reg = await registration.for_user(session, person.id)
        if reg is None or reg.id != callback_data.id or reg.status != Status.rejected.value:
            await callback.answer(texts.render("stale_button"), show_alert=True)
            return
        await callback.answer()
        fixes = [name for name in registration.fixes_of(reg) if name != SCAN]
        if not fixes and SCAN in registration.fixes_of(reg):
            await bot.send_message(person.id, texts.render("registration/scan_again"))
            return
        values = registration.values_of(reg)
        values["recommender_group"] = group_of(campaign, values["recommender"])
        await start_form(form, person.id, bot, state, texts, values=values, edit_only=fixes or ["account_name"])

    # ---------------------------------------------------------------- personal data

    @router.message(Command("mydata"))
    @router.callback_query(ProfileCB.filter(F.action == "mydata"))
    async def mydata(event: Message | CallbackQuery, bot: Bot, state: FSMContext, texts: Texts,
                     session: AsyncSession, person: Person) -> None:
        """Everything the bot holds on this person: a short summary, then the whole as a JSON file.
        Their conversation's state (an unfinished form) is read through FSMContext: SQL or Redis."""
        if isinstance(event, CallbackQuery):
            await event.answer()
        conversation = {"state": await state.get_state(), "data": await state.get_data()}
        data = await personal_data.export(session, person.id, conversation=conversation)
        if data is None:
            return
        await bot.send_message(person.id, texts.render("registration/mydata", data=data))
        await bot.send_document(person.id, BufferedInputFile(data.json(), filename=f"我的数据-{person.id}.json"),
                                caption=texts.render("registration/mydata_file"))

    @router.message(Command("deletedata"))
    @router.callback_query(ProfileCB.filter(F.action == "erase"))
    async def erase_ask(event: Message | CallbackQuery, bot: Bot, texts: Texts, session: AsyncSession,
                        person: Person, clock) -> None:
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
                  callback_data=ProfileCB(action=stamped("erase_yes", now)).pack())
        kb.button(text=texts.label("menu.back"), callback_data=MenuCB(section=Section.home).pack())
        kb.adjust(1)
        text = texts.render("registration/erase_confirm", plan=plan)
        if expired:
            text = texts.render("forms/errors/confirm_expired", minutes=CONFIRM_MINUTES) + "\n\n" + text
        await bot.send_message(person.id, text, reply_markup=kb.as_markup())

    @router.callback_query(ProfileCB.filter(F.action.startswith("erase_yes")))
    async def erase(callback: CallbackQuery, callback_data: ProfileCB, bot: Bot, state: FSMContext, texts: Texts,
                    session: AsyncSession, person: Person, clock) -> None:
        action, made = unstamped(callback_data.action)
        if action != "erase_yes":
            raise SkipHandler
        if not fresh(made, clock()):  # an old button (or one from before stamps): ask again
            await callback.answer()
            await ask_erase(bot, texts, session, person, clock(), expired=True)
            return
        done = await personal_data.erase(session, person.id)
        await state.clear()
        await show(callback, texts.render("registration/erased", plan=done), main_menu(texts, None))

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
