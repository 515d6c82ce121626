"""Button data factories. Short prefixes keep every button under Telegram's 64 bytes.
Handlers re-check that the person pressing may act on what the data names."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from aiogram.filters import Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery


class Section(StrEnum):
    home = "home"
    about = "about"
    categories = "cats"
    directions = "dirs"
    rules = "rules"
    contact = "contact"
    help = "help"
    staff = "staff"
    ask = "ask"
    register = "reg"
    apply = "apply"
    mywork = "mywork"
    # operators' lists, reached from the counts on their /start
    pending = "pending"  # registrations waiting for a decision (/pending)
    bigfiles = "big"  # files too big to check here (/bigfiles)
    questions = "qs"  # open questions (/questions)
    review_queue = "rq"  # review rounds waiting for reviewers or a decision (/review_queue)
    academy = "acad"  # 创作学院: the lessons (/academy)
    tutor = "tutor"  # 找导师: one's tutor (/tutor)
    resources = "res"  # 资源对接: one's resource requests (/resources)


JOINED = frozenset({"pg", "fx"})  # actions whose argument follows "_" (the others' follows ".")


class Acted:
    """Button data naming an object and an action on it (an enum, so each action has its handler:
    `SubCB.filter(F.action == SubAction.open)`), with an optional argument. The argument is written
    into the action's part, so the data stays the short form buttons always carried:
    `s:12:open`, `s:12:pg_2` (a page), `s:12:fx_title` (a form answer), `s:12:delete_yes.rq3k2` (a
    confirmation's minute stamp, see `minute_stamp`). Mixed in before CallbackData; `arg` comes last."""

    def pack(self) -> str:
        fields = self.model_dump()  # type: ignore[attr-defined]
        arg, action = fields.pop("arg"), str(fields["action"])
        if arg:
            fields["action"] = f"{action}{'_' if action in JOINED else '.'}{arg}"
        data = ":".join([self.__prefix__, *(str(v) for v in fields.values())])  # type: ignore[attr-defined]
        if data.count(":") != len(fields) or len(data.encode()) > 64:
            raise ValueError(f"callback data {data!r} has a separator in a value or is over 64 bytes")
        return data

    @classmethod
    def unpack(cls, value: str):  # noqa: ANN206 - the subclass
        prefix, *parts = value.split(":")
        names = [name for name in cls.model_fields if name != "arg"]  # type: ignore[attr-defined]
        if prefix != cls.__prefix__ or len(parts) != len(names):  # type: ignore[attr-defined]
            raise ValueError(f"not {cls.__name__}: {value!r}")
        fields = dict(zip(names, parts, strict=True))
        action, dot, arg = fields.pop("action").partition(".")
        if not dot:
            head, under, rest = action.partition("_")
            if under and head in JOINED:
                action, arg = head, rest
        return cls(**fields, action=action, arg=arg)  # an unknown action: ValidationError (a ValueError)


class MyWorkCB(CallbackData, prefix="mw"):
    page: int  # /mywork's list, page by page (the first page is MenuCB(section=mywork))


class MenuCB(CallbackData, prefix="m"):
    section: Section


class CategoryCB(CallbackData, prefix="cat"):
    id: str


class InviteCB(CallbackData, prefix="inv"):
    role: str


class InquiryCB(CallbackData, prefix="q"):
    id: int


class RegAction(StrEnum):
    approve = "approve"  # operators
    reject = "reject"  # operators
    fix = "fix"  # the applicant corrects what was sent back


class RegCB(CallbackData, prefix="r"):
    id: int
    action: RegAction


class TypedQuestionCB(CallbackData, prefix="tq"):
    n: int  # the id of the person's message typed on the main menu; its text waits in their FSM data


class ProfileAction(StrEnum):
    register = "register"
    mydata = "mydata"
    erase = "erase"
    erase_yes = "erase_yes"  # arg: minute stamp


class ProfileCB(Acted, CallbackData, prefix="p"):
    action: ProfileAction
    arg: str = ""


class ManualCheckCB(CallbackData, prefix="mc"):
    file: int
    passed: bool


class SubAction(StrEnum):
    """What a button does to one's own application (SubCB)."""

    open = "open"  # the card, in place of the message pressed
    show = "show"  # the card as a new message (a notification's button: the notification stays)
    page = "pg"  # arg: a page of the card's files
    later = "later"
    upload = "upload"
    edit = "edit"
    fix = "fx"  # arg: the form answer to correct
    submit = "submit"
    submit_yes = "submit_yes"
    withdraw = "withdraw"
    withdraw_yes = "withdraw_yes"  # arg: minute stamp
    delete = "delete"
    delete_yes = "delete_yes"  # arg: minute stamp
    drop_failed = "drop_failed"
    copy = "copy"
    replace = "replace"
    replace_no = "replace_no"
    feedback = "feedback"  # arg: a decided review round's number (its feedback in full)


class SubCB(Acted, CallbackData, prefix="s"):
    id: int
    action: SubAction
    arg: str = ""


class FileAction(StrEnum):
    open = "open"
    remove = "remove"
    remove_yes = "remove_yes"  # arg: minute stamp


class FileCB(Acted, CallbackData, prefix="sf"):
    """A file of one's own application (the handler finds its submission and checks the owner)."""

    file: int
    action: FileAction
    arg: str = ""


class StaffAction(StrEnum):
    open = "open"
    page = "pg"  # arg: a page of the card's files
    audit = "audit"  # arg: a page of the application's audit trail
    disqualify = "dq"  # 取消资格: the disqualify form


class StaffSubCB(Acted, CallbackData, prefix="ss"):
    """Operators open someone's application (the handler's filter checks the policy)."""

    id: int
    action: StaffAction
    arg: str = ""


class Pressed(Filter):
    """A button of one of these kinds, whatever its data says after the prefix (forged or garbled
    too): the last handler of a feature's staff buttons answers those the policy refuses."""

    def __init__(self, *kinds: type[CallbackData]) -> None:
        self.prefixes = tuple(f"{kind.__prefix__}{kind.__separator__}" for kind in kinds)
        self.kinds = kinds

    async def __call__(self, callback: CallbackQuery) -> bool:
        return bool(callback.data) and callback.data.startswith(self.prefixes)


# ---------------------------------------------------------------- confirmations expire
# A confirmation button (delete, withdraw, erase …) carries the minute it was made, so one pressed
# weeks later is refused: its action reads "delete_yes.<minute in base 36>" (6 characters more).

CONFIRM_MINUTES = 10


def minute_stamp(now: datetime) -> str:
    """The minute `now` falls in (minutes since 1970, base 36: 5 characters until the year 5700)."""
    n, digits = int(now.timestamp()) // 60, ""
    while True:
        n, d = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[d] + digits
        if n == 0:
            return digits


def fresh(stamp: str | None, now: datetime, minutes: int = CONFIRM_MINUTES) -> bool:
    """Was a button stamped (minute_stamp) at most `minutes` ago? A missing or garbled stamp (a
    button made before stamps existed, or forged) is not fresh; a minute ahead is tolerated."""
    try:
        made = int(stamp or "", 36)
    except ValueError:
        return False
    return -1 <= int(now.timestamp()) // 60 - made <= minutes


# ---------------------------------------------------------------- expert review (issue 10)


class ReviewAction(StrEnum):
    """A reviewer's buttons on one of their assignments (ReviewCB). Owner: bot/handlers/reviews/reviewer.py."""

    open = "open"  # the review card: the application's answers, the check report
    files = "files"  # the application's files, sent by file_id
    start = "start"  # the review form
    decline = "decline"  # give it back, with a reason (a form)
    page = "pg"  # arg: a page of the card's file list
    queue = "queue"  # /reviews' list (id 0), arg: the page
    profile = "profile"  # the reviewer profile form (id 0)


class ReviewCB(Acted, CallbackData, prefix="rv"):
    """A reviewer's assignment (`id`: review_assignments.id). The handler checks it is theirs."""

    id: int
    action: ReviewAction
    arg: str = ""


class RoundAction(StrEnum):
    """Operators' buttons on one review round (RoundCB). Owner: bot/handlers/reviews/staff.py."""

    open = "open"  # the round's summary: reviews, aggregate, progress
    decide = "decide"  # the decision form
    reassign = "reassign"  # arg: an assignment id (pick who gets it next)
    pick = "pick"  # arg: "<assignment id>-<reviewer id>" (0: the next one found): reassign to them
    add = "add"  # a round short of reviewers: pick whom to add
    add_pick = "addto"  # arg: a reviewer id (0: as many as it is short of, found by the system)


class RoundCB(Acted, CallbackData, prefix="rd"):
    """A review round (`id`: review_rounds.id), for operators (the filter checks the policy)."""

    id: int
    action: RoundAction
    arg: str = ""


class ListAction(StrEnum):
    """Operators' /submissions list (SubListCB). Owner: bot/handlers/reviews/staff.py."""

    page = "pg"  # arg: the page
    filter = "fl"  # arg: a filter to set, e.g. "status=under_review"


class SubListCB(Acted, CallbackData, prefix="sl"):
    """/submissions with its filters packed in `q` (short codes, see the handler) and a page."""

    q: str
    action: ListAction
    arg: str = ""


# ---------------------------------------------------------------- 创作学院 (issue 11): bot/handlers/academy.py


class LessonAction(StrEnum):
    """A 创作学院 lesson's buttons (LessonCB). Owner: bot/handlers/academy.py."""

    open = "open"  # the lesson at the page last read, in place of the message pressed
    show = "show"  # the same as a new message (a notification's button: the notification stays)
    page = "pg"  # arg: a page of the lesson
    quiz = "quiz"  # its quiz, one poll per question
    done = "done"  # 完成本课


class LessonCB(Acted, CallbackData, prefix="ls"):
    """A lesson by slug (≤ 48 characters: the data stays under 64 bytes). The handler looks the slug
    up in the curriculum: an unknown one (a lesson since removed, forged data) is refused kindly."""

    slug: str
    action: LessonAction
    arg: str = ""


class AcademyCB(CallbackData, prefix="ac"):
    page: int  # /academy's list of lessons, page by page (the first page is MenuCB(section=academy))


# ---------------------------------------------------------------- tutoring (issue 11): bot/handlers/tutoring.py


class TutorAction(StrEnum):
    """Buttons of one-on-one tutoring (TutorCB). Owner: bot/handlers/tutoring.py."""

    chat = "chat"  # the creator enters the conversation (对话中) with their tutor
    leave = "leave"  # the creator leaves the conversation mode (the tutorship stays)
    history = "hist"  # the conversation's history; arg: the page (its tutor, or its creator)
    end = "end"  # 结束对话: asks to confirm
    end_yes = "end_yes"  # arg: minute stamp
    end_no = "end_no"  # the confirmation declined: nothing changes
    mine = "mine"  # a tutor's /mycreators (id 0); arg: the page
    profile = "profile"  # the tutor profile form (id 0)
    queue = "queue"  # operators' /tutoring (id 0); arg: the page
    pick = "pick"  # operators: the tutors to choose from for a waiting tutorship; arg: the page
    assign = "assign"  # operators: arg: the tutor's id


class TutorCB(Acted, CallbackData, prefix="tu"):
    """A tutorship (`id`: tutorships.id; 0 for the lists). The handler checks who may act on it."""

    id: int
    action: TutorAction
    arg: str = ""


# ---------------------------------------------------------------- 资源对接 (issue 11): bot/handlers/resources.py


class ResAction(StrEnum):
    """A creator's buttons on their own resource requests (ResCB). Owner: bot/handlers/resources.py."""

    mine = "mine"  # their list (id 0), arg: the page
    new = "new"  # 新建需求: the request form (id 0)
    open = "open"  # the request's card, in place of the message pressed
    show = "show"  # the card as a new message (a notification's button)
    more = "more"  # 补充/追问 on an answered request: the follow-up form
    close = "close"  # 已解决/撤销: asks to confirm
    close_yes = "close_yes"  # arg: minute stamp


class ResCB(Acted, CallbackData, prefix="rs"):
    """A creator's resource request (`id`: resource_requests.id); the handler checks it is theirs."""

    id: int
    action: ResAction
    arg: str = ""


class ResStaffAction(StrEnum):
    """Buttons of those who handle resource requests (ResStaffCB): operators, and a tutor on the
    requests assigned to them. Owner: bot/handlers/resources.py."""

    page = "pg"  # /requests' list (id 0), arg: "<filter>-<page>"
    open = "open"  # the request's card in place
    show = "show"  # the card as a new message (a notification's button)
    assign = "assign"  # operators: whom to give it to, arg: the page
    pick = "pick"  # operators: arg: the user id it goes to
    answer = "answer"  # the answer form
    close = "close"  # asks to confirm
    close_yes = "close_yes"  # arg: minute stamp


class ResStaffCB(Acted, CallbackData, prefix="rsh"):
    """A resource request for its handlers (the service checks the policy on the request itself)."""

    id: int
    action: ResStaffAction
    arg: str = ""


# ---------------------------------------------------------------- reminders (issue 12): bot/jobs/reminders.py
class BrandingCB(CallbackData, prefix="brd"):
    """已标注 under a branding reminder: the creator confirms the label is shown on submission `sub`
    (bot/handlers/reminders.py checks it is theirs and accepted)."""

    sub: int


# ---------------------------------------------------------------- /settings (issue 12): bot/handlers/settings.py
# (settings callback data goes here)


class SettingsAction(StrEnum):
    """/settings' buttons: turn a reminder kind on or off (arg: the kind, a `reminders.Kind` value).
    The button says what it does, so pressing an old one twice changes nothing more."""

    on = "on"
    off = "off"


class SettingsCB(Acted, CallbackData, prefix="st"):
    """A reminder kind on/off (`st:off.deadline`); the handler checks the kind exists and is the person's."""

    action: SettingsAction
    arg: str = ""


# ---------------------------------------------------------------- broadcasts (issue 12): bot/handlers/broadcast.py
class BroadcastAction(StrEnum):
    """Operators' buttons on broadcasts (BroadcastCB, `id`: broadcasts.id; 0 for new and list)."""

    new = "new"  # the compose form
    list = "list"  # the recent broadcasts
    report = "report"  # where it stands, in place (刷新)
    cancel = "cancel"  # 停止发送: asks to confirm
    cancel_yes = "cancel_yes"  # arg: minute stamp


class BroadcastCB(Acted, CallbackData, prefix="bc"):
    """A broadcast for operators; the handler checks the policy and looks the row up again."""

    id: int
    action: BroadcastAction
    arg: str = ""
