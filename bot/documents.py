"""Files people print and look at: invite slips (PDF and CSV) and vote charts (PNG).

Pure rendering: every function returns bytes built in memory; the only I/O is reading the
package's own font (``bot.fonts``: Chinese reads the same on any machine; emoji are left out).
Nothing here translates: every visible text arrives from the caller, already in the
reader's language. The charts use matplotlib's object API (``Figure`` + the Agg canvas), never
pyplot's global state, so they may run in a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from bot.fonts import FONT_PATH, chart_props, drawable, register_pdf_font

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from reportlab.pdfgen.canvas import Canvas

__all__ = [
    "BuildingTurnout",
    "InviteSlip",
    "ResultBar",
    "invite_csv",
    "invite_sheet_pdf",
    "result_chart_png",
    "turnout_chart_png",
]


@dataclass(frozen=True, slots=True)
class InviteSlip:
    """One home's slip: its label, its invite code as printed, and the deep link its QR code opens."""

    unit_label: str
    code: str
    link: str


@dataclass(frozen=True, slots=True)
class BuildingTurnout:
    """How much of one building has voted: homes and exclusive area (integers of 0.01 m²)."""

    label: str
    units: int
    voted_units: int
    area: int
    voted_area: int


@dataclass(frozen=True, slots=True)
class ResultBar:
    """One dimension of a result (area or headcount): the four parts and the share needed to pass."""

    label: str
    agree: int
    oppose: int
    abstain: int
    not_voted: int
    threshold: float | None = None


# ---------------------------------------------------------------------------------------------
# Fonts

# The font is the package's own (bot/fonts): never the machine's, so every PDF and chart reads the
# same everywhere. Kept as a one-entry candidate list so the chart code names it in one way.
CJK_FONT_CANDIDATES: tuple[tuple[str, int], ...] = ((str(FONT_PATH), 0),)
_LATIN_BOLD = "Helvetica-Bold"


def _pdf_cjk_font() -> tuple[str, bool]:
    """The CJK font for PDF text as (name, embedded): the bundled one, embedded as a subset."""
    return register_pdf_font(), True


@dataclass(frozen=True, slots=True)
class _ChartFont:
    """The font for chart text."""

    def props(self, size: float) -> FontProperties:
        return chart_props(size)


def _chart_font(_candidates: tuple[tuple[str, int], ...] = CJK_FONT_CANDIDATES) -> _ChartFont:
    """The bundled font for charts (added to matplotlib's font manager by path, once)."""
    return _ChartFont()


# ---------------------------------------------------------------------------------------------
# Text fitting (PDF)

# A CJK character (or full-width punctuation) may break anywhere; Latin words break at spaces.
_TOKEN = re.compile(
    r"[\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]|[^\s\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]+\s*|\s+"
)
_LEADING = 1.22
_ELLIPSIS = "…"


def _width(text: str, font: str, size: float) -> float:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    return float(stringWidth(text, font, size))


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy line breaking: whole Latin words where possible, any CJK character, overlong words split."""
    lines: list[str] = []
    line = ""
    for token in _TOKEN.findall(text):
        if _width(line + token.rstrip(), font, size) <= width:
            line += token
            continue
        if line.strip():
            lines.append(line.rstrip())
        line = token.lstrip()
        while line and _width(line.rstrip(), font, size) > width:  # a word wider than the line
            cut = _longest_prefix(line, font, size, width)
            lines.append(line[:cut])
            line = line[cut:]
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _longest_prefix(text: str, font: str, size: float, width: float) -> int:
    """How many leading characters fit in width (at least one, so wrapping always progresses)."""
    cut = 1
    while cut < len(text) and _width(text[: cut + 1], font, size) <= width:
        cut += 1
    return cut


@lru_cache(maxsize=4096)
def _fit(
    paragraphs: tuple[str, ...],
    font: str,
    width: float,
    height: float,
    max_size: float,
    min_size: float,
    unbroken_down_to: float | None = None,
) -> tuple[float, tuple[str, ...]]:
    """The largest size (in 0.5 pt steps) at which the paragraphs, wrapped, fit the box.

    With unbroken_down_to, a size at which every paragraph stays on one line is preferred down
    to that size: a sentence slightly smaller reads better than one with a lone word wrapped.
    Cached because the heading and the instructions are the same on every slip. If nothing fits
    at min_size, the lines that fit are kept and the last ends in an ellipsis: never overflow.
    """
    size = max_size
    while unbroken_down_to is not None and size >= unbroken_down_to:
        lines = _lines(paragraphs, font, size, width)
        if len(lines) == len(paragraphs) and len(lines) * size * _LEADING <= height:
            return size, tuple(lines)
        size -= 0.5
    size = max_size
    while True:
        lines = _lines(paragraphs, font, size, width)
        if len(lines) * size * _LEADING <= height or size <= min_size:
            break
        size = max(min_size, size - 0.5)
    room = max(1, int(height // (size * _LEADING)))
    if len(lines) > room:
        lines = [*lines[: room - 1], _truncate(lines[room - 1], font, size, width)]
    return size, tuple(lines)


def _lines(paragraphs: tuple[str, ...], font: str, size: float, width: float) -> list[str]:
    return [line for paragraph in paragraphs for line in _wrap(paragraph, font, size, width)]


def _truncate(line: str, font: str, size: float, width: float) -> str:
    """The line shortened until it fits with an ellipsis after it."""
    while line and _width(line + _ELLIPSIS, font, size) > width:
        line = line[:-1]
    return line + _ELLIPSIS


# ---------------------------------------------------------------------------------------------
# Invite slips: the PDF


@dataclass(frozen=True, slots=True)
class _Layout:
    """The A4 sheet cut into a grid of slips; all lengths in PDF points."""

    cols: int
    rows: int
    margin: float
    page_w: float
    page_h: float

    @property
    def slip_w(self) -> float:
        return (self.page_w - 2 * self.margin) / self.cols

    @property
    def slip_h(self) -> float:
        return (self.page_h - 2 * self.margin) / self.rows

    def origin(self, index: int) -> tuple[float, float]:
        """Bottom-left corner of the slip at this position on its page, filled row by row from the top."""
        row, col = divmod(index, self.cols)
        return self.margin + col * self.slip_w, self.page_h - self.margin - (row + 1) * self.slip_h


@dataclass(frozen=True, slots=True)
class _Texts:
    """The caller's texts that are the same on every slip."""

    heading: str
    lines: tuple[str, str]
    code_label: str


def invite_sheet_pdf(slips: Sequence[InviteSlip], *, heading: str, lines: tuple[str, str], code_label: str) -> bytes:
    """A4 sheets of invite slips, eight to a page (2 × 4) with dashed cut lines, for door-to-door delivery.

    Each slip carries the community name, the home, its invite code in large spaced letters for
    elderly readers, a QR code of the deep link (32 mm, with its quiet zone) and two lines of
    instructions. Raises ValueError for an empty list: an empty sheet is always a mistake.
    """
    if not slips:
        raise ValueError("no invite slips to print")
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    font, _embedded = _pdf_cjk_font()
    layout = _Layout(cols=2, rows=4, margin=8 * mm, page_w=A4[0], page_h=A4[1])
    texts = _Texts(drawable(heading), (drawable(lines[0]), drawable(lines[1])), drawable(code_label))
    per_page = layout.cols * layout.rows
    buffer = io.BytesIO()
    # invariant: no creation date or random id, so the same slips give the same bytes.
    canvas = Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1)
    canvas.setTitle(texts.heading)
    for start in range(0, len(slips), per_page):
        page = slips[start : start + per_page]
        _draw_cut_lines(canvas, layout, len(page))
        for index, slip in enumerate(page):
            x, y = layout.origin(index)
            _draw_slip(canvas, slip, texts, font, x, y, layout.slip_w, layout.slip_h)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _draw_cut_lines(canvas: Canvas, layout: _Layout, count: int) -> None:
    """Dashed lines around the slips on this page, each shared edge drawn once."""
    edges: set[tuple[float, float, float, float]] = set()
    for index in range(count):
        x, y = layout.origin(index)
        x2, y2 = x + layout.slip_w, y + layout.slip_h
        edges |= {(x, y, x2, y), (x, y2, x2, y2), (x, y, x, y2), (x2, y, x2, y2)}
    canvas.saveState()
    canvas.setDash(4, 3)
    canvas.setLineWidth(0.5)
    canvas.setStrokeGray(0.55)
    for x1, y1, x2, y2 in sorted(edges):
        canvas.line(x1, y1, x2, y2)
    canvas.restoreState()


def _draw_slip(
    canvas: Canvas, slip: InviteSlip, texts: _Texts, font: str, x: float, y: float, w: float, h: float
) -> None:
    """One slip: heading on top, home and code on the left, QR code on the right, instructions below."""
    from reportlab.lib.units import mm

    pad = 5 * mm
    qr_side = 32 * mm
    top = y + h - pad
    inner_w = w - 2 * pad

    size, heading = _fit((texts.heading,), font, inner_w, 7 * mm, 13, 6.5)
    top = _draw_lines(canvas, heading, font, size, x + pad, top) - 1.5 * mm
    canvas.saveState()
    canvas.setStrokeGray(0.7)
    canvas.setLineWidth(0.4)
    canvas.line(x + pad, top, x + w - pad, top)
    canvas.restoreState()
    top -= 2 * mm

    quiet = _draw_qr(canvas, slip.link, x + w - pad - qr_side, top - qr_side, qr_side)
    left_w = inner_w - qr_side - quiet - 1 * mm
    _draw_home_and_code(canvas, slip, texts.code_label, font, x + pad, top, left_w, qr_side)

    bottom_box = top - qr_side - 2.5 * mm - (y + pad)
    size, instructions = _fit(texts.lines, font, inner_w, bottom_box, 10.5, 6, 8.5)
    _draw_lines(canvas, instructions, font, size, x + pad, top - qr_side - 2.5 * mm)


def _draw_home_and_code(
    canvas: Canvas, slip: InviteSlip, code_label: str, font: str, x: float, top: float, width: float, height: float
) -> None:
    """The home's label (large, faux-bold) and the invite code (larger, letter-spaced) beside the QR code."""
    from reportlab.lib.units import mm

    size, label = _fit((drawable(slip.unit_label),), font, width, 0.45 * height, 24, 9, 17)
    bottom = _draw_lines(canvas, label, font, size, x, top, bold=True)

    label_size, small = _fit((code_label,), font, width, 5 * mm, 9.5, 6)
    bottom = _draw_lines(canvas, small, font, label_size, x, bottom - 1.5 * mm, gray=0.35)

    code_font = _LATIN_BOLD if slip.code.isascii() else font
    spacing, code_size = _code_size(slip.code, code_font, width, max(bottom - (top - height), 6.0))
    canvas.setFont(code_font, code_size)
    canvas.drawString(x, bottom - code_size * 0.95, slip.code, charSpace=spacing)


def _code_size(code: str, font: str, width: float, height: float) -> tuple[float, float]:
    """The letter spacing and size for the code: as large as 26 pt, shrunk to fit the column.

    Spaced letters are kept down to 6 pt; a code longer than any the bot issues is set unspaced,
    as small as it takes to fit.
    """
    size = min(26.0, height / 1.05)
    while size >= 6:
        spacing = size * 0.12
        if _width(code, font, size) + spacing * max(0, len(code) - 1) <= width:
            return spacing, size
        size -= 0.5
    return 0.0, min(6.0, width / max(_width(code, font, 1.0), 1e-6))


def _draw_lines(
    canvas: Canvas,
    lines: Sequence[str],
    font: str,
    size: float,
    x: float,
    top: float,
    *,
    bold: bool = False,
    gray: float = 0.0,
) -> float:
    """Draw lines downward from top; return the y below the last line. Leaves the canvas state as it was."""
    canvas.saveState()
    text = canvas.beginText()
    text.setFont(font, size, leading=size * _LEADING)
    text.setTextOrigin(x, top - size)
    # CJK fonts here have no bold face: for bold, stroke the outlines as well as filling them.
    text.setTextRenderMode(2 if bold else 0)
    canvas.setLineWidth(size / 30)
    text.setFillGray(gray)
    text.setStrokeGray(gray)
    for line in lines:
        text.textLine(line)
    canvas.drawText(text)
    canvas.restoreState()
    return top - len(lines) * size * _LEADING


def _qr_matrix(link: str) -> list[list[bool]]:
    """The QR code's dark modules, without quiet zone, error correction M (15%).

    The mask pattern is fixed: choosing the "best" of eight takes 80% of qrcode's time
    (6 ms a code, 12 s for 2,000 slips) and any mask is valid for every reader; the tests decode
    the drawn code back.
    """
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0, mask_pattern=0)
    code.add_data(link)
    code.make(fit=True)
    return [[bool(cell) for cell in row] for row in code.get_matrix()]


def _draw_qr(canvas: Canvas, link: str, x: float, y: float, side: float) -> float:
    """Draw the QR code as vector squares filling side × side at (x, y); return its quiet-zone width.

    Drawn in module units under a scale, as one path of whole-number rectangles filled at once:
    the squares meet without seams, and the operators are written directly (``addLiteral``)
    because formatting 140,000 coordinates through reportlab's path object took 40% of the time.
    """
    matrix = _qr_matrix(link)
    n = len(matrix)
    module = side / n
    rects = " ".join(
        f"{start} {n - 1 - row_index} {length} 1 re"
        for row_index, row in enumerate(matrix)
        for start, length in _dark_runs(row)
    )
    canvas.saveState()
    canvas.translate(x, y)
    canvas.scale(module, module)
    canvas.setFillGray(0)
    canvas.addLiteral(f"{rects} f")
    canvas.restoreState()
    return 4 * module


def _dark_runs(row: Sequence[bool]) -> Iterator[tuple[int, int]]:
    """(start, length) of each run of dark modules in a row."""
    start = -1
    for index, dark in enumerate((*row, False)):
        if dark and start < 0:
            start = index
        elif not dark and start >= 0:
            yield start, index - start
            start = -1


# ---------------------------------------------------------------------------------------------
# Invite slips: the CSV


def invite_csv(slips: Sequence[InviteSlip], *, headers: tuple[str, str, str]) -> bytes:
    """Unit, code and link per row, in the given order, as UTF-8 with a BOM.

    The BOM is what makes Excel on Chinese Windows read UTF-8 instead of GBK.
    """
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows((slip.unit_label, slip.code, slip.link) for slip in slips)
    return buffer.getvalue().encode("utf-8-sig")


# ---------------------------------------------------------------------------------------------
# Charts

_WIDTH_IN = 10.0
_DPI = 100  # 10 in × 100 dpi = 1000 px: a phone screen's width at 2-3× density
_HOMES_COLOUR = "#2b6cb0"
_AREA_COLOUR = "#ed8936"
_RESULT_COLOURS = ("#2f9e44", "#e03131", "#868e96", "#dee2e6")
_RESULT_INK = ("white", "white", "white", "#343a40")
_VERTICAL_MAX = 12  # more buildings than this read better as horizontal bars
_MIN_LABELLED_SHARE = 7.0  # percent: a narrower segment cannot hold "12.3%" at 13 pt


def _share(part: int, whole: int) -> float:
    """A percentage for drawing only (never for deciding anything); 0 when the whole is 0."""
    return 100.0 * part / whole if whole > 0 else 0.0


def _percent_text(part: int, whole: int) -> str:
    """'67%', or a dash when there is nothing to divide by (a building with no homes on the roll)."""
    return f"{_share(part, whole):.0f}%" if whole > 0 else "–"


def _new_figure(height_in: float, title: str, font: _ChartFont, *, title_pad: float = 8) -> tuple[Figure, Axes]:
    """A titled figure on the Agg canvas, outside pyplot, with one axes and a constrained layout.

    The title belongs to the axes (not ``suptitle``) so that title_pad can leave room for a
    legend between it and the plot: the constrained layout stacks a figure legend over a
    suptitle instead of under it.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(_WIDTH_IN, height_in), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(drawable(title), loc="left", pad=title_pad, fontproperties=font.props(18))
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_axisbelow(True)
    return figure, axes


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def _percent_axis(axis: Axis, font: _ChartFont) -> None:
    """Ticks at 0, 20, … 100 written as percentages."""
    from matplotlib.ticker import FixedLocator, PercentFormatter

    axis.set_major_locator(FixedLocator([0, 20, 40, 60, 80, 100]))
    axis.set_major_formatter(PercentFormatter(100, decimals=0))
    for tick in axis.get_ticklabels():
        tick.set_fontproperties(font.props(12))


def turnout_chart_png(rows: Sequence[BuildingTurnout], *, title: str, homes_label: str, area_label: str) -> bytes:
    """Per building, the share of homes and the share of area that have voted, as a 1000 px wide PNG.

    Up to 12 buildings stand as vertical bar pairs; more lie horizontally, one row each, with the
    picture growing taller, so 60 buildings still read on a phone. A building with nothing on
    the roll shows a dash instead of a share.
    """
    from matplotlib.patches import Patch

    font = _chart_font(CJK_FONT_CANDIDATES)
    horizontal = len(rows) > _VERTICAL_MAX
    height = max(5.0, 1.8 + 0.42 * len(rows)) if horizontal else 6.5
    figure, axes = _new_figure(height, title, font, title_pad=36)
    series = (
        (
            [_share(r.voted_units, r.units) for r in rows],
            [_percent_text(r.voted_units, r.units) for r in rows],
            _HOMES_COLOUR,
            homes_label,
        ),
        (
            [_share(r.voted_area, r.area) for r in rows],
            [_percent_text(r.voted_area, r.area) for r in rows],
            _AREA_COLOUR,
            area_label,
        ),
    )
    labels = [drawable(r.label) for r in rows]
    bar = 0.4
    value_props = font.props(12 if len(rows) <= 8 or horizontal else 10.5)
    for offset, (values, texts, colour, _name) in zip((-bar / 2, bar / 2), series, strict=True):
        positions = [index + offset for index in range(len(rows))]
        if horizontal:
            bars = axes.barh(positions, values, bar, color=colour)
        else:
            bars = axes.bar(positions, values, bar, color=colour)
        axes.bar_label(bars, texts, padding=2, fontproperties=value_props)
    if horizontal:
        axes.set_yticks(range(len(rows)), labels, fontproperties=font.props(12))
        axes.set_ylim(len(rows) - 0.5, -0.5)  # the first building on top
        axes.set_xlim(0, 110)
        _percent_axis(axes.xaxis, font)
        axes.grid(axis="x", alpha=0.3)
    else:
        crowded = len(rows) > 6
        axes.set_xticks(
            range(len(rows)),
            labels,
            fontproperties=font.props(12 if crowded else 14),
            rotation=30 if crowded else 0,
            ha="right" if crowded else "center",
            rotation_mode="anchor",
        )
        axes.set_xlim(-0.6, max(len(rows), 1) - 0.4)
        axes.set_ylim(0, 110)
        _percent_axis(axes.yaxis, font)
        axes.grid(axis="y", alpha=0.3)
    # also with no bars
    handles = [Patch(color=colour, label=drawable(name)) for _values, _texts, colour, name in series]
    axes.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0, 1),
        ncols=2,
        frameon=False,
        prop=font.props(13),
        borderaxespad=0.2,
    )
    return _png(figure)


def result_chart_png(bars: Sequence[ResultBar], *, title: str, legend: tuple[str, str, str, str]) -> bytes:
    """A vote's result as 100 % stacked horizontal bars, one per dimension, as a 1000 px wide PNG.

    Agree, oppose, abstain and not voted in that order; each segment wide enough carries its
    percentage, and the share needed to pass is a dashed line across its bar.
    """
    from matplotlib.patches import Patch

    font = _chart_font(CJK_FONT_CANDIDATES)
    figure, axes = _new_figure(2.0 + 1.3 * max(len(bars), 1), title, font)
    for position, item in enumerate(bars):
        _draw_result_bar(axes, position, item, font)
    axes.set_yticks(range(len(bars)), [drawable(b.label) for b in bars], fontproperties=font.props(13))
    axes.set_ylim(max(len(bars), 1) - 0.5, -0.5)
    axes.set_xlim(0, 100)
    _percent_axis(axes.xaxis, font)
    handles = [Patch(color=colour, label=drawable(name)) for colour, name in zip(_RESULT_COLOURS, legend, strict=True)]
    figure.legend(handles=handles, loc="outside lower left", ncols=4, frameon=False, prop=font.props(13))
    return _png(figure)


def _draw_result_bar(axes: Axes, position: int, item: ResultBar, font: _ChartFont) -> None:
    """One stacked bar with its segment percentages and threshold line."""
    from matplotlib.patheffects import withStroke

    parts = (item.agree, item.oppose, item.abstain, item.not_voted)
    total = sum(parts)
    left = 0.0
    for part, colour, ink in zip(parts, _RESULT_COLOURS, _RESULT_INK, strict=True):
        width = _share(part, total)
        axes.barh(position, width, 0.6, left=left, color=colour, edgecolor="white", linewidth=1)
        if width >= _MIN_LABELLED_SHARE:
            label = axes.text(
                left + width / 2,
                position,
                f"{width:.1f}%",
                ha="center",
                va="center",
                color=ink,
                fontproperties=font.props(14),
            )
            label.set_path_effects([withStroke(linewidth=0.8, foreground=ink)])  # bold without a bold face
        left += width
    if item.threshold is not None and not math.isnan(item.threshold):
        at = 100 * min(max(item.threshold, 0.0), 1.0)
        axes.plot([at, at], [position - 0.42, position + 0.42], color="#212529", linestyle=(0, (4, 2)), linewidth=2.2)
        axes.text(
            at, position - 0.44, f"{at:.1f}%", ha="center", va="bottom", color="#212529", fontproperties=font.props(12)
        )
