"""A service loop stops when it is told to, even when the stop comes together with a wake-up.

On Python 3.11 `asyncio.wait_for` returned the wake-up and dropped the cancel: the outbox sender and
the inbox feeder (`while True: wait for a wake-up or a second`) then ran on for ever, so
`Inbox.stop()` (a bot's shutdown) and the end of the event loop (a test's teardown) never returned.
bot.waiting.within is the one timed wait now."""

from __future__ import annotations

import asyncio

import pytest

from bot.waiting import within
from tests.harness import Conversation

STOPPED_WITHIN = 5.0


async def _ended(task: asyncio.Task) -> bool:
    """Whether `task` ends within STOPPED_WITHIN seconds (it is not cancelled by this wait); one that
    did not is cancelled until it gives up, so that the test can end."""
    done, _ = await asyncio.wait({task}, timeout=STOPPED_WITHIN)
    for _ in range(100):
        if task.done():
            break
        task.cancel()
        await asyncio.sleep(0.01)
    return bool(done)


async def test_within_reports_a_finish_and_a_timeout():
    event = asyncio.Event()
    assert await within(0.05, event.wait()) is False
    event.set()
    assert await within(1, event.wait()) is True
    assert await within(-1, asyncio.sleep(10)) is False  # no time left: not awaited for long


async def test_a_cancel_that_comes_with_the_wake_up_is_not_lost():
    event = asyncio.Event()
    turns = 0

    async def loop() -> None:
        nonlocal turns
        while True:
            turns += 1
            event.clear()
            await within(0.1, event.wait())

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.05)
    event.set()
    task.cancel()
    assert await _ended(task) and task.cancelled()
    assert turns == 1


async def test_the_outbox_sender_stops_when_woken_and_cancelled_at_once(app):
    chat = Conversation(app.dispatcher)
    sender = app.dispatcher["outbox"]
    task = asyncio.create_task(sender.run(chat.bot), name="outbox")
    for _ in range(100):  # holding the lease, nothing to send: waiting to be woken
        await asyncio.sleep(0.02)
        if sender.holding:
            break
    await asyncio.sleep(0.1)
    assert sender.holding and not task.done()
    sender.woken.set()
    task.cancel()
    assert await _ended(task), "the sender ran on after it was cancelled"
    assert not sender.holding  # and its clean stop freed the lease


async def test_the_inbox_stops_when_woken_and_stopped_at_once(app):
    chat = Conversation(app.dispatcher)
    intake = app.dispatcher["inbox"]
    await intake.start(chat.bot)
    await asyncio.sleep(0.1)  # the feeder waits for updates
    intake.wake.set()
    stopping = asyncio.create_task(intake.stop())
    assert await _ended(stopping), "Inbox.stop() did not return: a loop ran on after it was cancelled"
    assert intake.tasks == []


@pytest.mark.parametrize("seconds", [0.0, 0.05])
async def test_within_cancels_what_it_gave_up_on(seconds):
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(10)

    inner = asyncio.ensure_future(slow())
    assert await within(seconds, inner) is False
    await asyncio.sleep(0)
    assert inner.cancelled()
