"""One person's updates are handled one at a time (two quick taps never interleave); different people's
updates still run side by side."""

from __future__ import annotations

import asyncio
from typing import Any

from aiogram.types import User

from bot.middlewares import OneAtATime


def _person(user_id: int) -> dict[str, Any]:
    return {"event_from_user": User(id=user_id, is_bot=False, first_name="x")}


async def test_one_persons_updates_never_overlap_and_different_people_run_side_by_side() -> None:
    middleware = OneAtATime()
    log: list[str] = []

    def handler_for(name: str) -> Any:
        async def handler(_event: Any, _data: dict[str, Any]) -> str:
            log.append(f"{name} in")
            await asyncio.sleep(0.01)  # a database round trip: another update could start here
            log.append(f"{name} out")
            return name

        return handler

    results = await asyncio.gather(
        middleware(handler_for("a1"), object(), _person(1)),  # type: ignore[arg-type]
        middleware(handler_for("a2"), object(), _person(1)),  # type: ignore[arg-type]
        middleware(handler_for("b1"), object(), _person(2)),  # type: ignore[arg-type]
    )
    assert results == ["a1", "a2", "b1"]
    assert log.index("a1 out") < log.index("a2 in")  # the same person: one after the other, in order
    assert log.index("b1 in") < log.index("a1 out")  # someone else: not held up
    assert not middleware._locks and not middleware._waiting  # nothing kept once a person is done
