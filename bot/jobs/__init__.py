"""Scheduled work. A job is a plain function `async def job(sessionmaker, now) -> result` (a count, or
the outbox rows it queued) that opens its own transaction: tests call it with a fixed `now`. A job
that needs the campaign or the texts names them in `uses`; they come as keyword arguments.
`JOBS` is the one table of what runs when; `build_scheduler` turns it into APScheduler jobs
(APScheduler is the clock only: jobs read their due work from the database)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.jobs import academy, broadcasts, maintenance, outbox, reminders, reviews
from storage.models import utcnow

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.config import Settings

log = logging.getLogger(__name__)

JobFunction = Callable[[async_sessionmaker[AsyncSession], datetime], Awaitable[Any]]


@dataclass(frozen=True)
class Job:
    id: str
    trigger: str  # an APScheduler trigger ("interval", "cron"), in the scheduler's time zone (settings)
    when: dict[str, Any]  # its arguments: {"hours": 6}, {"hour": 9, "minute": 0}
    run: JobFunction
    shared_only: bool = False  # needed only when several processes share the inbox
    uses: tuple[str, ...] = ()  # what else it is given, by name: "campaign", "texts", "admin_ids"
    at_start: bool = False  # also run once as soon as the scheduler starts (what a stop missed)


JOBS: tuple[Job, ...] = (
    Job("prune_updates", "interval", {"hours": 6}, maintenance.prune),
    Job("release_stale", "interval", {"minutes": 5}, maintenance.release_stale, shared_only=True),
    Job("release_held_outbox", "interval", {"minutes": 1}, outbox.release_due),
    Job("assign_waiting_rounds", "interval", {"minutes": 10}, reviews.assign_waiting, uses=("campaign", "texts")),
    # 创作学院's drip: hourly in the day (the scheduler's time zone), so nobody is woken by a lesson
    Job("offer_lessons", "cron", {"hour": "9-21", "minute": 7}, academy.offer_lessons,
        uses=("campaign", "texts", "curriculum")),
    # reminders (issue 12): each is keyed by its occasion, so a scan every 15 minutes, one at start-up
    # (reminders missed while the bot was down) and several processes still send each one once
    Job("scan_reminders", "interval", {"minutes": 15}, reminders.scan, uses=("campaign", "texts", "admin_ids"),
        at_start=True),
    # broadcasts (issue 12): the next batch of each one's copies when few still wait, and the report
    # when one is over; the batches are keyed by the broadcast's cursor, so several processes may run it
    Job("fan_out_broadcasts", "interval", {"seconds": 5}, broadcasts.fan_out, uses=("texts", "admin_ids"),
        at_start=True),
)


def build_scheduler(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], *, shared: bool,
                    jobs: tuple[Job, ...] = JOBS, clock: Callable[[], datetime] = utcnow,
                    given: dict[str, Any] | None = None) -> AsyncIOScheduler:
    """A scheduler (not started) with the jobs this process runs. `shared`: several processes share
    the inbox. `clock`: what `now` each job is given. `given`: what jobs may use (campaign, texts;
    admin_ids comes from the settings). A job marked `at_start` first runs when the scheduler starts."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    scheduler = AsyncIOScheduler(timezone=settings.timezone)
    given = {"admin_ids": tuple(settings.admin_ids), **(given or {})}
    for job in jobs:
        if job.shared_only and not shared:
            continue

        extra = {name: given[name] for name in job.uses}

        async def run(job: Job = job, extra: dict[str, Any] = extra) -> None:
            await job.run(sessionmaker, clock(), **extra)

        first = {"next_run_time": datetime.now(scheduler.timezone)} if job.at_start else {}
        scheduler.add_job(run, job.trigger, id=job.id, name=job.id, coalesce=True, max_instances=1, **first,
                          **job.when)
    return scheduler
