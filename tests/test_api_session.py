"""The Bot API session (bot/api_session.py): a request without a file goes as JSON, with its
Chinese text and its keyboard intact; one with a file goes as multipart, as aiogram sends it."""

from __future__ import annotations

import json
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from aiohttp import web

from bot.api_session import JsonSession

MESSAGE = {"message_id": 7, "date": 0, "chat": {"id": 1001, "type": "private"}, "text": "x"}


async def _fake_api(received: list[dict[str, Any]]) -> tuple[web.AppRunner, str]:
    async def handle(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        entry: dict[str, Any] = {"method": method, "type": request.content_type}
        if request.content_type == "application/json":
            entry["body"] = await request.json()
        elif request.content_type.startswith("multipart/"):
            parts = {}
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                parts[part.name] = (part.filename, await part.read())
            entry["parts"] = parts
        else:
            entry["form"] = dict(await request.post())
        received.append(entry)
        if method == "answerCallbackQuery":
            return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: query is too old"},
                                     status=400)
        return web.json_response({"ok": True, "result": MESSAGE})

    api = web.Application()
    api.router.add_post("/bot{token}/{method}", handle)
    runner = web.AppRunner(api)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
    return runner, f"http://127.0.0.1:{port}"


async def test_a_text_goes_as_json_and_a_file_as_multipart():
    received: list[dict[str, Any]] = []
    runner, base = await _fake_api(received)
    bot = Bot("1:T", session=JsonSession(api=TelegramAPIServer.from_base(base)),
              default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    try:
        markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="申报类别与要求", callback_data="m:cats")]])
        sent = await bot.send_message(1001, "欢迎来到<b>科普号创作助手</b>", reply_markup=markup,
                                      disable_notification=False)
        assert sent.message_id == 7 and sent.chat.id == 1001  # the answer is read as before
        body = received[0]["body"]
        assert received[0]["type"] == "application/json"
        assert body["chat_id"] == 1001 and body["text"] == "欢迎来到<b>科普号创作助手</b>"
        assert body["parse_mode"] == "HTML"  # the bot's default, filled in
        assert body["reply_markup"] == {"inline_keyboard": [[{"text": "申报类别与要求", "callback_data": "m:cats"}]]}
        assert body["disable_notification"] is False  # a false value is sent, not dropped

        await bot.edit_message_text("改好了", chat_id=1001, message_id=7,
                                    link_preview_options=LinkPreviewOptions(is_disabled=True))
        # the options' other fields default to the bot's, which sets none of them: left out
        assert received[-1]["body"]["link_preview_options"] == {"is_disabled": True}
        received.pop()

        await bot.send_document(1001, BufferedInputFile("推荐表".encode(), filename="表.docx"), caption="请查收")
        assert received[1]["type"].startswith("multipart/")
        parts = received[1]["parts"]
        assert parts["caption"][1].decode() == "请查收"
        attached = parts["document"][1].decode()
        assert attached.startswith("attach://")
        assert parts[attached.removeprefix("attach://")] == ("表.docx", "推荐表".encode())

        try:
            await bot.answer_callback_query("q1", text="好")
        except TelegramBadRequest as exc:  # an error answer is read as aiogram reads it
            assert "query is too old" in exc.message
        else:
            raise AssertionError("the error answer was not raised")
        assert json.dumps(received[2]["body"], ensure_ascii=False) == '{"callback_query_id": "q1", "text": "好"}'
    finally:
        await bot.session.close()
        await runner.cleanup()

