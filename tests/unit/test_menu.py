"""The renovation menu: catalogues, selections, support, exact cost shares and the draft plan."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from importlib.resources import files

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import roster_a, roster_b
from voting.errors import CatalogueError, InputFileError, MenuError
from voting.menu import (
    Catalogue,
    DraftPlan,
    ItemClass,
    MenuItem,
    ShareKind,
    allocate_shares,
    default_catalogue,
    draft_plan,
    estimate_share,
    format_money,
    item_share_estimate,
    largest_remainder,
    latest_selections,
    parse_catalogue_sheet,
    parse_catalogue_toml,
    parse_money,
    plan_rows,
    plan_shares,
    plan_vote_text,
    plan_vote_title,
    selection_result,
    write_plan_xlsx,
)
from voting.model import DEVELOPER, Roster, Scope, Unit, Weight
from voting.rules import preset
from voting.tally import UnknownVoterError
from voting.votes import Vote


def _example_roster() -> Roster:
    """p1 60.05 m², p2 75.50 m², p3 two homes 90.00 + 89.95 = 179.95 m²; total 315.50 m², 3 owners."""
    return Roster.of(
        [Unit("101", 6005, "p1"), Unit("102", 7550, "p2"), Unit("201", 9000, "p3"), Unit("202", 8995, "p3")]
    )


WALL = MenuItem("wall", ItemClass.IMPROVEMENT, "外墙保温", 100_000_00, ShareKind.PER_M2, 333)
SPLIT = MenuItem("lift", ItemClass.IMPROVEMENT, "加装电梯", 500_000_00, ShareKind.SPLIT, 100_000)
ROOF = MenuItem("roof", ItemClass.BASIC, "屋面防水", 60_000_00, ShareKind.PER_M2, 0, required=True)
GREEN = MenuItem("green", ItemClass.IMPROVEMENT, "绿化", 30_000_00, ShareKind.SPLIT, 2_000_00)
CLINIC = MenuItem("clinic", ItemClass.UPGRADE, "卫生服务站", 50_000_00, ShareKind.PER_M2, 0)


def _catalogue() -> Catalogue:
    return Catalogue("test", (ROOF, WALL, SPLIT, GREEN, CLINIC))


# --- money and rounding ------------------------------------------------------------------------


def test_money_is_parsed_exactly_into_fen_and_floats_never_appear() -> None:
    assert parse_money("12.5") == 1250
    assert parse_money("0.1") == 10
    assert parse_money("1,200.00元") == 120000
    assert parse_money("7") == 700
    for bad in ("12.345", "-3", "1e3", "abc", "", "１２"):
        with pytest.raises(ValueError):
            parse_money(bad)
    assert format_money(123456) == "1234.56"
    assert format_money(5) == "0.05"


def test_the_hand_computed_share_example_holds() -> None:
    """Owners p1 60.05 m², p2 75.50 m², p3 179.95 m² (two homes); total 315.50 m².

    Wall insulation at 3.33 元/m² (333 fen per m²), rounded half up per owner:
      p1: 333 × 6005 / 100 = 19,996.65 fen → 19,997 fen (199.97 元)
      p2: 333 × 7550 / 100 = 25,141.50 fen → 25,142 fen (251.42 元; the half goes up)
      p3: 333 × 17995 / 100 = 59,923.35 fen → 59,923 fen (599.23 元)
    A lift with 1,000.00 元 (100,000 fen) for residents in all, split by area over 31,550:
      p1: 100,000 × 6005 / 31,550 = 19,033.280… → whole part 19,033, remainder 0.280
      p2: 100,000 × 7550 / 31,550 = 23,930.269… → 23,930, remainder 0.269
      p3: 100,000 × 17995 / 31,550 = 57,036.450… → 57,036, remainder 0.450
      whole parts sum to 99,999: the one fen left goes to the largest remainder, p3 → 57,037.
      Exact allocation 19,033 + 23,930 + 57,037 = 100,000 fen. The quick estimate rounds each
      owner half up instead (19,033, 23,930, 57,036: 0.450 rounds down), one fen short in all.
    """
    roster = _example_roster()
    total = roster.total.area
    assert total == 31550
    quick = {owner: item_share_estimate(WALL, area, total) for owner, area in roster.owner_area.items()}
    assert quick == {"owner:p1": 19997, "owner:p2": 25142, "owner:p3": 59923}
    quick_split = {owner: item_share_estimate(SPLIT, area, total) for owner, area in roster.owner_area.items()}
    assert quick_split == {"owner:p1": 19033, "owner:p2": 23930, "owner:p3": 57036}
    exact = allocate_shares([WALL, SPLIT], roster)
    assert exact == {
        "owner:p1": {"wall": 19997, "lift": 19033},
        "owner:p2": {"wall": 25142, "lift": 23930},
        "owner:p3": {"wall": 59923, "lift": 57037},
    }
    assert sum(s["lift"] for s in exact.values()) == 100_000


def test_an_owner_of_two_homes_pays_from_the_sum_of_their_areas() -> None:
    roster = _example_roster()
    estimate = estimate_share(_catalogue(), ["wall"], roster.owner_area["owner:p3"], roster.total.area)
    # roof is required (0 fen) and comes first; wall on 179.95 m²
    assert estimate.lines == (("roof", 0), ("wall", 59923))
    assert estimate.total == 59923
    assert estimate.as_dict()["area_m2"] == "179.95"


def test_estimating_an_unknown_item_is_refused() -> None:
    with pytest.raises(MenuError) as info:
        estimate_share(_catalogue(), ["sauna"], 6000, 30000)
    assert info.value.params == {"item": "sauna"}


def test_largest_remainder_breaks_ties_by_weight_then_key_independent_of_order() -> None:
    assert largest_remainder(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}
    assert largest_remainder(10, {"c": 1, "b": 1, "a": 1}) == {"a": 4, "b": 3, "c": 3}
    assert largest_remainder(0, {"a": 0}) == {"a": 0}
    with pytest.raises(ValueError):
        largest_remainder(5, {"a": 0})


@given(
    total=st.integers(min_value=0, max_value=10**9),
    weights=st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=40),
)
def test_split_shares_always_sum_exactly_and_each_is_within_one_fen_of_its_quota(
    total: int, weights: list[int]
) -> None:
    parts = largest_remainder(total, dict(enumerate(weights)))
    assert sum(parts.values()) == total
    whole = sum(weights)
    for key, weight in enumerate(weights):
        assert abs(Fraction(parts[key]) - Fraction(total * weight, whole)) < 1


def test_developer_held_units_pay_one_share_by_their_whole_area() -> None:
    roster = roster_b()
    shares = allocate_shares([SPLIT], roster)
    assert len(shares) == 151
    # 2,700.00 of 11,700.00 m² -> 100,000 × 27/117 = 23,076.92 fen
    assert shares[DEVELOPER]["lift"] in (23076, 23077)
    assert sum(s["lift"] for s in shares.values()) == 100_000


# --- catalogues --------------------------------------------------------------------------------


def test_the_default_catalogue_has_all_three_classes_from_domain_and_says_costs_are_illustrative() -> None:
    catalogue = default_catalogue()
    assert [len(catalogue.of_class(c)) for c in ItemClass] == [15, 11, 11]
    assert catalogue.item("lifts").name == "加装电梯"
    assert catalogue.item("energy-saving").share_amount == 1000  # Pingdu: 10 元/m²
    optional_basic = {"fibre", "lines-underground"}
    assert all(item.required for item in catalogue.of_class(ItemClass.BASIC) if item.id not in optional_basic)
    assert not any(item.required for item in catalogue.items if item.item_class is not ItemClass.BASIC)
    header = files("voting.catalogue").joinpath("default.toml").read_text(encoding="utf-8")[:800]
    assert "ILLUSTRATIVE" in header


def test_a_catalogue_survives_a_json_round_trip() -> None:
    catalogue = default_catalogue()
    assert Catalogue.from_dict(json.loads(json.dumps(catalogue.as_dict()))) == catalogue


def test_toml_catalogue_accepts_chinese_class_names_and_defaults_required_by_class() -> None:
    catalogue = parse_catalogue_toml(
        """
name = "试点"
[[items]]
id = "roof"
class = "基础类"
name = "屋面"
cost = "1000"
share_per_m2 = "0.5"
[[items]]
id = "lift"
class = "改善类"
name = "电梯"
cost = 2000
share_total = "500.00"
"""
    )
    roof, lift = catalogue.items
    assert (roof.item_class, roof.required, roof.share_kind, roof.share_amount) == (
        ItemClass.BASIC,
        True,
        ShareKind.PER_M2,
        50,
    )
    assert (lift.item_class, lift.required, lift.cost, lift.share_amount) == (
        ItemClass.IMPROVEMENT,
        False,
        200000,
        50000,
    )


def test_toml_catalogue_lists_every_problem_by_key_saying_what_to_write() -> None:
    with pytest.raises(CatalogueError) as info:
        parse_catalogue_toml(
            """
name = "坏"
[[items]]
id = "a b"
class = "luxury"
name = "x"
cost = 12.5
share_per_m2 = "1"
share_total = "2"
[[items]]
id = "ok"
class = "upgrade"
name = "y"
cost = "100"
share_total = "200"
[[items]]
id = "ok"
class = "upgrade"
name = "z"
cost = "100"
share_per_m2 = "0"
colour = "red"
"""
        )
    problems = info.value.problems
    keys = [p.key for p in problems]
    assert "items[1].id" in keys
    assert "items[1].class" in keys
    assert "items[1].cost" in keys  # a float is refused
    assert "items[1].share_total" in keys  # both share kinds given
    assert "items[2].share_total" in keys  # residents' share above the cost
    assert "items[3].colour" in keys
    cost = next(p for p in problems if p.key == "items[1].cost")
    assert "no float" in cost.template
    lines = info.value.lines()
    assert any(line.startswith("item 1 (class): ") and "basic 基础类" in line for line in lines)


def test_toml_catalogue_refuses_a_duplicate_id() -> None:
    text = "\n".join(
        f'[[items]]\nid = "a"\nclass = "basic"\nname = "n{i}"\ncost = "1"\nshare_per_m2 = "0"' for i in range(2)
    )
    with pytest.raises(CatalogueError) as info:
        parse_catalogue_toml('name = "d"\n' + text)
    (problem,) = info.value.problems
    assert problem.key == "items[2].id" and problem.params == {"value": "a", "first": 1}


def test_a_catalogue_without_a_share_says_how_to_write_one() -> None:
    with pytest.raises(CatalogueError) as info:
        parse_catalogue_toml('name = "d"\n[[items]]\nid = "a"\nclass = "basic"\nname = "n"\ncost = "1"\n')
    assert 'share_per_m2 = "0"' in info.value.problems[0].template


def _xlsx(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_catalogue_reads_chinese_headers_and_class_names() -> None:
    data = _xlsx(
        [
            ["编号", "类别", "名称", "说明", "估算费用", "每平方米分摊", "分摊总额", "必选"],
            ["J1", "基础类", "供水", "", 600000, 0, None, "是"],
            ["W1", "完善类", "加装电梯", "按面积", "2400000.00", None, 600000, "否"],
            [None, None, None, None, None, None, None, None],
            ["T1", "提升类", "便利店", "", 100000, 1.5, None, None],
        ]
    )
    catalogue = parse_catalogue_sheet(data, "菜单.xlsx")
    assert catalogue.name == "菜单"
    j1, w1, t1 = catalogue.items
    assert (j1.required, j1.cost) == (True, 60000000)
    assert (w1.share_kind, w1.share_amount, w1.description) == (ShareKind.SPLIT, 60000000, "按面积")
    assert (t1.item_class, t1.share_amount, t1.required) == (ItemClass.UPGRADE, 150, False)


def test_sheet_catalogue_errors_name_the_row_and_the_column_as_written() -> None:
    data = "编号,类别,名称,估算费用,每平方米分摊\nJ1,基础类,供水,abc,0\nJ2,豪华类,,100,1\n".encode()
    with pytest.raises(CatalogueError) as info:
        parse_catalogue_sheet(data, "menu.csv")
    where = {(p.row, p.column) for p in info.value.problems}
    assert where == {(2, "估算费用"), (3, "类别"), (3, "名称")}
    assert info.value.lines()[0].startswith('row 2, column "估算费用": ')


def test_sheet_catalogue_without_needed_columns_says_which_to_add() -> None:
    with pytest.raises(CatalogueError) as info:
        parse_catalogue_sheet("编号,名称\nJ1,供水\n".encode(), "menu.csv")
    fields = {p.params.get("field") for p in info.value.problems}
    assert {"class", "cost"} <= fields
    assert any("每平方米分摊" in p.template for p in info.value.problems)


def test_an_empty_sheet_is_the_roster_readers_input_file_error() -> None:
    with pytest.raises(InputFileError):
        parse_catalogue_sheet(b"", "menu.csv")


# --- selections and support ------------------------------------------------------------------


def test_latest_selection_per_owner_counts_and_required_items_are_always_in() -> None:
    roster = roster_a()
    selections = latest_selections(
        roster,
        _catalogue(),
        [("101", ["wall", "lift"]), ("201", ["wall"]), ("202", ["green"]), ("101", ["lift"]), ("102", [])],
    )
    assert selections == {
        "owner:p1": frozenset({"roof", "lift"}),
        "owner:p3": frozenset({"roof", "green"}),  # 202 is p3's too: the later selection replaced it
        "owner:p2": frozenset({"roof"}),
    }


def test_selection_for_an_unknown_unit_or_item_is_refused() -> None:
    with pytest.raises(UnknownVoterError):
        latest_selections(roster_a(), _catalogue(), [("999", ["wall"])])
    with pytest.raises(MenuError):
        latest_selections(roster_a(), _catalogue(), [("101", ["sauna"])])


def test_support_is_counted_by_owner_and_area_against_electorate_and_respondents() -> None:
    """Roster A: p1 60.00, p2 60.00, p3 180.00 (two homes, one owner). p1 and p3 want the wall, p2 not."""
    roster = roster_a()
    selections = latest_selections(roster, _catalogue(), [("101", ["wall"]), ("102", []), ("202", ["wall"])])
    result = selection_result(_catalogue(), roster, selections)
    assert result.respondents == Weight(30000, 3)
    wall = result.support_of("wall")
    assert wall.support == Weight(24000, 2)
    assert (wall.area_of_total, wall.headcount_of_total) == (Fraction(4, 5), Fraction(2, 3))
    roof = result.support_of("roof")
    assert roof.required and roof.support == Weight(30000, 3)
    assert result.support_of("clinic").support == Weight()


def test_support_of_respondents_differs_from_support_of_the_electorate() -> None:
    roster = roster_a()
    selections = latest_selections(roster, _catalogue(), [("101", ["wall"]), ("102", [])])
    wall = selection_result(_catalogue(), roster, selections).support_of("wall")
    assert (wall.area_of_respondents, wall.headcount_of_respondents) == (Fraction(1, 2), Fraction(1, 2))
    assert (wall.area_of_total, wall.headcount_of_total) == (Fraction(1, 5), Fraction(1, 3))
    assert wall.as_dict()["area_of_total"] == "1/5"


# --- the draft plan ----------------------------------------------------------------------------


def _plan(rule_name: str | None = None) -> tuple[Roster, DraftPlan]:
    roster = roster_a()
    catalogue = _catalogue()
    selections = latest_selections(
        roster, catalogue, [("101", ["wall", "green"]), ("102", ["wall", "lift"]), ("201", ["lift", "green"])]
    )
    result = selection_result(catalogue, roster, selections)
    if rule_name is None:
        return roster, draft_plan(catalogue, roster, result, title="幸福小区")
    return roster, draft_plan(catalogue, roster, result, preset(rule_name), title="幸福小区")


def test_draft_plan_takes_required_items_and_those_a_majority_of_respondents_selected() -> None:
    """wall: p1+p2 = 120.00 m² of 300.00 (area fails: not more than half); lift: p2+p3 = 240.00 m², 2 of 3;
    green: p1+p3 = 240.00 m², 2 of 3; clinic: nobody."""
    _, plan = _plan()
    assert [item.id for item in plan.items] == ["roof", "lift", "green"]
    wall = next(line for line in plan.lines if line.item.id == "wall")
    assert not wall.included
    area, heads = wall.count.conditions[0].dimensions
    assert (area.holds, heads.holds) == (False, True)
    assert plan.total_cost == ROOF.cost + SPLIT.cost + GREEN.cost
    assert plan.residents_total == 100_000 + 2_000_00


def test_a_stricter_rule_keeps_an_item_out_that_the_default_takes() -> None:
    """Under double two-thirds of all owners green (240.00 m², 2 of 3) passes: 4/5 area, 2/3 heads;
    under Baoding's 80% the headcount 2 of 3 fails."""
    _, plan = _plan("double-two-thirds")
    assert "green" in [item.id for item in plan.items]
    _, plan = _plan("eighty-percent")
    assert [item.id for item in plan.items] == ["roof"]


def test_plan_shares_per_unit_sum_to_each_owner_and_to_the_total() -> None:
    roster, plan = _plan()
    shares = plan_shares(plan, roster)
    assert [s.unit_id for s in shares] == ["101", "102", "201", "202"]
    by_owner: dict[str, int] = {}
    for share in shares:
        by_owner[share.owner_key] = by_owner.get(share.owner_key, 0) + share.total
    owners = allocate_shares(plan.items, roster)
    assert by_owner == {owner: sum(items.values()) for owner, items in owners.items()}
    assert sum(s.total for s in shares) == plan.residents_total
    # p3's 180.00 m² is two equal homes: the lift's 60,000 fen splits 30,000 + 30,000
    lift = [item.id for item in plan.items].index("lift")
    assert (shares[2].by_item[lift], shares[3].by_item[lift]) == (30000, 30000)


def test_plan_rows_make_a_csv_with_a_total_row() -> None:
    roster, plan = _plan()
    rows = plan_rows(plan, roster)
    assert rows[0][:3] == ["Unit", "Owner", "Area (m²)"]
    assert rows[1][:3] == ["101", "p1", "60.00"]
    assert rows[-1][0] == "Total" and rows[-1][-1] == format_money(plan.residents_total)
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    assert "3000.00" in text.getvalue()  # the whole residents' share, 1,000 + 2,000 元


def test_plan_xlsx_holds_the_items_and_every_units_share_as_exact_text() -> None:
    roster, plan = _plan()
    data = write_plan_xlsx(plan, roster, translate=lambda s: s.upper())
    book = openpyxl.load_workbook(io.BytesIO(data))
    items, units = book.worksheets
    assert items.title == "PLAN"
    rows = list(items.iter_rows(values_only=True))
    assert rows[0][0] == "ITEM"
    assert rows[-1][3] == format_money(plan.total_cost)
    assert len(list(units.iter_rows())) == 1 + len(roster) + 1


def test_plan_vote_text_makes_a_vote_in_one_step() -> None:
    _, plan = _plan()
    text = plan_vote_text(plan)
    assert "加装电梯" in text and "屋面防水" in text and "外墙保温" not in text
    assert "1000.00 yuan in all, split by floor area" in text
    now = datetime(2026, 11, 1, tzinfo=UTC)
    vote = Vote(1, plan_vote_title(plan), text, preset("double-two-thirds"), Scope(), now, now + timedelta(days=7))
    assert vote.title == "Renovation plan: 幸福小区"


def test_a_draft_plan_survives_a_json_round_trip() -> None:
    _, plan = _plan()
    again = DraftPlan.from_dict(json.loads(json.dumps(plan.as_dict())))
    assert again.as_dict() == plan.as_dict()
    assert [i.id for i in again.items] == [i.id for i in plan.items]


def test_a_plan_from_a_result_counted_on_another_roster_is_refused() -> None:
    catalogue = _catalogue()
    result = selection_result(catalogue, roster_a(), {})
    with pytest.raises(MenuError):
        draft_plan(catalogue, roster_b(), result)
