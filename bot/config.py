"""Settings from the environment and `.env` (pydantic-settings).

`load_settings()` turns every problem into one `SettingsError` line that says what to set,
so start-up never shows a traceback for a configuration mistake.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CAMPAIGN = ROOT / "content" / "campaign.toml"
TOKEN_RE = re.compile(r"^\d+:[\w-]+$")
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{16,256}$")  # Telegram allows A-Z a-z 0-9 _ -, up to 256


class SettingsError(Exception):
    """A configuration problem, said in one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: str = ""
    data_dir: Path = ROOT / "data"
    database_url: str = ""
    redis_url: str | None = None
    bot_api_url: str | None = None
    bot_api_local: bool = False
    webhook_url: str | None = None
    webhook_host: str = "0.0.0.0"
    webhook_port: int = 8080
    webhook_secret: str | None = None
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(default=frozenset())
    timezone: str = "Asia/Shanghai"
    campaign_file: Path = DEFAULT_CAMPAIGN
    log_level: str = "INFO"
    # each uploaded file is checked in a process of its own: at most this many at once, each stopped
    # after this many seconds or this much memory (a hostile file gets "too complex" instead)
    check_workers: int = Field(default=2, ge=1, le=32)
    check_seconds: float = Field(default=30, gt=0)
    check_memory_mb: int = Field(default=1024, ge=128)
    # an SQLite write waits this long for another process's lock, then the person is told to try again
    sqlite_busy_seconds: float = Field(default=10, gt=0)
    # updates are handled by this many workers (two updates of one person never at once); each holds
    # a database connection while it works, so the pool has room for them and the background jobs
    inbox_workers: int = Field(default=8, ge=1, le=64)
    inbox_shared: bool = False  # `kepubot worker` processes share the inbox (PostgreSQL): set it on all
    # messages a second the outbox sender sends (Telegram allows about 30 per bot); one process at a time
    # sends (the others wait for its lease), so this is the bot's rate, whatever the number of processes
    outbox_per_second: float = Field(default=25.0, gt=0, le=30)
    db_pool_size: int = Field(default=16, ge=2, le=200)
    db_pool_timeout: float = Field(default=10, gt=0)  # seconds to wait for a free connection
    startup_wait: float = 60  # seconds to wait for the database and Redis at start, with back-off
    log_sql: bool = False  # SQL statements and their parameters in the log (personal data): only when asked

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: Any) -> Any:
        # "1, 2,3" or a JSON list "[1, 2]"
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return frozenset()
            if text.startswith("["):
                value = json.loads(text)
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
        return frozenset(int(v) for v in value)

    @field_validator("redis_url", "bot_api_url", "webhook_url", "webhook_secret", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'kepubot.sqlite3'}"

    def secret_values(self) -> list[str]:
        """What must never appear in a log line."""
        values = [self.bot_token, self.webhook_secret or ""]
        for url in (self.effective_database_url, self.redis_url or ""):
            password = urlsplit(url).password
            if password:
                values.append(password)
        return [v for v in values if v]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def check(self, *, need_token: bool = True) -> None:
        """Raise SettingsError naming the first thing that is wrong."""
        if need_token:
            if not self.bot_token:
                raise SettingsError(
                    "BOT_TOKEN is not set: put the token from @BotFather in BOT_TOKEN "
                    "(or run `kepubot sandbox` to try the bot without one)"
                )
            if not TOKEN_RE.match(self.bot_token):
                raise SettingsError("BOT_TOKEN looks malformed: expected <digits>:<letters> as given by @BotFather")
        _check_db_url(self.effective_database_url)
        if self.redis_url:
            _check_url("REDIS_URL", self.redis_url, ("redis", "rediss", "unix"))
        if self.bot_api_url:
            _check_url("BOT_API_URL", self.bot_api_url, ("http", "https"))
        if self.webhook_url:
            _check_url("WEBHOOK_URL", self.webhook_url, ("https", "http"))
            if self.webhook_secret is None:
                # without a secret anyone who finds the URL can post forged updates: make a strong
                # one for this process (setWebhook hands it to Telegram, which sends it back)
                self.webhook_secret = secrets.token_urlsafe(32)
            elif not SECRET_RE.match(self.webhook_secret):
                raise SettingsError("WEBHOOK_SECRET is too weak or malformed: use 16-256 characters of "
                                    "A-Z a-z 0-9 _ - (or leave it unset to have one generated)")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"TIMEZONE {self.timezone!r} is unknown: use an IANA name such as Asia/Shanghai") from exc
        if not self.campaign_file.is_file():
            raise SettingsError(f"CAMPAIGN_FILE {self.campaign_file} cannot be read: point it at a campaign .toml file")


def _check_url(name: str, url: str, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        raise SettingsError(f"{name} is malformed ({mask_url(url)}): expected a URL starting with {' or '.join(s + '://' for s in schemes)}")


def _check_db_url(url: str) -> None:
    scheme = urlsplit(url).scheme
    if scheme not in ("sqlite+aiosqlite", "postgresql+asyncpg", "postgresql", "postgres", "sqlite"):
        raise SettingsError(
            f"DATABASE_URL is malformed ({mask_url(url)}): use sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db"
        )


def async_db_url(url: str) -> str:
    """Accept plain postgresql:// and sqlite:// URLs and choose the async drivers for them."""
    for plain, driver in (("postgresql://", "postgresql+asyncpg://"), ("postgres://", "postgresql+asyncpg://"),
                          ("sqlite://", "sqlite+aiosqlite://")):
        if url.startswith(plain):
            return driver + url[len(plain):]
    return url


def mask_url(url: str) -> str:
    """Hide a password in a URL for logs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def mask_token(token: str) -> str:
    head, _, tail = token.partition(":")
    return f"{head}:***" if tail else "***"


def load_settings(*, need_token: bool = True, **overrides: Any) -> Settings:
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "settings"
        raise SettingsError(f"{name} is invalid: {err['msg']}") from None
    except (ValueError, json.JSONDecodeError) as exc:
        raise SettingsError(f"settings are invalid: {exc}") from None
    settings.check(need_token=need_token)
    return settings
