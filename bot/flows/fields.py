"""What a form's field is, and the parsers shared by every form. Pure domain: no aiogram here.

A parser takes an `Answer` (what the person sent, already taken out of Telegram's types) and
returns a JSON-serialisable value, or raises `Invalid` naming the template that explains the
problem. Nothing already entered is lost when a parser refuses.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

TEXT = "text"
CONTACT = "contact"
DOCUMENT = "document"
PHOTO = "photo"
CHOICE = "choice"  # an inline button of the field was pressed


@dataclass(frozen=True)
class FileRef:
    file_id: str
    file_unique_id: str
    file_name: str | None
    mime_type: str | None
    file_size: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id, "file_name": self.file_name,
                "mime_type": self.mime_type, "file_size": self.file_size}


@dataclass(frozen=True)
class Answer:
    kind: str  # TEXT, CONTACT, DOCUMENT, PHOTO, CHOICE, or another message kind (sticker, voice, …)
    text: str | None = None
    file: FileRef | None = None
    phone: str | None = None
    contact_user_id: int | None = None
    from_user_id: int | None = None
    html: str | None = None  # the text or caption with its formatting, as Telegram HTML


class Invalid(Exception):
    """The answer can't be used; `template` (under content/templates/forms/errors/) says why."""

    def __init__(self, template: str, **context: Any) -> None:
        super().__init__(template)
        self.template = template
        self.context = context


@dataclass(frozen=True)
class Choice:
    value: str  # short: it travels in button data (64 bytes at most)
    label: str = ""  # a labels.toml key, or
    text: str = ""  # the words themselves, for choices that come from data (the campaign file)


Parser = Callable[[Answer, dict[str, Any]], Any]


@dataclass(frozen=True)
class Field:
    """One question of a form.

    `name` keys the value in the draft; the prompt is `forms/<form>/<name>.j2` and the summary
    label `forms.<form>.<name>` in labels.toml, unless the field gives its own words (`prompt`,
    `label`: fields made from data, such as review criteria or quiz questions, need no file each).
    `when` hides the field for some earlier answers.
    """

    name: str
    parse: Parser
    accepts: frozenset[str] = frozenset({TEXT})
    optional: bool | Callable[[dict[str, Any]], bool] = False  # or: for these earlier answers
    choices: Sequence[Choice] | Callable[[dict[str, Any]], Sequence[Choice]] = ()
    when: Callable[[dict[str, Any]], bool] | None = None
    share_contact: bool = False  # offer Telegram's "share my phone" button
    multi: bool = False  # several choices: each press toggles one, 完成 moves on
    resets: tuple[str, ...] = ()  # answers that no longer hold when this one changes (asked again)
    # an async check that needs the database (e.g. a name already taken): (value, turn), raises Invalid
    verify: Callable[[Any, Any], Awaitable[None]] | None = None
    limits: dict[str, Any] = field(default_factory=dict)  # shown in the prompt (e.g. max length)
    prompt: str | None = None  # the question's words themselves (escaped), instead of its template
    label: str | None = None  # its name in the summary and the step header, instead of labels.toml
    columns: int | None = None  # choice buttons per row (by default 2, or 1 when a label is long)
    # feedback once an answer is kept (e.g. a quiz's "correct, because …"): (value, turn) -> text or None
    after: Callable[[Any, Any], Awaitable[str | None]] | None = None

    def options(self, values: dict[str, Any]) -> Sequence[Choice]:
        return self.choices(values) if callable(self.choices) else self.choices

    def applies(self, values: dict[str, Any]) -> bool:
        return self.when is None or self.when(values)

    def skippable(self, values: dict[str, Any]) -> bool:
        """May be left unanswered (跳过), given the earlier answers."""
        return self.optional(values) if callable(self.optional) else self.optional


def clean_text(text: str) -> str:
    """Normalise what people paste: unify width of ASCII-range characters, trim, fold spaces."""
    text = unicodedata.normalize("NFC", text).replace("\u3000", " ")
    text = re.sub(r"[ \t]+", " ", text)
    return "\n".join(line.strip() for line in text.strip().splitlines())


def text(max_len: int, min_len: int = 1, *, single_line: bool = False) -> Parser:
    def parse(answer: Answer, values: dict[str, Any]) -> str:
        if answer.kind != TEXT or answer.text is None:
            raise Invalid("need_text")
        value = clean_text(answer.text)
        if single_line:
            value = " ".join(value.split())
        if len(value) < min_len:
            raise Invalid("too_short", min_len=min_len, length=len(value))
        if len(value) > max_len:
            raise Invalid("too_long", max_len=max_len, length=len(value))
        return value

    return parse


def choice(options: Sequence[Choice] | Callable[[dict[str, Any]], Sequence[Choice]], *,
           labels: Callable[[str], str] | None = None) -> Parser:
    """A pressed button (value) or typed text matching an option's label."""

    def parse(answer: Answer, values: dict[str, Any]) -> str:
        opts = options(values) if callable(options) else options
        if answer.kind == CHOICE and any(o.value == answer.text for o in opts):
            return str(answer.text)
        if answer.kind == TEXT and answer.text:
            typed = clean_text(answer.text)
            for o in opts:
                if typed in (o.value, o.text) or (labels is not None and o.label and typed == labels(o.label)):
                    return o.value
        raise Invalid("pick_one")

    return parse


MOBILE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}(-\d{1,6})?$")
INTERNATIONAL = re.compile(r"^\+\d{7,15}$")


def normalise_phone(raw: str) -> str | None:
    """Mainland mobile (13800138000, +86 138 0013 8000), landline with area code (010-63581731),
    or an international number (+852 …). Returns a canonical form or None."""
    value = unicodedata.normalize("NFKC", raw).strip()
    value = re.sub(r"[\s()（）.]", "", value).replace("—", "-").replace("－", "-")
    if value.startswith("0086"):
        value = "+86" + value[4:]
    if value.startswith("+86"):
        rest = value[3:].lstrip("-")
        if MOBILE.match(rest):
            return "+86" + rest
        if LANDLINE.match("0" + rest.lstrip("0")):
            value = "0" + rest.lstrip("0")
        else:
            return None
    if MOBILE.match(value.replace("-", "")):
        return "+86" + value.replace("-", "")
    if LANDLINE.match(value):
        return value
    if INTERNATIONAL.match(value.replace("-", "")):
        return value.replace("-", "")
    return None


def phone() -> Parser:
    def parse(answer: Answer, values: dict[str, Any]) -> str:
        if answer.kind == CONTACT:
            if answer.contact_user_id is not None and answer.contact_user_id != answer.from_user_id:
                raise Invalid("contact_not_own")
            raw = answer.phone or ""
            if raw and not raw.startswith("+"):
                raw = "+" + raw  # Telegram gives the contact's number without "+"
        elif answer.kind == TEXT and answer.text:
            raw = answer.text
        else:
            raise Invalid("need_phone")
        value = normalise_phone(raw)
        if value is None:
            raise Invalid("bad_phone", given=raw[:40])
        return value

    return parse


def integer(minimum: int, maximum: int) -> Parser:
    def parse(answer: Answer, values: dict[str, Any]) -> int:
        raw = unicodedata.normalize("NFKC", answer.text or "").strip() if answer.kind == TEXT else ""
        if not re.fullmatch(r"\d{1,6}", raw):
            raise Invalid("need_number", minimum=minimum, maximum=maximum)
        value = int(raw)
        if not minimum <= value <= maximum:
            raise Invalid("need_number", minimum=minimum, maximum=maximum)
        return value

    return parse


def items(max_len: int, max_items: int) -> Parser:
    """Several short entries, one per line (or separated by ；;、): e.g. the knowledge points."""

    def parse(answer: Answer, values: dict[str, Any]) -> list[str]:
        value = text(max_len)(answer, values)
        entries = [e.strip(" -•·、") for e in re.split(r"[\n；;]+", value)]
        entries = [e for e in entries if e]
        if not entries:
            raise Invalid("too_short", min_len=1, length=0)
        if len(entries) > max_items:
            raise Invalid("too_many", max_items=max_items, count=len(entries))
        return entries

    return parse


def listed(options: Callable[[dict[str, Any]], Sequence[str]], prefix: str = "o"):
    """A choice among words that come from data: buttons carry a short index, the answer is the
    words themselves (typed words are accepted too). Returns (choices, parser) for a Field."""

    def choices(values: dict[str, Any]) -> list[Choice]:
        return [Choice(f"{prefix}{i}", text=word) for i, word in enumerate(options(values))]

    def parse(answer: Answer, values: dict[str, Any]) -> str:
        for opt in choices(values):
            if (answer.kind == CHOICE and answer.text == opt.value) or \
                    (answer.kind == TEXT and clean_text(answer.text or "") == opt.text):
                return opt.text
        raise Invalid("pick_one")

    return choices, parse


EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$")


def email() -> Parser:
    def parse(answer: Answer, values: dict[str, Any]) -> str:
        if answer.kind != TEXT or not answer.text:
            raise Invalid("need_text")
        value = unicodedata.normalize("NFKC", answer.text).strip()
        if len(value) > 254 or not EMAIL.match(value):
            raise Invalid("bad_email", given=value[:60])
        return value

    return parse


def document(extensions: Sequence[str], max_bytes: int) -> Parser:
    """A file sent as a document (or photo when 'jpg' is allowed), checked by name, type and size."""

    def parse(answer: Answer, values: dict[str, Any]) -> dict[str, Any]:
        ref = answer.file
        if answer.kind not in (DOCUMENT, PHOTO) or ref is None:
            raise Invalid("need_file", extensions=list(extensions))
        if answer.kind == DOCUMENT:
            ext = (ref.file_name or "").rsplit(".", 1)[-1].lower() if "." in (ref.file_name or "") else ""
            if ext not in extensions:
                raise Invalid("wrong_file_type", extensions=list(extensions), name=ref.file_name or "")
        elif "jpg" not in extensions:
            raise Invalid("wrong_file_type", extensions=list(extensions), name="")
        if not ref.file_size:
            raise Invalid("empty_file")
        if ref.file_size > max_bytes:
            raise Invalid("file_too_big", max_bytes=max_bytes, size=ref.file_size)
        return ref.as_dict()

    return parse
