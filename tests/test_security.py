"""Security and reliability (issue 8): invites are single-use under simultaneous clicks, secrets
stay out of logs, forged webhooks are refused."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys

import pytest
from sqlalchemy import select

from bot.services import users
from storage.models import Invite, UserRole
from tests.conftest import ADMIN_ID
from tests.harness import Conversation


async def _invite_code(chat: Conversation) -> str:
    boss = chat.user(ADMIN_ID, "Boss")
    await boss.send("/invite reviewer")
    link = next(word for word in boss.last_text.split() if word.startswith("https://t.me/"))
    return link.split("start=inv_")[1]


async def test_simultaneous_clicks_on_one_invite_grant_one_role(chat, app):
    """Eight people open one link at the same moment, each in their own transaction."""
    code = await _invite_code(chat)
    for i in range(8):
        await chat.user(3000 + i, f"P{i}").send("/start")

    async def click(user_id: int) -> users.InviteOutcome:
        async with app.sessionmaker() as session:
            outcome, _ = await users.redeem_invite(session, code, user_id)
            await session.commit()
            return outcome

    outcomes = await asyncio.gather(*(click(3000 + i) for i in range(8)))
    async with app.sessionmaker() as session:
        granted = (await session.execute(select(UserRole.user_id).where(UserRole.role == "reviewer"))).scalars().all()
        invite = await session.get(Invite, code)
    assert outcomes.count(users.InviteOutcome.granted) == 1
    assert sorted(set(outcomes)) == sorted({users.InviteOutcome.granted, users.InviteOutcome.used})
    assert len(granted) == 1 and invite.used_by == granted[0]


# ------------------------------------------------------------------ secrets stay out of logs


def test_log_lines_mask_the_token_and_escape_newlines(capsys):
    import logging

    from bot.logs import setup_logging

    token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        setup_logging("INFO", [token, "s3cretpassword"])
        log = logging.getLogger("kepubot.test")
        url = f"https://api.telegram.org/file/bot{token}/documents/file_1.mp4"
        try:
            raise RuntimeError(f"Cannot connect to {url}")
        except RuntimeError:
            log.exception("download of %s failed", "视频\nFAKE 2026 INFO forged line")
        log.warning("db at postgresql://bot:s3cretpassword@db/kepu, another token 987654321:%s", "B" * 35)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    err = capsys.readouterr().err
    assert token not in err and "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in err
    assert "s3cretpassword" not in err and "B" * 35 not in err
    assert "bot123456789:***" in err and "987654321:***" in err
    assert "视频\\nFAKE 2026 INFO forged line" in err  # one record, one line
    assert not any(line.startswith("FAKE") for line in err.splitlines())


def test_sql_parameters_stay_out_of_debug_logs():
    import logging

    from bot.logs import setup_logging

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        setup_logging("DEBUG")
        assert not logging.getLogger("sqlalchemy.engine").isEnabledFor(logging.INFO)
        setup_logging("DEBUG", log_sql=True)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
        logging.getLogger("sqlalchemy").setLevel(logging.NOTSET)


# ------------------------------------------------------------------ webhooks need a secret


def test_webhook_mode_always_has_a_strong_secret():
    from bot.config import SettingsError, load_settings

    generated = load_settings(bot_token="1:a", webhook_url="https://bot.example.org", _env_file=None)
    assert generated.webhook_secret and len(generated.webhook_secret) >= 32
    other = load_settings(bot_token="1:a", webhook_url="https://bot.example.org", _env_file=None)
    assert other.webhook_secret != generated.webhook_secret
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET"):
        load_settings(bot_token="1:a", webhook_url="https://bot.example.org", webhook_secret="abc", _env_file=None)
    polling = load_settings(bot_token="1:a", _env_file=None)
    assert polling.webhook_secret is None


# ------------------------------------------------------------------ private chats only


async def test_commands_in_a_group_are_ignored(chat, app):
    """An operator typing /pending (or anything) in a group gets nothing posted there."""
    from tests.conftest import approve_creator

    await approve_creator(app.sessionmaker, 1001)
    group = {"id": -100123, "type": "supergroup", "title": "运营群"}
    boss = {"id": ADMIN_ID, "is_bot": False, "first_name": "Boss"}
    for number, text in enumerate(["/pending", "/start", "/bigfiles", "/mydata", "hello"], start=1):
        await chat.feed({"message": {"message_id": number, "date": 1700000000, "chat": group, "from": boss,
                                     "text": text, "entities": [{"type": "bot_command", "offset": 0,
                                                                 "length": len(text)}] if text[0] == "/" else []}})
    assert chat.tg.sent[-100123] == []
    assert not [name for name, params in chat.tg.calls if str(params.get("chat_id")) == "-100123"]
    assert not chat.emu.bots[chat.tg.state.id].chats[-100123].events  # nothing at all reached the group
    replies = await chat.user(ADMIN_ID, "Boss").send("/pending")  # in private it still works
    assert replies


# ------------------------------------------------------------------ start-up: services and files


@pytest.mark.parametrize(("env", "what"), [
    ({"DATABASE_URL": "postgresql+asyncpg://kepu:dbpassw0rd@127.0.0.1:9/test"}, "the database"),
    ({"REDIS_URL": "redis://:redispassw0rd@127.0.0.1:9/0"}, "Redis"),
])
def test_unreachable_services_stop_start_up_with_one_line(env, what, tmp_path):
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    full.update({"BOT_TOKEN": "123:abc", "DATA_DIR": str(tmp_path), "STARTUP_WAIT": "1.5"}, **env)
    proc = subprocess.run([sys.executable, "-m", "bot", "run"], env=full, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("kepubot: ") and what in last and "cannot be reached" in last
    assert "not reachable yet" in proc.stderr  # it tried again before giving up
    assert "passw0rd" not in proc.stderr


def test_data_folder_and_database_are_private(tmp_path):
    from bot.config import load_settings
    from bot.preflight import secure_data_dir

    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    db = data / "kepubot.sqlite3"
    db.write_bytes(b"")
    db.chmod(0o644)
    old = os.umask(0o022)
    try:
        secure_data_dir(load_settings(bot_token="1:a", data_dir=data, database_url="", _env_file=None))
        assert os.umask(0o022) == 0o077
    finally:
        os.umask(old)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


# ------------------------------------------------------------------ conversations and the database agree


async def test_a_failed_update_leaves_an_outside_conversation_storage_as_it_was(settings):
    """With the conversation kept outside the database (Redis in production, aiogram's memory storage
    here), a Telegram error right after a form's submission rolls the database back and the form
    stays at its summary: submitting again works, and the question is stored once."""
    from aiogram.fsm.storage.memory import MemoryStorage
    from sqlalchemy import func

    from bot.app import build_dispatcher, build_texts
    from bot.campaign import load_campaign
    from storage.db import make_engine, make_sessionmaker
    from storage.fsm import AfterCommitStorage
    from storage.models import Inquiry
    from tests.harness import Conversation

    campaign = load_campaign(settings.campaign_file)
    engine = make_engine(settings.effective_database_url)
    sessionmaker = make_sessionmaker(engine)
    storage = AfterCommitStorage(MemoryStorage())
    dp = build_dispatcher(settings, campaign, build_texts(settings, campaign), sessionmaker, storage)
    dp["outbox"].per_chat_interval = 0
    chat = Conversation(dp)
    alice = chat.user(1001, "Alice")
    try:
        await alice.send("/ask")
        await alice.press("作品申报")
        await alice.send("视频必须是横屏吗？竖屏可以吗？")
        assert "请核对" in alice.last_text
        chat.tg.fail_next["sendMessage"] = {"status": 400, "body": {
            "ok": False, "error_code": 400, "description": "Bad Request: message is too long"}}
        await alice.press("确认提交")
        async with sessionmaker() as session:
            assert (await session.execute(select(func.count()).select_from(Inquiry))).scalar() == 0
        # the draft is still there: /start offers to continue it, at its summary
        await alice.send("/start")
        await alice.press("继续")
        assert "请核对" in alice.last_text and "竖屏可以吗" in alice.last_text
        await alice.press("确认提交")
        assert alice.rendered("inquiry/received")
        async with sessionmaker() as session:
            assert (await session.execute(select(func.count()).select_from(Inquiry))).scalar() == 1
    finally:
        await storage.close()
        await engine.dispose()


# ------------------------------------------------------------------ a database that cannot take a write


async def test_a_locked_database_fails_fast_and_no_reply_claims_what_was_not_saved(settings, tmp_path):
    """Another process holds SQLite's write lock while an operator approves a registration: the
    approval fails within the busy time, no reply says it was approved (nor is the creator told), and
    the operator is told it was not saved; once the lock goes, the same button works."""
    import sqlite3

    from bot.app import build_app
    from bot.services import registration
    from bot.services.users import upsert_user
    from storage.models import Registration
    from tests.harness import Conversation

    if not settings.effective_database_url.startswith("sqlite"):
        pytest.skip("SQLite's single writer")
    application = build_app(settings.model_copy(update={"sqlite_busy_seconds": 0.3}))
    application.dispatcher["outbox"].per_chat_interval = 0
    chat = Conversation(application.dispatcher)
    async with application.sessionmaker.begin() as session:
        await upsert_user(session, 1001, first_name="Alice")
        reg = await registration.save_form(session, 1001, {
            "account_name": "小科说", "subject_type": "individual", "subject_name": "Alice", "person_name": "Alice",
            "unit": "某大学", "position": "教师", "title": "讲师", "field": "物理", "phone": "+8613800138000",
            "email": "a@example.org", "experience": "多年科普经历，制作多部作品。", "experience_file": None,
            "recommender": "中国物理学会"})
        await registration.attach_scan(session, 1001, {"file_id": "scan", "kind": "document"})
    boss = chat.user(ADMIN_ID, "Boss")
    alice = chat.user(1001, "Alice")
    await boss.send("/start")
    await alice.send("/start")
    path = settings.effective_database_url.partition(":///")[2]
    try:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process writing
        try:
            await boss.press("", data=f"r:{reg.id}:approve")
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert not boss.rendered("registration/decided", outcome="done")
        assert boss.rendered("error", busy=True).text == boss.last_alert  # "nothing was saved", as an alert
        assert not alice.rendered("registration/approved") and alice.new() == []
        async with application.sessionmaker() as session:
            assert (await session.get(Registration, reg.id)).status == "pending_review"
        await boss.press("", data=f"r:{reg.id}:approve")
        assert boss.rendered("registration/decided", outcome="done", approve=True, id=reg.id)
        assert alice.rendered("registration/approved", account_name="小科说")
        async with application.sessionmaker() as session:
            assert (await session.get(Registration, reg.id)).status == "approved"
    finally:
        await application.close()


async def test_existing_look_alike_keys_are_recomputed_by_the_migration(db_url):
    """Registrations stored before the look-alike rules get their keys again; a clash keeps the old."""
    from sqlalchemy import text

    from storage.db import make_engine
    from storage.migrate import downgrade_async, upgrade_async

    await downgrade_async(db_url, "0008")
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            for user_id in (1, 2, 3):
                await conn.execute(text("INSERT INTO users (id, first_name, created_at, last_seen_at) "
                                        "VALUES (:id, 'x', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"id": user_id})
            for reg_id, name, key in ((1, "кеpu\u200b科普", "кеpu\u200b科普"), (2, "Kepu科普", "kepu科普_"),
                                      (3, "kepu科普\u200d", "kepu科普\u200d")):
                await conn.execute(text(
                    "INSERT INTO registrations (id, user_id, account_name, account_key, subject_type, subject_name, "
                    "person_name, unit, position, title, field, phone, email, experience, recommender, status, "
                    "created_at, updated_at) VALUES (:id, :uid, :name, :key, 'individual', 'a', 'a', 'a', 'a', 'a', "
                    "'a', '1', 'a@b.cn', 'a', 'a', 'approved', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                    {"id": reg_id, "uid": reg_id, "name": name, "key": key})
        await upgrade_async(db_url)
        async with engine.connect() as conn:
            keys = dict((await conn.execute(text("SELECT id, account_key FROM registrations"))).all())
    finally:
        await engine.dispose()
    assert keys[1] == "kepu科普"  # the first to read as kepu科普 gets the key
    assert keys[2] == "kepu科普_" and keys[3] == "kepu科普\u200d"  # clashes keep theirs, for operators


def test_every_filter_and_handler_runs_on_the_event_loop(app):
    """aiogram runs a synchronous filter or handler in the event loop's default thread pool, which a
    burst of slow work fills (a State object used as a filter is synchronous): every one is async."""
    from aiogram import Router

    def walk(router: Router):
        yield router
        for sub in router.sub_routers:
            yield from walk(sub)

    sync = []
    for router in walk(app.dispatcher):
        for name, observer in router.observers.items():
            for handler in observer.handlers:
                if not handler.awaitable:
                    sync.append(f"{router.name}.{name}: handler {handler.callback}")
                sync += [f"{router.name}.{name}: filter {f.callback!r}" for f in handler.filters or [] if not f.awaitable]
            sync += [f"{router.name}.{name}: router filter {f.callback!r}"
                     for f in getattr(observer, "_handler", None) and observer._handler.filters or []
                     if not f.awaitable]
    assert sync == []
