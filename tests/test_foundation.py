"""Foundation guarantees: duplicate updates, migrations up/down/up, settings errors, invites, command
menus, the start-up line."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import func, inspect, select

from bot.app import describe
from bot.config import SettingsError, load_settings
from storage.db import make_engine
from storage.migrate import alembic_config, downgrade_async, upgrade_async
from storage.models import Base, Inquiry, Invite, ProcessedUpdate, UserRole, utcnow
from tests.conftest import ADMIN_ID
from tests.harness import Conversation

# ------------------------------------------------------------------ duplicate updates


async def test_the_same_update_twice_is_handled_once(chat, app):
    alice = chat.user(1001, "Alice")
    await alice.send("/ask")
    await alice.press("其他问题")
    await alice.send("第一次发送的问题", update_id=500)
    assert "请核对" in alice.last_text
    replies = await alice.send("第一次发送的问题", update_id=500)
    assert replies == []
    await alice.press("确认提交")
    async with app.sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(Inquiry))).scalar_one() == 1
        assert await session.get(ProcessedUpdate, 500) is not None


async def test_a_duplicate_after_a_restart_is_dropped(app, settings):
    """The process that handled update 700 is gone; Telegram delivers 700 again to the new one."""
    from bot.app import build_app

    first = Conversation(app.dispatcher)
    await first.user(1001, "Alice").send("/start", update_id=700)
    restarted = build_app(settings)
    try:
        second = Conversation(restarted.dispatcher)
        assert await second.user(1001, "Alice").send("/start", update_id=700) == []
        assert len(await second.user(1001, "Alice").send("/start", update_id=701)) == 1
    finally:
        await restarted.close()


async def test_a_failed_update_is_not_marked_handled(chat, app, monkeypatch):
    from bot.handlers import start

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(start, "main_menu", boom)
    await chat.user(1001, "Alice").send("/start", update_id=900)
    async with app.sessionmaker() as session:
        assert await session.get(ProcessedUpdate, 900) is None


# ------------------------------------------------------------------ migrations


def _tables(sync_conn) -> set[str]:
    return set(inspect(sync_conn).get_table_names()) - {"alembic_version"}


async def test_a_start_at_the_newest_revision_does_not_run_alembic(db_url, monkeypatch):
    """The newest revision is read from the files without Alembic and matches Alembic's head; a
    database there is left alone (Alembic not called), one behind is migrated (issue 13: memory)."""
    from alembic.script import ScriptDirectory

    from storage import migrate

    assert migrate.head_revision() == ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
    assert await migrate.current_revision(db_url) == migrate.head_revision()
    calls: list[str] = []
    real = migrate.upgrade
    monkeypatch.setattr(migrate, "upgrade", lambda url, revision="head": calls.append(revision) or real(url, revision))
    await upgrade_async(db_url)
    assert calls == []
    previous = ScriptDirectory.from_config(alembic_config(db_url)).get_revision(migrate.head_revision()).down_revision
    await downgrade_async(db_url, previous)
    assert await migrate.current_revision(db_url) == previous
    await migrate.upgrade_async(db_url)
    assert calls == ["head"] and await migrate.current_revision(db_url) == migrate.head_revision()


async def test_migration_0018_dates_each_application_by_its_last_status_change(db_url):
    """submissions.status_at is filled from the audit's newest row of each application, or its
    updated_at when it has none; /submissions then sorts by it (issue 13)."""
    from sqlalchemy import text

    await downgrade_async(db_url, "0017")
    engine = make_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO users (id, first_name, created_at, last_seen_at) "
                                    "VALUES (5, 'A', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
            for sid, updated in ((1, "2026-03-01 00:00:00"), (2, "2026-04-01 00:00:00")):
                await conn.execute(text(  # literal times: each database reads them as its own
                    "INSERT INTO submissions (id, user_id, kind, category, title, answers, status, created_at, "
                    f"updated_at, round) VALUES ({sid}, 5, 'work', 'video', 't', '{{}}', 'submitted', '{updated}', "
                    f"'{updated}', 1)"))
            for at in ("2026-05-02 08:00:00", "2026-05-09 08:00:00", "2026-05-03 08:00:00"):
                await conn.execute(text("INSERT INTO audit (entity, entity_id, from_status, to_status, at) "
                                        f"VALUES ('submissions', 1, 'draft', 'submitted', '{at}')"))
            await conn.execute(text("INSERT INTO audit (entity, entity_id, from_status, to_status, at) "
                                    "VALUES ('registrations', 2, NULL, 'approved', '2026-06-01 00:00:00')"))
        await upgrade_async(db_url)
        async with engine.connect() as conn:
            rows = dict((await conn.execute(text("SELECT id, status_at FROM submissions ORDER BY id"))).all())
    finally:
        await engine.dispose()
    assert [str(rows[1])[:16], str(rows[2])[:16]] == ["2026-05-09 08:00", "2026-04-01 00:00"]


async def test_migrations_stairway(db_url):
    """Every revision up, down and up again; the head matches the models."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(db_url))
    revisions = list(reversed(list(script.walk_revisions())))
    await downgrade_async(db_url, "base")
    engine = make_engine(db_url)
    try:
        for rev in revisions:
            await upgrade_async(db_url, rev.revision)
            await downgrade_async(db_url, rev.down_revision or "base")
            await upgrade_async(db_url, rev.revision)
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set(Base.metadata.tables)
        await downgrade_async(db_url, "base")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set()
        await upgrade_async(db_url)
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
    finally:
        await engine.dispose()
    assert diff == []


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(("env", "expected"), [
    ({"BOT_TOKEN": ""}, "BOT_TOKEN is not set"),
    ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN looks malformed"),
    ({"DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL is malformed"),
    ({"REDIS_URL": "localhost:6379"}, "REDIS_URL is malformed"),
    ({"BOT_API_URL": "ftp://x"}, "BOT_API_URL is malformed"),
    ({"ADMIN_IDS": "alice,bob"}, "ADMIN_IDS is invalid"),
    ({"TIMEZONE": "Mars/Olympus"}, "TIMEZONE 'Mars/Olympus' is unknown"),
    ({"CAMPAIGN_FILE": "/nonexistent/campaign.toml"}, "CAMPAIGN_FILE /nonexistent/campaign.toml cannot be read"),
])
def test_bad_settings_stop_with_one_line(env, expected, tmp_path):
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    full.update({"BOT_TOKEN": "123:abc", "DATA_DIR": str(tmp_path)}, **env)
    proc = subprocess.run([sys.executable, "-m", "bot", "run"], env=full, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_broken_campaign_file_names_the_key(tmp_path):
    bad = tmp_path / "campaign.toml"
    text = (load_settings(need_token=False, _env_file=None).campaign_file).read_text(encoding="utf-8")
    bad.write_text(text.replace('level = "error"', 'level = "fatal"', 1), encoding="utf-8")
    env = {**os.environ, "BOT_TOKEN": "123:abc", "CAMPAIGN_FILE": str(bad), "DATA_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "bot", "run"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "level" in proc.stderr and "fatal" in proc.stderr


def test_admin_ids_accept_commas_and_json():
    assert load_settings(bot_token="1:a", admin_ids="1, 2,3", _env_file=None).admin_ids == {1, 2, 3}
    assert load_settings(bot_token="1:a", admin_ids="[4, 5]", _env_file=None).admin_ids == {4, 5}
    with pytest.raises(SettingsError):
        load_settings(bot_token="1:a", admin_ids="x", _env_file=None)


def test_startup_line_masks_secrets():
    s = load_settings(bot_token="123456:SECRETSECRET", database_url="postgresql+asyncpg://kepu:pw@db/kepu",
                      redis_url="redis://:redispw@cache:6379/0", bot_api_url="http://127.0.0.1:8081",
                      bot_api_local=True, webhook_url="https://bot.example.org", _env_file=None)
    line = describe(s)
    assert "SECRETSECRET" not in line and ":pw@" not in line and "redispw" not in line
    assert "123456:***" in line and "kepu:***@db" in line
    assert "fsm=redis" in line and "local mode" in line and "mode=webhook (https://bot.example.org)" in line
    plain = describe(load_settings(bot_token="1:a", database_url="", redis_url="", _env_file=None))
    assert "sqlite+aiosqlite" in plain and "fsm=sql" in plain and "mode=polling" in plain


# ------------------------------------------------------------------ roles, invites and menus


async def _invite_link(chat: Conversation, role_label: str) -> str:
    boss = chat.user(ADMIN_ID, "Boss")
    await boss.send("/invite")
    await boss.press(role_label)
    text = boss.last_text
    return next(word for word in text.split() if word.startswith("https://t.me/"))


async def test_invite_grants_a_role_once(chat, app):
    link = await _invite_link(chat, "邀请辅导老师")
    payload = link.split("start=")[1]
    tutor = chat.user(2001, "Teacher")
    replies = await tutor.send(f"/start {payload}")
    assert "您已成为<b>辅导老师</b>" in replies[0].text and "/tutorprofile" in replies[0].text
    assert "设置辅导方向与人数" in replies[1].text  # the tutor's profile form starts at once
    commands = [p for name, p in chat.tg.calls if name == "setMyCommands"]
    assert commands and commands[-1]["scope"] == {"type": "chat", "chat_id": 2001}
    other = chat.user(2002, "Other")
    replies = await other.send(f"/start {payload}")
    assert "已经被使用过了" in replies[0].text
    replies = await tutor.send(f"/start {payload}")
    assert "您已经是辅导老师" in replies[0].text
    replies = await other.send("/start inv_forgedcode")
    assert "邀请链接无效" in replies[0].text
    async with app.sessionmaker() as session:
        roles = (await session.execute(select(UserRole.user_id, UserRole.role))).all()
    assert roles == [(2001, "tutor")]


async def test_expired_invite(chat, app):
    link = await _invite_link(chat, "邀请评审专家")
    code = link.split("start=inv_")[1]
    async with app.sessionmaker.begin() as session:
        (await session.get(Invite, code)).expires_at = utcnow() - timedelta(minutes=1)
    replies = await chat.user(2003, "Late").send(f"/start inv_{code}")
    assert "已过期" in replies[0].text


async def test_only_admins_invite(chat):
    mallory = chat.user(1002, "Mallory")
    replies = await mallory.send("/invite tutor")
    assert "不认识这个命令" in replies[0].text
    await mallory.press("", data="inv:tutor")
    assert "失效" in chat.tg.alerts[-1][1]


async def test_commands_are_installed_per_role(app):
    from bot.commands import install_commands
    from tests.harness import FakeTelegram

    chat = Conversation(app.dispatcher)
    async with app.sessionmaker.begin() as session:
        from bot.services.users import Role, grant_role, upsert_user

        await upsert_user(session, 3001, first_name="Rev")
        await grant_role(session, 3001, Role.reviewer, ADMIN_ID)
    await install_commands(chat.bot, app.texts, frozenset({ADMIN_ID}), app.sessionmaker)
    assert isinstance(chat.tg, FakeTelegram)
    calls = {str(p["scope"]): [c["command"] for c in p["commands"]] for n, p in chat.tg.calls if n == "setMyCommands"}
    assert "invite" not in calls[str({"type": "all_private_chats"})]
    assert "invite" in calls[str({"type": "chat", "chat_id": ADMIN_ID})]
    assert "ask" in calls[str({"type": "chat", "chat_id": 3001})]


async def test_an_update_reads_its_conversation_on_the_connection_that_commits_it(chat, app):
    """One connection per update: the FSM state is read in the unit of work's session, not on a
    connection checked out for it before (issue 13), and a button press writes nothing but its mark."""
    from sqlalchemy import event

    from storage.fsm import SQLStorage

    alice = chat.user(1001, "Alice")
    await alice.send("/start")
    seen: list[str] = []

    def checkout(*args):
        seen.append("checkout")

    def record(conn, cursor, statement, *args):
        seen.append(statement.lower())

    event.listen(app.engine.sync_engine.pool, "checkout", checkout)
    event.listen(app.engine.sync_engine, "before_cursor_execute", record)
    try:
        await alice.press("申报类别与要求")
    finally:
        event.remove(app.engine.sync_engine, "before_cursor_execute", record)
        event.remove(app.engine.sync_engine.pool, "checkout", checkout)
    assert "申报类别" in alice.last_text
    person = next(i for i, s in enumerate(seen) if "from users" in s)
    mark = next(i for i, s in enumerate(seen) if "insert into processed_updates" in s)
    opened = max(i for i, s in enumerate(seen[:person]) if s == "checkout")
    assert "checkout" not in seen[opened + 1:mark], seen  # one connection from the person's read to the commit
    if isinstance(app.storage, SQLStorage):  # (Redis holds the conversations when REDIS_URL is set)
        assert [s for s in seen[opened + 1:mark] if "from fsm_states" in s]
    assert not [s for s in seen if s.startswith(("update", "delete")) or
                (s.startswith("insert") and "processed_updates" not in s)]
