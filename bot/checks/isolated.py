"""A check in a process of its own, with a wall-clock and a memory budget.

A hostile file (a .docx that unpacks to gigabytes, a PDF of thousands of pages sharing one content
stream, a pathological Markdown line) must get a verdict within a budget and never slow anyone else:
run in a thread it would hold the GIL and the event loop's executor; run here it is a child process
that the kernel limits (RLIMIT_AS) and that is killed when its time is up. The verdict is then the
file problem "file.too_complex".

Children are forked from a small fork server that has imported the checks library and its heavy
readers once (python-docx, pypdf, Pillow, pymediainfo), never aiogram: starting one costs
milliseconds. No aiogram here: the bot (bot/checker.py) and the command line use the same calls.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import time
import types
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.checks import messages as msg
from bot.checks.core import check, problem_report
from bot.checks.report import Report
from bot.waiting import within

if TYPE_CHECKING:
    from bot.campaign import Campaign, Category

PRELOAD = ["bot.checks", "bot.checks.core", "bot.checks.text", "bot.checks.media", "bot.checks.archive",
           "bot.checks.estimates", "pymediainfo", "docx", "pypdf", "PIL.Image"]


@dataclass(frozen=True)
class Budget:
    seconds: float = 30.0
    memory_mb: int = 1024

    def words(self) -> str:
        return msg.BUDGET_REASONS["limit"].format(seconds=_num(self.seconds), mb=self.memory_mb)


def _num(x: float) -> str:
    return f"{x:g}"


_context: Any = None


def use_start_method(method: str) -> None:
    """Choose how checking processes start: "forkserver" (the default: forked from a small server
    that has the readers imported, for a long-running process that imported aiogram) or "fork"
    (a one-shot command line, where starting a server would cost more than it saves)."""
    global _context
    _context = multiprocessing.get_context(method)


def _ctx() -> Any:
    global _context
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        _context = ctx
    return _context


def _child(conn: Connection, path: str, name: str, category: Category, campaign: Campaign,
           declared: dict[str, Any] | None, files_only: bool, memory_mb: int) -> None:
    try:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        report = check(path, category, campaign, declared, files_only=files_only)
        if name != Path(path).name:  # the file was stored under a generated name: report the person's
            report = _renamed(report, Path(path).name, name)
        conn.send(("ok", report.to_dict()))
    except MemoryError:
        conn.send(("memory", None))
    except BaseException as exc:  # noqa: BLE001 - whatever happened, the parent gets one verdict
        conn.send(("error", f"{type(exc).__name__}: {exc}"[:300]))
    finally:
        conn.close()


def _renamed(report: Report, old: str, new: str) -> Report:
    from dataclasses import replace

    report.files = [new if f == old else f for f in report.files]
    report.items = [replace(i, file=new) if i.file == old else i for i in report.items]
    report.metrics = {new if k == old else k: v for k, v in report.metrics.items()}
    return report


def _stopped(name: str, category: Category, campaign: Campaign, budget: Budget, why: str) -> Report:
    reason = msg.BUDGET_REASONS[why].format(seconds=_num(budget.seconds), mb=budget.memory_mb)
    return problem_report(name, category, campaign, "file.too_complex", reason=reason, limit=budget.words())


def _start(path: Path, name: str, category: Category, campaign: Campaign, declared: Mapping[str, Any] | None,
           files_only: bool, budget: Budget) -> tuple[Any, Connection]:
    return _spawn(_child, (str(path), name, category, campaign, dict(declared) if declared else None, files_only,
                           budget.memory_mb))


def _spawn(target: Any, args: tuple) -> tuple[Any, Connection]:
    """A child forked from the server, running target(send, *args); returns it and the receiving end."""
    ctx = _ctx()
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, daemon=True, args=(send, *args))
    # the child needs nothing of our __main__ (pytest, the kepubot script, a REPL): without this it
    # would run the main script again in every child, or fail on one that has no file ("<stdin>")
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        proc.start()
    finally:
        sys.modules["__main__"] = main
    send.close()
    return proc, receive


def _finish(proc: Any, receive: Connection, name: str, category: Category, campaign: Campaign,
            budget: Budget, timed_out: bool) -> Report:
    if timed_out:
        proc.kill()
        proc.join(5)
        receive.close()
        return _stopped(name, category, campaign, budget, "time")
    try:
        kind, payload = receive.recv()
    except (EOFError, OSError):  # killed by the kernel (memory) or crashed without a word
        kind, payload = "crashed", None
    finally:
        receive.close()
    proc.join(5)
    if kind == "ok":
        return Report.from_dict(payload)
    if kind == "memory":
        return _stopped(name, category, campaign, budget, "memory")
    return _stopped(name, category, campaign, budget, "crashed")


async def check_isolated(path: str | Path, category: Category, campaign: Campaign,
                         declared: Mapping[str, Any] | None = None, *, name: str | None = None,
                         files_only: bool = True, budget: Budget = Budget()) -> Report:
    """check() in a child process; waits without blocking the event loop or using its executor."""
    path = Path(path)
    name = name or path.name
    proc, receive = _start(path, name, category, campaign, declared, files_only, budget)
    timed_out = not await _answered(receive, budget.seconds)
    return _finish(proc, receive, name, category, campaign, budget, timed_out)


async def _answered(receive: Connection, seconds: float) -> bool:
    """Wait, without blocking the event loop or using its executor, for the child's answer (or EOF
    when it died); False when `seconds` passed first."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(receive.fileno(), readable)
    try:
        return await within(seconds, ready)
    finally:
        loop.remove_reader(receive.fileno())


class ApartFailed(Exception):
    """`run_apart`'s child did not answer: out of time or memory, or crashed (the reason is the text)."""


def _call(conn: Connection, fn: Any, args: tuple, kwargs: dict[str, Any], memory_mb: int) -> None:
    try:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        conn.send(("ok", fn(*args, **kwargs)))
    except BaseException as exc:  # noqa: BLE001 - the parent gets one answer
        conn.send(("error", f"{type(exc).__name__}: {exc}"[:300]))
    finally:
        conn.close()


async def run_apart(fn: Any, *args: Any, budget: Budget = Budget(), **kwargs: Any) -> Any:
    """fn(*args, **kwargs) in a child forked from the same server, for work that would otherwise
    hold the event loop (CPU in Python) or keep its memory in the bot; its result (pickled back), or
    ApartFailed. `fn` is a module-level function (the child finds it by name)."""
    proc, receive = _spawn(_call, (fn, args, kwargs, budget.memory_mb))
    try:
        answered = await _answered(receive, budget.seconds)
    except BaseException:  # cancelled: the child's work is wanted no more
        proc.kill()
        receive.close()
        raise
    if not answered:
        proc.kill()
        proc.join(5)
        receive.close()
        raise ApartFailed(f"no answer within {budget.seconds:g} s")
    try:
        kind, payload = receive.recv()
    except (EOFError, OSError):
        kind, payload = "error", "the child died without an answer (memory, or a crash)"
    finally:
        receive.close()
    proc.join(5)  # it has answered: it is leaving
    if kind != "ok":
        raise ApartFailed(payload)
    return payload


def check_isolated_sync(path: str | Path, category: Category, campaign: Campaign,
                        declared: Mapping[str, Any] | None = None, *, name: str | None = None,
                        files_only: bool = True, budget: Budget = Budget()) -> Report:
    """The same for the command line."""
    path = Path(path)
    name = name or path.name
    proc, receive = _start(path, name, category, campaign, declared, files_only, budget)
    started = time.monotonic()
    timed_out = not receive.poll(budget.seconds)
    if not timed_out and time.monotonic() - started > budget.seconds:
        timed_out = True
    return _finish(proc, receive, name, category, campaign, budget, timed_out)


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
