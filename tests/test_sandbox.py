"""The sandbox Bot API emulator, driven over real HTTP by a real aiogram Bot and the control client, and
in process by tests/harness.py's session (the same answers either way)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from fractions import Fraction

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BotCommand,
    CallbackQuery,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from aiohttp import web

from bot.sandbox import start_server
from bot.sandbox.client import SandboxClient, SandboxError, WaitTimeout

TOKEN = "123456:TEST"


@pytest.fixture
async def sandbox():
    runner, url, emu = await start_server()
    yield url, emu
    await runner.cleanup()


def make_bot(url: str, local: bool = False) -> Bot:
    return Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(url, is_local=local)))


@pytest.fixture
async def bot(sandbox):
    b = make_bot(sandbox[0])
    yield b
    await b.session.close()


@pytest.fixture
async def client(sandbox):
    c = SandboxClient(sandbox[0])
    yield c
    await c.close()


def menu() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="✅ 提交", callback_data="sub:1"),
        InlineKeyboardButton(text="官网", url="https://www.kepuchina.cn"),
    ]])


async def test_get_me(bot):
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (123456, True, "sandbox_123456_bot")
    assert me.first_name == "科普号创作助手(沙盒)"


async def test_error_shapes(sandbox):
    url = sandbox[0]
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/bot{TOKEN}/noSuchMethod") as resp:
            assert resp.status == 404
            assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        async with http.get(f"{url}/botnot-a-token/getMe") as resp:
            assert resp.status == 401
            assert (await resp.json())["description"] == "Unauthorized"
        async with http.post(f"{url}/bot{TOKEN}/getMe", json={}) as resp:
            assert (await resp.json())["result"]["id"] == 123456


async def test_dispatcher_conversation_and_callback(bot, client):
    seen: list[Message] = []

    async def on_message(message: Message) -> None:
        seen.append(message)
        if message.text == "/start":
            await message.answer(f"<b>你好</b>, {message.from_user.first_name}", parse_mode="HTML",
                                 reply_markup=menu())
        else:
            await message.answer(f"收到: {message.text}")

    async def on_callback(query: CallbackQuery) -> None:
        await query.answer("已提交")
        await query.message.edit_text(f"已提交 {query.data}")

    dp = Dispatcher()
    dp.message.register(on_message)
    dp.callback_query.register(on_callback)
    polling = asyncio.create_task(dp.start_polling(bot, polling_timeout=1, handle_signals=False,
                                                   close_bot_session=False))
    try:
        alice = client.user(1001, "Alice")
        sent = await alice.send("/start")
        event = await alice.wait_for("你好")
        msg = event["message"]
        assert event["kind"] == "message"
        assert msg["text"] == "你好, Alice"  # HTML parsed into entities, like Telegram
        assert msg["entities"] == [{"type": "bold", "offset": 0, "length": 2}]
        assert msg["from"]["id"] == 123456 and msg["chat"] == {
            "id": 1001, "type": "private", "first_name": "Alice", "username": "user1001"}
        assert msg["message_id"] == sent["message_id"] + 1
        assert msg["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "sub:1"
        assert seen[0].entities[0].type == "bot_command" and seen[0].chat.id == 1001

        with pytest.raises(SandboxError, match="url button"):
            await alice.press("官网")
        await alice.press("提交")  # unique substring of "✅ 提交"
        answer = await alice.wait_for(lambda e: e["kind"] == "callback_answer")
        assert answer["text"] == "已提交" and answer["show_alert"] is False
        edit = await alice.wait_for("已提交 sub:1")
        assert edit["kind"] == "edit" and edit["message"]["message_id"] == msg["message_id"]
        assert "reply_markup" not in edit["message"]  # edit without markup drops the keyboard
        assert await alice.last_text() == "已提交 sub:1"

        bob = client.user(2002, "Bob")
        await bob.send("hello")
        assert (await bob.wait_for("收到"))["message"]["text"] == "收到: hello"
        assert [e["kind"] for e in await alice.messages()] == ["message", "callback_answer", "edit"]
    finally:
        await dp.stop_polling()
        await polling


async def test_reply_keyboard_contact_and_duplicates(bot, client):
    alice = client.user(1001)
    await alice.send("hi")
    (update,) = await bot.get_updates()
    kb = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="📋 我的作品")],
                                       [KeyboardButton(text="分享手机号", request_contact=True)]])
    await bot.send_message(1001, "菜单", reply_markup=kb)
    stored = (await alice.messages())[-1]["message"]
    assert stored["reply_markup"]["keyboard"][0][0]["text"] == "📋 我的作品"
    await alice.press("我的作品")
    await alice.press("分享手机号")
    await alice.contact("+8613900000000")
    updates = await bot.get_updates(offset=update.update_id + 1)
    assert [u.message.text for u in updates[:1]] == ["📋 我的作品"]
    assert updates[1].message.contact.user_id == 1001
    assert updates[2].message.contact.phone_number == "+8613900000000"
    last = updates[-1].update_id
    for _ in range(2):  # the same update twice, as after a crash
        await client.raw_update({"update_id": last + 5, "message": updates[0].message.model_dump(
            mode="json", by_alias=True, exclude_none=True)})
    dup = await bot.get_updates(offset=last + 1)
    assert [u.update_id for u in dup] == [last + 5, last + 5]
    assert await bot.get_updates(offset=last + 6, timeout=0) == []


async def test_long_poll_allowed_updates_and_block(bot, client):
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.1)
    await client.send(1001, "wake")
    updates = await asyncio.wait_for(poll, 2)
    assert updates[0].message.text == "wake"

    await client.block(1001)
    with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
        await bot.send_message(1001, "still there?")
    member = (await bot.get_updates(offset=updates[0].update_id + 1))[0].my_chat_member
    assert (member.old_chat_member.status, member.new_chat_member.status) == ("member", "kicked")
    await client.send(1001, "I'm back")  # writing again unblocks, as in Telegram
    await client.send(1001, "ignored")
    got = await bot.get_updates(offset=updates[0].update_id + 2, allowed_updates=["message"])
    assert [u.message.text for u in got] == ["I'm back", "ignored"]  # my_chat_member filtered out
    await bot.get_updates(offset=got[-1].update_id + 1, allowed_updates=["callback_query"])
    await client.send(1001, "a message nobody asked for")
    assert await bot.get_updates(timeout=0) == []
    assert (await bot.send_message(1001, "welcome back")).text == "welcome back"


async def test_document_roundtrip(bot, client, tmp_path):
    data = os.urandom(100_000)
    path = tmp_path / "作品说明.pdf"
    path.write_bytes(data)
    await client.upload(1001, path, "document", caption="我的作品")
    await client.upload(1001, path, "document")
    first, second = (u.message for u in await bot.get_updates())
    doc = first.document
    assert (doc.file_name, doc.mime_type, doc.file_size) == ("作品说明.pdf", "application/pdf", 100_000)
    assert first.caption == "我的作品"
    assert second.document.file_unique_id == doc.file_unique_id  # same bytes, same unique id
    assert second.document.file_id != doc.file_id
    file = await bot.get_file(doc.file_id)
    assert file.file_path.startswith("documents/") and file.file_size == 100_000
    assert (await bot.download_file(file.file_path)).read() == data

    sent = await bot.send_document(1001, FSInputFile(path), caption="<i>回执</i>", parse_mode="HTML")
    assert sent.document.file_name == "作品说明.pdf" and sent.caption == "回执"
    assert sent.document.file_unique_id == doc.file_unique_id
    back = await bot.download(sent.document.file_id)
    assert back.read() == data
    again = await bot.send_document(1001, sent.document.file_id)  # resend by file_id
    assert again.document.file_unique_id == doc.file_unique_id
    event = (await client.messages(1001))[-1]
    assert event["message"]["document"]["file_name"] == "作品说明.pdf"


def make_video(path, width=320, height=240, seconds=2, fps=25):
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for i in range(seconds * fps):
            frame = av.VideoFrame(width, height, "rgb24")
            frame.planes[0].update(bytes([i * 4 % 256, 90, 160]) * (width * height))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


async def test_photo_and_video_metadata(bot, client, tmp_path):
    from PIL import Image

    photo = tmp_path / "cover.png"
    Image.new("RGB", (640, 480), (30, 120, 200)).save(photo)
    video = tmp_path / "work.mp4"
    make_video(video)
    await client.upload(1001, photo, "photo")
    await client.upload(1001, video, "video", caption="2 秒")
    p_msg, v_msg = (u.message for u in await bot.get_updates())
    assert (p_msg.photo[-1].width, p_msg.photo[-1].height) == (640, 480)
    assert max(p_msg.photo[0].width, p_msg.photo[0].height) == 320  # a thumbnail, as Telegram gives
    v = v_msg.video
    assert (v.width, v.height, v.duration) == (320, 240, 2)
    assert v.mime_type == "video/mp4" and v.file_size == video.stat().st_size
    sent = await bot.send_photo(1001, FSInputFile(photo))
    assert (sent.photo[-1].width, sent.photo[-1].height) == (640, 480)
    sent = await bot.send_video(1001, FSInputFile(video))
    assert (sent.video.width, sent.video.height, sent.video.duration) == (320, 240, 2)
    with pytest.raises(TelegramBadRequest, match="of type"):
        await bot.send_photo(1001, v.file_id)


async def test_getfile_limit_and_local_mode(client, bot, tmp_path):
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(21 * 1024 * 1024))
    await client.upload(1001, big, "document")
    (update,) = await bot.get_updates()
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(update.message.document.file_id)

    runner, url, emu = await start_server(local_mode=True)
    local_bot = make_bot(url, local=True)
    local_client = SandboxClient(url)
    try:
        await local_client.upload(1001, big, "document")
        (update,) = await local_bot.get_updates()
        file = await local_bot.get_file(update.message.document.file_id)
        assert os.path.isabs(file.file_path) and os.path.getsize(file.file_path) == big.stat().st_size
        got = await local_bot.download_file(file.file_path)
        assert hashlib.sha256(got.read()).digest() == hashlib.sha256(big.read_bytes()).digest()
    finally:
        await local_bot.session.close()
        await local_client.close()
        await runner.cleanup()


async def test_faults(bot, client):
    await client.send(1001, "hi")
    await client.fault("sendMessage", "429", retry_after=3)
    with pytest.raises(TelegramRetryAfter) as err:
        await bot.send_message(1001, "a")
    assert err.value.retry_after == 3
    await client.fault("*", "500", count=2)
    with pytest.raises(TelegramServerError):
        await bot.send_message(1001, "b")
    with pytest.raises(TelegramServerError):
        await bot.send_chat_action(1001, "typing")
    await client.fault("sendMessage", "timeout")
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(1001, "c", request_timeout=1)
    assert (await bot.send_message(1001, "d")).text == "d"
    calls = await client.calls()
    assert calls["sendMessage"] == 4 and calls["sendChatAction"] == 1
    assert [e["message"]["text"] for e in await client.messages(1001)] == ["d"]
    await client.fault("sendMessage", "429")
    await client.reset()
    assert (await bot.send_message(1001, "e")).text == "e"


async def test_validation_errors(bot, client):
    await client.send(1001, "hi")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(1001, "长" * 4097)
    assert (await bot.send_message(1001, "长" * 4096)).text == "长" * 4096
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(1001, "x", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text="x", callback_data="d" * 65)]]))
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(1001, "<b>未闭合", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="Unsupported start tag"):
        await bot.send_message(1001, "a<br>b", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(999, "nobody")
    doc = await bot.send_document(1001, FSInputFile(__file__))
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.send_document(1001, doc.document.file_id, caption="c" * 1025)


async def test_edit_not_modified_and_delete(bot, client):
    await client.send(1001, "hi")
    msg = await bot.send_message(1001, "<b>菜单</b>", parse_mode="HTML", reply_markup=menu())
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("<b>菜单</b>", chat_id=1001, message_id=msg.message_id, parse_mode="HTML",
                                    reply_markup=menu())
    edited = await bot.edit_message_text("菜单", chat_id=1001, message_id=msg.message_id, reply_markup=menu())
    assert edited.edit_date and edited.reply_markup.inline_keyboard[0][0].text == "✅ 提交"
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(chat_id=1001, message_id=msg.message_id, reply_markup=menu())
    await bot.edit_message_reply_markup(chat_id=1001, message_id=msg.message_id)
    assert await bot.delete_message(1001, msg.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=1001, message_id=msg.message_id)
    kinds = [e["kind"] for e in await client.messages(1001)]
    assert kinds == ["message", "edit", "edit", "delete"]
    with pytest.raises(WaitTimeout):
        await client.wait_for(1001, "never", timeout=0.2)


async def test_webhook_commands_chat(bot, client):
    await client.send(1001, "hi", first_name="Alice")
    assert await bot.set_webhook("http://127.0.0.1:9/hook")
    with pytest.raises(TelegramConflictError):
        await bot.get_updates()
    info = await bot.get_webhook_info()
    assert info.url == "http://127.0.0.1:9/hook" and info.pending_update_count == 1
    await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == []

    await bot.set_my_commands([BotCommand(command="start", description="开始")])
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == []
    assert await bot.set_chat_menu_button()
    chat = await bot.get_chat(1001)
    assert (chat.id, chat.type, chat.first_name) == (1001, "private", "Alice")
    copied = await bot.copy_message(1001, 1001, 1)
    assert (await client.messages(1001))[-1]["message"]["message_id"] == copied.message_id
    fwd = await bot.forward_message(1001, 1001, 1)
    assert fwd.text == "hi" and fwd.forward_origin.sender_user.id == 1001


async def test_webhook_delivery_and_reply(bot, client):
    got: list[tuple[dict, str | None]] = []

    async def hook(request: web.Request) -> web.Response:
        update = await request.json()
        got.append((update, request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        chat_id = update["message"]["chat"]["id"]
        return web.json_response({"method": "sendMessage", "chat_id": chat_id, "text": "webhook reply"})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        await bot.set_webhook(f"http://127.0.0.1:{runner.addresses[0][1]}/hook", secret_token="s3cret")
        await client.send(1001, "via hook")
        event = await client.wait_for(1001, "webhook reply", timeout=5)
        assert event["message"]["chat"]["id"] == 1001
        assert got[0][0]["message"]["text"] == "via hook" and got[0][1] == "s3cret"
        assert (await bot.get_webhook_info()).pending_update_count == 0
    finally:
        await bot.delete_webhook()
        await runner.cleanup()


async def test_files_the_bot_sends_are_kept_by_chat_and_name(tmp_path):
    """Item 14: a file the bot uploads (the .docx, /mydata's JSON) is kept in the files folder under
    its own name, after the emulator (and its temporary store) is gone."""
    from aiogram.types import BufferedInputFile

    files = tmp_path / "files"
    runner, url, emu = await start_server(save_dir=files)
    b, client = make_bot(url), SandboxClient(url)
    try:
        await client.send(1001, "/register")
        sent = await b.send_document(1001, BufferedInputFile(b"form v1", filename="推荐申请表.docx"))
        event = (await client.messages(1001))[-1]
        assert event["saved"] == str(files / "1001" / "推荐申请表.docx")
        await b.send_document(1001, BufferedInputFile(b"form v1", filename="推荐申请表.docx"))  # same bytes
        await b.send_document(1001, BufferedInputFile(b"form v2", filename="推荐申请表.docx"))
        await b.send_document(1001, BufferedInputFile(b'{"a": 1}', filename="mydata.json"))
        await b.send_document(1001, sent.document.file_id)  # sent again by file_id: nothing new to keep
        saved = [e.get("saved") for e in (await client.messages(1001))[-4:]]
        assert saved == [str(files / "1001" / "推荐申请表.docx"), str(files / "1001" / "推荐申请表 (2).docx"),
                         str(files / "1001" / "mydata.json"), None]
        assert (await client.state())["files_dir"] == str(files)
    finally:
        await b.session.close()
        await client.close()
        await runner.cleanup()
    assert not emu.data_dir.exists()  # the emulator's own store was temporary
    assert (files / "1001" / "推荐申请表.docx").read_bytes() == b"form v1"
    assert (files / "1001" / "推荐申请表 (2).docx").read_bytes() == b"form v2"


async def test_control_api_lists_its_endpoints(sandbox, client):
    url = sandbox[0]
    endpoints = await client.endpoints()
    paths = {(e["method"], e["path"]) for e in endpoints}
    assert {("POST", "/control/send"), ("POST", "/control/press"), ("POST", "/control/upload"),
            ("GET", "/control/wait"), ("GET", "/control/state"), ("GET", "/control/")} <= paths
    assert all(e["does"] for e in endpoints)
    async with aiohttp.ClientSession() as http, http.get(f"{url}/control/") as resp:
        assert resp.status == 200 and (await resp.json())["endpoints"] == endpoints


def test_reset_deletes_only_the_sandbox_s_own_folder(tmp_path, monkeypatch):
    from bot.sandbox.cli import _parse, reset

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATA_DIR", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / "data" / "sandbox" / "files" / "1001").mkdir(parents=True)
    (tmp_path / "data" / "sandbox" / "kepubot.sqlite3").write_bytes(b"db")
    (tmp_path / "data" / "kepubot.sqlite3").write_bytes(b"the real bot's")
    said = reset(_parse(["--reset"]))
    assert "deleted data/sandbox/" in said
    assert not (tmp_path / "data" / "sandbox").exists() and (tmp_path / "data" / "kepubot.sqlite3").exists()
    assert "did not exist" in reset(_parse(["--reset"]))
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(SystemExit, match="only data/sandbox"):
        reset(_parse(["--reset"]))
    assert (tmp_path / "data" / "kepubot.sqlite3").exists()


async def test_headless_sandbox_prints_no_chat_hints(tmp_path):
    """`kepubot sandbox --no-chat` says where things are (control API, kept files, log) but not how
    to chat (:as …), and --reset says what it deleted."""
    import signal
    import sys

    (tmp_path / "data" / "sandbox").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DATA_DIR", "DATABASE_URL", "ADMIN_IDS")}
    # stands in for the bot: one getUpdates (the sandbox then says the bot is ready), then idles
    poll_once = ("import os, time, urllib.request; urllib.request.urlopen(os.environ['BOT_API_URL'] + '/bot' + "
                 "os.environ['BOT_TOKEN'] + '/getUpdates').read(); time.sleep(60)")
    idle = f"{sys.executable} -c \"{poll_once}\""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.sandbox", "--no-chat", "--reset", "--port", "0", "--bot-cmd", idle,
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    lines: list[str] = []
    try:
        while not any("bot ready" in line for line in lines):
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line, lines
            lines.append(line.decode())
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(proc.communicate(), 30)
    out = "".join(lines) + rest.decode()
    assert out.index("bot starting…") < out.index("✅ bot ready (@sandbox_123456_bot)")
    assert "reset: deleted data/sandbox/" in out
    assert "/control/ (GET it for the list of endpoints)" in out
    assert "kept in data/sandbox/files/<user id>/" in out
    assert "operator: user 9000" in out
    assert ":as" not in out and ":restart" not in out


# ------------------------------------------------------------------ one model: over HTTP and in process


@pytest.fixture(params=["http", "in_process"])
async def either(request):
    """(bot, emulator, bot state): a real aiogram Bot talking to the emulator over HTTP, or through
    tests/harness.py's session in process: the same Telegram either way."""
    from bot.sandbox.emulator import Emulator
    from tests.harness import FakeTelegram

    if request.param == "http":
        runner, url, emu = await start_server()
        bot = make_bot(url)
        await bot.get_me()  # the emulator meets the bot
        yield bot, emu, emu.bots[123456]
        await bot.session.close()
        await runner.cleanup()
    else:
        emu = Emulator()
        session = FakeTelegram(123456, emu)
        yield Bot(TOKEN, session=session), emu, session.state
        await emu.close()


async def test_http_and_in_process_answer_alike(either):
    bot, emu, state = either
    alice = emu.user(1001, "Alice")
    emu.user_message(state, alice, {"text": "hi"})
    sent = await bot.send_message(1001, "<b>菜单</b> &amp; 说明", parse_mode="HTML", reply_markup=menu())
    assert sent.text == "菜单 & 说明" and [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 0, 2)]
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(1001, "长" * 4097)
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(1001, "<b>未闭合", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(999, "nobody")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("<b>菜单</b> &amp; 说明", chat_id=1001, message_id=sent.message_id,
                                    parse_mode="HTML", reply_markup=menu())
    # a press is answered once
    update = emu.callback(state, alice, emu.api_view(state.chats[1001].messages[sent.message_id]), "sub:1")
    query_id = update["callback_query"]["id"]
    assert await bot.answer_callback_query(query_id, "好")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id, "again")
    # faults: a rate limit, and any answer Telegram may give, once
    from bot.sandbox.emulator import Fault

    emu.faults.append(Fault("sendmessage", "429", 1, retry_after=3))
    with pytest.raises(TelegramRetryAfter) as err:
        await bot.send_message(1001, "a")
    assert err.value.retry_after == 3
    emu.faults.append(Fault("sendmessage", "403", 1, description="Forbidden: user is deactivated"))
    with pytest.raises(TelegramForbiddenError, match="user is deactivated"):
        await bot.send_message(1001, "b")
    assert (await bot.send_message(1001, "c")).text == "c"
    # a file whose announced size is over the cloud download limit
    big = emu.store_bytes(state, b"small bytes", "video", file_name="big.mp4", announced=300 * 1024 * 1024)
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(big.file_id)
    # a person who blocked the bot
    emu.block(state, alice, True)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(1001, "d")


async def test_the_harness_tells_which_template_a_person_was_shown(chat):
    alice, bob = chat.user(1001, "Alice"), chat.user(1002, "Bob")
    await alice.send("/start")
    await bob.send("/help")
    shown = alice.rendered("welcome", name="Alice")
    assert shown and shown.text in alice.last_text and shown.values["name"] == "Alice"
    assert not alice.rendered("welcome", name="Bob")
    assert not bob.rendered("welcome")
    assert "welcome" in repr(bob.rendered("welcome")) and "welcome" in alice.templates()
    # a forged press is answered like a real one (an old message of the bot's carries the button)
    await alice.press("", data="m:home")
    assert chat.tg.alerts and chat.tg.answered_twice == []


async def test_a_call_telegram_does_not_answer_times_out_in_process_too(either):
    bot, emu, state = either
    from bot.sandbox.emulator import Fault

    emu.user_message(state, emu.user(1001, "Alice"), {"text": "hi"})
    emu.faults.append(Fault("sendmessage", "timeout", 1, hold=5))
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(1001, "c", request_timeout=1)
    assert (await bot.send_message(1001, "d")).text == "d"


# ------------------------------------------------------------------ flood limits, stalls, bulk users


async def _until(condition, timeout: float = 2) -> None:
    """Wait (briefly) until condition() holds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.01)


async def test_flood_limit_per_chat(bot, client, sandbox):
    emu = sandbox[1]
    await client.users(5000, 2)
    for text in ("a", "b", "c"):  # off by default: a burst to one chat goes through
        await bot.send_message(5000, text)
    assert (await client.state())["flood"] is None
    on = await client.flood(per_second=30, per_chat_interval=0.2)
    assert on["flood"] == {"per_second": 30, "per_chat_interval": 0.2}
    first = await bot.send_message(5000, "one")
    with pytest.raises(TelegramRetryAfter, match="Too Many Requests: retry after 1") as err:
        await bot.send_message(5000, "too soon")
    assert err.value.retry_after == 1  # ceil(0.2 s)
    assert (await bot.send_message(5001, "another chat")).text == "another chat"
    # not a message: edits, chat actions and answers are not limited
    assert (await bot.edit_message_text("one, edited", chat_id=5000, message_id=first.message_id)).text
    assert await bot.send_chat_action(5000, "typing")
    texts = [m["text"] for m in emu.bots[123456].chats[5000].messages.values()]
    assert "too soon" not in texts and emu.flood_refused == 1
    await asyncio.sleep(err.value.retry_after)
    assert (await bot.send_message(5000, "later")).text == "later"
    assert await client.received(5000, 2) == {5000: 5, 5001: 1}
    state = await client.state()
    assert state["flood_refused"] == 1 and state["flood"]["per_chat_interval"] == 0.2
    await client.flood(off=True)
    await bot.send_message(5000, "x")
    await bot.send_message(5000, "y")  # off again: no limit
    assert emu.flood is None and emu.flood_refused == 1


async def test_flood_limit_per_bot(bot, client, sandbox):
    emu = sandbox[1]
    await client.users(6000, 40)
    await client.flood(per_second=30, per_chat_interval=0.2)
    await asyncio.gather(*(bot.send_message(6000 + i, "x") for i in range(30)))
    with pytest.raises(TelegramRetryAfter) as err:
        await bot.send_message(6030, "the 31st")
    assert err.value.retry_after >= 1
    assert 6030 not in await client.received(6000, 40) and not emu.bots[123456].chats[6030].messages
    with pytest.raises(TelegramRetryAfter):  # refused calls did not count: still only the 30 in the window
        await bot.send_message(6031, "the 31st, again")
    assert len(emu.bots[123456].sent_times) == 30 and emu.flood_refused == 2
    await asyncio.sleep(err.value.retry_after)
    assert (await bot.send_message(6030, "now")).text == "now"
    assert len(await client.received(6000, 40)) == 31
    # a call that fails for another reason takes no place either
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(999, "nobody")
    assert len(emu.bots[123456].sent_times) == 1


async def test_stall_holds_calls_until_unstall(bot, client, sandbox):
    emu = sandbox[1]
    await client.users(1001, 1)
    await client.fault("sendMessage", "stall", count=10**9)
    held = [asyncio.create_task(bot.send_message(1001, f"held {i}")) for i in range(2)]
    await _until(lambda: emu.stalled == 2)
    assert not any(t.done() for t in held)
    assert await bot.send_chat_action(1001, "typing")  # other methods are answered
    state = await client.state()
    assert state["stalled"] == 2 and state["faults"][0]["kind"] == "stall"
    # a sender killed while its call is held: the call goes away, nothing is made
    killed = asyncio.create_task(bot.send_message(1001, "killed"))
    await _until(lambda: emu.stalled == 3)
    killed.cancel()
    await _until(lambda: emu.stalled == 2)
    assert (await client.unstall())["released"] == 2
    for task in held:
        with pytest.raises(TelegramServerError, match="Bad Gateway"):
            await task
    await _until(lambda: emu.stalled == 0)
    assert emu.faults == [] and await client.received(1001, 1) == {}
    assert not emu.bots[123456].chats[1001].messages
    assert (await bot.send_message(1001, "after")).text == "after"
    # reset releases held calls too
    await client.fault("sendMessage", "stall")
    one = asyncio.create_task(bot.send_message(1001, "held again"))
    await _until(lambda: emu.stalled == 1)
    await client.reset()
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await one
    assert await client.received(1001, 1) == {1001: 1}


async def test_bulk_users_open_the_chat_without_updates(bot, client, sandbox):

    from bot.sandbox.emulator import Emulator

    emu = sandbox[1]
    assert await client.users(700_000_000, 10_000) == 10_000
    assert len(emu.bots[123456].chats) == 10_000 and (await client.state())["bots"][0]["pending_updates"] == 0
    assert await bot.get_updates(timeout=0) == []
    sent = await bot.send_message(700_000_005, "你好")
    assert sent.chat.id == 700_000_005 and sent.chat.first_name == "User700000005"
    first = await bot.send_message(700_000_007, "a")
    await bot.send_message(700_000_007, "b")
    assert await bot.delete_message(700_000_007, first.message_id)  # deleted since: still received
    await client.send(42, "hi")  # a chat outside the range
    await bot.send_message(42, "c")
    assert await client.received(700_000_000, 10_000) == {700_000_005: 1, 700_000_007: 2}
    assert await client.received() == {700_000_005: 1, 700_000_007: 2, 42: 1}
    paths = {e["path"] for e in await client.endpoints()}
    assert {"/control/users", "/control/received", "/control/flood", "/control/unstall"} <= paths
    # in process too: each user has a private chat with the bot, and no update is queued
    other = Emulator()
    assert other.add_users(other.bot(1), 1, 10_000) == 10_000
    assert len(other.bot(1).chats) >= 10_000 and other.bot(1).updates == []
    await other.close()
