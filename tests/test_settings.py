"""/settings (issue 12, item 3): each person's reminder kinds on/off and the quiet hours.

A creator sees the creators' kinds (not review_due, not digest), turns one off and on again (the
message edited in place, reminder_prefs following); a reviewer also sees review_due, an operator
also digest; a forged kind, a kind not for the person's roles and garbled data are refused with a
kind alert and nothing changes. The kinds' names are `reminders.kinds.<kind>` labels."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.callbacks import SettingsAction, SettingsCB
from bot.campaign import ReminderSettings
from bot.services import reminders
from bot.services.reminders import Kind
from bot.services.users import Role, grant_role, upsert_user
from storage.models import ReminderPref, utcnow
from tests.conftest import ADMIN_ID, approve_creator

CREATOR, REVIEWER = 1001, 2001
NOW = utcnow().replace(microsecond=0)
CREATOR_KINDS = ["deadline", "draft_idle", "seal_waiting", "sent_back", "revise_pending", "lesson", "branding"]


async def prefs(app, user_id: int) -> dict[str, bool]:
    async with app.sessionmaker() as session:
        rows = (await session.execute(select(ReminderPref).where(ReminderPref.user_id == user_id))).scalars()
        return {r.kind: r.enabled for r in rows}


async def pref_rows(app) -> int:
    async with app.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(ReminderPref))).scalar_one()


def shown_kinds(user) -> list[str]:
    view = user.rendered("settings/view")
    assert view, view
    return [item["kind"] for item in view.values["items"]]


def button_for(user, data: str) -> str:
    """The label of the button carrying `data` on the newest message that has it."""
    for sent in reversed(user.history):
        for b in sent.buttons:
            if b.get("callback_data") == data:
                return b["text"]
    raise AssertionError(f"no button with {data!r}")


@pytest.fixture
async def people(app, chat):
    app.dispatcher["clock"] = lambda: NOW
    await approve_creator(app.sessionmaker, CREATOR)
    async with app.sessionmaker.begin() as session:
        for uid, name in ((REVIEWER, "评审老师"), (ADMIN_ID, "Admin")):
            await upsert_user(session, uid, first_name=name)
        await session.flush()
        await grant_role(session, REVIEWER, Role.reviewer, ADMIN_ID)
    users = {"alice": chat.user(CREATOR, "Alice"), "reviewer": chat.user(REVIEWER, "评审老师"),
             "admin": chat.user(ADMIN_ID, "Admin")}
    for user in users.values():
        await user.send("/start")
        user.new()
    return users


async def test_a_creator_turns_a_kind_off_and_on(app, people):
    alice = people["alice"]
    await alice.send("/settings")
    assert shown_kinds(alice) == CREATOR_KINDS  # no review_due, no digest
    text = alice.last_text
    assert "免打扰时段：每天 22:00 至次日 08:00（北京时间）" in text
    assert "总会送达" in text and "不能关闭" in text
    name = app.texts.label("reminders.kinds.deadline")
    assert f"✅ {name}" in text
    assert app.texts.label("reminders.kinds.digest") not in text
    assert app.texts.label("reminders.kinds.review_due") not in text
    message_id, sent_before = alice.last.message_id, len(alice.history)

    off = SettingsCB(action=SettingsAction.off, arg="deadline").pack()
    await alice.press(button_for(alice, off), message_id=message_id)
    assert await prefs(app, CREATOR) == {"deadline": False}
    async with app.sessionmaker() as session:
        assert not await reminders.enabled(session, CREATOR, Kind.deadline)
        assert await reminders.enabled(session, CREATOR, Kind.draft_idle)
    # edited in place: the same message now shows it off, with a button to turn it on
    assert alice.last.message_id == message_id and alice.last.method == "editMessageText"
    assert len([s for s in alice.history[sent_before:] if s.method == "sendMessage"]) == 0
    assert f"⬜ {name}" in alice.last_text and f"✅ {name}" not in alice.last_text
    on = SettingsCB(action=SettingsAction.on, arg="deadline").pack()
    assert button_for(alice, on) == f"⬜ {name}"
    view = alice.rendered("settings/view")
    assert {i["kind"]: i["on"] for i in view.values["items"]}["deadline"] is False

    # the old "off" button pressed again changes nothing more
    await alice.press("…", data=off)
    assert await prefs(app, CREATOR) == {"deadline": False}

    await alice.press(f"⬜ {name}", message_id=message_id)
    assert await prefs(app, CREATOR) == {"deadline": True}
    assert f"✅ {name}" in alice.last_text and alice.last.message_id == message_id
    # /settings again shows what is stored
    await alice.send("/settings")
    assert all(i["on"] for i in alice.rendered("settings/view").values["items"])


async def test_another_kind_leaves_the_rest_alone(app, people):
    alice = people["alice"]
    await alice.send("/settings")
    for kind in ("branding", "lesson"):
        await alice.press(button_for(alice, SettingsCB(action=SettingsAction.off, arg=kind).pack()))
    assert await prefs(app, CREATOR) == {"branding": False, "lesson": False}
    states = {i["kind"]: i["on"] for i in alice.rendered("settings/view").values["items"]}
    assert states == {k: k not in ("branding", "lesson") for k in CREATOR_KINDS}


async def test_a_forged_kind_is_refused(app, people):
    alice = people["alice"]
    await alice.send("/settings")
    await alice.press("…", data="st:off.bogus")
    assert alice.rendered("settings/refused", reason="unknown")
    assert "没有这种提醒" in alice.last_alert
    await alice.press("…", data="st:on.deadline" + "x" * 30)
    assert alice.rendered("settings/refused", reason="unknown")
    await alice.press("…", data="st:explode.deadline")  # an action no handler reads
    assert alice.rendered("stale_button")
    await alice.press("…", data="st:")
    assert alice.rendered("stale_button")
    assert await pref_rows(app) == 0


async def test_a_kind_not_for_their_role_is_refused(app, people):
    alice = people["alice"]
    await alice.send("/settings")
    for kind in ("digest", "review_due"):
        await alice.press("…", data=SettingsCB(action=SettingsAction.off, arg=kind).pack())
        assert alice.rendered("settings/refused", reason="not_yours")
        assert "与您目前的身份无关" in alice.last_alert
    assert await pref_rows(app) == 0


async def test_a_reviewer_also_sees_review_due(app, people):
    reviewer = people["reviewer"]
    await reviewer.send("/settings")
    kinds = shown_kinds(reviewer)
    assert "review_due" in kinds and "digest" not in kinds and set(CREATOR_KINDS) <= set(kinds)
    await reviewer.press(button_for(reviewer, SettingsCB(action=SettingsAction.off, arg="review_due").pack()))
    assert await prefs(app, REVIEWER) == {"review_due": False}
    await reviewer.press("…", data=SettingsCB(action=SettingsAction.off, arg="digest").pack())
    assert reviewer.rendered("settings/refused", reason="not_yours")
    assert await prefs(app, REVIEWER) == {"review_due": False}


async def test_an_operator_sees_the_digest(app, people):
    admin = people["admin"]
    await admin.send("/settings")
    kinds = shown_kinds(admin)
    assert "digest" in kinds and set(CREATOR_KINDS) <= set(kinds)
    assert app.texts.label("reminders.kinds.digest") in admin.last_text
    await admin.press(button_for(admin, SettingsCB(action=SettingsAction.off, arg="digest").pack()))
    assert await prefs(app, ADMIN_ID) == {"digest": False}
    assert f"⬜ {app.texts.label('reminders.kinds.digest')}" in admin.last_text


async def test_the_quiet_hours_follow_the_campaign(app, people):
    alice = people["alice"]
    app.dispatcher["campaign"] = app.campaign.model_copy(
        update={"reminders": ReminderSettings(quiet_hours=("13:00", "14:30"))})
    await alice.send("/settings")
    assert "每天 13:00 至 14:30（北京时间）" in alice.last_text
