"""Fixtures: a migrated database (SQLite by default; PostgreSQL when DATABASE_URL is set; Redis
FSM storage when REDIS_URL is set), the application, and a conversation with the sandbox's Telegram
emulator in process (tests/harness.py)."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.app import App, build_app
from bot.config import Settings, async_db_url, load_settings
from bot.render import Texts
from storage.db import make_engine
from storage.migrate import upgrade_async
from tests.harness import Conversation

ADMIN_ID = 9001


async def reset_postgres(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def fresh_postgres(url: str) -> None:
    """An empty database at the newest revision: when the last test left it there, the tables it
    filled are emptied and the sequences it used start again (DELETE and ALTER SEQUENCE … RESTART,
    about 1 ms; TRUNCATE of all 27 tables took 40-80 ms a test); otherwise (a first test, one that
    migrated down) the schema is made anew and migrated. Migrating for each test was most of the
    PostgreSQL run's time."""
    import asyncio

    from storage.migrate import head_revision, upgrade
    from storage.models import Base

    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            at_head = False
            if (await conn.execute(text("SELECT to_regclass('public.alembic_version')"))).scalar() is not None:
                versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
                at_head = versions == [head_revision()]
            if at_head:
                raw = (await conn.get_raw_connection()).driver_connection
                tables = [t.name for t in reversed(Base.metadata.sorted_tables)]  # children before parents
                filled = {r[0] for r in await raw.fetch(" UNION ALL ".join(
                    f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables))}
                used = [r[0] for r in await raw.fetch("SELECT sequencename FROM pg_sequences "
                                                      "WHERE schemaname = 'public' AND last_value IS NOT NULL")]
                script = [f'DELETE FROM "{t}"' for t in tables if t in filled]
                script += [f'ALTER SEQUENCE "{s}" RESTART' for s in used]
                if script:
                    await raw.execute("; ".join(script))
                return
    finally:
        await engine.dispose()
    await reset_postgres(url)
    await asyncio.to_thread(upgrade, url)


async def reset_redis(url: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    await redis.flushdb()
    await redis.aclose()


async def approve_creator(sessionmaker, user_id: int, account_name: str = "小科说") -> None:
    """A person whose 科普号 registration is approved, made through the registration service."""
    from bot.services import registration
    from bot.services.users import Person, Role, upsert_user

    async with sessionmaker.begin() as session:
        await upsert_user(session, user_id, first_name="Alice")
        values = {"account_name": account_name, "subject_type": "individual", "subject_name": "Alice",
                  "person_name": "Alice", "unit": "某大学", "position": "教师", "title": "讲师", "field": "物理",
                  "phone": "+8613800138000", "email": "a@example.org", "experience": "多年科普经历，制作多部作品。",
                  "experience_file": None, "recommender": "中国物理学会"}
        reg = await registration.save_form(session, user_id, values)
        await registration.attach_scan(session, user_id, {"file_id": "scan", "kind": "document"})
        await registration.decide(session, reg.id, Person(ADMIN_ID, "Admin", frozenset({Role.admin})), approve=True)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to the newest revision once per run; each test gets a copy (running
    every migration for each test was most of a test's setup)."""
    import asyncio

    path = tmp_path_factory.mktemp("template") / "migrated.sqlite3"
    asyncio.run(upgrade_async(f"sqlite+aiosqlite:///{path}"))  # the engine is disposed: no -wal file left
    return path


@pytest.fixture
async def db_url(tmp_path: Path, migrated_sqlite: Path) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        url = async_db_url(url)
        await fresh_postgres(url)
        return url
    import shutil

    copy = tmp_path / "test.sqlite3"
    shutil.copyfile(migrated_sqlite, copy)
    return f"sqlite+aiosqlite:///{copy}"


@pytest.fixture
async def settings(db_url: str, tmp_path: Path) -> Settings:
    redis_url = os.environ.get("REDIS_URL") or None
    if redis_url:
        await reset_redis(redis_url)
    return load_settings(bot_token="424242:TEST", database_url=db_url, redis_url=redis_url,
                         admin_ids=str(ADMIN_ID), data_dir=tmp_path / "data", _env_file=None)


@pytest.fixture
async def app(settings: Settings):
    application = build_app(settings)
    application.dispatcher["outbox"].per_chat_interval = 0  # no pacing in conversation tests
    yield application
    await _end_left_tasks()
    await application.close()


async def _end_left_tasks(seconds: float = 10.0) -> None:
    """Tasks a test left running (a sender, an inbox, a check) are cancelled before the database
    goes. One that does not end fails the test with its stack and is left behind, where
    pytest-asyncio's own clean-up would wait for it for ever (a CI run hung so once)."""
    left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in left:
        task.cancel()
    if not left:
        return
    _, stuck = await asyncio.wait(left, timeout=seconds)
    if stuck:
        stacks = io.StringIO()
        for task in stuck:
            task.print_stack(file=stacks)
            unregister = getattr(asyncio.tasks, "_unregister_task", None)  # (private; 3.11-3.13 have it)
            if unregister is not None:
                unregister(task)  # out of the loop's clean-up, which would wait for it
        pytest.fail(f"{len(stuck)} task(s) still running {seconds:.0f} s after being cancelled:\n{stacks.getvalue()}")


@pytest.fixture
async def chat(app: App):
    conversation = Conversation(app.dispatcher)
    yield conversation
    await conversation.emu.close()
    assert conversation.tg.answered_twice == [], "a handler answered a button press twice"


@pytest.fixture(autouse=True)
def _no_render_hook():
    """A conversation listens to every render (tests/harness.py); not past its test."""
    yield
    Texts.on_render = None
