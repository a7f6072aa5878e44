"""The renovation menu (菜单式改造, "居民点单"): a catalogue of items in three classes, residents'
selections, each item's support, the residents' cost shares, and the draft plan put to the vote.

Money is integer fen (0.01 元) and areas integer 0.01 m², as everywhere in the core: a share is
computed with integer arithmetic only, so the same inputs give the same fen on every machine and
the shares of all owners add up exactly to the amount to be shared.

Everything here is a frozen dataclass with `as_dict()` of JSON-able values (fractions as "n/d",
money in fen), so the adapters can store it as it is.
"""

from __future__ import annotations

import io
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Any, TypeVar

from voting.errors import N_, CatalogueError, CatalogueProblem, MenuError
from voting.files import read_sheet
from voting.model import Roster, Weight, format_area, parse_area
from voting.rules import Base, Comparison, Condition, ConditionKind, Rule, rule_from_dict
from voting.tally import TallyResult, UnknownVoterError, tally_weights

__all__ = [
    "DEFAULT_MENU_RULE",
    "MENU_RULES",
    "Catalogue",
    "DraftPlan",
    "ItemClass",
    "ItemSupport",
    "MenuItem",
    "PlanLine",
    "SelectionResult",
    "ShareEstimate",
    "ShareKind",
    "UnitShare",
    "allocate_shares",
    "default_catalogue",
    "draft_plan",
    "estimate_share",
    "format_money",
    "item_share_estimate",
    "largest_remainder",
    "latest_selections",
    "parse_catalogue_sheet",
    "parse_catalogue_toml",
    "parse_money",
    "plan_rows",
    "plan_shares",
    "plan_vote_text",
    "plan_vote_title",
    "selection_result",
    "write_plan_xlsx",
]

K = TypeVar("K")


def _identity(text: str) -> str:
    return text


# --------------------------------------------------------------------------------------------
# Money


_MONEY = re.compile(r"^(\d+)(?:\.(\d{1,2}))?$")


def parse_money(text: str) -> int:
    """Parse an amount in 元 with at most two decimals ("12.50", "1,200", "8元") into fen.

    ValueError otherwise: a cost is written as exact decimal text, never as a float, so 0.1 元
    is 10 fen and not 9.999… fen.
    """
    cleaned = text.strip().replace(",", "").replace("，", "").removesuffix("元").strip()
    match = _MONEY.match(cleaned) if cleaned.isascii() else None
    if match is None:
        raise ValueError(text)
    whole, cents = match.group(1), match.group(2) or ""
    return int(whole) * 100 + (int(cents.ljust(2, "0")) if cents else 0)


def format_money(fen: int) -> str:
    """Format fen as 元 with exactly two decimals: 123456 -> '1234.56'."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def _half_up_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up (both non-negative): 0.5 fen becomes 1 fen."""
    return (2 * numerator + denominator) // (2 * denominator)


def largest_remainder(total: int, weights: Mapping[K, int]) -> dict[K, int]:
    """Split the integer `total` in proportion to `weights` so that the parts sum exactly to `total`.

    Each key first gets the whole part of its quota total × weight / Σweight; the units left over go
    one each to the largest fractional parts (the largest-remainder, or Hamilton, method). Ties go
    to the larger weight, then to the key that sorts first, so the split never depends on order.
    """
    whole = sum(weights.values())
    if total < 0 or any(w < 0 for w in weights.values()):
        raise ValueError("largest_remainder needs non-negative amounts")
    if whole == 0:
        if total:
            raise ValueError("nothing to split by")
        return dict.fromkeys(weights, 0)
    parts: dict[K, int] = {}
    remainders: list[tuple[int, int, str, K]] = []
    for key, weight in weights.items():
        quotient, remainder = divmod(total * weight, whole)
        parts[key] = quotient
        remainders.append((-remainder, -weight, str(key), key))
    left = total - sum(parts.values())
    remainders.sort(key=lambda r: r[:3])
    for _, _, _, key in remainders[:left]:
        parts[key] += 1
    return parts


# --------------------------------------------------------------------------------------------
# Catalogue


class ItemClass(StrEnum):
    """The three classes of the Jilin and Wujiang programmes (Suining names the second 改善类)."""

    BASIC = "basic"  # 基础类: safety and basic needs; usually must be done
    IMPROVEMENT = "improvement"  # 完善类 / 改善类: convenience
    UPGRADE = "upgrade"  # 提升类: services


CLASS_WORDS: Mapping[str, ItemClass] = {
    "basic": ItemClass.BASIC,
    "基础类": ItemClass.BASIC,
    "基础": ItemClass.BASIC,
    "improvement": ItemClass.IMPROVEMENT,
    "完善类": ItemClass.IMPROVEMENT,
    "完善": ItemClass.IMPROVEMENT,
    "改善类": ItemClass.IMPROVEMENT,
    "改善": ItemClass.IMPROVEMENT,
    "upgrade": ItemClass.UPGRADE,
    "提升类": ItemClass.UPGRADE,
    "提升": ItemClass.UPGRADE,
}

#: Chinese names of the classes, for texts the core writes (the bot may translate them as msgids).
CLASS_TITLES: Mapping[ItemClass, str] = {
    ItemClass.BASIC: N_("Basic (基础类)"),
    ItemClass.IMPROVEMENT: N_("Improvement (完善类)"),
    ItemClass.UPGRADE: N_("Upgrade (提升类)"),
}


class ShareKind(StrEnum):
    """How residents pay their part of an item: so much per m² of their floor area, or a fixed total
    split among all owners in proportion to their floor area."""

    PER_M2 = "per_m2"  # amount: fen per m²
    SPLIT = "split"  # amount: fen in total


_ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


@dataclass(frozen=True, slots=True)
class MenuItem:
    """One item of the menu. `cost` is the estimated total cost in fen; `share_amount` is the
    residents' part, in fen per m² (PER_M2) or fen in total (SPLIT)."""

    id: str
    item_class: ItemClass
    name: str
    cost: int
    share_kind: ShareKind
    share_amount: int
    required: bool = False
    description: str = ""
    name_en: str = ""

    def __post_init__(self) -> None:
        if not _ITEM_ID.match(self.id):
            raise ValueError(f"bad item id {self.id!r}")
        if self.cost <= 0 or self.share_amount < 0:
            raise ValueError(f"item {self.id!r}: cost must be positive and the share not negative")
        if self.share_kind is ShareKind.SPLIT and self.share_amount > self.cost:
            raise ValueError(f"item {self.id!r}: residents' share is more than the cost")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "class": str(self.item_class),
            "name": self.name,
            "name_en": self.name_en,
            "description": self.description,
            "cost_fen": self.cost,
            "share_kind": str(self.share_kind),
            "share_fen": self.share_amount,
            "required": self.required,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MenuItem:
        """Rebuild an item from `as_dict()` (as stored); ValueError/KeyError on a damaged record."""
        return cls(
            id=str(data["id"]),
            item_class=ItemClass(data["class"]),
            name=str(data["name"]),
            cost=_int(data["cost_fen"]),
            share_kind=ShareKind(data["share_kind"]),
            share_amount=_int(data["share_fen"]),
            required=bool(data.get("required", False)),
            description=str(data.get("description", "")),
            name_en=str(data.get("name_en", "")),
        )


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class Catalogue:
    """A named, ordered list of menu items with unique ids."""

    name: str
    items: tuple[MenuItem, ...]

    def __post_init__(self) -> None:
        ids = [item.id for item in self.items]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate item ids")

    def item(self, item_id: str) -> MenuItem:
        for item in self.items:
            if item.id == item_id:
                return item
        raise MenuError(N_('the menu has no item "{item}"'), item=item_id)

    def of_class(self, item_class: ItemClass) -> tuple[MenuItem, ...]:
        return tuple(item for item in self.items if item.item_class is item_class)

    @property
    def required_ids(self) -> frozenset[str]:
        return frozenset(item.id for item in self.items if item.required)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "items": [item.as_dict() for item in self.items]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Catalogue:
        return cls(str(data["name"]), tuple(MenuItem.from_dict(d) for d in data["items"]))


# Accepted keys / column headers, canonical field first.
ITEM_FIELDS: Mapping[str, tuple[str, ...]] = {
    "id": ("id", "编号", "项目编号", "代码"),
    "class": ("class", "类别", "分类", "类型", "改造类别"),
    "name": ("name", "名称", "项目", "项目名称", "改造内容"),
    "name_en": ("name_en", "英文名称", "english"),
    "description": ("description", "说明", "描述", "内容说明", "备注"),
    "cost": ("cost", "估算费用", "费用", "估算", "投资估算", "估算费用(元)", "费用(元)"),
    "share_per_m2": ("share_per_m2", "每平方米分摊", "按面积分摊(元/m²)", "居民出资(元/m²)", "元/平方米", "元/m²"),
    "share_total": ("share_total", "分摊总额", "居民出资总额", "居民出资(元)", "分摊总额(元)"),
    "required": ("required", "必选", "是否必选", "必做"),
}

_YES = {"yes", "true", "1", "是", "必选", "必做", "√", "y"}
_NO = {"no", "false", "0", "否", "可选", "×", "n"}


def _norm(text: str) -> str:
    return re.sub(r"[\s\u3000_]+", "", text).lower().replace("（", "(").replace("）", ")")


_FIELD_OF = {_norm(alias): name for name, aliases in ITEM_FIELDS.items() for alias in aliases}


class _Problems:
    """Collects every problem of a catalogue so the worker fixes them all in one go."""

    def __init__(self) -> None:
        self.items: list[CatalogueProblem] = []

    def add(self, where: tuple[str | None, int | None, str | None], template: str, **params: Any) -> None:
        key, row, column = where
        self.items.append(CatalogueProblem(template, params, key=key, row=row, column=column))


def _item_from_fields(
    fields: Mapping[str, Any],
    where: Callable[[str], tuple[str | None, int | None, str | None]],
    problems: _Problems,
) -> MenuItem | None:
    """Validate one item's fields (TOML values or sheet cells); None if anything is wrong."""
    before = len(problems.items)

    def text(name: str, required: bool, limit: int) -> str:
        value = fields.get(name, "")
        if not isinstance(value, str):
            problems.add(where(name), N_('write text in quotes, such as {key} = "..."'), key=name)
            return ""
        stripped: str = value.strip()
        if required and not stripped:
            problems.add(where(name), N_("required: fill in the item's {key}"), key=name)
        elif len(stripped) > limit:
            problems.add(where(name), N_("at most {limit} characters"), limit=limit)
        return stripped

    def money(name: str) -> int | None:
        value = fields.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            problems.add(
                where(name), N_('write the amount in yuan as text, such as "12.50" or 1200 (no float)'), key=name
            )
            return None
        try:
            return parse_money(value)
        except ValueError:
            problems.add(
                where(name),
                N_('"{value}" is not an amount in yuan; write digits with at most two decimals, such as 12.50'),
                value=value,
            )
            return None

    item_id = text("id", True, 32)
    if item_id and not _ITEM_ID.match(item_id):
        problems.add(
            where("id"),
            N_('"{value}": an id is 1 to 32 Latin letters, digits, "-", "_" or ".", such as B01 or water-supply'),
            value=item_id,
        )
    class_value = fields.get("class", "")
    item_class = CLASS_WORDS.get(str(class_value).strip().lower()) if isinstance(class_value, str) else None
    if item_class is None:
        problems.add(
            where("class"),
            N_('"{value}" is not a class; write one of: {accepted}'),
            value=str(class_value),
            accepted="basic 基础类, improvement 完善类 (改善类), upgrade 提升类",
        )
    name = text("name", True, 100)
    name_en = text("name_en", False, 100)
    description = text("description", False, 1000)
    cost = money("cost")
    if fields.get("cost") in (None, ""):
        problems.add(where("cost"), N_('required: the estimated cost in yuan, such as cost = "120000"'))
    elif cost == 0:
        problems.add(where("cost"), N_("the estimated cost must be more than 0"))
    per_m2, split = money("share_per_m2"), money("share_total")
    has_per_m2 = fields.get("share_per_m2") not in (None, "")
    has_split = fields.get("share_total") not in (None, "")
    if has_per_m2 and has_split:
        problems.add(
            where("share_total"),
            N_("give the residents' share one way only: share_per_m2 (yuan per m²) or share_total (yuan in all)"),
        )
    elif not has_per_m2 and not has_split:
        problems.add(
            where("share_per_m2"),
            N_(
                'required: the residents\' share, share_per_m2 = "10" (yuan per m²) or share_total = "5000" '
                '(yuan in all, split by floor area); write share_per_m2 = "0" if residents pay nothing'
            ),
        )
    if split is not None and cost is not None and split > cost:
        problems.add(
            where("share_total"),
            N_("the residents' share {share} yuan is more than the cost {cost} yuan"),
            share=format_money(split),
            cost=format_money(cost),
        )
    raw_required = fields.get("required")
    required = item_class is ItemClass.BASIC  # the default: basic items usually must be done
    if isinstance(raw_required, bool):
        required = raw_required
    elif isinstance(raw_required, str) and raw_required.strip():
        word = raw_required.strip().lower()
        if word in _YES:
            required = True
        elif word in _NO:
            required = False
        else:
            problems.add(where("required"), N_('"{value}": write yes/no (是/否)'), value=raw_required)
    elif raw_required is not None and raw_required != "":
        problems.add(where("required"), N_("write true or false"))
    if len(problems.items) > before or item_class is None or cost is None:
        return None
    kind, amount = (ShareKind.PER_M2, per_m2) if has_per_m2 else (ShareKind.SPLIT, split)
    assert amount is not None
    return MenuItem(item_id, item_class, name, cost, kind, amount, required, description, name_en)


Where = tuple[str | None, int | None, str | None]


def _at_key(prefix: str) -> Callable[[str], Where]:
    """Locate a TOML item's field by key path: items[3].cost."""
    return lambda key: (f"{prefix}.{key}", None, None)


def _at_cell(row: int, header_of: Mapping[str, str]) -> Callable[[str], Where]:
    """Locate a sheet item's field by row and the column header as the worker wrote it."""
    return lambda field: (None, row, header_of.get(field, field))


def _finish(source: str, name: str, items: list[MenuItem], problems: _Problems) -> Catalogue:
    if not problems.items and not items:
        problems.add((None, None, None), N_("the catalogue has no items"))
    if problems.items:
        raise CatalogueError(source, problems.items)
    return Catalogue(name, tuple(items))


def parse_catalogue_toml(text: str, *, source: str = "catalogue.toml") -> Catalogue:
    """Read a catalogue written as TOML (see voting/catalogue/default.toml for the format).

    Money is in 元 as text ("12.50") or whole 元 as an integer; a float is refused, since 0.1 is
    not exactly representable. Raises CatalogueError listing every problem by key.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(source, [CatalogueProblem(N_("not valid TOML: {error}"), {"error": str(exc)})]) from None
    problems = _Problems()
    unknown = set(data) - {"name", "items"}
    if unknown:
        problems.add((", ".join(sorted(unknown)), None, None), N_("unknown key; the catalogue has name and [[items]]"))
    name = data.get("name", "")
    if not isinstance(name, str) or not name.strip():
        problems.add(("name", None, None), N_('required: the catalogue\'s name, name = "..."'))
        name = ""
    raw_items = data.get("items", [])
    if not isinstance(raw_items, list):
        problems.add(("items", None, None), N_("items must be an array of tables: [[items]]"))
        raw_items = []
    items: list[MenuItem] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_items, start=1):
        prefix = f"items[{index}]"
        if not isinstance(raw, dict):
            problems.add((prefix, None, None), N_("expected a table: [[items]]"))
            continue
        for key in sorted(set(raw) - set(ITEM_FIELDS)):
            problems.add(
                (f"{prefix}.{key}", None, None), N_("unknown key; known keys: {known}"), known=", ".join(ITEM_FIELDS)
            )
        item = _item_from_fields(raw, _at_key(prefix), problems)
        if item is not None:
            if item.id in seen:
                problems.add(
                    (f"{prefix}.id", None, None),
                    N_('the id "{value}" is already used by item {first}; give every item its own id'),
                    value=item.id,
                    first=seen[item.id],
                )
                continue
            seen[item.id] = index
            items.append(item)
    return _finish(source, name.strip(), items, problems)


def parse_catalogue_sheet(data: bytes, filename: str, *, name: str = "") -> Catalogue:
    """Read a catalogue from a spreadsheet (.xlsx or CSV): one row per item, headers in English or
    Chinese (编号, 类别, 名称, 说明, 估算费用, 每平方米分摊 or 分摊总额, 必选).

    Raises InputFileError for an unreadable or empty file (as for rosters) and CatalogueError listing
    every bad row and column.
    """
    sheet = read_sheet(data, filename)
    problems = _Problems()
    columns: dict[str, int] = {}
    for index, header in enumerate(sheet.header):
        field = _FIELD_OF.get(_norm(header))
        if field is None:
            continue
        if field in columns:
            problems.add((None, 1, header), N_('two columns mean "{field}"; keep only one'), field=field)
            continue
        columns[field] = index
    for field in ("id", "class", "name", "cost"):
        if field not in columns:
            problems.add(
                (None, 1, None),
                N_('no column "{field}"; add a header cell named one of: {accepted}'),
                field=field,
                accepted=", ".join(ITEM_FIELDS[field][:3]),
            )
    if "share_per_m2" not in columns and "share_total" not in columns:
        problems.add(
            (None, 1, None),
            N_("no column for the residents' share; add 每平方米分摊 (yuan per m²) or 分摊总额 (yuan in all)"),
        )
    if problems.items:
        raise CatalogueError(filename, problems.items)
    header_of = {field: sheet.header[index] for field, index in columns.items()}
    items: list[MenuItem] = []
    seen: dict[str, int] = {}
    for number, cells in sheet.rows:
        if not any(c.strip() for c in cells):
            continue
        fields = {field: (cells[index].strip() if index < len(cells) else "") for field, index in columns.items()}
        item = _item_from_fields(fields, _at_cell(number, header_of), problems)
        if item is not None:
            if item.id in seen:
                problems.add(
                    (None, number, header_of["id"]),
                    N_('the id "{value}" is already used in row {first}; give every item its own id'),
                    value=item.id,
                    first=seen[item.id],
                )
                continue
            seen[item.id] = number
            items.append(item)
    return _finish(filename, name or filename.rsplit(".", 1)[0], items, problems)


def default_catalogue() -> Catalogue:
    """The catalogue that ships with renovote: DOMAIN.md's item lists with illustrative costs."""
    from importlib.resources import files  # read-only package data, not I/O the core decides on

    text = files("voting.catalogue").joinpath("default.toml").read_text(encoding="utf-8")
    return parse_catalogue_toml(text, source="default.toml")


# --------------------------------------------------------------------------------------------
# Shares


def item_share_estimate(item: MenuItem, owner_area: int, total_area: int) -> int:
    """One owner's share of one item in fen, rounded half up; a quick estimate for the resident's card.

    Per-m² items: fen per m² × area (0.01 m²) / 100. Split items: total × owner area / total area.
    The split estimate of one owner may differ by one fen from `allocate_shares`, which makes the
    shares of all owners sum exactly to the total.
    """
    if owner_area < 0 or total_area <= 0 or owner_area > total_area:
        raise MenuError(N_("the owner's area must be part of a positive total area"))
    if item.share_kind is ShareKind.PER_M2:
        return _half_up_div(item.share_amount * owner_area, 100)
    return _half_up_div(item.share_amount * owner_area, total_area)


@dataclass(frozen=True, slots=True)
class ShareEstimate:
    """What a selection costs one owner: each item's share and the sum, in fen."""

    area: int
    lines: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(fen for _, fen in self.lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "area_m2": format_area(self.area),
            "items": [{"id": item_id, "fen": fen} for item_id, fen in self.lines],
            "total_fen": self.total,
        }


def estimate_share(catalogue: Catalogue, item_ids: Iterable[str], owner_area: int, total_area: int) -> ShareEstimate:
    """A resident's estimated share for a selection (required items included), in catalogue order."""
    wanted = set(item_ids) | catalogue.required_ids
    for item_id in wanted:
        catalogue.item(item_id)  # raises on an unknown id
    lines = tuple(
        (item.id, item_share_estimate(item, owner_area, total_area)) for item in catalogue.items if item.id in wanted
    )
    return ShareEstimate(owner_area, lines)


def allocate_shares(items: Sequence[MenuItem], roster: Roster) -> dict[str, dict[str, int]]:
    """Every owner's exact share of each item (owner key -> item id -> fen) over a whole roster.

    Per-m² items: each owner's own amount, rounded half up (the sum is what is collected). Split
    items: largest remainder over the owners' areas, so the shares sum exactly to the item's total.
    Owners are counted as the Roster counts them: several homes, one owner; developer-held units,
    one owner (the developer pays for its unsold area too).
    """
    areas = roster.owner_area
    shares: dict[str, dict[str, int]] = {owner: {} for owner in areas}
    for item in items:
        if item.share_kind is ShareKind.PER_M2:
            for owner, area in areas.items():
                shares[owner][item.id] = _half_up_div(item.share_amount * area, 100)
        else:
            for owner, fen in largest_remainder(item.share_amount, areas).items():
                shares[owner][item.id] = fen
    return shares


# --------------------------------------------------------------------------------------------
# Selections and support


def latest_selections(
    roster: Roster, catalogue: Catalogue, selections: Iterable[tuple[str, Iterable[str]]]
) -> dict[str, frozenset[str]]:
    """Resolve selections `(unit_id, item ids)` in the order made to each owner's latest selection.

    As with ballots, a selection through any of an owner's units is that owner's, and a later one
    replaces an earlier one whole. Required items are added to every selection: a resident cannot
    untick them. An empty selection still counts: the owner took part and wanted nothing optional.
    """
    known = {item.id for item in catalogue.items}
    required = catalogue.required_ids
    latest: dict[str, frozenset[str]] = {}
    for unit_id, item_ids in selections:
        chosen = frozenset(item_ids)
        unknown = chosen - known
        if unknown:
            raise MenuError(N_('the menu has no item "{item}"'), item=sorted(unknown)[0])
        try:
            latest[roster.owner_of(unit_id)] = chosen | required
        except KeyError:
            raise UnknownVoterError(unit_id) from None
    return latest


def _fraction(count: int, base: int) -> Fraction:
    return Fraction(count, base) if base else Fraction(0)


def _fraction_text(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


@dataclass(frozen=True, slots=True)
class ItemSupport:
    """Owners who selected an item, in both dimensions, against the electorate and the respondents."""

    item_id: str
    required: bool
    support: Weight
    total: Weight
    respondents: Weight

    @property
    def area_of_total(self) -> Fraction:
        return _fraction(self.support.area, self.total.area)

    @property
    def headcount_of_total(self) -> Fraction:
        return _fraction(self.support.headcount, self.total.headcount)

    @property
    def area_of_respondents(self) -> Fraction:
        return _fraction(self.support.area, self.respondents.area)

    @property
    def headcount_of_respondents(self) -> Fraction:
        return _fraction(self.support.headcount, self.respondents.headcount)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.item_id,
            "required": self.required,
            "area_m2": format_area(self.support.area),
            "headcount": self.support.headcount,
            "area_of_total": _fraction_text(self.area_of_total),
            "headcount_of_total": _fraction_text(self.headcount_of_total),
            "area_of_respondents": _fraction_text(self.area_of_respondents),
            "headcount_of_respondents": _fraction_text(self.headcount_of_respondents),
        }


@dataclass(frozen=True, slots=True)
class SelectionResult:
    """The menu round's count: the electorate, those who answered, and every item's support."""

    total: Weight
    respondents: Weight
    items: tuple[ItemSupport, ...]

    def support_of(self, item_id: str) -> ItemSupport:
        for support in self.items:
            if support.item_id == item_id:
                return support
        raise MenuError(N_('the menu has no item "{item}"'), item=item_id)

    def as_dict(self) -> dict[str, Any]:
        def weight(w: Weight) -> dict[str, Any]:
            return {"area_m2": format_area(w.area), "headcount": w.headcount}

        return {
            "total": weight(self.total),
            "respondents": weight(self.respondents),
            "items": [s.as_dict() for s in self.items],
        }


def selection_result(catalogue: Catalogue, roster: Roster, selections: Mapping[str, frozenset[str]]) -> SelectionResult:
    """Count each item's support from each owner's latest selection (`latest_selections`).

    Headcount and area are the owner's (Roster's counting: several homes are one owner, the
    developer's units one owner). Required items count every respondent as support.
    """
    areas = roster.owner_area
    required = catalogue.required_ids
    support_area = {item.id: 0 for item in catalogue.items}
    support_heads = dict.fromkeys(support_area, 0)
    respondents = Weight()
    for owner, chosen in selections.items():
        try:
            area = areas[owner]
        except KeyError:
            raise UnknownVoterError(owner) from None
        respondents += Weight(area, 1)
        for item_id in chosen | required:
            if item_id not in support_area:
                raise MenuError(N_('the menu has no item "{item}"'), item=item_id)
            support_area[item_id] += area
            support_heads[item_id] += 1
    total = roster.total
    return SelectionResult(
        total,
        respondents,
        tuple(
            ItemSupport(
                item.id, item.required, Weight(support_area[item.id], support_heads[item.id]), total, respondents
            )
            for item in catalogue.items
        ),
    )


# --------------------------------------------------------------------------------------------
# Draft plan

#: The default threshold for an optional item to enter the draft plan: more than half of the
#: owners who answered the menu, by area and by headcount. The menu only shapes a proposal; the
#: binding consent is the plan-approval vote that follows, under the programme's own rule.
DEFAULT_MENU_RULE = Rule(
    "menu-majority-of-respondents",
    (Condition(ConditionKind.APPROVAL, Fraction(1, 2), base=Base.PARTICIPATING, comparison=Comparison.MORE_THAN),),
    N_("Menu item: selected by more than half of the respondents, by area and by headcount"),
)

#: The thresholds a worker may choose for a round: the default, a stronger two-thirds of the
#: respondents, and Baoding's 80% of all owners (an item only a few answered for stays out).
MENU_RULES: Mapping[str, Rule] = {
    rule.name: rule
    for rule in (
        DEFAULT_MENU_RULE,
        Rule(
            "menu-two-thirds-of-respondents",
            (Condition(ConditionKind.APPROVAL, Fraction(2, 3), base=Base.PARTICIPATING),),
            N_("Menu item: selected by at least two-thirds of the respondents, by area and by headcount"),
        ),
        Rule(
            "menu-eighty-percent-of-owners",
            (Condition(ConditionKind.APPROVAL, Fraction(4, 5), base=Base.TOTAL),),
            N_("Menu item: selected by at least four-fifths (80%) of all owners, by area and by headcount"),
        ),
    )
}


class Inclusion(StrEnum):
    REQUIRED = "required"  # in the plan whatever the support
    SELECTED = "selected"  # its support meets the menu rule
    NOT_ENOUGH_SUPPORT = "not_enough_support"


@dataclass(frozen=True, slots=True)
class PlanLine:
    """One catalogue item in a draft plan, in it or not, with the count that decided it."""

    item: MenuItem
    support: ItemSupport
    inclusion: Inclusion
    count: TallyResult
    residents_share: int  # fen, the sum of every owner's share (0 when not in the plan)

    @property
    def included(self) -> bool:
        return self.inclusion is not Inclusion.NOT_ENOUGH_SUPPORT

    def as_dict(self) -> dict[str, Any]:
        return {
            "item": self.item.as_dict(),
            "support": self.support.as_dict(),
            "inclusion": str(self.inclusion),
            "passed": self.count.passed,
            "conditions": [c.as_dict() for c in self.count.conditions],
            "residents_share_fen": self.residents_share,
        }


@dataclass(frozen=True, slots=True)
class DraftPlan:
    """What the menu round proposes: the items in, those left out, the cost and the residents' part."""

    title: str
    rule: Rule
    total: Weight
    respondents: Weight
    lines: tuple[PlanLine, ...]

    @property
    def items(self) -> tuple[MenuItem, ...]:
        return tuple(line.item for line in self.lines if line.included)

    @property
    def total_cost(self) -> int:
        return sum(line.item.cost for line in self.lines if line.included)

    @property
    def residents_total(self) -> int:
        return sum(line.residents_share for line in self.lines if line.included)

    def as_dict(self) -> dict[str, Any]:
        def weight(w: Weight) -> dict[str, Any]:
            return {"area_m2": format_area(w.area), "headcount": w.headcount}

        return {
            "title": self.title,
            "rule": self.rule.as_dict(),
            "total": weight(self.total),
            "respondents": weight(self.respondents),
            "lines": [line.as_dict() for line in self.lines],
            "total_cost_fen": self.total_cost,
            "residents_total_fen": self.residents_total,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DraftPlan:
        """Rebuild a stored plan; the counts are recomputed from the stored weights and rule."""
        rule = rule_from_dict(data["rule"])
        total = _weight(data["total"])
        respondents = _weight(data["respondents"])
        lines = []
        for raw in data["lines"]:
            item = MenuItem.from_dict(raw["item"])
            support = _weight(raw["support"])
            lines.append(
                PlanLine(
                    item,
                    ItemSupport(item.id, item.required, support, total, respondents),
                    Inclusion(raw["inclusion"]),
                    tally_weights(rule, total, support, respondents - support),
                    _int(raw["residents_share_fen"]),
                )
            )
        return cls(str(data["title"]), rule, total, respondents, tuple(lines))


def _weight(data: Mapping[str, Any]) -> Weight:
    return Weight(parse_area(str(data["area_m2"])), _int(data["headcount"]))


def draft_plan(
    catalogue: Catalogue,
    roster: Roster,
    result: SelectionResult,
    rule: Rule = DEFAULT_MENU_RULE,
    *,
    title: str = "",
) -> DraftPlan:
    """Required items plus every item whose support meets `rule`, with the residents' share of each.

    Each optional item is counted as a motion under `rule`: owners who selected it agree, the other
    respondents disagree, owners who did not answer did not take part. So any rule of rules.py works
    — "more than half of respondents" (the default), "80% of all owners", double two-thirds — with
    both dimensions, ≥ or >, and the same shortfall figures as a vote.
    """
    if result.total != roster.total:
        raise MenuError(N_("the selection result was counted on another roster"))
    lines: list[tuple[MenuItem, ItemSupport, Inclusion, TallyResult]] = []
    for item in catalogue.items:
        support = result.support_of(item.id)
        count = tally_weights(rule, result.total, support.support, result.respondents - support.support)
        if item.required:
            inclusion = Inclusion.REQUIRED
        elif count.passed:
            inclusion = Inclusion.SELECTED
        else:
            inclusion = Inclusion.NOT_ENOUGH_SUPPORT
        lines.append((item, support, inclusion, count))
    included = [item for item, _, inclusion, _ in lines if inclusion is not Inclusion.NOT_ENOUGH_SUPPORT]
    shares = allocate_shares(included, roster)
    sums: dict[str, int] = {}
    for by_item in shares.values():
        for item_id, fen in by_item.items():
            sums[item_id] = sums.get(item_id, 0) + fen
    return DraftPlan(
        title or catalogue.name,
        rule,
        result.total,
        result.respondents,
        tuple(PlanLine(item, s, inc, count, sums.get(item.id, 0)) for item, s, inc, count in lines),
    )


@dataclass(frozen=True, slots=True)
class UnitShare:
    """One home's line of the plan's cost sheet: its part of its owner's share of each plan item."""

    unit_id: str
    owner_key: str
    area: int
    by_item: tuple[int, ...]  # fen, in the order of DraftPlan.items

    @property
    def total(self) -> int:
        return sum(self.by_item)


def plan_shares(plan: DraftPlan, roster: Roster) -> tuple[UnitShare, ...]:
    """Each unit's share of each plan item, in roster order.

    The share is the owner's (from the sum of their homes' areas, `allocate_shares`); an owner with
    several homes has it split among them by area with the largest-remainder method, so the units of
    one owner add up to exactly that owner's share and all units to exactly the plan's total.
    """
    items = plan.items
    owners = allocate_shares(items, roster)
    units_of: dict[str, list[tuple[str, int]]] = {}
    for unit in roster:
        units_of.setdefault(roster.owner_of(unit.unit_id), []).append((unit.unit_id, unit.area))
    per_unit: dict[str, list[int]] = {unit.unit_id: [] for unit in roster}
    for owner, homes in units_of.items():
        for item in items:
            owner_fen = owners[owner][item.id]
            if len(homes) == 1:
                per_unit[homes[0][0]].append(owner_fen)
                continue
            split = largest_remainder(owner_fen, dict(homes))
            for unit_id, _ in homes:
                per_unit[unit_id].append(split[unit_id])
    return tuple(
        UnitShare(unit.unit_id, roster.owner_of(unit.unit_id), unit.area, tuple(per_unit[unit.unit_id]))
        for unit in roster
    )


def _item_label(item: MenuItem) -> str:
    return item.name


def plan_rows(plan: DraftPlan, roster: Roster, translate: Callable[[str], str] = _identity) -> list[list[str]]:
    """The cost sheet as rows for a CSV: a header, one row per unit, and a total row.

    Amounts in 元 with two decimals, areas in m²; `translate` is the bot's gettext for the headers.
    """
    items = plan.items
    header = [
        translate(N_("Unit")),
        translate(N_("Owner")),
        translate(N_("Area (m²)")),
        *(f"{_item_label(item)} ({translate(N_('yuan'))})" for item in items),
        translate(N_("Total (yuan)")),
    ]
    rows = [header]
    shares = plan_shares(plan, roster)
    for share in shares:
        rows.append(
            [
                share.unit_id,
                share.owner_key.partition(":")[2] or share.owner_key,
                format_area(share.area),
                *(format_money(fen) for fen in share.by_item),
                format_money(share.total),
            ]
        )
    sums = [sum(s.by_item[i] for s in shares) for i in range(len(items))]
    rows.append(
        [
            translate(N_("Total")),
            "",
            format_area(roster.total.area),
            *(format_money(fen) for fen in sums),
            format_money(sum(sums)),
        ]
    )
    return rows


def write_plan_xlsx(plan: DraftPlan, roster: Roster, translate: Callable[[str], str] = _identity) -> bytes:
    """The draft plan as an .xlsx: a sheet of items (class, cost, residents' share, support) and a
    sheet of every unit's share. Amounts are written as text with two decimals: no float reaches
    the file, so what Excel shows is exactly what the core computed."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = translate(N_("Plan"))[:31]
    sheet.append(
        [
            translate(N_("Item")),
            translate(N_("Class")),
            translate(N_("In the plan")),
            translate(N_("Estimated cost (yuan)")),
            translate(N_("Residents' share (yuan)")),
            translate(N_("Support by area")),
            translate(N_("Support by headcount")),
        ]
    )
    for line in plan.lines:
        support = line.support
        sheet.append(
            [
                line.item.name,
                translate(CLASS_TITLES[line.item.item_class]),
                translate(_INCLUSION_WORDS[line.inclusion]),
                format_money(line.item.cost),
                format_money(line.residents_share),
                f"{format_area(support.support.area)} / {format_area(support.total.area)}",
                f"{support.support.headcount} / {support.total.headcount}",
            ]
        )
    sheet.append(
        [
            translate(N_("Total")),
            "",
            "",
            format_money(plan.total_cost),
            format_money(plan.residents_total),
            "",
            "",
        ]
    )
    units = book.create_sheet(translate(N_("Shares"))[:31])
    for row in plan_rows(plan, roster, translate):
        units.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


_INCLUSION_WORDS: Mapping[Inclusion, str] = {
    Inclusion.REQUIRED: N_("required"),
    Inclusion.SELECTED: N_("selected"),
    Inclusion.NOT_ENOUGH_SUPPORT: N_("not enough support"),
}


def plan_vote_title(plan: DraftPlan, translate: Callable[[str], str] = _identity) -> str:
    """The title of the plan-approval vote (《老旧小区改造同意书》)."""
    return translate(N_("Renovation plan: {title}")).format(title=plan.title)[:200]


def plan_vote_text(plan: DraftPlan, translate: Callable[[str], str] = _identity) -> str:
    """The motion text of the plan-approval vote, so the bot creates a voting.votes.Vote in one step.

    It lists the plan's items by class with their estimated cost and the residents' share, so each
    owner agrees to a plan whose content and cost the ballot itself states.
    """
    lines = [translate(N_("Do you agree to the renovation plan below?"))]
    for item_class in ItemClass:
        in_class = [line for line in plan.lines if line.included and line.item.item_class is item_class]
        if not in_class:
            continue
        lines.append(translate(CLASS_TITLES[item_class]))
        for line in in_class:
            item = line.item
            if item.share_kind is ShareKind.PER_M2:
                share = translate(N_("residents pay {amount} yuan per m² of floor area")).format(
                    amount=format_money(item.share_amount)
                )
            else:
                share = translate(N_("residents pay {amount} yuan in all, split by floor area")).format(
                    amount=format_money(item.share_amount)
                )
            lines.append(
                translate(N_("· {name}: estimated cost {cost} yuan; {share}")).format(
                    name=item.name, cost=format_money(item.cost), share=share
                )
            )
    lines.append(
        translate(N_("Estimated total cost {cost} yuan; residents' share {share} yuan in all.")).format(
            cost=format_money(plan.total_cost), share=format_money(plan.residents_total)
        )
    )
    lines.append(translate(N_("Each owner's share is in proportion to their floor area.")))
    return "\n".join(lines)
