"""Scheduled jobs: plain functions called here with a fixed `now`, asserted on the database; and the
one table that tells APScheduler what runs when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.jobs import JOBS, build_scheduler, maintenance
from bot.jobs import outbox as outbox_jobs
from bot.outbox import queue
from storage.models import InboxUpdate, OutboxMessage, ProcessedUpdate, utcnow
from storage.statuses import InboxStatus, OutboxStatus
from tests.harness import Conversation

NOW = datetime(2025, 3, 1, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai


def inbox_row(update_id: int, status: InboxStatus, *, received: datetime,
              started: datetime | None = None) -> InboxUpdate:
    return InboxUpdate(update_id=update_id, chat_key=1001, payload="{}", status=status, attempts=0,
                       not_before=received, received_at=received, started_at=started)


async def all_of(app, model, order) -> list:
    async with app.sessionmaker() as session:
        return list((await session.execute(select(model).order_by(order))).scalars())


async def test_prune_removes_only_what_telegram_can_no_longer_redeliver(app):
    async with app.sessionmaker.begin() as session:
        session.add_all([ProcessedUpdate(update_id=1, processed_at=NOW - timedelta(days=3)),
                         ProcessedUpdate(update_id=2, processed_at=NOW - timedelta(days=1)),
                         inbox_row(10, InboxStatus.done, received=NOW - timedelta(days=3)),
                         inbox_row(11, InboxStatus.done, received=NOW - timedelta(days=1)),
                         inbox_row(12, InboxStatus.dead, received=NOW - timedelta(days=3))])
    assert await maintenance.prune(app.sessionmaker, NOW) == 2
    assert [r.update_id for r in await all_of(app, ProcessedUpdate, ProcessedUpdate.update_id)] == [2]
    assert [r.update_id for r in await all_of(app, InboxUpdate, InboxUpdate.update_id)] == [11, 12]


async def test_release_stale_takes_again_only_updates_a_dead_process_left(app):
    async with app.sessionmaker.begin() as session:
        session.add_all([inbox_row(20, InboxStatus.working, received=NOW - timedelta(minutes=12),
                                   started=NOW - timedelta(minutes=11)),
                         inbox_row(21, InboxStatus.working, received=NOW - timedelta(minutes=3),
                                   started=NOW - timedelta(minutes=2))])
    assert await maintenance.release_stale(app.sessionmaker, NOW) == 1
    stale, busy = await all_of(app, InboxUpdate, InboxUpdate.update_id)
    assert (stale.status, stale.not_before) == (InboxStatus.pending, NOW)
    assert busy.status == InboxStatus.working


async def test_a_message_held_until_morning_is_released_by_the_job_then_delivered(app):
    chat = Conversation(app.dispatcher)
    morning = NOW + timedelta(hours=10)  # 08:00 in Shanghai
    async with app.sessionmaker.begin() as session:
        await queue.enqueue_many(session, [(2001, {"kind": "message", "text": "早上好，今天截止"})],
                                 hold_until=morning, now=NOW)
        await queue.enqueue_many(session, [(2002, {"kind": "message", "text": "给未打开机器人的人"})], now=NOW)
    async with app.sessionmaker.begin() as session:
        (waiting_for_person,) = await queue.due(session, utcnow())  # the other one is held
        await queue.hold(session, waiting_for_person.id, "Bad Request: chat not found")

    assert await outbox_jobs.release_due(app.sessionmaker, morning - timedelta(minutes=1)) == 0
    assert [r.status for r in await all_of(app, OutboxMessage, OutboxMessage.id)] == ["held", "held"]
    assert await app.dispatcher["outbox"].drain(chat.bot) == 0

    assert await outbox_jobs.release_due(app.sessionmaker, morning) == 1
    quiet, person = await all_of(app, OutboxMessage, OutboxMessage.id)
    assert (quiet.status, person.status) == (OutboxStatus.pending, OutboxStatus.held)  # that one waits for /start
    assert await app.dispatcher["outbox"].drain(chat.bot) == 1
    assert chat.tg.sent[2001][-1].text == "早上好，今天截止" and chat.tg.sent[2002] == []


async def test_the_table_builds_a_scheduler_with_each_job_and_its_trigger(app):
    given = {"campaign": app.campaign, "texts": app.texts, "curriculum": app.dispatcher["curriculum"]}
    single = build_scheduler(app.settings, app.sessionmaker, shared=False, given=given)
    assert {job.id for job in single.get_jobs()} == {"prune_updates", "release_held_outbox", "assign_waiting_rounds",
                                                     "offer_lessons", "scan_reminders", "fan_out_broadcasts"}
    shared = build_scheduler(app.settings, app.sessionmaker, shared=True, clock=lambda: NOW + timedelta(hours=10),
                             given=given)
    every = {job.id: getattr(job.trigger, "interval", None) for job in shared.get_jobs()}
    assert every == {"prune_updates": timedelta(hours=6), "release_stale": timedelta(minutes=5),
                     "release_held_outbox": timedelta(minutes=1), "assign_waiting_rounds": timedelta(minutes=10),
                     "offer_lessons": None, "scan_reminders": timedelta(minutes=15),
                     "fan_out_broadcasts": timedelta(seconds=5)}
    assert str(shared.get_job("offer_lessons").trigger.fields[5]) == "9-21"  # hourly by day: no lesson at night
    # the reminder scan also runs as soon as the scheduler starts (reminders missed while stopped, once)
    started = build_scheduler(app.settings, app.sessionmaker, shared=True, given=given)
    started.start(paused=True)
    try:
        first = started.get_job("scan_reminders").next_run_time
        assert first is not None and first - datetime.now(UTC) < timedelta(minutes=1)
        assert started.get_job("prune_updates").next_run_time - datetime.now(UTC) > timedelta(hours=5)
    finally:
        started.shutdown(wait=False)
    assert {job.id for job in JOBS} == set(every)
    assert str(shared.timezone) == app.settings.timezone

    async with app.sessionmaker.begin() as session:  # a scheduled run gives the job the clock's time
        await queue.enqueue_many(session, [(2001, {"text": "早上好"})], hold_until=NOW + timedelta(hours=10), now=NOW)
    await shared.get_job("release_held_outbox").func()
    await shared.get_job("scan_reminders").func()  # given the campaign, the texts and the admins' ids
    assert [r.status for r in await all_of(app, OutboxMessage, OutboxMessage.id)] == ["pending"]
