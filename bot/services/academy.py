"""创作学院 (通知三(三)): the lessons of content/academy/, loaded and checked once at start-up. No
aiogram here.

A lesson is one Markdown file whose front matter is TOML between two `+++` lines:

    +++
    slug = "video_export"            # unique; [a-z][a-z0-9_]*; what progress and the campaign's drip name
    title = "拍摄与导出：一次通过检查"
    order = 4                         # the lessons' order in /academy (unique)
    criteria = ["artistic", "internet_fit"]  # ids of the campaign's [[criteria]] it strengthens (may be empty)
    categories = ["video"]            # ids of the campaign's categories it applies to (empty: all)
    minutes = 8                       # reading time

    [[quiz]]                          # 0–3 questions
    question = "……？"                 # ≤ 300 characters (Telegram's poll question)
    options = ["A", "B", "C"]         # 2–10 options, each ≤ 100 characters
    answer = 1                        # index of the right option
    explanation = "……"                # ≤ 200 characters, shown after answering
    +++
    # 正文（Markdown）

The body may use headings (#, ##), paragraphs, bullet and numbered lists, **bold**, *italic*,
[links](https://…), `inline code` and fenced code blocks; no tables, images or HTML (Telegram's HTML
has no such thing). A paragraph (text between blank lines; a code block counts as one) is at most
PARAGRAPH_MAX characters, the body at most BODY_MAX: pages are split at paragraph boundaries.
content/academy/README.md is the editors' guide.

`load_curriculum(folder, campaign)` raises `CurriculumError` naming the file and the key of the first
problem it meets: the app refuses to start with a broken lesson.

    curriculum = load_curriculum(ACADEMY, campaign)
    curriculum.lessons                 # in order
    curriculum["video_export"].body    # the Markdown
    curriculum.for_criterion("artistic")
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.campaign import Campaign

__all__ = ["ACADEMY", "Curriculum", "CurriculumError", "Lesson", "QuizQuestion", "load_curriculum", "paragraphs",
           "parse_lesson"]

ACADEMY = Path(__file__).resolve().parent.parent.parent / "content" / "academy"
SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
FENCE = "+++"
# Telegram's limits on a quiz poll (sendPoll)
QUESTION_MAX, OPTION_MAX, OPTIONS_MIN, OPTIONS_MAX, EXPLANATION_MAX = 300, 100, 2, 10, 200
QUIZ_MAX = 3
TITLE_MAX = 60
# a page is at most 4096 characters once rendered; pages are split at paragraph boundaries
PARAGRAPH_MAX, BODY_MAX = 1500, 9000
KEYS = frozenset({"slug", "title", "order", "criteria", "categories", "minutes", "quiz"})
QUIZ_KEYS = frozenset({"question", "options", "answer", "explanation"})
CODE_FENCE = re.compile(r"^\s*(```|~~~)")
TABLE_ROW = re.compile(r"^\s*\|")
TABLE_RULE = re.compile(r"^\s*:?-{3,}:?\s*\|")
INLINE_CODE = re.compile(r"`[^`\n]*`")
HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(\s[^<>]*)?/?>|<!--")


class CurriculumError(ValueError):
    def __init__(self, file: str, key: str, problem: str) -> None:
        super().__init__(f"{file}: {key}: {problem}")
        self.file, self.key, self.problem = file, key, problem


@dataclass(frozen=True)
class QuizQuestion:
    question: str
    options: tuple[str, ...]
    answer: int  # index into options
    explanation: str


@dataclass(frozen=True)
class Lesson:
    slug: str
    title: str
    order: int
    criteria: tuple[str, ...]
    categories: tuple[str, ...]
    minutes: int
    quiz: tuple[QuizQuestion, ...]
    body: str  # Markdown
    file: str  # its file name, for messages


class Curriculum(Mapping[str, Lesson]):
    """Every lesson, by slug, and in order (`lessons`)."""

    def __init__(self, lessons: list[Lesson]) -> None:
        self.lessons: tuple[Lesson, ...] = tuple(sorted(lessons, key=lambda lesson: lesson.order))
        self._by_slug = {lesson.slug: lesson for lesson in self.lessons}

    def __getitem__(self, slug: str) -> Lesson:
        return self._by_slug[slug]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_slug)

    def __len__(self) -> int:
        return len(self._by_slug)

    def for_criterion(self, criterion_id: str) -> list[Lesson]:
        """The lessons that strengthen a criterion (e.g. a review round's weakest), in order."""
        return [lesson for lesson in self.lessons if criterion_id in lesson.criteria]


def _split(text: str, file: str) -> tuple[dict[str, Any], str]:
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != FENCE:
        raise CurriculumError(file, "front matter", f"must start with a line {FENCE}")
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == FENCE)
    except StopIteration:
        raise CurriculumError(file, "front matter", f"no closing {FENCE} line") from None
    try:
        meta = tomllib.loads("\n".join(lines[1:end]))
    except tomllib.TOMLDecodeError as exc:
        raise CurriculumError(file, "front matter", f"not valid TOML ({exc})") from None
    return meta, "\n".join(lines[end + 1:]).strip()


def _text(meta: dict[str, Any], key: str, file: str, limit: int, where: str = "") -> str:
    value = meta.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CurriculumError(file, where + key, "a non-empty string is required")
    if len(value.strip()) > limit:
        raise CurriculumError(file, where + key, f"longer than {limit} characters ({len(value.strip())})")
    return value.strip()


def _int(meta: dict[str, Any], key: str, file: str, lo: int, hi: int, where: str = "") -> int:
    value = meta.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise CurriculumError(file, where + key, f"an integer from {lo} to {hi} is required (found {value!r})")
    return value


def _ids(meta: dict[str, Any], key: str, file: str, known: set[str]) -> tuple[str, ...]:
    value = meta.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CurriculumError(file, key, "a list of ids is required")
    unknown = sorted(set(value) - known)
    if unknown:
        raise CurriculumError(file, key, f"not in the campaign file: {', '.join(unknown)} "
                                         f"(known: {', '.join(sorted(known))})")
    if len(set(value)) != len(value):
        raise CurriculumError(file, key, "an id is listed twice")
    return tuple(value)


def _quiz(meta: dict[str, Any], file: str) -> tuple[QuizQuestion, ...]:
    raw = meta.get("quiz", [])
    if not isinstance(raw, list) or len(raw) > QUIZ_MAX:
        raise CurriculumError(file, "quiz", f"a list of at most {QUIZ_MAX} questions is required ([[quiz]] tables)")
    questions = []
    for n, item in enumerate(raw, start=1):
        where = f"quiz[{n}]."
        if not isinstance(item, dict):
            raise CurriculumError(file, f"quiz[{n}]", "a table is required ([[quiz]])")
        extra = sorted(set(item) - QUIZ_KEYS)
        if extra:
            raise CurriculumError(file, where + extra[0], f"unknown key (known: {', '.join(sorted(QUIZ_KEYS))})")
        question = _text(item, "question", file, QUESTION_MAX, where)
        options = item.get("options")
        if (not isinstance(options, list) or not OPTIONS_MIN <= len(options) <= OPTIONS_MAX
                or not all(isinstance(o, str) and o.strip() for o in options)):
            raise CurriculumError(file, where + "options",
                                  f"{OPTIONS_MIN}–{OPTIONS_MAX} non-empty options of at most {OPTION_MAX} characters")
        for m, option in enumerate(options, start=1):
            if len(option.strip()) > OPTION_MAX:
                raise CurriculumError(file, where + "options",
                                      f"option {m} is longer than {OPTION_MAX} characters ({len(option.strip())})")
        stripped = [o.strip() for o in options]
        if len(set(stripped)) != len(stripped):
            raise CurriculumError(file, where + "options", "options must differ")
        answer = _int(item, "answer", file, 0, len(options) - 1, where)
        explanation = _text(item, "explanation", file, EXPLANATION_MAX, where)
        questions.append(QuizQuestion(question, tuple(stripped), answer, explanation))
    return tuple(questions)


def paragraphs(body: str) -> list[str]:
    """The body's paragraphs: runs of lines between blank lines, a fenced code block (blank lines
    and all) kept whole. Raises ValueError when a code block is not closed."""
    blocks: list[list[str]] = []
    current: list[str] = []
    fence: str | None = None
    for line in body.splitlines():
        mark = CODE_FENCE.match(line)
        if fence is not None:
            current.append(line)
            if mark and mark.group(1) == fence and not line.strip().strip(fence[0]):
                fence = None
            continue
        if mark:
            fence = mark.group(1)
            current.append(line)
        elif line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if fence is not None:
        raise ValueError(f"a {fence} code block is not closed")
    if current:
        blocks.append(current)
    return ["\n".join(block) for block in blocks]


def _body(body: str, file: str) -> str:
    if not body:
        raise CurriculumError(file, "body", "the lesson has no text after the front matter")
    if len(body) > BODY_MAX:
        raise CurriculumError(file, "body", f"longer than {BODY_MAX} characters ({len(body)}): split the lesson")
    try:
        blocks = paragraphs(body)
    except ValueError as exc:
        raise CurriculumError(file, "body", str(exc)) from None
    for block in blocks:
        first = block.splitlines()[0].strip()
        if len(block) > PARAGRAPH_MAX:
            raise CurriculumError(file, "body", f"the paragraph starting {first[:30]!r} is longer than "
                                                f"{PARAGRAPH_MAX} characters ({len(block)}): add a blank line")
        if CODE_FENCE.match(block):
            continue
        for line in block.splitlines():
            prose = INLINE_CODE.sub("", line)
            if TABLE_ROW.match(line) or TABLE_RULE.match(line):
                raise CurriculumError(file, "body", f"tables are not supported (line {line.strip()[:30]!r}): "
                                                    "use a list")
            if "![" in prose:
                raise CurriculumError(file, "body", f"images are not supported (line {line.strip()[:30]!r})")
            if HTML_TAG.search(prose):
                raise CurriculumError(file, "body", f"HTML is not supported (line {line.strip()[:30]!r}): "
                                                    "use Markdown")
    return body


def parse_lesson(text: str, file: str, campaign: Campaign) -> Lesson:
    """One lesson file's text, checked against the campaign (criteria and category ids) and the
    Markdown the chat renders."""
    meta, body = _split(text, file)
    extra = sorted(set(meta) - KEYS)
    if extra:
        raise CurriculumError(file, extra[0], f"unknown key (known: {', '.join(sorted(KEYS))})")
    slug = meta.get("slug")
    if not isinstance(slug, str) or not SLUG.match(slug) or len(slug) > 48:
        raise CurriculumError(file, "slug", "[a-z][a-z0-9_]* of at most 48 characters is required")
    return Lesson(
        slug=slug,
        title=_text(meta, "title", file, TITLE_MAX),
        order=_int(meta, "order", file, 1, 999),
        criteria=_ids(meta, "criteria", file, {c.id for c in campaign.criteria}),
        categories=_ids(meta, "categories", file, {c.id for c in campaign.categories}),
        minutes=_int(meta, "minutes", file, 1, 120),
        quiz=_quiz(meta, file),
        body=_body(body, file),
        file=file,
    )


def load_curriculum(folder: Path, campaign: Campaign) -> Curriculum:
    """Every `*.md` file of the folder but README.md, checked; slugs and orders unique; the
    campaign's drip names lessons that exist."""
    if not folder.is_dir():
        raise CurriculumError(str(folder), "folder", "the lessons' folder does not exist")
    lessons: list[Lesson] = []
    for path in sorted(folder.glob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CurriculumError(path.name, "file", f"cannot be read as UTF-8 ({exc})") from None
        lessons.append(parse_lesson(text, path.name, campaign))
    seen: dict[str, str] = {}
    orders: dict[int, str] = {}
    for lesson in lessons:
        if lesson.slug in seen:
            raise CurriculumError(lesson.file, "slug", f"{lesson.slug!r} is also the slug of {seen[lesson.slug]}")
        if lesson.order in orders:
            raise CurriculumError(lesson.file, "order", f"{lesson.order} is also the order of {orders[lesson.order]}")
        seen[lesson.slug], orders[lesson.order] = lesson.file, lesson.file
    for item in campaign.academy.drip:
        if item.slug not in seen:
            raise CurriculumError("campaign.toml", "academy.drip", f"no lesson has the slug {item.slug!r}")
    return Curriculum(lessons)
