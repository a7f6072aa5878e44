"""The sandbox's web chat: a page where a person acts as any simulated user, and the JSON it talks to.

GET  /                                   the page (bot/sandbox/static/index.html)
GET  /sandbox/api/users                  the simulated users, with labels and hints (invite codes)
GET  /sandbox/api/chat/{user}?version=N  the chat's messages and reply keyboard; waits up to 25 s for a change
POST /sandbox/api/chat/{user}/text       {"text": ...}            the user sends a message
POST /sandbox/api/chat/{user}/press      {"message_id", "data"}  the user taps an inline button
POST /sandbox/api/chat/{user}/file       multipart "file"        the user sends a document (or a photo)
POST /sandbox/api/chat/{user}/block      {"blocked": true}       the user blocks (or unblocks) the bot
GET  /sandbox/files/{file_id}            download a document or image sent in a chat
GET  /sandbox/font.ttf                   the bundled Chinese font (bot/fonts), so the page reads on a
                                         machine without Chinese fonts
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from bot.fonts import FONT_PATH
from bot.sandbox.botapi import ApiError, BotApiServer

__all__ = ["webchat_routes"]

STATIC = Path(__file__).parent / "static"


def webchat_routes(api: BotApiServer) -> list[web.RouteDef]:
    def user_id(request: web.Request, *, groups_too: bool = False) -> int:
        try:
            uid = int(request.match_info["user"])
        except ValueError:
            raise web.HTTPBadRequest(text="user must be a number") from None
        if uid not in api.users and not (groups_too and uid in dict(api.groups())):
            raise web.HTTPNotFound(text="no such user")
        return uid

    async def page(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def font(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(FONT_PATH, headers={"Content-Type": "font/ttf", "Cache-Control": "max-age=86400"})

    async def users(_request: web.Request) -> web.Response:
        return web.json_response(
            {
                "bot": api.bot_username,
                "users": [
                    {"id": u.id, "name": u.first_name, "label": u.label, "hint": u.hint, "blocked": u.blocked}
                    for u in api.users.values()
                ]
                + [  # groups are read-only here: what the bot posts to the owners' group
                    {"id": gid, "name": title, "label": "群聊（只读）/ group (read only)", "hint": "", "blocked": False}
                    for gid, title in api.groups()
                ],
            }
        )

    def state(uid: int) -> dict[str, Any]:
        return {
            "version": api.version(uid),
            "messages": api.messages(uid),
            "keyboard": api.keyboard(uid),
            "blocked": uid in api.users and api.users[uid].blocked,
        }

    async def chat(request: web.Request) -> web.Response:
        uid = user_id(request, groups_too=True)
        known = int(request.query.get("version", "-1"))
        if known == api.version(uid):
            await api.wait_change(uid, known, timeout=25.0)
        return web.json_response(state(uid))

    async def text(request: web.Request) -> web.Response:
        uid = user_id(request)
        body = await request.json()
        message = str(body.get("text", "")).strip()
        if not message:
            raise web.HTTPBadRequest(text="empty message")
        await api.user_sends_text(uid, message)
        return web.json_response(state(uid))

    async def press(request: web.Request) -> web.Response:
        uid = user_id(request)
        body = await request.json()
        try:
            api.user_presses(uid, int(body["message_id"]), str(body["data"]))
        except (KeyError, ValueError, ApiError) as exc:
            raise web.HTTPBadRequest(text=f"cannot press: {exc}") from None
        return web.json_response(state(uid))

    async def upload(request: web.Request) -> web.Response:
        uid = user_id(request)
        form = await request.post()
        field = form.get("file")
        if not isinstance(field, web.FileField):
            raise web.HTTPBadRequest(text="send the file in a multipart field named 'file'")
        data = field.file.read()
        ctype = field.content_type or "application/octet-stream"
        if ctype.startswith("image/") and not ctype.endswith("svg+xml"):
            await api.user_sends_photo(uid, data, field.filename)
        else:
            await api.user_sends_document(uid, data, field.filename, ctype)
        return web.json_response(state(uid))

    async def block(request: web.Request) -> web.Response:
        uid = user_id(request)
        body = await request.json()
        api.set_blocked(uid, bool(body.get("blocked", True)))
        return web.json_response(state(uid))

    async def download(request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        if file_id not in api.files:
            raise web.HTTPNotFound(text="no such file")
        data, name, mime = api.files[file_id]
        disposition = "inline" if mime.startswith("image/") else "attachment"
        return web.Response(
            body=data,
            content_type=mime,
            headers={"Content-Disposition": f"{disposition}; filename*=UTF-8''{_quote(name)}"},
        )

    return [
        web.get("/", page),
        web.get("/sandbox/api/users", users),
        web.get("/sandbox/api/chat/{user}", chat),
        web.post("/sandbox/api/chat/{user}/text", text),
        web.post("/sandbox/api/chat/{user}/press", press),
        web.post("/sandbox/api/chat/{user}/file", upload),
        web.post("/sandbox/api/chat/{user}/block", block),
        web.get("/sandbox/files/{file_id}", download),
        web.get("/sandbox/font.ttf", font),
    ]


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
