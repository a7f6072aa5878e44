"""Invite sheets, their CSV and the vote charts: real PDFs and PNGs, read back with real parsers.

The QR codes are checked end to end: the rectangles are read out of the PDF's content stream,
painted into a bitmap and decoded with zxing-cpp (a self-contained wheel, no system library),
so a mistake in the matrix, its orientation or its drawing fails here, not at a resident's door.
"""

from __future__ import annotations

import csv
import io
import struct
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from pypdf import PdfReader
from pypdf.generic import ContentStream

from bot import documents
from bot.documents import (
    BuildingTurnout,
    InviteSlip,
    ResultBar,
    invite_csv,
    invite_sheet_pdf,
    result_chart_png,
    turnout_chart_png,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
HEADING = "幸福里社区（老旧小区改造）加装电梯业主表决"
LINES = ("用微信以外的 Telegram 扫码，或发送 /start 后输入邀请码", "每户一码，请妥善保管；如有疑问请联系社区工作人员")
CODE_LABEL = "邀请码"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MM = 72 / 25.4
LABELS = (
    "1号楼1单元101",
    "12号楼3单元1502",
    "Building 7, Entrance 2, Flat 1203",
    "幸福里社区东区第十二号楼二单元三〇二室（底商）附属储藏间" * 3,
    "X",
    "5-2-402",
    "Averyveryverylongunbreakablelabelwithoutanyspacesatall1234567890",
    "9号楼1单元601",
)

# No warning filter here: a glyph matplotlib cannot find ("Glyph … missing from font(s)") is an error,
# as everywhere in the suite, and the font is the package's own, so this holds on any machine.


def _slips(count: int) -> list[InviteSlip]:
    slips = []
    for index in range(count):
        code = f"AB{index % 10}D-{index:04d}"
        link = f"https://t.me/renovote_demo_bot?start={code.replace('-', '')}"
        slips.append(InviteSlip(LABELS[index % len(LABELS)], code, link))
    return slips


def _sheet(slips: list[InviteSlip]) -> bytes:
    return invite_sheet_pdf(slips, heading=HEADING, lines=LINES, code_label=CODE_LABEL)


def _qr_drawings(reader: PdfReader, page_number: int) -> list[tuple[float, list[tuple[int, int, int, int]]]]:
    """Each QR code on a page: its module size in points and its rectangles in module units."""
    found: list[tuple[float, list[tuple[int, int, int, int]]]] = []
    module, rects = 0.0, []
    for operands, operator in ContentStream(reader.pages[page_number].get_contents(), reader).operations:
        if operator == b"cm":
            module = float(operands[0])
        elif operator == b"re":
            rects.append(tuple(int(value) for value in operands))
        elif operator == b"f" and rects:
            found.append((module, rects))
            rects = []
    return found


def _decode(rects: list[tuple[int, int, int, int]]) -> str:
    """Paint the rectangles (PDF y grows upwards) with a 4-module quiet zone and decode them.

    zxing also reads a mirrored code, and reports it as turned: upright means drawn the right way round.
    """
    size = max(x + w for x, _y, w, _h in rects)
    quiet, scale = 4, 6
    bitmap = np.full((size + 2 * quiet, size + 2 * quiet), 255, dtype=np.uint8)
    for x, y, w, h in rects:
        top = size - (y + h)
        bitmap[quiet + top : quiet + top + h, quiet + x : quiet + x + w] = 0
    results = zxingcpp.read_barcodes(np.kron(bitmap, np.ones((scale, scale), dtype=np.uint8)))
    assert len(results) == 1
    assert results[0].orientation == 0, "the code is drawn turned or mirrored"
    return str(results[0].text)


def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def _turnout(count: int) -> list[BuildingTurnout]:
    return [BuildingTurnout(f"{i + 1}号楼", 24, (i * 7) % 25, 180_000, (i * 53_000) % 180_001) for i in range(count)]


def _turnout_png(rows: list[BuildingTurnout]) -> bytes:
    return turnout_chart_png(rows, title="各楼栋投票进度", homes_label="已投票户数", area_label="已投票面积")


RESULT_BARS = [
    ResultBar("面积 / area", 812_345, 60_000, 30_000, 97_655, 2 / 3),
    ResultBar("人数 / headcount", 80, 9, 3, 28, 2 / 3),
]


def _result_png(bars: list[ResultBar]) -> bytes:
    return result_chart_png(bars, title="加装电梯：表决结果", legend=("同意", "反对", "弃权", "未投票"))


@pytest.mark.parametrize(("count", "pages"), [(1, 1), (8, 1), (9, 2), (50, 7)])
def test_an_invite_sheet_holds_eight_slips_a_page(count: int, pages: int) -> None:
    pdf = _sheet(_slips(count))
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == pages
    assert sum(len(_qr_drawings(reader, page)) for page in range(pages)) == count


def test_an_empty_sheet_is_refused() -> None:
    with pytest.raises(ValueError, match="no invite slips"):
        _sheet([])


def test_every_qr_code_decodes_to_its_link_and_is_at_least_25_mm() -> None:
    slips = _slips(9)
    reader = PdfReader(io.BytesIO(_sheet(slips)))
    drawings = _qr_drawings(reader, 0) + _qr_drawings(reader, 1)
    assert [_decode(rects) for _module, rects in drawings] == [slip.link for slip in slips]
    for module, rects in drawings:
        modules = max(x + w for x, _y, w, _h in rects)
        assert module * modules >= 25 * MM


def test_the_bundled_font_is_embedded_as_a_subset_and_the_slip_text_reads_back() -> None:
    slips = _slips(2)
    page = PdfReader(io.BytesIO(_sheet(slips))).pages[0]
    fonts = [font.get_object() for font in page["/Resources"]["/Font"].values()]
    cjk = [font for font in fonts if "RenovoteSansSC" in str(font.get("/BaseFont", ""))]
    assert cjk and all("/FontFile2" in font["/FontDescriptor"] for font in cjk), fonts
    embedded = cjk[0]["/FontDescriptor"]["/FontFile2"].get_object().get_data()
    assert 1_000 < len(embedded) < 200_000  # the glyphs this sheet uses, not the whole 2.9 MB font
    text = page.extract_text()
    for expected in (HEADING, *LINES, CODE_LABEL, slips[0].unit_label, slips[0].code, slips[1].code):
        assert expected in text


def test_emoji_in_a_heading_or_label_are_left_out_of_the_sheet() -> None:
    slip = InviteSlip("🏠 3号楼2单元501", "ABCD-EFGH", "https://t.me/b?start=ABCDEFGH")
    data = invite_sheet_pdf([slip], heading="🛗 加装电梯 ✔", lines=LINES, code_label=CODE_LABEL)
    text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert "加装电梯 ✓" in text and "3号楼2单元501" in text
    assert "🛗" not in text and "🏠" not in text


@pytest.mark.parametrize(
    "text",
    [
        "幸福里社区东区第十二号楼二单元三〇二室（底商）附属储藏间" * 20,
        "Averyveryverylongunbreakablelabelwithoutanyspacesatall" * 5,
        "Building 7, Entrance 2, Flat 1203, " * 10,
    ],
)
def test_long_text_is_shrunk_wrapped_or_cut_but_never_wider_or_taller_than_its_box(text: str) -> None:
    font, _embedded = documents._pdf_cjk_font()
    width, height = 50 * MM, 14 * MM
    size, lines = documents._fit((text,), font, width, height, 24, 9, 17)
    assert 9 <= size <= 24 and lines
    assert all(documents._width(line, font, size) <= width + 1e-6 for line in lines)
    assert len(lines) * size * documents._LEADING <= height + 1e-6


def test_the_csv_has_a_bom_and_round_trips_in_order() -> None:
    slips = [*_slips(3), InviteSlip('3号楼, "东"单元', "XKRT-9MPQ", "https://t.me/b?start=XKRT9MPQ")]
    data = invite_csv(slips, headers=("房屋", "邀请码", "链接"))
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows == [["房屋", "邀请码", "链接"], *([s.unit_label, s.code, s.link] for s in slips)]


@pytest.mark.parametrize("buildings", [0, 1, 12, 13])
def test_turnout_charts_are_1000_px_wide_pngs_for_any_number_of_buildings(buildings: int) -> None:
    rows = [*_turnout(buildings - 1), BuildingTurnout("空楼", 0, 0, 0, 0)] if buildings else []
    width, height = _png_size(_turnout_png(rows))
    assert width == 1000 and height >= 400


@pytest.mark.parametrize(
    "bars",
    [RESULT_BARS, RESULT_BARS[:1], [ResultBar("空", 0, 0, 0, 0, None)], []],
    ids=["two", "one", "zero-total", "none"],
)
def test_result_charts_are_1000_px_wide_pngs(bars: list[ResultBar]) -> None:
    width, _height = _png_size(_result_png(bars))
    assert width == 1000


def test_charts_render_in_worker_threads_without_pyplot() -> None:
    expected = _result_png(RESULT_BARS)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _i: _result_png(RESULT_BARS), range(4)))
    assert results == [expected] * 4
    assert "matplotlib.pyplot" not in sys.modules


def test_charts_draw_chinese_labels_money_and_square_metres_with_every_glyph_found() -> None:
    labels = ["幸福里1号楼", "喆园2栋", "东区（三期）", "Building 4"]
    rows = [BuildingTurnout(label, 10, 4, 60_000, 30_000) for label in labels]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph … missing from font(s)" would raise here
        turnout_chart_png(rows, title="🛗 加装电梯：¥8,550,000.00，12,345.67 ㎡", homes_label="户数", area_label="面积")
        result_chart_png(RESULT_BARS, title="业主表决 ✔", legend=("同意", "反对", "弃权", "未表决"))


def test_samples_are_written_for_a_person_to_look_at() -> None:
    """One of each file under var/test-artifacts/ (ignored by git), 60 buildings too: look at them after a change."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    slips = _slips(9)
    (ARTIFACTS / "invite-sheet.pdf").write_bytes(_sheet(slips))
    (ARTIFACTS / "invite.csv").write_bytes(invite_csv(slips, headers=("房屋", "邀请码", "链接")))
    (ARTIFACTS / "turnout-6.png").write_bytes(_turnout_png([*_turnout(5), BuildingTurnout("空楼", 0, 0, 0, 0)]))
    sixty = _turnout_png(_turnout(60))
    assert _png_size(sixty)[0] == 1000
    (ARTIFACTS / "turnout-60.png").write_bytes(sixty)
    (ARTIFACTS / "result.png").write_bytes(_result_png(RESULT_BARS))
    assert (ARTIFACTS / "invite-sheet.pdf").read_bytes().startswith(b"%PDF")
