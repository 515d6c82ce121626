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


async def start_bot(base_url: str, db_url: str, log: Path, **extra_env: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "BOT_TOKEN": TOKEN, "BOT_API_URL": base_url, "DATABASE_URL": db_url,
           "ADMIN_IDS": str(ADMIN_ID), "LOG_LEVEL": "INFO", "DATA_DIR": str(log.parent / "data"), **extra_env}
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


async def _sandbox(local: bool):
    runner, base_url, emulator = await start_server(default_bot_id=123456, local_mode=local)
    client = SandboxClient(base_url)
    yield base_url, client
    await client.close()
    await runner.cleanup()


@pytest.fixture
async def sandbox(settings):
    """The emulator, like Telegram's cloud Bot API. `settings` resets the database and, when
    REDIS_URL is set, Redis: the bot process keeps its conversations there."""
    async for value in _sandbox(local=False):
        yield value


@pytest.fixture(params=[False, True], ids=["cloud", "local"])
async def any_sandbox(request, settings):
    """The emulator in cloud mode and in local mode (a `--local` Bot API server: files by path)."""
    async for value in _sandbox(local=request.param):
        yield value


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


async def test_uploaded_file_is_downloaded_and_checked(any_sandbox, db_url, tmp_path):
    """A work's file goes through the real getFile and download (HTTP in cloud mode, the server's
    disk path in local mode), is checked, and the application is submitted. The campaign file is a
    copy whose window includes today: next year's notice is a data change."""
    from bot.campaign import DEFAULT_CAMPAIGN_PATH
    from storage.db import make_engine, make_sessionmaker
    from tests.conftest import approve_creator
    from tests.media import make_docx

    base_url, client = any_sandbox
    local = (await client.state())["local_mode"]
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(DEFAULT_CAMPAIGN_PATH.read_text(encoding="utf-8").replace(
        "end = 2024-03-31T23:59:59", "end = 2099-12-31T23:59:59"), encoding="utf-8")
    engine = make_engine(db_url)
    await approve_creator(make_sessionmaker(engine), 1001)
    await engine.dispose()

    log = tmp_path / "bot.log"
    proc = await start_bot(base_url, db_url, log, CAMPAIGN_FILE=str(campaign),
                           BOT_API_LOCAL="true" if local else "false")
    try:
        await client.wait_polling(timeout=60)
        alice = client.user(1001, "Alice")
        await alice.send("/apply")
        await alice.wait_for("申报类型", timeout=20)
        await alice.press("作品")
        await alice.wait_for("请选择作品类别")  # each answer is awaited, not timed
        await alice.press("图文")
        await alice.wait_for("作品（选题）名称")
        await alice.send("端到端的图文")
        await alice.wait_for("选题方向")
        await alice.press("澄清科学谣言")
        await alice.wait_for("简介")
        await alice.send("一篇澄清常见科学谣言的图文。")
        await alice.wait_for("原创声明")
        await alice.press("我已阅读并确认")
        await alice.wait_for("请核对")
        await alice.press("保存草稿")
        await alice.wait_for("草稿已保存")
        await alice.upload(make_docx(tmp_path / "谣言.docx", 1500))
        report = await alice.wait_for(lambda e: e["kind"] == "edit" and "检查通过" in (e["message"].get("text") or ""),
                                      timeout=30)
        assert "1500字" in report["message"]["text"]
        await alice.press("提交申报")
        await alice.wait_for("确定要提交", timeout=20)
        await alice.press("确认提交申报")
        await alice.wait_for("申报已提交", timeout=20)
    finally:
        await stop_bot(proc)


async def test_webhook_mode(sandbox, db_url, tmp_path):
    """WEBHOOK_URL set: the bot registers its webhook and serves updates on aiohttp instead of polling.
    WEBHOOK_SECRET is unset, so the bot makes one and hands it to setWebhook: the emulator sends it
    back like Telegram, while a forged update without it (or with another) gets 401 and is not handled."""
    import socket

    import aiohttp

    base_url, client = sandbox
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "bot.log"
    proc = await start_bot(base_url, db_url, log, WEBHOOK_URL=f"http://127.0.0.1:{port}", WEBHOOK_HOST="127.0.0.1",
                           WEBHOOK_PORT=str(port))
    try:
        for _ in range(300):
            if (await client.calls()).get("setWebhook"):
                break
            await asyncio.sleep(0.1)
        alice = client.user(1001, "Alice")
        await alice.send("/start")
        await alice.wait_for("科普中国网络创作培育计划", timeout=20)
        assert not (await client.calls()).get("getUpdates")
        forged = {"update_id": 999_999_999, "message": {
            "message_id": 1, "date": 1700000000, "chat": {"id": 1001, "type": "private"},
            "from": {"id": 1001, "is_bot": False, "first_name": "Alice"}, "text": "/contact"}}
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guessed-guessed-guessed"}):
                async with http.post(f"http://127.0.0.1:{port}/webhook", json=forged, headers=headers) as resp:
                    assert resp.status == 401
        await asyncio.sleep(1)
        assert not any("010-63581731" in (e.get("message") or {}).get("text", "")
                       for e in await client.messages(1001, 0))
    finally:
        await stop_bot(proc)
    assert "mode=webhook" in log.read_text(encoding="utf-8")


async def test_replies_survive_flood_limits_and_server_errors(sandbox, db_url, tmp_path):
    """The emulator answers the bot's next sendMessage with 429 (retry after 1 s), then the next
    editMessageText with a 502: the person still gets the welcome and the menu section."""
    base_url, client = sandbox
    proc = await start_bot(base_url, db_url, tmp_path / "bot.log")
    try:
        await client.wait_polling(timeout=60)
        alice = client.user(1001, "Alice")
        await client.fault("sendMessage", kind="429", count=1, retry_after=1)
        await alice.send("/start")
        await alice.wait_for("科普中国网络创作培育计划", timeout=20)
        await client.fault("editMessageText", kind="500", count=1)
        await alice.press("联系我们")
        await alice.wait_for("010-63581731", timeout=20)
        calls = await client.calls()
        assert calls["sendMessage"] >= 2 and calls["editMessageText"] >= 2
    finally:
        await stop_bot(proc)


async def test_a_hard_kill_in_a_burst_loses_no_update_and_repeats_none(sandbox, db_url, tmp_path):
    """Twelve people send 60 updates while the bot is killed with SIGKILL mid-burst and started again:
    every update is handled exactly once (its processed_updates row is written in the same transaction
    as its effects, and the inbox row is done), none lost."""
    from sqlalchemy import func, select

    from storage.db import make_engine
    from storage.models import InboxUpdate, ProcessedUpdate

    base_url, client = sandbox
    log = tmp_path / "bot.log"
    proc = await start_bot(base_url, db_url, log)
    try:
        await client.wait_polling(timeout=60)
        people = [client.user(2000 + i, f"P{i}") for i in range(12)]
        sent = 0
        for round_ in range(5):
            for person in people:
                await person.send("/start" if round_ % 2 == 0 else "/help")
                sent += 1
            if round_ == 2:
                await asyncio.sleep(0.3)
                await stop_bot(proc, signal.SIGKILL)
                proc = await start_bot(base_url, db_url, log)
        engine = make_engine(db_url)
        try:
            for _ in range(600):
                async with engine.connect() as conn:
                    done = (await conn.execute(select(func.count()).select_from(InboxUpdate)
                                               .where(InboxUpdate.status == "done"))).scalar()
                if done >= sent:
                    break
                await asyncio.sleep(0.1)
            async with engine.connect() as conn:
                statuses = dict((await conn.execute(select(InboxUpdate.status, func.count())
                                                    .group_by(InboxUpdate.status))).all())
                processed = (await conn.execute(select(func.count()).select_from(ProcessedUpdate))).scalar()
        finally:
            await engine.dispose()
        assert statuses == {"done": sent}
        assert processed == sent  # each update's effects committed once
        for person in people:
            answers = [e for e in await person.messages() if e["kind"] == "message"]
            # every update answered; one killed after its reply and before its commit is handled again
            # after the restart, so its reply may come twice (its effects only once: see above)
            assert len(answers) >= 5
    finally:
        await stop_bot(proc)


async def _invited_reviewer(client, boss, uid: int, name: str, words: str, unit: str):
    await boss.send("/invite reviewer")
    invite = await boss.wait_for("邀请链接", timeout=20)
    payload = invite["message"]["text"].split("start=")[1].split()[0]
    reviewer = client.user(uid, name)
    await reviewer.send(f"/start {payload}")
    await reviewer.wait_for("擅长的方向", timeout=20)
    await reviewer.press("完成")
    await reviewer.wait_for("其他专业领域")
    await reviewer.send(words)
    await reviewer.wait_for("所在单位")
    await reviewer.send(unit)
    await reviewer.wait_for("请核对")
    await reviewer.press("保存")
    await reviewer.wait_for("评审领域已保存")
    return reviewer


async def _review(reviewer, scores: list[int], comment: str, recommendation: str) -> None:
    await reviewer.wait_for("新的评审任务", timeout=20)
    await reviewer.press("查看评审任务")
    await reviewer.wait_for("评审任务：申报")
    await reviewer.press("开始评审")
    total = len(scores) + 3
    for step, score in enumerate(scores, start=1):
        await reviewer.wait_for(f"第 {step}/{total} 项")
        await reviewer.press(str(score))
    await reviewer.wait_for(f"第 {total - 2}/{total} 项")
    await reviewer.send(comment)
    await reviewer.wait_for(f"第 {total - 1}/{total} 项")
    await reviewer.press("跳过")
    await reviewer.wait_for(f"第 {total}/{total} 项")
    await reviewer.press(recommendation)
    await reviewer.wait_for("请核对您的评审")
    await reviewer.press("提交评审")
    await reviewer.wait_for("评审已提交")


async def _decide(boss, verdict: str, message: str) -> None:
    await boss.wait_for("评审意见已全部提交", timeout=20)
    await boss.press("查看评审汇总")
    await boss.wait_for("评审已齐")
    await boss.press("做出决定")
    await boss.wait_for("第 1/2 项")
    await boss.press(verdict)
    await boss.wait_for("第 2/2 项")
    await boss.send(message)
    await boss.wait_for("请核对")
    await boss.press("确认决定")
    await boss.wait_for("作出决定")


async def test_two_review_rounds_against_the_sandbox(sandbox, db_url, tmp_path):
    """Issue 10 end to end, over HTTP: two reviewers invited by link set their profiles, a creator's
    article is reviewed, 修改后再审, the file replaced, round 2, 入选; the creator's feedback carries the
    scores and comments, and the operator's export arrives."""
    from bot.campaign import DEFAULT_CAMPAIGN_PATH
    from storage.db import make_engine, make_sessionmaker
    from tests.conftest import approve_creator
    from tests.media import make_docx

    base_url, client = sandbox
    campaign = tmp_path / "campaign.toml"
    campaign.write_text(DEFAULT_CAMPAIGN_PATH.read_text(encoding="utf-8").replace(
        "end = 2024-03-31T23:59:59", "end = 2099-12-31T23:59:59"), encoding="utf-8")
    engine = make_engine(db_url)
    await approve_creator(make_sessionmaker(engine), 1001)
    await engine.dispose()
    proc = await start_bot(base_url, db_url, tmp_path / "bot.log", CAMPAIGN_FILE=str(campaign))
    try:
        await client.wait_polling(timeout=60)
        boss = client.user(ADMIN_ID, "Boss")
        await boss.send("/start")
        await boss.wait_for("等待您处理", timeout=20)
        wang = await _invited_reviewer(client, boss, 2101, "王评审", "天体物理", "中国科学院国家天文台")
        li = await _invited_reviewer(client, boss, 2102, "李评审", "科学教育", "北京师范大学")

        alice = client.user(1001, "Alice")
        await alice.send("/apply")
        await alice.wait_for("申报类型", timeout=20)
        await alice.press("作品")
        await alice.wait_for("请选择作品类别")
        await alice.press("图文")
        await alice.wait_for("作品（选题）名称")
        await alice.send("黑洞是怎样形成的")
        await alice.wait_for("选题方向")
        await alice.press("剖析前沿科技")
        await alice.wait_for("简介")
        await alice.send("从恒星死亡讲起，讲清黑洞的形成。")
        await alice.wait_for("原创声明")
        await alice.press("我已阅读并确认")
        await alice.wait_for("请核对")
        await alice.press("保存草稿")
        await alice.wait_for("草稿已保存")
        await alice.upload(make_docx(tmp_path / "黑洞.docx", 1500))
        await alice.wait_for(lambda e: e["kind"] == "edit" and "检查通过" in (e["message"].get("text") or ""),
                             timeout=30)
        await alice.press("提交申报")
        await alice.wait_for("确定要提交", timeout=20)
        await alice.press("确认提交申报")
        await alice.wait_for("评审专家已开始评审", timeout=20)

        await _review(wang, [4, 5, 4, 2, 4, 5], "结构清楚，建议补充观测进展。", "修改后再审")
        await _review(li, [5, 4, 5, 5, 4, 4], "语言生动，结尾略仓促。", "入选")
        await _decide(boss, "修改后再审", "请补充观测进展后再提交。")

        feedback = (await alice.wait_for("第 1 轮评审结果", timeout=20))["message"]["text"]
        for part in ("修改后再审", "请补充观测进展后再提交。", "科学性：4.5", "艺术性：3.5",
                     "评审专家1：结构清楚，建议补充观测进展。", "评审专家2：语言生动，结尾略仓促。"):
            assert part in feedback
        assert "王评审" not in feedback and "李评审" not in feedback

        await alice.press("开始修改")
        await alice.wait_for("提交第 2 轮评审")
        await alice.press("上传新版本")
        await alice.wait_for("发送")
        await alice.upload(make_docx(tmp_path / "黑洞修改版.docx", 1800))
        await alice.wait_for("替换它吗", timeout=20)
        await alice.press("替换")
        await alice.wait_for(lambda e: e["kind"] == "edit" and "检查通过" in (e["message"].get("text") or ""),
                             timeout=30)
        await alice.press("提交申报")
        await alice.wait_for("确定要提交", timeout=20)
        await alice.press("确认提交申报")
        await alice.wait_for("第 2 轮已提交", timeout=20)

        await _review(wang, [5, 5, 5, 4, 5, 5], "修改到位。", "入选")
        await _review(li, [5, 4, 5, 5, 5, 4], "可以入选。", "入选")
        await _decide(boss, "入选", "修改到位，入选。")
        final = (await alice.wait_for("第 2 轮评审结果", timeout=20))["message"]["text"]
        assert "入选" in final and "修改到位。" in final

        await boss.send("/export")
        export = await boss.wait_for(lambda e: bool(e.get("message", {}).get("document")), timeout=20)
        assert export["message"]["document"]["file_name"].endswith(".xlsx")
    finally:
        await stop_bot(proc)
