"""Roster and ballot files: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030) and .xlsx, headers in English or Chinese.

Pure: takes the file's bytes and name, never opens anything. On bad input nothing is returned;
`InputFileError` lists every problem found, by row number as a spreadsheet shows it.
"""

from __future__ import annotations

import csv
import io
import operator
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from voting.errors import FileProblem, InputFileError, Problem
from voting.model import AreaSource, Choice, Roster, Unit, UnitStatus, parse_area

__all__ = ["Sheet", "read_ballots", "read_roster", "read_sheet"]

_XLSX_MAGIC = b"PK\x03\x04"
_AREA_SUFFIX = re.compile(r"\s*(m²|m2|㎡|平方米|平米)$", re.IGNORECASE)
_SPACES = re.compile(r"[\s\u3000]+")


def _norm_header(text: str) -> str:
    return _SPACES.sub("", text).lower().replace("_", "").replace("-", "").strip("()（）")


# Canonical field -> accepted header spellings (compared after _norm_header).
ROSTER_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "unit_id": ("unit_id", "unit", "unitid", "房屋编号", "户号", "房屋", "编号", "单元号"),
    "area_m2": (
        "area_m2",
        "area",
        "aream2",
        "面积",
        "建筑面积",
        "专有部分面积",
        "专有面积",
        "面积(m²)",
        "面积(㎡)",
        "面积(平方米)",
        "建筑面积(m²)",
        "建筑面积(㎡)",
        "建筑面积(平方米)",
    ),
    "owner": ("owner", "owner_key", "ownerkey", "业主", "业主姓名", "产权人", "业主编号", "所有权人"),
    "status": ("status", "状态", "销售状态", "房屋状态"),
    "area_source": ("area_source", "areasource", "面积来源", "面积依据"),
    "building": ("building", "楼栋", "楼号", "幢", "栋"),
    "entrance": ("entrance", "单元"),
    "room": ("room", "房号", "室号", "门牌号"),
    "phone": ("phone", "telephone", "mobile", "电话", "手机", "手机号", "联系电话", "联系方式"),
}

BALLOT_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "unit_id": ROSTER_COLUMNS["unit_id"],
    "choice": ("choice", "vote", "选择", "表决意见", "意见", "表决"),
}

STATUS_WORDS: Mapping[str, UnitStatus] = {
    "sold": UnitStatus.SOLD,
    "已售": UnitStatus.SOLD,
    "售出": UnitStatus.SOLD,
    "已出售": UnitStatus.SOLD,
    "unsold": UnitStatus.UNSOLD,
    "未售": UnitStatus.UNSOLD,
    "未出售": UnitStatus.UNSOLD,
    "undelivered": UnitStatus.UNDELIVERED,
    "未交付": UnitStatus.UNDELIVERED,
}
AREA_SOURCE_WORDS: Mapping[str, AreaSource] = {
    "registry": AreaSource.REGISTRY,
    "登记": AreaSource.REGISTRY,
    "不动产登记簿": AreaSource.REGISTRY,
    "登记簿": AreaSource.REGISTRY,
    "产权证": AreaSource.REGISTRY,
    "survey": AreaSource.SURVEY,
    "测绘": AreaSource.SURVEY,
    "实测": AreaSource.SURVEY,
    "contract": AreaSource.CONTRACT,
    "合同": AreaSource.CONTRACT,
    "买卖合同": AreaSource.CONTRACT,
    "预售合同": AreaSource.CONTRACT,
}
CHOICE_WORDS: Mapping[str, Choice] = {
    "agree": Choice.AGREE,
    "同意": Choice.AGREE,
    "赞成": Choice.AGREE,
    "disagree": Choice.DISAGREE,
    "反对": Choice.DISAGREE,
    "不同意": Choice.DISAGREE,
    "abstain": Choice.ABSTAIN,
    "弃权": Choice.ABSTAIN,
}


@dataclass(frozen=True, slots=True)
class Sheet:
    """A table's header and its data rows, streamed: (row number as a spreadsheet shows it, cells)."""

    header: tuple[str, ...]
    rows: Iterator[tuple[int, list[str]]]


def _decode(data: bytes, filename: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputFileError(filename, [FileProblem(Problem.UNREADABLE_ENCODING)])


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        # repr is the shortest text that round-trips: 60.1 -> "60.1", not 60.099999...
        text = repr(value)
        if text.endswith(".0"):
            text = text[:-2]
        if "e" in text or "E" in text:
            text = format(Decimal(text), "f")
        return text
    return str(value).strip()


def _read_xlsx(data: bytes, filename: str) -> Sheet:
    import openpyxl  # the one file-format reader the core uses; imported only for .xlsx
    from openpyxl.utils.exceptions import InvalidFileException

    def fail(exc: Exception) -> InputFileError:
        return InputFileError(filename, [FileProblem(Problem.UNREADABLE_FILE, value=str(exc) or type(exc).__name__)])

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        values = book.worksheets[0].iter_rows(values_only=True)
        header: tuple[str, ...] | None = None
        number = 0
        for number, raw in enumerate(values, start=1):  # noqa: B007 - number is used after the loop
            cells = tuple(_cell_text(v) for v in raw)
            if any(cells):
                header = cells
                break
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError, IndexError) as exc:
        raise fail(exc) from None
    if header is None:
        book.close()
        raise InputFileError(filename, [FileProblem(Problem.EMPTY_FILE)])

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for n, raw in enumerate(values, start=number + 1):
                yield n, [_cell_text(v) for v in raw]
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            raise fail(exc) from None
        finally:
            book.close()

    return Sheet(header, rows())


def _read_csv(data: bytes, filename: str) -> Sheet:
    text = _decode(data, filename)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)

    def fail(exc: csv.Error, row: int) -> InputFileError:
        return InputFileError(filename, [FileProblem(Problem.UNREADABLE_FILE, row=row, value=str(exc))])

    # Row numbers count records, as a spreadsheet shows rows: a quoted cell with a line break
    # (Alt+Enter in Excel) spans two lines of the file but is still one row.
    header: tuple[str, ...] | None = None
    record = 0
    try:
        for fields in reader:
            record += 1
            if any(f.strip() for f in fields):
                header = tuple(f.strip() for f in fields)
                break
    except csv.Error as exc:
        raise fail(exc, record + 1) from None
    if header is None:
        raise InputFileError(filename, [FileProblem(Problem.EMPTY_FILE)])

    def rows() -> Iterator[tuple[int, list[str]]]:
        number = record
        try:
            for fields in reader:
                number += 1
                yield number, fields
        except csv.Error as exc:
            raise fail(exc, number + 1) from None

    return Sheet(header, rows())


def read_sheet(data: bytes, filename: str) -> Sheet:
    """Read the first sheet of an .xlsx, or a CSV in any of the accepted encodings."""
    if data.startswith(_XLSX_MAGIC) or filename.lower().endswith((".xlsx", ".xlsm")):
        return _read_xlsx(data, filename)
    return _read_csv(data, filename)


def _columns(
    sheet: Sheet, spec: Mapping[str, tuple[str, ...]], required: tuple[tuple[str, ...], ...], filename: str
) -> dict[str, int]:
    """Map canonical fields to column indexes; `required` lists alternatives of which one must exist."""
    lookup = {_norm_header(alias): field for field, aliases in spec.items() for alias in aliases}
    found: dict[str, int] = {}
    problems: list[FileProblem] = []
    for index, name in enumerate(sheet.header):
        field = lookup.get(_norm_header(name))
        if field is None:
            continue
        if field in found:
            problems.append(FileProblem(Problem.DUPLICATE_COLUMN, row=1, column=name, value=field))
            continue
        found[field] = index
    for alternatives in required:
        if not any(a in found for a in alternatives):
            problems.append(
                FileProblem(
                    Problem.MISSING_COLUMN,
                    row=1,
                    column=alternatives[0],
                    detail={"accepted": list(spec[alternatives[0]][:4]), "alternatives": list(alternatives)},
                )
            )
    if problems:
        raise InputFileError(filename, problems)
    return found


def _area(text: str) -> tuple[int | None, Problem | None]:
    try:
        area = parse_area(text)  # the common, fast case: "60" or "60.25"
    except ValueError:
        area = 0
    if area > 0:
        return area, None
    cleaned = _AREA_SUFFIX.sub("", text.strip())
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None, Problem.BAD_AREA
    if not value.is_finite() or not re.fullmatch(r"[+-]?\d+(\.\d*)?", cleaned):
        return None, Problem.BAD_AREA
    if value <= 0:
        return None, Problem.AREA_NOT_POSITIVE
    if value != value.quantize(Decimal("0.01")):
        return None, Problem.AREA_TOO_PRECISE
    return int(value * 100), None


def read_roster(data: bytes, filename: str) -> Roster:
    """Parse a roster file into a Roster, or raise InputFileError listing every bad row."""
    sheet = read_sheet(data, filename)
    cols = _columns(sheet, ROSTER_COLUMNS, (("unit_id", "room"), ("area_m2",)), filename)
    problems: list[FileProblem] = []
    units: list[Unit] = []
    first_row: dict[str, int] = {}
    order = ("unit_id", "area_m2", "owner", "status", "area_source", "building", "entrance", "room", "phone")
    width = len(sheet.header)
    # A missing column reads the blank cell appended to every row at index `width`.
    pick = operator.itemgetter(*(cols.get(name, width) for name in order))
    strip = str.strip
    sold, registry = UnitStatus.SOLD, AreaSource.REGISTRY
    owners: dict[str, str] = {}  # one string per owner, shared by all their units

    for number, row in sheet.rows:
        cells = [*row, *([""] * (width + 1 - len(row)))] if len(row) <= width else [*row[:width], ""]
        unit_id, area_text, owner, status_text, source_text, building, entrance, room, phone = map(strip, pick(cells))
        known = unit_id or area_text or owner or status_text or source_text or building or entrance or room
        if not known and not any(c.strip() for c in cells):
            continue  # a blank row
        bad = len(problems)
        if not unit_id and (building or entrance) and not room:  # "3-2" would pass for a home: it is not one
            problems.append(FileProblem(Problem.MISSING_VALUE, number, "room"))
        elif not unit_id:
            unit_id = "-".join(p for p in (building, entrance, room) if p)
        if not unit_id and len(problems) == bad:
            problems.append(FileProblem(Problem.MISSING_VALUE, number, "unit_id"))
        area: int | None = None
        if not area_text:
            problems.append(FileProblem(Problem.MISSING_VALUE, number, "area_m2"))
        else:
            area, area_problem = _area(area_text)
            if area_problem is not None:
                problems.append(FileProblem(area_problem, number, "area_m2", area_text))
        status = STATUS_WORDS.get(status_text.lower()) if status_text else sold
        if status is None:
            problems.append(
                FileProblem(
                    Problem.UNKNOWN_STATUS,
                    number,
                    "status",
                    status_text,
                    {"accepted": ["sold", "unsold", "undelivered", "已售", "未售", "未交付"]},
                )
            )
        source = AREA_SOURCE_WORDS.get(source_text.lower()) if source_text else registry
        if source is None:
            problems.append(
                FileProblem(
                    Problem.UNKNOWN_AREA_SOURCE,
                    number,
                    "area_source",
                    source_text,
                    {"accepted": ["registry", "survey", "contract", "登记", "测绘", "合同"]},
                )
            )
        if unit_id:
            first = first_row.setdefault(unit_id, number)
            if first != number:
                problems.append(FileProblem(Problem.DUPLICATE_UNIT, number, "unit_id", unit_id, {"first_row": first}))
        if len(problems) > bad:
            continue
        if owner:
            owner = owners.setdefault(owner, owner)
        units.append(Unit(unit_id, area, owner, status, building, entrance, room, source, phone[:50]))  # type: ignore[arg-type]
    if problems:
        raise InputFileError(filename, problems)
    if not units:
        raise InputFileError(filename, [FileProblem(Problem.EMPTY_FILE)])
    return Roster(tuple(units))


def read_ballots(data: bytes, filename: str, roster: Roster) -> list[tuple[str, Choice]]:
    """Parse ballots `(unit_id, choice)` in the order cast; every unit must be in `roster`."""
    sheet = read_sheet(data, filename)
    cols = _columns(sheet, BALLOT_COLUMNS, (("unit_id",), ("choice",)), filename)
    unit_col, choice_col = cols["unit_id"], cols["choice"]
    problems: list[FileProblem] = []
    ballots: list[tuple[str, Choice]] = []
    for number, cells in sheet.rows:
        unit_id = cells[unit_col].strip() if unit_col < len(cells) else ""
        choice_text = cells[choice_col].strip() if choice_col < len(cells) else ""
        if not unit_id and not choice_text and not any(c.strip() for c in cells):
            continue  # a blank row
        choice = CHOICE_WORDS.get(choice_text.lower())
        ok = True
        if not unit_id:
            problems.append(FileProblem(Problem.MISSING_VALUE, number, "unit_id"))
            ok = False
        elif unit_id not in roster:
            problems.append(FileProblem(Problem.UNKNOWN_UNIT, number, "unit_id", unit_id))
            ok = False
        if not choice_text:
            problems.append(FileProblem(Problem.MISSING_VALUE, number, "choice"))
            ok = False
        elif choice is None:
            problems.append(
                FileProblem(
                    Problem.UNKNOWN_CHOICE,
                    number,
                    "choice",
                    choice_text,
                    {"accepted": ["agree", "disagree", "abstain", "同意", "反对", "弃权"]},
                )
            )
            ok = False
        if ok:
            assert choice is not None
            ballots.append((unit_id, choice))
    if problems:
        raise InputFileError(filename, problems)
    return ballots
