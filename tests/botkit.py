"""Shared helpers for the bot tests: a migrated SQLite template, a settable clock, waiting for chat state."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType

from bot.sandbox.botapi import ApiError, BotApiServer, _Upload

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


class SettableClock:
    """The bot's clock in tests: starts at T0 and moves only when told."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def fresh_db(template: Path, folder: Path) -> str:
    target = folder / "renovote.sqlite3"
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


async def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class InProcessSession(BaseSession):
    """A session that hands each method to the sandbox's Bot API implementation without HTTP, and records it.

    Router tests use it with `Dispatcher.feed_update`: the answers have Telegram's shapes and errors
    (through aiogram's own `check_response`), and `calls` lists every method the handlers sent.
    """

    def __init__(self, api: BotApiServer) -> None:
        super().__init__()
        self.api = api
        self.calls: list[TelegramMethod[Any]] = []

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        self.calls.append(method)
        files: dict[str, Any] = {}
        params = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files)
            if prepared:
                params[key] = prepared
        for key, value in list(params.items()):  # an uploaded file, as the HTTP server reads a multipart part
            if isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
                upload = files[value[9:]]
                data = b"".join([chunk async for chunk in upload.read(bot)])
                params[key] = _Upload(data, upload.filename or key, "application/octet-stream")
        try:
            result = await self.api.call(method.__api_method__, params)
            status, body = 200, {"ok": True, "result": result}
        except ApiError as exc:
            status, body = exc.code, {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.retry_after is not None:
                body["parameters"] = {"retry_after": exc.retry_after}
        response = self.check_response(bot, method, status, json.dumps(body))
        return response.result  # type: ignore[return-value]

    async def stream_content(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - not used
        raise NotImplementedError

    async def close(self) -> None:
        pass
