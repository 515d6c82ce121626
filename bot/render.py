"""Every text the user sees: Jinja2 templates (HTML, autoescaped) and button labels, from content/.

Templates are `content/templates/<name>.j2`; button labels live in `content/templates/labels.toml`
and, for a feature with a folder of its own, in that folder's `labels.toml` (merged in: a key defined
twice is an error), so all user-facing words are edited in one folder.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent.parent / "content" / "templates"


class Texts:
    # Tests only (tests/harness.py): told each template rendered, with its values and its text, so a
    # test can assert which template a person was shown with which values. None in production.
    on_render: ClassVar[Callable[[str, dict[str, Any], str], None] | None] = None

    def __init__(self, *, timezone: str = "Asia/Shanghai", globals_: dict[str, Any] | None = None,
                 folder: Path = TEMPLATES) -> None:
        self.folder = folder
        self.tz = ZoneInfo(timezone)
        self.env = Environment(
            loader=FileSystemLoader(folder),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.env.filters["local"] = self._local
        self.env.filters["size"] = human_size
        self.env.globals.update(globals_ or {})
        self.env.globals["label"] = self.label

    def render(self, name: str, /, **context: Any) -> str:
        text = self.env.get_template(f"{name}.j2").render(**context).strip()
        if Texts.on_render is not None:
            Texts.on_render(name, context, text)
        return text

    @cached_property
    def labels(self) -> dict[str, Any]:
        with open(self.folder / "labels.toml", "rb") as fh:
            merged = tomllib.load(fh)
        for extra in sorted(self.folder.glob("*/labels.toml")):
            with open(extra, "rb") as fh:
                _merge(merged, tomllib.load(fh), str(extra.relative_to(self.folder)))
        return merged

    def label(self, key: str, /, **context: Any) -> str:
        """A button label by dotted key, e.g. label("menu.rules")."""
        node: Any = self.labels
        for part in key.split("."):
            node = node[part]
        return str(node).format(**context) if context else str(node)

    def _local(self, value: datetime, fmt: str = "%Y年%m月%d日 %H:%M") -> str:
        return value.astimezone(self.tz).strftime(fmt)


def _merge(into: dict[str, Any], extra: dict[str, Any], source: str, path: str = "") -> None:
    for key, value in extra.items():
        here = f"{path}{key}"
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value, source, f"{here}.")
        elif key in into:
            raise ValueError(f"label {here} is defined twice (again in {source})")
        else:
            into[key] = value


def human_size(num: int | float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(num) < 1024 or unit == "GB":
            return f"{num:.0f} {unit}" if unit == "B" else f"{num:.1f} {unit}"
        num /= 1024
    return f"{num:.1f} GB"
