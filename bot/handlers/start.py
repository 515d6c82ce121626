"""/start, /help, /rules, /contact and the main menu's information sections."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import CategoryCB, MenuCB, Section
from bot.campaign import Campaign
from bot.commands import set_commands_for
from bot.filters import Can, PrivateChat
from bot.flows.engine import Forms, draft_of, form_title, resume_button, start_form, turn_of
from bot.keyboards import back_to_menu, categories_menu, category_back, main_menu, staff_menu
from bot.outbox import queue
from bot.render import Texts
from bot.services import staff, users
from bot.services.policy import Action
from bot.services.users import Person, Role
from bot.ui import not_allowed, show, stale_button

SECTION_TEMPLATES = {
    Section.about: "about",
    Section.directions: "directions",
    Section.rules: "rules",
    Section.contact: "contact",
    Section.help: "help",
}


async def welcome_view(texts: Texts, person: Person, state: FSMContext, raw_state: str | None,
                       session: AsyncSession, forms: Forms, campaign: Campaign) -> tuple[str, InlineKeyboardMarkup]:
    """The welcome with the menu for this person's roles, offering to continue an unfinished form;
    operators also see what waits for them (one query, made for operators only)."""
    roles = sorted(r.value for r in person.roles if r is not Role.creator)
    draft = await draft_of(state, raw_state, forms)
    waiting = await staff.waiting(session, campaign.review.reviewers) if person.has(Role.admin) else None
    markup = main_menu(texts, person, waiting)
    if draft is not None:
        markup.inline_keyboard.insert(0, [resume_button(texts, draft)])
    text = texts.render("welcome", name=person.first_name, roles=roles, draft=form_title(forms[draft.form], texts) if draft else None,
                        waiting=waiting)
    return text, markup


CHATTING = "TutorSG:"  # the tutoring conversation's states (bot/handlers/tutoring.py)
# a new reviewer or tutor goes straight on to their profile (fields; 单位 / how many creators)
PROFILE_FORMS = {Role.reviewer: "reviewer_profile", Role.tutor: "tutor_profile"}


async def start_with_payload(message: Message, command: CommandObject, texts: Texts, person: Person,
                             session: AsyncSession, bot: Bot, state: FSMContext, raw_state: str | None,
                             forms: Forms, **data: Any) -> None:
    """Deep links: inv_<code> grants a staff role; anything else is a plain /start. A new reviewer
    or tutor goes straight on to their profile (fields, 单位 or capacity: what matching needs);
    saving it gives them the review rounds or the creators waiting for one."""
    payload = command.args or ""
    if payload.startswith("inv_"):
        outcome, role = await users.redeem_invite(session, payload[4:], person.id)
        if outcome is users.InviteOutcome.granted:
            person = Person(id=person.id, first_name=person.first_name, roles=person.roles | {role})
            await set_commands_for(bot, texts, person.id, person.roles)
        await message.answer(texts.render("invite_redeemed", outcome=outcome.value, role=role.value if role else ""))
        profile = PROFILE_FORMS.get(role) if outcome is users.InviteOutcome.granted else None
        if profile in forms:
            await start_form(turn_of(person.id, texts=texts, session=session, person=person, bot=bot, state=state,
                                     forms=forms, **data), profile)
            return
    await start(message, texts, person, state, raw_state, session, forms, data["campaign"])


async def start(message: Message, texts: Texts, person: Person, state: FSMContext, raw_state: str | None,
                session: AsyncSession, forms: Forms, campaign: Campaign) -> None:
    """Welcome, what the programme is, and the main menu for this person's roles; an unfinished
    form is offered to continue where it stopped."""
    if person.roles - {Role.creator}:
        # staff may have been notified before they ever opened the bot (Telegram refused: the
        # notifications were held); their /start lets those go out now, after this reply
        await queue.release_held(session, [person.id])
    if raw_state and raw_state.startswith(CHATTING):  # /start leaves 对话中: what they type next is not relayed
        await state.set_state(None)
    text, markup = await welcome_view(texts, person, state, raw_state, session, forms, campaign)
    await message.answer(text, reply_markup=markup, disable_web_page_preview=True)


async def help_(message: Message, texts: Texts, person: Person) -> None:
    await message.answer(texts.render("help", roles=[r.value for r in person.roles]), reply_markup=back_to_menu(texts))


async def rules(message: Message, texts: Texts) -> None:
    await message.answer(texts.render("rules"), reply_markup=back_to_menu(texts))


async def contact(message: Message, texts: Texts) -> None:
    await message.answer(texts.render("contact"), reply_markup=back_to_menu(texts), disable_web_page_preview=True)


async def home(callback: CallbackQuery, texts: Texts, person: Person, state: FSMContext, raw_state: str | None,
               session: AsyncSession, forms: Forms, campaign: Campaign) -> None:
    """返回主菜单: the welcome again, in place of the message pressed."""
    await show(callback, *await welcome_view(texts, person, state, raw_state, session, forms, campaign))


async def categories(callback: CallbackQuery, texts: Texts, campaign: Campaign) -> None:
    await show(callback, texts.render("categories"), categories_menu(texts, campaign.categories))


async def staff_section(callback: CallbackQuery, texts: Texts) -> None:
    """Operators: inviting staff."""
    await show(callback, texts.render("staff_menu"), staff_menu(texts))


async def section(callback: CallbackQuery, callback_data: MenuCB, texts: Texts, person: Person) -> None:
    """Main-menu navigation: each information section replaces the menu message, with a way back."""
    name = callback_data.section
    if name not in SECTION_TEMPLATES:  # a section whose feature router did not take it
        await stale_button(callback, texts)
        return
    extra = {"roles": [r.value for r in person.roles]} if name is Section.help else {}
    await show(callback, texts.render(SECTION_TEMPLATES[name], **extra), back_to_menu(texts))


async def category(callback: CallbackQuery, callback_data: CategoryCB, texts: Texts, campaign: Campaign) -> None:
    cat = next((c for c in campaign.categories if c.id == callback_data.id), None)
    if cat is None:  # forged or from an older campaign file
        await stale_button(callback, texts)
        return
    await show(callback, texts.render("category", category=cat), category_back(texts))


def build() -> Router:
    router = Router(name="start")
    router.message.filter(PrivateChat())
    router.message.register(start_with_payload, CommandStart(deep_link=True))
    router.message.register(start, CommandStart())
    router.message.register(help_, Command("help"))
    router.message.register(rules, Command("rules"))
    router.message.register(contact, Command("contact"))
    on = router.callback_query.register
    on(home, MenuCB.filter(F.section == Section.home))
    on(categories, MenuCB.filter(F.section == Section.categories))
    # no policy action for inviting staff yet: the admin role
    on(staff_section, MenuCB.filter(F.section == Section.staff), Can(Action.manage_staff))
    on(not_allowed, MenuCB.filter(F.section == Section.staff))
    on(section, MenuCB.filter())
    on(category, CategoryCB.filter())
    return router
