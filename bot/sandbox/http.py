"""The sandbox over HTTP (aiohttp), like api.telegram.org:

Bot side:     POST|GET /bot<token>/<method>        (JSON, urlencoded or multipart)
              GET      /file/bot<token>/<file_path>
Control side: /control/...  (JSON), to act as any user and read what the bot sent (bot/sandbox/control.py).
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

from aiohttp import web

from .control import CONTROL_ENDPOINTS, Control
from .emulator import CLOUD_UPLOAD_LIMIT, ApiError, ControlError, Emulator, Forbidden, Params, decode_complex
from .methods import METHODS

TOKEN_RE = re.compile(r"^(\d+):([^/]+)$")
EMULATOR_KEY: web.AppKey[Emulator] = web.AppKey("emulator")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def _read_params(emu: Emulator, request: web.Request) -> Params:
    values: dict[str, Any] = dict(request.query)
    files: dict[str, dict] = {}
    ctype = request.content_type
    if request.method == "POST" and request.can_read_body:
        if ctype == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                values.update(body)
        elif ctype.startswith("multipart/"):
            incoming = emu.data_dir / "incoming"
            incoming.mkdir(exist_ok=True)
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if part.filename is not None:
                    path = incoming / secrets.token_hex(8)
                    size = 0
                    with open(path, "wb") as f:  # noqa: ASYNC230 - local temp file, chunked
                        while chunk := await part.read_chunk(1 << 20):
                            f.write(chunk)
                            size += len(chunk)
                    files[part.name] = {"path": path, "filename": part.filename, "size": size}
                else:
                    values[part.name] = await part.text()
        else:
            values.update(await request.post())
    return Params(decode_complex(values), files)


def create_app(emulator: Emulator) -> web.Application:
    emu = emulator
    app = web.Application(client_max_size=CLOUD_UPLOAD_LIMIT)
    app[EMULATOR_KEY] = emu

    async def api(request: web.Request) -> web.Response:
        m = TOKEN_RE.match(request.match_info["token"])
        if m is None:
            return _json({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        bot = emu.bot(int(m.group(1)), request.match_info["token"])
        name = request.match_info["method"]
        if name.lower() not in METHODS:
            return _json({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        p = await _read_params(emu, request)
        try:
            return _json({"ok": True, "result": await emu.api_call(bot, name, p)})
        except ApiError as e:
            return _json(e.body(), status=e.code)
        finally:
            for part in p.files.values():
                if not part.get("consumed"):
                    Path(part["path"]).unlink(missing_ok=True)

    async def download(request: web.Request) -> web.StreamResponse:
        m = TOKEN_RE.match(request.match_info["token"])
        real = emu.stored_at(int(m.group(1)), request.match_info["path"]) if m is not None else None
        if real is None:
            return _json({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        return web.FileResponse(real)

    app.router.add_route("*", "/bot{token}/{method}", api)
    app.router.add_get("/file/bot{token}/{path:.+}", download)
    _add_control_routes(app, Control(emu))

    async def on_cleanup(app: web.Application) -> None:
        await emu.close()

    app.on_cleanup.append(on_cleanup)
    return app


def _add_control_routes(app: web.Application, control: Control) -> None:
    def handler(endpoint: str):
        async def wrapped(request: web.Request) -> web.Response:
            try:
                data: dict = dict(request.query)
                if request.method == "POST" and request.can_read_body:
                    body = await request.json()
                    if not isinstance(body, dict):
                        raise ControlError("JSON object expected")
                    data.update(body)
                return _json(await control.run(endpoint, data))
            except (ControlError, ApiError, KeyError, ValueError, TypeError) as e:
                msg = e.description if isinstance(e, ApiError) else str(e)
                if isinstance(e, KeyError):
                    msg = f"missing field {e}"
                return _json({"ok": False, "error": msg}, 403 if isinstance(e, Forbidden) else 400)

        return wrapped

    for name in Control.POSTS:
        app.router.add_post(f"/control/{name}", handler(name))
    for name in Control.GETS:
        path = "/control/" if name == "index" else f"/control/{name}"
        app.router.add_get(path, handler(name))
    app.router.add_get("/control", handler("index"))
    served = {(verb, name) for verb, name, *_ in CONTROL_ENDPOINTS}
    assert served == {("POST", n) for n in Control.POSTS} | {("GET", "" if n == "index" else n) for n in Control.GETS}


async def start_server(
    host: str = "127.0.0.1", port: int = 0, *, emulator: Emulator | None = None, **emulator_options: Any
) -> tuple[web.AppRunner, str, Emulator]:
    """Start the emulator; returns (runner, base_url, emulator). Stop with `await runner.cleanup()`."""
    emulator = emulator or Emulator(**emulator_options)
    runner = web.AppRunner(create_app(emulator), handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = runner.addresses[0][1]
    return runner, f"http://{host}:{bound_port}", emulator
