"""The bundled font: it covers what the product prints, and nothing of the machine's is used."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from bot import fonts

ROOT = Path(__file__).resolve().parents[2]
# Texts that end up in PDFs and charts: the translations, the shipped catalogue, the examples.
SOURCES = [
    ROOT / "bot/locales/zh_CN/LC_MESSAGES/renovote.po",
    ROOT / "bot/locales/en/LC_MESSAGES/renovote.po",
    *sorted((ROOT / "voting/catalogue").glob("*.toml")),
    *sorted((ROOT / "bot/examples").glob("*")),
]


def _is_emoji_or_joiner(char: str) -> bool:
    return ord(char) >= 0x1F000 or char in "\u200d\ufe0f\ufe0eℹ" or unicodedata.category(char) == "So"  # ℹ️: an emoji


def test_every_chinese_character_and_symbol_of_the_products_texts_is_in_the_font() -> None:
    missing = set()
    for path in SOURCES:
        if path.suffix in {".po", ".toml", ".csv"}:
            missing |= {c for c in path.read_text("utf-8") if not fonts.covers(c) and not c.isspace()}
    # Only pictographs (emoji, ⛔, ✅ …) may be missing: drawable() leaves them out.
    assert all(_is_emoji_or_joiner(c) for c in missing), sorted(c for c in missing if not _is_emoji_or_joiner(c))


def test_names_outside_gb2312_money_and_areas_are_covered() -> None:
    assert fonts.covers("张喆 王堃 李昇 赵珺 刘翀 陈垚 ¥8,550,000.00 12,345.67 ㎡ m² ①②③ → ✓ ×")


def test_drawable_drops_emoji_and_keeps_everything_else() -> None:
    assert fonts.drawable("📊 图表") == "图表"
    assert fonts.drawable("加装电梯 🛗 表决") == "加装电梯 表决"
    assert fonts.drawable("✔ 导入 ✖") == "✓ 导入 ×"
    assert fonts.drawable("❤️ 幸福里") == "幸福里"
    assert fonts.drawable("3号楼\n2单元") == "3号楼\n2单元"


def test_matplotlib_finds_the_bundled_file_not_a_system_font() -> None:
    from matplotlib import font_manager

    props = fonts.chart_props(12)
    assert Path(font_manager.fontManager.findfont(props, fallback_to_default=False)) == fonts.FONT_PATH


def test_the_font_is_small_and_ships_with_its_licence() -> None:
    assert fonts.FONT_PATH.stat().st_size < 5_000_000
    licence = (fonts.FONT_PATH.parent / "OFL.txt").read_text("utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence and "Noto Sans CJK SC" in licence
    assert re.search(r"package-data[\s\S]*\*\.ttf", (ROOT / "pyproject.toml").read_text("utf-8"))
