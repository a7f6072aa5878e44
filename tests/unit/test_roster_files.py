"""Roster and ballot files as workers really send them: GBK/GB18030/UTF-8 CSV, .xlsx, bad rows.

Row numbers are as a spreadsheet shows them: the header is row 1, the first data row is row 2.
On bad input nothing is returned: `InputFileError` lists every problem found.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl
import pytest

from voting.errors import FileProblem, InputFileError, Problem
from voting.files import read_ballots, read_roster
from voting.model import DEVELOPER, AreaSource, Choice, Roster, Unit, UnitStatus

CHINESE_HEADER = "楼栋,单元,房号,建筑面积,业主,状态"
CHINESE_ROWS = [
    "1,1,101,60.25,张三,已售",
    "1,1,102,89.99,李四,已售",
    "1,2,201,120,张三,已售",
    "2,1,301,75.5,,未售",
    "2,1,302,75.5,,未交付",
]


def csv_bytes(lines: list[str], encoding: str = "utf-8") -> bytes:
    return ("\n".join(lines) + "\n").encode(encoding)


def roster_problems(data: bytes, filename: str = "roster.csv") -> tuple[FileProblem, ...]:
    """The problems of a roster file that must not load; fails the test if anything is returned."""
    with pytest.raises(InputFileError) as info:
        read_roster(data, filename)
    assert info.value.filename == filename
    return info.value.problems


def ballot_problems(data: bytes, roster: Roster, filename: str = "ballots.csv") -> tuple[FileProblem, ...]:
    with pytest.raises(InputFileError) as info:
        read_ballots(data, filename, roster)
    assert info.value.filename == filename
    return info.value.problems


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def assert_chinese_roster(roster: Roster) -> None:
    units = {u.unit_id: u for u in roster}
    assert list(units) == ["1-1-101", "1-1-102", "1-2-201", "2-1-301", "2-1-302"]
    assert units["1-1-101"] == Unit("1-1-101", 6025, "张三", UnitStatus.SOLD, "1", "1", "101", AreaSource.REGISTRY)
    assert units["1-1-102"].area == 8999
    assert units["1-2-201"].area == 12000
    assert (units["2-1-301"].status, units["2-1-302"].status) == (UnitStatus.UNSOLD, UnitStatus.UNDELIVERED)
    # 张三 (two units) once, 李四 once, the developer's two units once.
    assert roster.total.headcount == 3
    assert roster.total.area == 6025 + 8999 + 12000 + 7550 + 7550
    assert roster.owner_area[DEVELOPER] == 15100


# --- encodings and delimiters -------------------------------------------------------------------------


def test_gbk_roster_with_chinese_headers_is_read() -> None:
    data = csv_bytes([CHINESE_HEADER, *CHINESE_ROWS], "gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # really GBK, not UTF-8 in disguise
    assert_chinese_roster(read_roster(data, "花名册.csv"))


def test_gb18030_roster_with_a_character_outside_gbk_is_read() -> None:
    rare = "王𪚥"  # a four-byte GB18030 character that GBK cannot encode
    with pytest.raises(UnicodeEncodeError):
        rare.encode("gbk")
    rows = [*CHINESE_ROWS[:1], CHINESE_ROWS[1].replace("李四", rare), *CHINESE_ROWS[2:]]
    roster = read_roster(csv_bytes([CHINESE_HEADER, *rows], "gb18030"), "roster.csv")
    assert_chinese_roster(roster)
    assert {u.unit_id: u.owner for u in roster}["1-1-102"] == rare


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8"])
def test_utf8_roster_with_or_without_bom_is_read(encoding: str) -> None:
    data = csv_bytes([CHINESE_HEADER, *CHINESE_ROWS], encoding)
    assert data.startswith(b"\xef\xbb\xbf") is (encoding == "utf-8-sig")
    assert_chinese_roster(read_roster(data, "roster.csv"))


def test_bom_does_not_hide_the_first_english_column() -> None:
    """A BOM before "unit_id" must not turn the header into an unknown "\\ufeffunit_id" column."""
    roster = read_roster(csv_bytes(["unit_id,area_m2,owner", "101,60,p1"], "utf-8-sig"), "roster.csv")
    assert [tuple(u)[:3] for u in roster] == [("101", 6000, "p1")]


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolon_and_tab_delimited_rosters_are_read(delimiter: str) -> None:
    lines = [line.replace(",", delimiter) for line in [CHINESE_HEADER, *CHINESE_ROWS]]
    assert_chinese_roster(read_roster(csv_bytes(lines), "roster.csv"))


def test_semicolon_delimited_roster_with_decimal_comma_is_a_bad_area_not_a_split_cell() -> None:
    problems = roster_problems(csv_bytes(["unit_id;area_m2", "101;60,5", "102;70"]))
    assert problems == (FileProblem(Problem.BAD_AREA, 2, "area_m2", "60,5"),)


def test_windows_line_endings_and_quoted_cells_are_read() -> None:
    data = b'unit_id,area_m2,owner\r\n101,60.00,"Zhang, San"\r\n102,"70.10",p2\r\n'
    assert [tuple(u)[:3] for u in read_roster(data, "roster.csv")] == [
        ("101", 6000, "Zhang, San"),
        ("102", 7010, "p2"),
    ]


def test_explicit_unit_id_column_wins_over_building_entrance_room() -> None:
    data = csv_bytes(["房屋编号,楼栋,单元,房号,面积", "A-101,1,1,101,60"])
    (unit,) = read_roster(data, "roster.csv")
    assert (unit.unit_id, unit.building, unit.entrance, unit.room) == ("A-101", "1", "1", "101")


def test_area_source_and_english_status_words_are_read() -> None:
    data = csv_bytes(
        [
            "unit_id,area_m2,owner,status,area_source",
            "101,60,p1,sold,registry",
            "102,60,p2,SOLD,测绘",
            "103,60,,Unsold,合同",
        ]
    )
    sources = [(u.status, u.area_source) for u in read_roster(data, "roster.csv")]
    assert sources == [
        (UnitStatus.SOLD, AreaSource.REGISTRY),
        (UnitStatus.SOLD, AreaSource.SURVEY),
        (UnitStatus.UNSOLD, AreaSource.CONTRACT),
    ]


@pytest.mark.parametrize("text", ["60.25㎡", "60.25 m²", "60.25m2", "60.25 M2", "60.25平方米", "60.25 平米"])
def test_area_with_a_unit_suffix_is_accepted(text: str) -> None:
    (unit,) = read_roster(csv_bytes(["unit_id,area_m2", f"101,{text}"]), "roster.csv")
    assert unit.area == 6025


@pytest.mark.parametrize(
    ("text", "area"), [("60", 6000), ("60.5", 6050), ("60.05", 6005), ("0.01", 1), (" 60.2 ", 6020)]
)
def test_areas_are_read_exactly_in_hundredths(text: str, area: int) -> None:
    (unit,) = read_roster(csv_bytes(["unit_id,area_m2", f'101,"{text}"']), "roster.csv")
    assert unit.area == area


# --- .xlsx ----------------------------------------------------------------------------------------------


def test_xlsx_roster_with_numeric_area_cells_is_read() -> None:
    data = xlsx_bytes(
        [
            ["楼栋", "单元", "房号", "建筑面积", "业主", "状态"],
            ["1", "1", "101", 60.5, "张三", "已售"],
            ["1", "1", "102", 89.99, "李四", "已售"],
            [1, 2, 201, 60, "张三", None],
        ]
    )
    roster = read_roster(data, "roster.xlsx")
    assert [(u.unit_id, u.area, u.owner, u.status) for u in roster] == [
        ("1-1-101", 6050, "张三", UnitStatus.SOLD),
        ("1-1-102", 8999, "李四", UnitStatus.SOLD),
        ("1-2-201", 6000, "张三", UnitStatus.SOLD),
    ]
    assert roster.total.headcount == 2


def test_xlsx_area_cell_with_three_decimals_is_too_precise_at_its_row() -> None:
    data = xlsx_bytes([["unit_id", "area_m2"], ["101", 60.5], ["102", 59.999], ["103", 70]])
    assert roster_problems(data, "roster.xlsx") == (FileProblem(Problem.AREA_TOO_PRECISE, 3, "area_m2", "59.999"),)


@pytest.mark.parametrize("filename", ["roster.xlsx", "roster.csv"])
def test_truncated_xlsx_is_an_unreadable_file(filename: str) -> None:
    """The first 100 bytes of a real workbook: recognised as .xlsx by its zip magic, then unreadable."""
    data = xlsx_bytes([["unit_id", "area_m2"], ["101", 60]])[:100]
    (problem,) = roster_problems(data, filename)
    assert problem.problem is Problem.UNREADABLE_FILE
    assert problem.row is None
    assert problem.column is None


def test_xlsx_with_no_cells_is_an_empty_file() -> None:
    assert roster_problems(xlsx_bytes([]), "roster.xlsx") == (FileProblem(Problem.EMPTY_FILE),)


def test_xlsx_bad_rows_are_numbered_as_the_sheet_shows_them() -> None:
    data = xlsx_bytes([[None], ["unit_id", "area_m2"], ["101", 60], [None, None], ["102", "abc"]])
    assert roster_problems(data, "roster.xlsx") == (FileProblem(Problem.BAD_AREA, 5, "area_m2", "abc"),)


# --- bad rows and bad files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("abc", Problem.BAD_AREA),
        ("60,5", Problem.BAD_AREA),
        ("1e3", Problem.BAD_AREA),
        ("NaN", Problem.BAD_AREA),
        ("60.2.5", Problem.BAD_AREA),
        ("0", Problem.AREA_NOT_POSITIVE),
        ("0.00", Problem.AREA_NOT_POSITIVE),
        ("-5", Problem.AREA_NOT_POSITIVE),
        ("-60.25", Problem.AREA_NOT_POSITIVE),
        ("60.123", Problem.AREA_TOO_PRECISE),
        ("60.001㎡", Problem.AREA_TOO_PRECISE),
    ],
)
def test_a_bad_area_is_reported_at_its_row_and_column(text: str, problem: Problem) -> None:
    data = csv_bytes(["unit_id,area_m2", "100,50", f'101,"{text}"'])
    assert roster_problems(data) == (FileProblem(problem, 3, "area_m2", text),)


def test_a_duplicate_unit_is_reported_with_the_row_where_it_first_appears() -> None:
    data = csv_bytes(["unit_id,area_m2", "101,60", "102,60", "101,70"])
    assert roster_problems(data) == (FileProblem(Problem.DUPLICATE_UNIT, 4, "unit_id", "101", {"first_row": 2}),)


def test_a_duplicate_composed_unit_id_is_reported_too() -> None:
    data = csv_bytes(["楼栋,单元,房号,面积", "1,1,101,60", "1,1,101,60"])
    (problem,) = roster_problems(data)
    assert (problem.problem, problem.row, problem.value, problem.detail["first_row"]) == (
        Problem.DUPLICATE_UNIT,
        3,
        "1-1-101",
        2,
    )


def test_a_roster_without_an_area_column_is_refused() -> None:
    (problem,) = roster_problems(csv_bytes(["unit_id,owner", "101,p1"]))
    assert (problem.problem, problem.row, problem.column, problem.value) == (
        Problem.MISSING_COLUMN,
        1,
        "area_m2",
        None,
    )
    assert problem.detail["alternatives"] == ["area_m2"]


def test_a_roster_with_neither_unit_id_nor_room_column_is_refused() -> None:
    (problem,) = roster_problems(csv_bytes(["楼栋,单元,面积,业主", "1,1,60,p1"]))
    assert (problem.problem, problem.row, problem.column, problem.value) == (
        Problem.MISSING_COLUMN,
        1,
        "unit_id",
        None,
    )
    assert problem.detail["alternatives"] == ["unit_id", "room"]


def test_a_roster_missing_both_required_columns_lists_both() -> None:
    problems = roster_problems(csv_bytes(["owner,status", "p1,sold"]))
    assert [(p.problem, p.column) for p in problems] == [
        (Problem.MISSING_COLUMN, "unit_id"),
        (Problem.MISSING_COLUMN, "area_m2"),
    ]


def test_two_headers_for_the_same_field_are_a_duplicate_column() -> None:
    problems = roster_problems(csv_bytes(["unit_id,面积,area_m2", "101,60,60"]))
    assert problems == (FileProblem(Problem.DUPLICATE_COLUMN, 1, "area_m2", "area_m2"),)


def test_an_unknown_status_is_reported() -> None:
    (problem,) = roster_problems(csv_bytes(["unit_id,area_m2,status", "101,60,sold", "102,60,出租"]))
    assert (problem.problem, problem.row, problem.column, problem.value) == (
        Problem.UNKNOWN_STATUS,
        3,
        "status",
        "出租",
    )
    assert "unsold" in problem.detail["accepted"]


def test_an_unknown_area_source_is_reported() -> None:
    (problem,) = roster_problems(csv_bytes(["unit_id,area_m2,area_source", "101,60,估算"]))
    assert (problem.problem, problem.row, problem.column, problem.value) == (
        Problem.UNKNOWN_AREA_SOURCE,
        2,
        "area_source",
        "估算",
    )
    assert "survey" in problem.detail["accepted"]


def test_an_empty_area_is_a_missing_value() -> None:
    problems = roster_problems(csv_bytes(["unit_id,area_m2,owner", "101,,p1"]))
    assert problems == (FileProblem(Problem.MISSING_VALUE, 2, "area_m2"),)


def test_a_row_with_a_building_but_an_empty_room_is_an_error_not_a_home_named_after_its_entrance() -> None:
    problems = roster_problems(csv_bytes(["楼栋,单元,房号,面积", "3,2,401,60", "3,2,,60", "3,,,60"]))
    assert problems == (FileProblem(Problem.MISSING_VALUE, 3, "room"), FileProblem(Problem.MISSING_VALUE, 4, "room"))


def test_an_empty_unit_id_with_no_building_entrance_or_room_is_a_missing_value() -> None:
    problems = roster_problems(csv_bytes(["unit_id,area_m2,owner", "101,60,p1", ",60,p2"]))
    assert problems == (FileProblem(Problem.MISSING_VALUE, 3, "unit_id"),)


def test_bytes_that_are_neither_utf8_nor_gb18030_are_an_unreadable_encoding() -> None:
    garbage = b"\xff\xfe\xfd\x80"
    for encoding in ("utf-8", "gb18030"):
        with pytest.raises(UnicodeDecodeError):
            garbage.decode(encoding)  # the precondition: these bytes really do not decode
    data = b"unit_id,area_m2\n101,60\n102," + garbage + b"\n"
    assert roster_problems(data) == (FileProblem(Problem.UNREADABLE_ENCODING),)


@pytest.mark.parametrize("data", [b"", b"\n\n", b"unit_id,area_m2\n", b"unit_id,area_m2\n,\n\n"], ids=repr)
def test_an_empty_file_or_a_header_without_rows_is_an_empty_file(data: bytes) -> None:
    assert roster_problems(data) == (FileProblem(Problem.EMPTY_FILE),)


def test_a_csv_cell_larger_than_the_field_limit_is_an_unreadable_file_at_its_row() -> None:
    data = b'unit_id,area_m2\n101,60\n102,"' + b"9" * 200_000 + b'"\n'
    (problem,) = roster_problems(data)
    assert (problem.problem, problem.row) == (Problem.UNREADABLE_FILE, 3)


def test_an_unreadable_csv_row_after_a_multiline_cell_is_numbered_as_the_sheet_shows_it() -> None:
    """The oversized cell is on spreadsheet row 3 even though a line break inside row 2 makes it line 4 of the file."""
    data = b'unit_id,area_m2,owner\n101,60,"a\nb"\n102,"' + b"9" * 200_000 + b'"\n'
    (problem,) = roster_problems(data)
    assert (problem.problem, problem.row) == (Problem.UNREADABLE_FILE, 3)


def test_every_bad_row_is_listed_not_just_the_first() -> None:
    data = csv_bytes(
        [
            "unit_id,area_m2,owner,status,area_source",
            "101,60,p1,sold,registry",  # row 2: fine
            "102,abc,p2,,",  # row 3
            "103,60.123,p3,,",  # row 4
            "104,0,p4,出租,",  # row 5: two problems on one row
            "",  # row 6: blank, skipped but counted
            "101,60,p5,,",  # row 7
            "105,60,p6,,估算",  # row 8
            ",,p7,,",  # row 9: two missing values
            "106,-1,p8,,",  # row 10
            "107,70.50,p9,sold,survey",  # row 11: fine
        ]
    )
    assert roster_problems(data) == (
        FileProblem(Problem.BAD_AREA, 3, "area_m2", "abc"),
        FileProblem(Problem.AREA_TOO_PRECISE, 4, "area_m2", "60.123"),
        FileProblem(Problem.AREA_NOT_POSITIVE, 5, "area_m2", "0"),
        FileProblem(
            Problem.UNKNOWN_STATUS,
            5,
            "status",
            "出租",
            {"accepted": ["sold", "unsold", "undelivered", "已售", "未售", "未交付"]},
        ),
        FileProblem(Problem.DUPLICATE_UNIT, 7, "unit_id", "101", {"first_row": 2}),
        FileProblem(
            Problem.UNKNOWN_AREA_SOURCE,
            8,
            "area_source",
            "估算",
            {"accepted": ["registry", "survey", "contract", "登记", "测绘", "合同"]},
        ),
        FileProblem(Problem.MISSING_VALUE, 9, "unit_id"),
        FileProblem(Problem.MISSING_VALUE, 9, "area_m2"),
        FileProblem(Problem.AREA_NOT_POSITIVE, 10, "area_m2", "-1"),
    )


def test_a_gbk_file_with_bad_rows_lists_them_by_spreadsheet_row() -> None:
    rows = [CHINESE_HEADER, "1,1,101,六十,张三,已售", "1,1,102,60,李四,已售", "1,1,101,60,王五,已售"]
    assert roster_problems(csv_bytes(rows, "gbk")) == (
        FileProblem(Problem.BAD_AREA, 2, "area_m2", "六十"),
        FileProblem(Problem.DUPLICATE_UNIT, 4, "unit_id", "1-1-101", {"first_row": 2}),
    )


def test_a_quoted_cell_with_a_line_break_does_not_shift_later_row_numbers() -> None:
    """Co-owners typed with Alt+Enter in Excel are one cell over two lines; the sheet still shows row 3 as row 3."""
    data = csv_bytes(["unit_id,area_m2,owner", '101,60,"张三', '李四"', "102,abc,p2"])
    records = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert records[2] == ["102", "abc", "p2"]  # one record per spreadsheet row: index 2 is row 3
    assert roster_problems(data) == (FileProblem(Problem.BAD_AREA, 3, "area_m2", "abc"),)


# --- ballots ---------------------------------------------------------------------------------------------


def small_roster() -> Roster:
    return Roster.of([Unit("101", 6000, "p1"), Unit("102", 6000, "p2"), Unit("201", 9000, "p3")])


def test_ballots_with_chinese_choices_are_read_in_file_order() -> None:
    data = csv_bytes(["房屋编号,表决意见", "201,弃权", "101,同意", "102,反对", "101,不同意", "201,赞成"], "gbk")
    assert read_ballots(data, "ballots.csv", small_roster()) == [
        ("201", Choice.ABSTAIN),
        ("101", Choice.AGREE),
        ("102", Choice.DISAGREE),
        ("101", Choice.DISAGREE),
        ("201", Choice.AGREE),
    ]


def test_ballots_with_english_choices_in_any_case_are_read() -> None:
    data = csv_bytes(["unit_id,choice", "101,Agree", "102,DISAGREE", "201, abstain "])
    assert read_ballots(data, "ballots.csv", small_roster()) == [
        ("101", Choice.AGREE),
        ("102", Choice.DISAGREE),
        ("201", Choice.ABSTAIN),
    ]


def test_ballots_from_an_xlsx_are_read() -> None:
    data = xlsx_bytes([["户号", "选择"], [101, "同意"], ["201", "弃权"]])
    assert read_ballots(data, "ballots.xlsx", small_roster()) == [("101", Choice.AGREE), ("201", Choice.ABSTAIN)]


def test_a_ballot_for_a_unit_not_in_the_roster_is_an_unknown_unit() -> None:
    data = csv_bytes(["unit_id,choice", "101,agree", "999,agree"])
    assert ballot_problems(data, small_roster()) == (FileProblem(Problem.UNKNOWN_UNIT, 3, "unit_id", "999"),)


def test_an_unknown_choice_is_reported() -> None:
    (problem,) = ballot_problems(csv_bytes(["unit_id,choice", "101,maybe"]), small_roster())
    assert (problem.problem, problem.row, problem.column, problem.value) == (
        Problem.UNKNOWN_CHOICE,
        2,
        "choice",
        "maybe",
    )
    assert {"agree", "同意", "反对", "弃权"} <= set(problem.detail["accepted"])


def test_a_ballot_without_a_unit_is_a_missing_value() -> None:
    assert ballot_problems(csv_bytes(["unit_id,choice", ",agree"]), small_roster()) == (
        FileProblem(Problem.MISSING_VALUE, 2, "unit_id"),
    )


def test_a_ballot_file_without_a_choice_column_is_refused() -> None:
    (problem,) = ballot_problems(csv_bytes(["unit_id,owner", "101,p1"]), small_roster())
    assert (problem.problem, problem.row, problem.column) == (Problem.MISSING_COLUMN, 1, "choice")


def test_every_bad_ballot_row_is_listed_and_nothing_is_returned() -> None:
    data = csv_bytes(["unit_id,choice", "101,agree", "999,agree", "102,yes", "", "998,maybe", "201,弃权"])
    problems = ballot_problems(data, small_roster())
    assert [(p.problem, p.row, p.value) for p in problems] == [
        (Problem.UNKNOWN_UNIT, 3, "999"),
        (Problem.UNKNOWN_CHOICE, 4, "yes"),
        (Problem.UNKNOWN_UNIT, 6, "998"),
        (Problem.UNKNOWN_CHOICE, 6, "maybe"),
    ]


def test_an_empty_ballot_file_is_an_empty_file() -> None:
    assert ballot_problems(b"", small_roster()) == (FileProblem(Problem.EMPTY_FILE),)


def test_a_ballot_file_in_an_unreadable_encoding_is_refused() -> None:
    data = b"unit_id,choice\n101,\xff\xfe\xfd\x80\n"
    assert ballot_problems(data, small_roster()) == (FileProblem(Problem.UNREADABLE_ENCODING),)


def test_a_phone_column_is_kept_with_each_home_and_optional() -> None:
    roster = read_roster(
        csv_bytes(["楼栋,单元,房号,面积,业主,手机", "3,2,401,60,张三,13800138000", "3,2,402,60,李四,"]), "r.csv"
    )
    assert [(u.unit_id, u.phone) for u in roster] == [("3-2-401", "13800138000"), ("3-2-402", "")]
    assert [u.phone for u in read_roster(csv_bytes(["unit_id,area_m2", "101,60"]), "r.csv")] == [""]
