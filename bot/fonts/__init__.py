"""The one font for Chinese in PDFs, charts and the sandbox's web chat, shipped with the package.

``RenovoteSansSC-Regular.ttf`` is a subset of Noto Sans CJK SC Regular (SIL Open Font License
1.1, ``OFL.txt``) with TrueType outlines, built by ``build.py``: GB 2312, the 8,105 characters of
the Table of General Standard Chinese Characters (names and places included), the punctuation and
symbols Chinese texts use, and every character of the product's own texts. The machine's fonts
are never consulted, so a PDF or a chart reads the same on any machine (reportlab embeds the
glyphs a PDF uses; matplotlib is given the file by path).

Emoji are not in it (a colour emoji font is ~10 MB and neither reportlab nor matplotlib's Agg
draws colour glyphs): :func:`drawable` leaves them, and any character the font lacks, out of
what a document or chart prints. The chat itself keeps them.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.font_manager import FontProperties

__all__ = ["FAMILY", "FONT_PATH", "PDF_FONT", "chart_props", "covers", "drawable", "register_pdf_font"]

FONT_PATH = Path(__file__).resolve().parent / "RenovoteSansSC-Regular.ttf"
FAMILY = "Renovote Sans SC"
PDF_FONT = "RenovoteSansSC"

# Symbols people type that the font lacks, drawn as the nearest one it has.
_NEAREST = {"✔": "✓", "✅": "✓", "☑": "✓", "✖": "×", "❌": "×", "✗": "×", "⛔": "×"}
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _cmap() -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(FONT_PATH, lazy=True) as font:
        return frozenset(font.getBestCmap())


def covers(text: str) -> bool:
    """Whether the bundled font has a glyph for every character of text (line breaks aside)."""
    cmap = _cmap()
    return all(ord(c) in cmap for c in text if c not in "\r\n\t")


def drawable(text: str) -> str:
    """text as a document or chart can print it: a few symbols mapped to ones the font has, and
    emoji, variation selectors and any other character it lacks left out (with the space after an
    emoji, so "📊 Chart" prints as "Chart")."""
    cmap = _cmap()
    out: list[str] = []
    dropped = False
    for typed in text:
        char = _NEAREST.get(typed, typed)
        if ord(char) in cmap or char in "\r\n\t":
            if not (dropped and char == " " and (not out or out[-1] in " \n")):
                out.append(char)
            dropped = False
        else:
            dropped = True
    kept = "".join(out)
    return kept if len(kept) == len(text) else kept.rstrip(" ")


@lru_cache(maxsize=1)
def register_pdf_font() -> str:
    """Register the bundled font with reportlab (once) and return its name; reportlab embeds the
    subset of glyphs each PDF uses."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    with _lock:
        pdfmetrics.registerFont(TTFont(PDF_FONT, str(FONT_PATH)))
    return PDF_FONT


@lru_cache(maxsize=1)
def _add_to_matplotlib() -> str:
    from matplotlib import font_manager

    with _lock:
        font_manager.fontManager.addfont(str(FONT_PATH))
    return FAMILY


def chart_props(size: float) -> FontProperties:
    """matplotlib font properties for chart text in the bundled font (added by path, no pyplot)."""
    from matplotlib.font_manager import FontProperties

    return FontProperties(family=[_add_to_matplotlib()], weight="normal", size=size)
