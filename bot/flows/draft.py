"""A form's draft: the answers so far and where the person is, as it is kept in FSM data.

Pure data (no aiogram): `Draft.load` / `Draft.dump` are the only places that know the stored
shape. `refs` holds ids only (e.g. {"submission_id": 3}); whatever a prompt shows of a record is
read by id when it is rendered, and settings (admin ids, the Bot API mode) never go into a draft.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

# keys that settings used to put into a draft's "extra" (before refs): never carried over
SETTINGS_KEYS = frozenset({"admin_ids", "local_api"})


def refs_of(extra: Any) -> dict[str, int]:
    """The ids of an older draft's `extra` (`…_id`, and `about`: the person the form is about);
    copied texts (an account name, a question) and settings are dropped: they are read by id now."""
    if not isinstance(extra, dict):
        return {}
    return {key: value for key, value in extra.items()
            if (key.endswith("_id") or key == "about") and key not in SETTINGS_KEYS
            and isinstance(value, int) and not isinstance(value, bool)}


def new_nonce() -> str:
    return secrets.token_hex(3)


@dataclass
class Pending:
    """A form the person asked to open while a draft was open: opened if they choose to drop it."""

    form: str
    values: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, int] = field(default_factory=dict)
    edit_only: list[str] = field(default_factory=list)
    at_summary: bool = False

    @classmethod
    def load(cls, data: Any) -> Pending | None:
        if not isinstance(data, dict) or not data.get("form"):
            return None
        refs = data["refs"] if isinstance(data.get("refs"), dict) else refs_of(data.get("extra"))
        return cls(form=str(data["form"]), values=dict(data.get("values") or {}), refs=dict(refs),
                   edit_only=list(data.get("edit_only") or []), at_summary=bool(data.get("at_summary")))

    def dump(self) -> dict[str, Any]:
        return {"form": self.form, "values": self.values, "refs": self.refs, "edit_only": self.edit_only,
                "at_summary": self.at_summary}


@dataclass
class Draft:
    """One open form. `step` is the field asked (or the last one, at the summary: `reviewing`).

    Editing from the summary: the first answer that changes keeps a copy of the last complete answers
    (`before`, with `origin` the field changed); `queue` lists further fields to correct."""

    form: str
    nonce: str = field(default_factory=new_nonce)
    step: int = 0
    values: dict[str, Any] = field(default_factory=dict)
    refs: dict[str, int] = field(default_factory=dict)
    editing: bool = False
    reviewing: bool = False  # at the summary (mirrored by the FSM state of the open draft)
    queue: list[str] = field(default_factory=list)
    picking: list[str] | None = None  # a multi-choice question's presses, until 完成 writes the answer
    pending: Pending | None = None
    before: dict[str, Any] | None = None
    origin: str | None = None

    @classmethod
    def load(cls, data: Any, *, reviewing: bool | None = None) -> Draft | None:
        """A draft from FSM data, also as stored before drafts were typed ("fid", "extra"), so a
        deploy loses nobody's half-filled form. None when `data` holds no draft."""
        if not isinstance(data, dict) or not isinstance(data.get("form"), str):
            return None
        nonce = data.get("nonce") or data.get("fid")
        if not nonce:
            return None
        refs = data["refs"] if isinstance(data.get("refs"), dict) else refs_of(data.get("extra"))
        return cls(form=data["form"], nonce=str(nonce), step=int(data.get("step") or 0),
                   values=dict(data.get("values") or {}), refs=dict(refs), editing=bool(data.get("editing")),
                   reviewing=bool(data.get("reviewing")) if reviewing is None else reviewing,
                   queue=list(data.get("queue") or []), picking=data.get("picking"), pending=Pending.load(data.get("pending")),
                   before=data.get("before") or None, origin=data.get("origin") or None)

    def dump(self) -> dict[str, Any]:
        data: dict[str, Any] = {"form": self.form, "nonce": self.nonce, "step": self.step, "values": self.values,
                                "refs": self.refs, "editing": self.editing, "reviewing": self.reviewing}
        if self.queue:
            data["queue"] = self.queue
        if self.picking is not None:
            data["picking"] = self.picking
        if self.pending is not None:
            data["pending"] = self.pending.dump()
        if self.before is not None:
            data["before"] = self.before
        if self.origin is not None:
            data["origin"] = self.origin
        return data
