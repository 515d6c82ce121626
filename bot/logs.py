"""Logging set-up: secrets never reach a log line, and one record is one line.

The bot token travels in every Bot API URL (…/bot<token>/getFile, …/file/bot<token>/<path>), so an
exception that quotes a URL would write it to the log. The formatter masks the token (and any
password in a URL) in the whole formatted output, tracebacks included; the filter escapes line
breaks in messages, so a file name with a newline cannot forge a log line. SQL statements and their
parameters (personal data) stay out of the log unless LOG_SQL is set.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{30,}\b")  # the shape @BotFather gives
URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s/]+@", re.IGNORECASE)


class Redact:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:  # a token keeps its bot id, which is public and helps reading the log
                head, colon, _ = secret.partition(":")
                text = text.replace(secret, f"{head}:***" if colon and head.isdigit() else "***")
        text = TOKEN.sub(lambda m: m.group(0).split(":", 1)[0] + ":***", text)
        return URL_PASSWORD.sub(r"\g<scheme>***@", text)


class RedactingFormatter(logging.Formatter):
    def __init__(self, fmt: str, redact: Redact) -> None:
        super().__init__(fmt)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class OneLine(logging.Filter):
    """Escape CR/LF in the message (not in tracebacks, which are the formatter's)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "\n" in message or "\r" in message:
            record.msg, record.args = message.replace("\r", "\\r").replace("\n", "\\n"), None
        return True


FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str, secrets: Iterable[str] = (), *, log_sql: bool = False) -> None:
    """Configure the root logger once for the process (the command line calls it)."""
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(FORMAT, Redact(secrets)))
    handler.addFilter(OneLine())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    if not log_sql:
        # at DEBUG SQLAlchemy would write every statement with its parameters: names, phones, emails
        logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    # APScheduler logs two lines for each run of each job (broadcasts' every 5 s): the jobs log what they did
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
