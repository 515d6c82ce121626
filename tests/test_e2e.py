"""End to end: the bot runs as its own process (`python -m bot run`) against the sandbox Telegram
over real HTTP; a person talks to it through the emulator's control side. The process is killed in
the middle of a form and started again: the form goes on."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.sandbox import SandboxClient, start_server
from tests.conftest import ADMIN_ID

TOKEN = "123456:SANDBOX"


async def start_bot(base_url: str, db_url: str, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "BOT_TOKEN": TOKEN, "BOT_API_URL": base_url, "DATABASE_URL": db_url,
           "ADMIN_IDS": str(ADMIN_ID), "LOG_LEVEL": "INFO"}
    fh = open(log, "ab")  # noqa: ASYNC230 - handed to the child
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "run", env=env,
                                                stdout=fh, stderr=fh)


async def stop_bot(proc: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> None:
    if proc.returncode is None:
        proc.send_signal(sig)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@pytest.fixture
async def sandbox():
    runner, base_url, emulator = await start_server(default_bot_id=123456)
    client = SandboxClient(base_url)
    yield base_url, client
    await client.close()
    await runner.cleanup()


async def test_bot_process_against_the_sandbox(sandbox, db_url, tmp_path):
    base_url, client = sandbox
    log = tmp_path / "bot.log"
    proc = await start_bot(base_url, db_url, log)
    try:
        await client.wait_polling(timeout=60)
        alice = client.user(1001, "Alice")
        await alice.send("/start")
        welcome = await alice.wait_for("科普中国网络创作培育计划", timeout=20)
        labels = [b["text"] for row in welcome["message"]["reply_markup"]["inline_keyboard"] for b in row]
        assert any("申报类别与要求" in label for label in labels)
        await alice.press("申报类别与要求")
        menu = await alice.wait_for("作品类")
        assert menu["kind"] == "edit"

        # half a form, then the process dies (SIGKILL: no clean shutdown) and comes back
        await alice.send("/ask")
        await alice.wait_for("第 1/2 项")
        await alice.press("作品申报")
        await alice.wait_for("第 2/2 项")
        # the prompt is sent just before the update's transaction commits: let that finish, then
        # kill without a clean shutdown
        await asyncio.sleep(1)
        await stop_bot(proc, signal.SIGKILL)
        proc = await start_bot(base_url, db_url, log)
        await alice.send("进程重启后，问题还能接着写吗？")
        summary = await alice.wait_for("请核对", timeout=60)
        assert "作品申报" in summary["message"]["text"]

        calls = await client.calls()
        assert calls.get("setMyCommands") and calls.get("deleteWebhook")
    finally:
        await stop_bot(proc)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert "kepubot starting:" in text and "123456:***" in text and "SANDBOX" not in text
