"""A local Bot API server: the methods renovote uses, with Telegram's request and response shapes.

Requests come as Telegram accepts them (query string, urlencoded or multipart form with nested
values as JSON strings, or a JSON body); answers are `{"ok": true, "result": ...}` or
`{"ok": false, "error_code": ..., "description": ...}` with the same codes and descriptions
Telegram uses: 401 for a wrong token, 400 for bad requests (chat not found, message is not
modified, BUTTON_DATA_INVALID, ...), 403 for a user who blocked the bot, 409 for getUpdates while a
webhook is set, 429 with `parameters.retry_after` past the flood limits.

Users are simulated: `user_sends_text`, `user_presses`, `user_sends_document` make the updates a
real client would, delivered by getUpdates (long polling) or POSTed to the webhook with the secret
token header, retried until the bot answers 200 — exactly like Telegram, a retried update keeps its
update_id. The web chat (bot/sandbox/webchat.py) and the end-to-end tests drive these.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import BodyPartReader, ClientError, ClientSession, ClientTimeout, web

__all__ = ["BotApiServer", "FloodLimits", "SandboxUser"]

log = logging.getLogger(__name__)

SENDING_METHODS = frozenset(
    {"sendMessage", "sendDocument", "sendPhoto", "editMessageText", "editMessageReplyMarkup", "editMessageCaption"}
)


class ApiError(Exception):
    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's published limits: ~30 messages a second overall, ~1 a second in one chat (short
    bursts tolerated), 20 a minute in one group. `chat_burst` is how many quick messages a private
    chat takes before the 1/s pace applies."""

    global_per_second: int = 30
    chat_per_second: float = 1.0
    chat_burst: int = 3
    group_per_minute: int = 20


@dataclass
class SandboxUser:
    id: int
    first_name: str
    language_code: str = "zh-hans"
    label: str = ""  # shown in the web chat: "Resident of 1-1-101", "Community worker"
    hint: str = ""  # what to try, e.g. the invite code printed for this user's unit
    blocked: bool = False  # the user blocked the bot: sending to them answers 403

    def as_user(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": False, "first_name": self.first_name, "language_code": self.language_code}


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class _Chat:
    id: int
    type: str = "private"
    title: str = ""
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    keyboard: dict[str, Any] | None = None  # the reply keyboard shown under the input field, if any
    version: int = 0  # bumped at every change, so the web chat polls cheaply


class BotApiServer:
    def __init__(
        self,
        token: str,
        *,
        bot_username: str = "renovote_sandbox_bot",
        limits: FloodLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.bot_id = int(hashlib.sha256(token.encode()).hexdigest()[:8], 16)
        self.bot_username = bot_username
        self.limits = limits or FloodLimits()
        self._clock = clock
        self._wall = wall_clock
        self.users: dict[int, SandboxUser] = {}
        self._chats: dict[int, _Chat] = {}
        self._message_ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._pending: deque[dict[str, Any]] = deque()
        self._new_update = asyncio.Event()
        self._changed = asyncio.Condition()
        self.files: dict[str, tuple[bytes, str, str]] = {}  # file_id -> (bytes, file name, mime type)
        self.webhook_url = ""
        self.webhook_secret = ""
        self._delivery: asyncio.Task[None] | None = None
        self._global: deque[float] = deque()
        self._chat_buckets: dict[int, _Bucket] = {}
        self._group_sent: dict[int, deque[float]] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []  # every method call, for tests and the benchmark
        self.rejected_429 = 0
        self.forced_errors: deque[tuple[str, ApiError]] = deque()  # (method, error) answered next, for tests
        self.commands: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ the HTTP application
    def routes(self) -> list[web.RouteDef]:
        return [
            web.route("*", "/bot{token}/{method}", self._handle_method),
            web.get("/file/bot{token}/{path:.+}", self._handle_file),
        ]

    async def close(self) -> None:
        if self._delivery is not None:
            self._delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery
            self._delivery = None

    async def _handle_method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            params = await _read_params(request)
            self.calls.append((method, {k: v for k, v in params.items() if not isinstance(v, _Upload)}))
            result = await self.call(method, params)
        except ApiError as exc:
            body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.retry_after is not None:
                body["parameters"] = {"retry_after": exc.retry_after}
            return web.json_response(body, status=exc.code)
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        file_id = request.match_info["path"].split("/")[-1]
        if file_id not in self.files:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        data, name, mime = self.files[file_id]
        return web.Response(
            body=data, content_type=mime, headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    # ------------------------------------------------------------------ methods
    async def call(self, method: str, params: dict[str, Any]) -> Any:
        if self.forced_errors and self.forced_errors[0][0] == method:
            raise self.forced_errors.popleft()[1]
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            raise ApiError(404, "Not Found")
        if method in SENDING_METHODS:
            self._check_flood(self._chat_id(params))
        return await handler(params)

    def bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "renovote", "username": self.bot_username}

    async def _m_getMe(self, params: dict[str, Any]) -> Any:
        return {
            **self.bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _m_setMyCommands(self, params: dict[str, Any]) -> Any:
        self.commands = _json(params.get("commands"), [])
        return True

    async def _m_deleteMyCommands(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_getUpdates(self, params: dict[str, Any]) -> Any:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
                "the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(int(params.get("limit") or 100), 100)
        timeout = min(float(params.get("timeout") or 0), 50.0)
        if offset:
            while self._pending and self._pending[0]["update_id"] < offset:
                self._pending.popleft()
        if not self._pending and timeout > 0:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), timeout)
        return list(itertools.islice(self._pending, limit))

    async def _m_setWebhook(self, params: dict[str, Any]) -> Any:
        url = str(params.get("url") or "")
        if url and not url.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = url
        self.webhook_secret = str(params.get("secret_token") or "")
        if _truthy(params.get("drop_pending_updates")):
            self._pending.clear()
        if url and self._delivery is None:
            self._delivery = asyncio.create_task(self._deliver())
        self._new_update.set()
        return True

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook_url = ""
        if _truthy(params.get("drop_pending_updates")):
            self._pending.clear()
        return True

    async def _m_getWebhookInfo(self, params: dict[str, Any]) -> Any:
        return {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": len(self._pending)}

    async def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        chat = self._target(params)
        text, entities = _formatted(str(params.get("text") or ""), params.get("parse_mode"))
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return await self._post(chat, {"text": text, **({"entities": entities} if entities else {})}, params)

    async def _m_sendDocument(self, params: dict[str, Any]) -> Any:
        chat = self._target(params)
        file_id, name, mime, size = self._store_upload(params.get("document"), "document.bin")
        document = {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_name": name,
            "mime_type": mime,
            "file_size": size,
        }
        return await self._post(chat, {"document": document, **_caption(params)}, params)

    async def _m_sendPhoto(self, params: dict[str, Any]) -> Any:
        chat = self._target(params)
        file_id, _name, _mime, size = self._store_upload(params.get("photo"), "photo.png")
        photo = [{"file_id": file_id, "file_unique_id": file_id, "width": 800, "height": 600, "file_size": size}]
        return await self._post(chat, {"photo": photo, **_caption(params)}, params)

    async def _m_editMessageText(self, params: dict[str, Any]) -> Any:
        message = self._message(params)
        text = str(params.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        markup = _json(params.get("reply_markup"), None)
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message",
            )
        _check_markup(markup)
        message["text"] = text
        _set_markup(message, markup)
        message["edit_date"] = int(self._wall())
        await self._bump(message["chat"]["id"])
        return message

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        message = self._message(params)
        markup = _json(params.get("reply_markup"), None)
        if message.get("reply_markup") == markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        _check_markup(markup)
        _set_markup(message, markup)
        await self._bump(message["chat"]["id"])
        return message

    async def _m_deleteMessage(self, params: dict[str, Any]) -> Any:
        chat = self._chats.get(self._chat_id(params))
        message_id = int(params.get("message_id") or 0)
        if chat is None or chat.messages.pop(message_id, None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        await self._bump(chat.id)
        return True

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        query_id = str(params.get("callback_query_id") or "")
        if not query_id or query_id in self.callback_answers:  # Telegram takes one answer per query
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        self.callback_answers[query_id] = {"text": params.get("text"), "show_alert": _truthy(params.get("show_alert"))}
        return True

    async def _m_getFile(self, params: dict[str, Any]) -> Any:
        file_id = str(params.get("file_id") or "")
        if file_id not in self.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        data, _name, _mime = self.files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_size": len(data),
            "file_path": f"documents/{file_id}",
        }

    async def _m_sendChatAction(self, params: dict[str, Any]) -> Any:
        self._target(params)
        return True

    # ------------------------------------------------------------------ simulated users
    def add_user(self, user: SandboxUser) -> SandboxUser:
        self.users[user.id] = user
        self._chats.setdefault(user.id, _Chat(user.id))
        return user

    def add_group(self, chat_id: int, title: str) -> None:
        self._chats.setdefault(chat_id, _Chat(chat_id, "group", title))

    def groups(self) -> list[tuple[int, str]]:
        """The group chats (id, title): the web chat shows what the bot posts there."""
        return [(c.id, c.title) for c in self._chats.values() if c.type != "private"]

    async def user_sends_text(self, user_id: int, text: str) -> dict[str, Any]:
        user = self._user(user_id)
        message: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        posted = await self._store(self._chats[user.id], message, sender=user.as_user())
        return self.enqueue({"message": posted})

    async def user_sends_document(self, user_id: int, data: bytes, file_name: str, mime: str) -> dict[str, Any]:
        user = self._user(user_id)
        file_id = self._add_file(data, file_name, mime)
        document = {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_name": file_name,
            "mime_type": mime,
            "file_size": len(data),
        }
        posted = await self._store(self._chats[user.id], {"document": document}, sender=user.as_user())
        return self.enqueue({"message": posted})

    async def user_sends_photo(self, user_id: int, data: bytes, file_name: str = "photo.jpg") -> dict[str, Any]:
        user = self._user(user_id)
        file_id = self._add_file(data, file_name, "image/jpeg")
        photo = [{"file_id": file_id, "file_unique_id": file_id, "width": 800, "height": 600, "file_size": len(data)}]
        posted = await self._store(self._chats[user.id], {"photo": photo}, sender=user.as_user())
        return self.enqueue({"message": posted})

    def user_presses(self, user_id: int, message_id: int, data: str) -> dict[str, Any]:
        """A tap on an inline button; only buttons the message really carries can be pressed from the UI,
        but tests may forge any `data` (as a modified client could)."""
        user = self._user(user_id)
        message = self._chats[user.id].messages.get(message_id)
        if message is None:
            raise ApiError(400, "Bad Request: message not found")
        query = {
            "id": str(next(self._callback_ids)),
            "from": user.as_user(),
            "message": message,
            "chat_instance": str(user.id),
            "data": data,
        }
        return self.enqueue({"callback_query": query})

    def set_blocked(self, user_id: int, blocked: bool) -> None:
        self._user(user_id).blocked = blocked

    def enqueue(self, body: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **json.loads(json.dumps(body))}
        self._pending.append(update)
        self._new_update.set()
        return update

    def redeliver(self, update: dict[str, Any]) -> None:
        """Deliver an update again with its update_id (a webhook retry, or a bot restarted mid-update)."""
        self._pending.append(json.loads(json.dumps(update)))
        self._new_update.set()

    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        chat = self._chats.get(chat_id)
        return [] if chat is None else [chat.messages[k] for k in sorted(chat.messages)]

    def keyboard(self, chat_id: int) -> dict[str, Any] | None:
        chat = self._chats.get(chat_id)
        return None if chat is None else chat.keyboard

    def version(self, chat_id: int) -> int:
        chat = self._chats.get(chat_id)
        return 0 if chat is None else chat.version

    async def wait_change(self, chat_id: int, version: int, timeout: float) -> int:
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: self.version(chat_id) != version), timeout)
        return self.version(chat_id)

    def wake(self) -> None:
        """End a getUpdates long poll in flight (it answers with what is pending, maybe nothing)."""
        self._new_update.set()

    def pending_count(self) -> int:
        return len(self._pending)

    # ------------------------------------------------------------------ internals
    async def _deliver(self) -> None:
        """POST pending updates to the webhook in order; retry (same update_id) until the bot says 200."""
        async with ClientSession(timeout=ClientTimeout(total=60)) as http:
            backoff = 0.05
            while True:
                if not self.webhook_url or not self._pending:
                    self._new_update.clear()
                    await self._new_update.wait()
                    continue
                update = self._pending[0]
                headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook_secret} if self.webhook_secret else {}
                try:
                    async with http.post(self.webhook_url, json=update, headers=headers) as response:
                        ok = response.status == 200
                        reply = await response.read()
                except (ClientError, TimeoutError) as exc:
                    log.info("webhook delivery of update %s failed: %s", update["update_id"], exc)
                    ok, reply = False, b""
                if not ok:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                backoff = 0.05
                if self._pending and self._pending[0] is update:
                    self._pending.popleft()
                if reply.strip():  # a method returned in the webhook reply: Telegram executes it
                    with contextlib.suppress(ApiError, ValueError):
                        answer = json.loads(reply)
                        if isinstance(answer, dict) and "method" in answer:
                            await self.call(str(answer.pop("method")), answer)

    def _check_flood(self, chat_id: int) -> None:
        now = self._clock()
        window = self._global
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= self.limits.global_per_second:
            self._reject(1.0 - (now - window[0]))
        chat = self._chats.get(chat_id)
        if chat is not None and chat.type != "private":
            sent = self._group_sent.setdefault(chat_id, deque())
            while sent and now - sent[0] >= 60.0:
                sent.popleft()
            if len(sent) >= self.limits.group_per_minute:
                self._reject(60.0 - (now - sent[0]))
            sent.append(now)
        else:
            bucket = self._chat_buckets.get(chat_id)
            if bucket is None:
                bucket = self._chat_buckets[chat_id] = _Bucket(float(self.limits.chat_burst), now)
            bucket.tokens = min(
                float(self.limits.chat_burst), bucket.tokens + (now - bucket.stamp) * self.limits.chat_per_second
            )
            bucket.stamp = now
            if bucket.tokens < 1.0:
                self._reject((1.0 - bucket.tokens) / self.limits.chat_per_second)
            bucket.tokens -= 1.0
        window.append(now)

    def _reject(self, wait: float) -> None:
        self.rejected_429 += 1
        seconds = max(1, int(wait + 0.999))
        raise ApiError(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)

    def _user(self, user_id: int) -> SandboxUser:
        user = self.users.get(user_id)
        if user is None:
            raise ApiError(400, "Bad Request: chat not found")
        return user

    @staticmethod
    def _chat_id(params: dict[str, Any]) -> int:
        try:
            return int(params.get("chat_id") or 0)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None

    def _target(self, params: dict[str, Any]) -> _Chat:
        chat_id = self._chat_id(params)
        chat = self._chats.get(chat_id)
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        user = self.users.get(chat_id)
        if user is not None and user.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._target(params)
        message = chat.messages.get(int(params.get("message_id") or 0))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message

    async def _post(self, chat: _Chat, content: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        markup = _json(params.get("reply_markup"), None)
        _check_markup(markup)
        if markup is not None:
            content["reply_markup"] = markup
        return await self._store(chat, content, sender=self.bot_user())

    async def _store(self, chat: _Chat, content: dict[str, Any], *, sender: dict[str, Any]) -> dict[str, Any]:
        message_id = next(self._message_ids)
        chat_info: dict[str, Any] = {"id": chat.id, "type": chat.type}
        if chat.type == "private":
            user = self.users.get(chat.id)
            chat_info["first_name"] = user.first_name if user else str(chat.id)
        else:
            chat_info["title"] = chat.title
        message = {"message_id": message_id, "from": sender, "chat": chat_info, "date": int(self._wall()), **content}
        markup = message.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" not in markup:
            # Reply keyboards (and their removal) stay with the chat, not the message, as in Telegram clients.
            message.pop("reply_markup")
            chat.keyboard = None if markup.get("remove_keyboard") else markup
        chat.messages[message_id] = message
        await self._bump(chat.id)
        return message

    async def _bump(self, chat_id: int) -> None:
        chat = self._chats.get(chat_id)
        if chat is not None:
            chat.version += 1
        async with self._changed:
            self._changed.notify_all()

    def _add_file(self, data: bytes, name: str, mime: str) -> str:
        file_id = f"F{next(self._file_ids):06d}{hashlib.sha256(data).hexdigest()[:10]}"
        self.files[file_id] = (data, name, mime)
        return file_id

    def _store_upload(self, value: Any, default_name: str) -> tuple[str, str, str, int]:
        if isinstance(value, _Upload):
            file_id = self._add_file(value.data, value.filename or default_name, value.content_type)
            return file_id, value.filename or default_name, value.content_type, len(value.data)
        if isinstance(value, str) and value in self.files:
            data, name, mime = self.files[value]
            return value, name, mime, len(data)
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")


@dataclass(frozen=True)
class _Upload:
    data: bytes
    filename: str
    content_type: str


async def _read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params.update(body)
    elif request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                ctype = part.headers.get("Content-Type", "application/octet-stream")
                params[part.name] = _Upload(bytes(await part.read(decode=False)), part.filename, ctype)
            else:
                params[part.name] = await part.text()
    elif request.can_read_body:
        params.update((await request.post()).items())
    for key, value in list(params.items()):  # "attach://name": the file is the multipart part "name"
        if isinstance(value, str) and value.startswith("attach://"):
            params[key] = params.get(value.removeprefix("attach://"), value)
    return params


def _json(value: Any, default: Any) -> Any:
    if value is None or value == "":
        return default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object") from None
    return value


def _truthy(value: Any) -> bool:
    return value in (True, "true", "True", "1", 1)


def _caption(params: dict[str, Any]) -> dict[str, Any]:
    caption = params.get("caption")
    if not caption:
        return {}
    text, entities = _formatted(str(caption), params.get("parse_mode"))
    if len(text) > 1024:
        raise ApiError(400, "Bad Request: message caption is too long")
    return {"caption": text, **({"caption_entities": entities} if entities else {})}


_HTML_ENTITIES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "code": "code",
    "pre": "pre",
    "u": "underline",
}


class _TelegramHtml(HTMLParser):
    """Telegram's HTML parse mode for the tags renovote uses: plain text plus entities, offsets and
    lengths in UTF-16 code units as Telegram counts them; anything else is "can't parse entities"."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.units = 0
        self.open: list[tuple[str, int]] = []
        self.entities: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_ENTITIES:
            raise ApiError(400, f'Bad Request: can\'t parse entities: unsupported start tag "{tag}"')
        self.open.append((tag, self.units))

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1][0] != tag:
            raise ApiError(400, f'Bad Request: can\'t parse entities: unexpected end tag "{tag}"')
        _tag, start = self.open.pop()
        if self.units > start:
            self.entities.append({"type": _HTML_ENTITIES[tag], "offset": start, "length": self.units - start})

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        self.units += len(data.encode("utf-16-le")) // 2


def _formatted(text: str, parse_mode: Any) -> tuple[str, list[dict[str, Any]]]:
    if parse_mode != "HTML":
        return text, []
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    if parser.open:
        raise ApiError(400, f'Bad Request: can\'t parse entities: unclosed tag "{parser.open[-1][0]}"')
    return "".join(parser.text), sorted(parser.entities, key=lambda e: e["offset"])


def _check_markup(markup: Any) -> None:
    if not isinstance(markup, dict):
        return
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if not button.get("text"):
                raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")


def _set_markup(message: dict[str, Any], markup: Any) -> None:
    if markup and markup.get("inline_keyboard"):
        message["reply_markup"] = markup
    else:
        message.pop("reply_markup", None)
