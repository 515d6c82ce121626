"""Apply Alembic migrations from code (`kepubot migrate`, start-up, tests).

Alembic (with Mako and Pygments, some 12 MB) is imported only when there is something to migrate:
a start-up whose database is already at the newest revision reads the revision itself and goes on
(issue 13: a bot process's memory)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_REVISION = re.compile(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    """The newest revision of the migration files, read from their text (no Alembic); None when
    that is not one plain chain's end (Alembic decides then)."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        found = _REVISION.search(text)
        if found is None:
            continue
        revisions.add(found.group(1))
        parent = _DOWN_REVISION.search(text)
        if parent is not None:
            parents.add(parent.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


async def current_revision(url: str) -> str | None:
    """The database's revision (alembic_version); None when it has none or several."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from storage.db import make_engine

    engine = make_engine(url, pool_size=2)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    except DBAPIError:  # no such table: a new database
        return None
    finally:
        await engine.dispose()
    return rows[0] if len(rows) == 1 else None


async def upgrade_async(url: str, revision: str = "head") -> None:
    if revision == "head" and (head := head_revision()) is not None and await current_revision(url) == head:
        return  # up to date: Alembic is not even imported
    # env.py runs its own event loop: keep it off the caller's.
    await asyncio.to_thread(upgrade, url, revision)


async def downgrade_async(url: str, revision: str) -> None:
    await asyncio.to_thread(downgrade, url, revision)
