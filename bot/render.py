"""Plain-text renderings of core results in the reader's language: tallies, rules, file problems."""

from __future__ import annotations

import unicodedata
from fractions import Fraction
from typing import TYPE_CHECKING

from bot.i18n import Translator
from voting.errors import N_, FileProblem, InputFileError, Problem, RuleError
from voting.model import Weight, format_area
from voting.rules import Base, Comparison, Condition, ConditionKind, Dimension, Rule
from voting.tally import ConditionResult, TallyResult

if TYPE_CHECKING:
    from voting.audit import VerifyReport

__all__ = [
    "describe_condition",
    "describe_input_error",
    "describe_rule",
    "describe_rule_error",
    "money",
    "render_tally",
    "shortfall_text",
]


_FRACTION_WORDS = {
    Fraction(1, 2): N_("one half"),
    Fraction(2, 3): N_("two-thirds"),
    Fraction(3, 4): N_("three-quarters"),
    Fraction(4, 5): N_("80%"),
    Fraction(1, 1): N_("all"),
}

_DIMENSION_WORDS = {
    (Dimension.AREA, Dimension.HEADCOUNT): N_("both the exclusive area and the number of owners"),
    (Dimension.HEADCOUNT, Dimension.AREA): N_("both the exclusive area and the number of owners"),
    (Dimension.AREA,): N_("the exclusive area"),
    (Dimension.HEADCOUNT,): N_("the number of owners"),
}

_CONDITION_TEMPLATES = {
    (ConditionKind.PARTICIPATION, Base.TOTAL, Comparison.AT_LEAST): N_(
        "Owners taking part must hold at least {fraction} of the total for {dims}"
    ),
    (ConditionKind.PARTICIPATION, Base.TOTAL, Comparison.MORE_THAN): N_(
        "Owners taking part must hold more than {fraction} of the total for {dims}"
    ),
    (ConditionKind.APPROVAL, Base.TOTAL, Comparison.AT_LEAST): N_(
        "Owners agreeing must hold at least {fraction} of the total for {dims}"
    ),
    (ConditionKind.APPROVAL, Base.TOTAL, Comparison.MORE_THAN): N_(
        "Owners agreeing must hold more than {fraction} of the total for {dims}"
    ),
    (ConditionKind.APPROVAL, Base.PARTICIPATING, Comparison.AT_LEAST): N_(
        "Owners agreeing must hold at least {fraction} of those taking part for {dims}"
    ),
    (ConditionKind.APPROVAL, Base.PARTICIPATING, Comparison.MORE_THAN): N_(
        "Owners agreeing must hold more than {fraction} of those taking part for {dims}"
    ),
}

_PROBLEM_TEMPLATES = {
    Problem.UNREADABLE_ENCODING: N_(
        "{file}: the text encoding cannot be read. Save the sheet as CSV (UTF-8 or GBK) or as .xlsx."
    ),
    Problem.UNREADABLE_FILE: N_(
        "{file}: this is not a readable CSV or .xlsx file ({value}). Save it again from the spreadsheet program."
    ),
    Problem.EMPTY_FILE: N_(
        "{file}: no data rows. Row 1 must be the header (for example unit_id, area_m2, owner, status), "
        "one unit per row below it."
    ),
    Problem.MISSING_COLUMN: N_('{file}: row 1 has no column "{column}". Add a header cell named one of: {accepted}.'),
    Problem.DUPLICATE_COLUMN: N_(
        '{file}: row 1 has two columns meaning "{value}" (the second is "{column}"). Keep only one.'
    ),
    Problem.MISSING_VALUE: N_('{file}, row {row}: "{column}" is empty. Fill it in or delete the row.'),
    Problem.BAD_AREA: N_(
        '{file}, row {row}: the area "{value}" is not a number. Write square metres with a dot, like 60.25.'
    ),
    Problem.AREA_NOT_POSITIVE: N_('{file}, row {row}: the area "{value}" must be more than 0.'),
    Problem.AREA_TOO_PRECISE: N_(
        '{file}, row {row}: the area "{value}" has more than two decimals. Use the registry area, to 0.01 m².'
    ),
    Problem.DUPLICATE_UNIT: N_(
        '{file}, row {row}: unit "{value}" is already in row {first_row}. Keep one row per unit.'
    ),
    Problem.UNKNOWN_STATUS: N_('{file}, row {row}: the status "{value}" is unknown. Use one of: {accepted}.'),
    Problem.UNKNOWN_AREA_SOURCE: N_('{file}, row {row}: the area source "{value}" is unknown. Use one of: {accepted}.'),
    Problem.UNKNOWN_UNIT: N_(
        '{file}, row {row}: unit "{value}" is not in the roster. Check the unit id against the roster.'
    ),
    Problem.UNKNOWN_CHOICE: N_('{file}, row {row}: the choice "{value}" is unknown. Use one of: {accepted}.'),
}


def percent(value: Fraction) -> str:
    """A share as people read it, one decimal, computed exactly: 2/3 -> "66.7%"."""
    tenths = round(value * 1000)
    return f"{tenths // 10}.{tenths % 10}%"


def fraction_words(_: Translator, value: Fraction) -> str:
    known = _FRACTION_WORDS.get(value)
    if known is not None:
        return _(known)
    percent = value * 100
    if percent.denominator == 1:
        return f"{percent.numerator}%"
    return f"{value.numerator}/{value.denominator}"


def describe_condition(_: Translator, condition: Condition) -> str:
    template = _CONDITION_TEMPLATES[(condition.kind, condition.base, condition.comparison)]
    return _(template).format(
        fraction=fraction_words(_, condition.threshold),
        dims=_(_DIMENSION_WORDS[condition.dimensions]),
    )


def rule_title(_: Translator, rule: Rule) -> str:
    return _(rule.title) if rule.title else rule.name


def describe_rule(_: Translator, rule: Rule) -> str:
    """The rule in plain words, one condition a line."""
    lines = [rule_title(_, rule)]
    lines += [f"  · {describe_condition(_, c)}" for c in rule.conditions]
    return "\n".join(lines)


def shortfall_text(_: Translator, result: ConditionResult) -> str:
    """What is still missing for a condition, e.g. "7 more owners and 312.40 m² needed"."""
    parts: list[str] = []
    unreachable = False
    # Owners first, then area, as workers say it: "还差 7 户、312.40 m²".
    for dim in sorted(result.dimensions, key=lambda d: d.dimension is Dimension.AREA):
        if dim.holds:
            continue
        if dim.shortfall is None:
            unreachable = True
        elif dim.dimension is Dimension.HEADCOUNT:
            parts.append(_.n("{n} more owner", "{n} more owners", dim.shortfall).format(n=dim.shortfall))
        else:
            parts.append(_("{area} m²").format(area=format_area(dim.shortfall)))
    if unreachable and not parts:
        return _("cannot be reached by further ballots")
    return _("{missing} needed").format(missing=_(" and ").join(parts))


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    fill = " " * max(width - _width(text), 0)
    return fill + text if right else text + fill


def _table(_: Translator, result: TallyResult) -> list[str]:
    rows: list[tuple[str, Weight]] = [
        (_("Total"), result.total),
        (_("Taking part"), result.participating),
        (_("Agree"), result.agree),
        (_("Disagree"), result.disagree),
        (_("Abstain"), result.abstain),
        (_("Not voted"), result.not_voted),
    ]
    head = (_("Area (m²)"), _("Owners"))
    label_w = max(_width(label) for label, _w in rows) + 2
    area_w = max(_width(head[0]), *(len(format_area(w.area)) for _l, w in rows)) + 2
    count_w = max(_width(head[1]), *(len(str(w.headcount)) for _l, w in rows)) + 2
    lines = [_pad("", label_w) + _pad(head[0], area_w, True) + _pad(head[1], count_w, True)]
    for label, weight in rows:
        lines.append(
            _pad(label, label_w)
            + _pad(format_area(weight.area), area_w, True)
            + _pad(str(weight.headcount), count_w, True)
        )
    return lines


def _conditions(_: Translator, result: TallyResult) -> list[str]:
    lines: list[str] = []
    for number, cond in enumerate(result.conditions, start=1):
        verdict = _("met") if cond.holds else _("not met") + " — " + shortfall_text(_, cond)
        lines.append(_("Condition {n}: {text}").format(n=number, text=describe_condition(_, cond.condition)))
        for dim in cond.dimensions:
            fmt = format_area if dim.dimension is Dimension.AREA else str
            name = _("area") if dim.dimension is Dimension.AREA else _("owners")
            lines.append(f"    {name}: {fmt(dim.count)} / {fmt(dim.base)}")
        lines.append(f"    → {verdict}")
    return lines


def _verdict(_: Translator, result: TallyResult) -> str:
    return _("Result: PASSED") if result.passed else _("Result: NOT PASSED")


def render_tally(_: Translator, result: TallyResult) -> str:
    """A readable report: the rule, the two-dimensional table, each condition, the outcome."""
    lines = [_("Rule: {title}").format(title=rule_title(_, result.rule)), ""]
    lines += _table(_, result)
    lines.append("")
    lines += _conditions(_, result)
    lines += ["", _verdict(_, result)]
    alt = result.alternative
    if alt is not None:
        lines += ["", _("— Counting non-voters with the majority (a local rule; the Civil Code does not do this) —")]
        if alt.non_voters_counted_as is None:
            lines.append(_("There is no majority in both area and headcount, so no non-voter was moved."))
        else:
            choice = _("Agree") if alt.non_voters_counted_as.value == "agree" else _("Disagree")
            lines.append(_("Non-voters counted as: {choice}").format(choice=choice))
        lines += _table(_, alt)
        lines += _conditions(_, alt)
        lines += ["", _verdict(_, alt)]
    return "\n".join(lines)


def describe_problem(_: Translator, filename: str, problem: FileProblem) -> str:
    accepted = problem.detail.get("accepted")
    params = {
        "file": filename,
        "row": problem.row,
        "column": problem.column or "",
        "value": problem.value or "",
        "accepted": ", ".join(str(a) for a in accepted) if accepted else "",
        "first_row": problem.detail.get("first_row", ""),
    }
    return _(_PROBLEM_TEMPLATES[problem.problem]).format(**params)


def describe_input_error(_: Translator, error: InputFileError, limit: int | None = None) -> str:
    """Every problem of a bad file, one a line; with `limit`, the first few and how many more."""
    shown = error.problems if limit is None else error.problems[:limit]
    lines = [describe_problem(_, error.filename, p) for p in shown]
    rest = len(error.problems) - len(shown)
    if rest > 0:
        lines.append(_.n("… and {n} more problem", "… and {n} more problems", rest).format(n=rest))
    lines.append(_("Nothing was loaded. Fix the file and try again."))
    return "\n".join(lines)


def describe_rule_error(_: Translator, error: RuleError) -> str:
    text = _(error.template).format(**error.params)
    return f"{error.source}: {text}" if error.source else text


def render_bundle_summary(
    vote_title: str, result: TallyResult, *, roster_hash: str, head_seq: int, head_hash: str, fingerprint: str
) -> str:
    """The short human summary inside an audit bundle: Chinese first, then English."""
    from bot.i18n import translator

    parts = []
    for locale in ("zh_CN", "en"):
        _ = translator(locale)
        parts.append(
            "\n".join(
                [
                    _("Vote: {title}").format(title=vote_title),
                    render_tally(_, result),
                    "",
                    _("Frozen roster hash: {hash}").format(hash=roster_hash),
                    _("Ledger head: entry {seq}, hash {hash}").format(seq=head_seq, hash=head_hash),
                    _("Signing key fingerprint: {fingerprint}").format(fingerprint=fingerprint),
                    _("Check this bundle yourself: renovote audit verify BUNDLE.zip --public-key KEY.pem"),
                ]
            )
        )
    return ("\n\n" + "=" * 40 + "\n\n").join(parts) + "\n"


def describe_verify_report(_: Translator, report: VerifyReport) -> str:
    lines = []
    if report.ok:
        lines.append(_("PASS"))
    else:
        lines.append(_("FAIL: {n} problem(s)").format(n=len(report.failures)))
        for failure in report.failures:
            lines.append(f"  {failure.file}: " + _(failure.template).format(where=failure.where, detail=failure.detail))
    lines.append(
        _("Vote {vote}: {entries} ledger entries, {units} units in the frozen roster").format(
            vote=report.vote_id, entries=report.entries, units=report.units
        )
    )
    stages = {"preliminary": _("preliminary"), "final": _("final")}
    for item in report.tallies:
        verdict = _("passed") if item["passed"] else _("not passed")
        lines.append(
            _("  {file}: {stage} tally up to entry {seq}, rule {rule}: {verdict}").format(
                file=item["file"],
                stage=stages.get(str(item["stage"]), str(item["stage"])),
                seq=item["head_seq"],
                rule=item["rule"],
                verdict=verdict,
            )
        )
    if report.fingerprint:
        lines.append(_("Signing key fingerprint: {fingerprint}").format(fingerprint=report.fingerprint))
    if report.key_from_bundle:
        lines.append(
            _(
                "Note: the public key came from the bundle itself. Compare its fingerprint with the one the "
                "community published, or pass --public-key."
            )
        )
    return "\n".join(lines)


def money(fen: int) -> str:
    """Yuan for people to read, with thousands separators: 855000000 fen -> '¥8,550,000.00'."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"
