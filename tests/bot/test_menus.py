"""The menu router's pure helpers: the catalogue files it writes read back as the same catalogue, and
long texts are sent in pieces cut at line ends."""

from __future__ import annotations

from typing import Any

from bot.handlers.menus import catalogue_toml, catalogue_xlsx, send_long
from voting.menu import default_catalogue, parse_catalogue_sheet, parse_catalogue_toml


def test_the_catalogue_written_as_toml_or_xlsx_reads_back_the_same() -> None:
    catalogue = default_catalogue()
    assert parse_catalogue_toml(catalogue_toml(catalogue)) == catalogue
    again = parse_catalogue_sheet(catalogue_xlsx(catalogue), "catalogue.xlsx", name=catalogue.name)
    assert again == catalogue


class _Bot:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    async def send_message(self, chat_id: int, text: str, reply_markup: Any = None) -> None:
        self.sent.append((text, reply_markup))


async def test_a_long_text_goes_in_pieces_with_the_buttons_on_the_last() -> None:
    bot = _Bot()
    lines = [f"line {i} " + "x" * 90 for i in range(100)]
    await send_long(bot, 1, "\n".join(lines), "markup")  # type: ignore[arg-type]
    assert len(bot.sent) == 3 and all(len(text) <= 4000 for text, _m in bot.sent)
    assert [m for _t, m in bot.sent] == [None, None, "markup"]
    assert "\n".join(text for text, _m in bot.sent) == "\n".join(lines)
