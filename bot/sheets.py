"""Papers for door-to-door work: the list of homes that have not voted (XLSX and PDF) and the paper
ballot form (PDF), one per home or blank.

Like ``bot/documents.py``: bytes built in memory from texts the caller has already translated, the
package's own font embedded, emoji left out (``bot.fonts.drawable``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.documents import _LEADING, _draw_qr, _fit, _pdf_cjk_font, _wrap
from bot.fonts import drawable

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas

__all__ = ["BallotForm", "FormTexts", "VisitRow", "ballot_forms_pdf", "visit_list_pdf", "visit_list_xlsx"]


@dataclass(frozen=True, slots=True)
class VisitRow:
    """One home to visit, as printed: building, entrance, room, the home, owner, phone, bound or not."""

    building: str
    entrance: str
    room: str
    unit: str
    owner: str
    phone: str
    bound: str


def visit_list_xlsx(rows: Sequence[VisitRow], *, headers: Sequence[str], sheet: str) -> bytes:
    """The homes to visit as one worksheet, a header row and one home a row, in the given order."""
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet[:31]
    ws.append(list(headers))
    for row in rows:
        ws.append([row.building, row.entrance, row.room, row.unit, row.owner, row.phone, row.bound])
    for column, width in zip("ABCDEFG", (10, 8, 8, 16, 18, 16, 10), strict=True):
        ws.column_dimensions[column].width = width
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def visit_list_pdf(
    groups: Sequence[tuple[str, Sequence[VisitRow]]], *, heading: str, subheading: str, headers: Sequence[str]
) -> bytes:
    """A4 pages for the door-to-door round: a section a building (its name and count), one home a line
    with its owner, phone, whether the owner uses the chat, and a box to tick once visited."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    font, _embedded = _pdf_cjk_font()
    width, height = A4
    margin = 14 * mm
    columns = (0, 34 * mm, 80 * mm, 118 * mm, 150 * mm)  # home, owner, phone, chat, visited
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1)
    canvas.setTitle(drawable(heading))
    y = height - margin

    def new_page() -> float:
        canvas.showPage()
        return height - margin

    def header_row(top: float) -> float:
        canvas.setFont(font, 9)
        canvas.setFillGray(0.35)
        for x, text in zip(columns, headers, strict=True):
            canvas.drawString(margin + x, top - 9, drawable(text))
        canvas.setFillGray(0)
        return top - 14

    canvas.setFont(font, 16)
    for line in _wrap(drawable(heading), font, 16, width - 2 * margin):
        canvas.drawString(margin, y - 16, line)
        y -= 16 * _LEADING
    canvas.setFont(font, 10)
    canvas.drawString(margin, y - 10, drawable(subheading))
    y -= 22
    for building, rows in groups:
        if y < margin + 60:
            y = new_page()
        canvas.setFont(font, 13)
        canvas.drawString(margin, y - 13, drawable(building))
        y = header_row(y - 18)
        for row in rows:
            if y < margin + 14:
                y = header_row(new_page())
            canvas.setFont(font, 10.5)
            cells = (row.unit, row.owner, row.phone, row.bound)
            for x, text, room in zip(columns[:4], cells, (44, 44, 36, 30), strict=True):
                size, shown = _fit((drawable(text),), font, room * mm, 12, 10.5, 7)
                if shown:  # one line, shrunk or cut to its column
                    canvas.setFont(font, size)
                    canvas.drawString(margin + x, y - 11, shown[0])
            canvas.rect(margin + columns[4], y - 12, 10, 10)  # ticked by hand once visited
            canvas.setLineWidth(0.3)
            canvas.setStrokeGray(0.8)
            canvas.line(margin, y - 15, width - margin, y - 15)
            canvas.setStrokeGray(0)
            canvas.setLineWidth(1)
            y -= 17
        y -= 8
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class BallotForm:
    """One form: the home and owner printed on it (blank for a form filled in by hand) and its code
    (the QR code holds ``link``; the code is printed for typing)."""

    unit: str
    owner: str
    code: str
    link: str


@dataclass(frozen=True, slots=True)
class FormTexts:
    """The words of the form, already translated; `choices` are the three boxes."""

    heading: str
    title: str
    text: str
    rule: str
    deadline: str
    home_label: str
    owner_label: str
    choices: tuple[str, str, str]
    instruction: str
    signature: str
    date: str
    code_label: str


def ballot_forms_pdf(forms: Sequence[BallotForm], texts: FormTexts) -> bytes:
    """A4 paper ballot forms, one a page: the vote's title, text and rule, the home and owner (or lines to
    fill in), three large boxes, signature and date lines, and the form's code with its QR code, which the
    worker's paper-ballot entry accepts to select the home."""
    if not forms:
        raise ValueError("no ballot form to print")
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    font, _embedded = _pdf_cjk_font()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1)
    canvas.setTitle(drawable(texts.heading))
    for form in forms:
        _draw_form(canvas, font, form, texts)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _draw_form(canvas: Canvas, font: str, form: BallotForm, texts: FormTexts) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm

    width, height = A4
    margin = 18 * mm
    inner = width - 2 * margin
    y = height - margin

    def paragraph(text: str, size: float, *, gray: float = 0.0, room: float = inner) -> None:
        nonlocal y
        canvas.setFont(font, size)
        canvas.setFillGray(gray)
        for part in drawable(text).splitlines() or [""]:  # the text's own line breaks, then wrapped
            for line in _wrap(part, font, size, room) or [""]:
                canvas.drawString(margin, y - size, line)
                y -= size * _LEADING
        canvas.setFillGray(0)

    qr_side = 30 * mm
    _draw_qr(canvas, form.link, width - margin - qr_side, height - margin - qr_side, qr_side)
    canvas.setFont(font, 9)
    canvas.drawRightString(width - margin, height - margin - qr_side - 12, f"{drawable(texts.code_label)} {form.code}")
    paragraph(texts.heading, 18, room=inner - qr_side - 6 * mm)
    y -= 2
    paragraph(texts.title, 14, room=inner - qr_side - 6 * mm)
    y = min(y, height - margin - qr_side - 20) - 4
    paragraph(texts.text, 11)
    y -= 4
    paragraph(texts.rule, 10, gray=0.3)
    paragraph(texts.deadline, 10, gray=0.3)
    y -= 10
    for label, value in ((texts.home_label, form.unit), (texts.owner_label, form.owner)):
        canvas.setFont(font, 13)
        canvas.drawString(margin, y - 13, drawable(label))
        label_w = 30 * mm
        if value:
            canvas.setFont(font, 15)
            canvas.drawString(margin + label_w, y - 14, drawable(value))
        canvas.setLineWidth(0.6)
        canvas.line(margin + label_w, y - 17, margin + inner * 0.75, y - 17)
        y -= 28
    y -= 6
    paragraph(texts.instruction, 11)
    y -= 8
    box = 14 * mm
    slot = inner / 3
    for index, choice in enumerate(texts.choices):
        x = margin + index * slot
        canvas.setLineWidth(1.6)
        canvas.rect(x, y - box, box, box)
        canvas.setFont(font, 18)
        canvas.drawString(x + box + 4 * mm, y - box / 2 - 6, drawable(choice))
    y -= box + 22
    for label in (texts.signature, texts.date):
        canvas.setFont(font, 13)
        canvas.drawString(margin, y - 13, drawable(label))
        canvas.setLineWidth(0.6)
        canvas.line(margin + 40 * mm, y - 17, margin + inner * 0.8, y - 17)
        y -= 32
