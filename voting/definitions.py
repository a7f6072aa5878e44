"""A vote defined in a TOML file, uploaded by a worker instead of going through the chat wizard.

    title = "加装电梯"
    text = "是否同意在 3 号楼加装电梯，费用按面积分摊？"
    rule = "double-two-thirds"        # a preset name, or a [rule] table as in a rule file
    scope = { building = "3" }        # optional; entrance too; default: the whole community
    opens_at = 2026-11-25T08:00:00    # local time of the community (or with an offset); "now" opens at once
    closes_at = 2026-12-02T20:00:00
    show_turnout = true               # optional, default false
    reminder_time = "19:00"           # optional: daily reminders to owners who have not voted

Errors are RuleError with an English template naming the key and what to write (the bot translates).
"""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time, tzinfo
from typing import Any

from voting.errors import N_, RuleError
from voting.model import Scope
from voting.rules import Rule, parse_rule_toml, preset, rule_from_dict
from voting.schedule import parse_hhmm
from voting.votes import Vote

__all__ = ["parse_vote_toml", "rule_toml_text"]

KEYS = {"title", "text", "rule", "scope", "opens_at", "closes_at", "show_turnout", "reminder_time"}


def rule_toml_text(rule_table: dict[str, Any]) -> str:
    """A [rule] table back as the text of a rule file, for parse_rule_toml."""
    lines = []
    for key in ("name", "title", "extends"):
        if key in rule_table:
            lines.append(f"{key} = {_toml_string(str(rule_table[key]))}")
    for condition in rule_table.get("conditions", []):
        lines.append("[[conditions]]")
        for key, value in condition.items():
            if isinstance(value, list):
                lines.append(f"{key} = [{', '.join(_toml_string(str(v)) for v in value)}]")
            else:
                lines.append(f"{key} = {_toml_string(str(value))}")
    return "\n".join(lines)


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(data: dict[str, Any], key: str, limit: int) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RuleError(N_('{key}: required, as text in quotes: {key} = "..."'), key=key)
    if len(value.strip()) > limit:
        raise RuleError(N_("{key}: at most {limit} characters"), key=key, limit=limit)
    return value.strip()


def _moment(data: dict[str, Any], key: str, tz: tzinfo, now: datetime) -> datetime:
    value = data.get(key)
    if value == "now" and key == "opens_at":
        return now
    if isinstance(value, datetime):
        return (value.replace(tzinfo=tz) if value.tzinfo is None else value).astimezone(now.tzinfo)
    if isinstance(value, date):
        return datetime.combine(value, time(0, 0), tzinfo=tz).astimezone(now.tzinfo)
    raise RuleError(N_("{key}: expected a date and time such as 2026-12-02T20:00:00 (local time)"), key=key)


def _rule(value: Any) -> Rule:
    if isinstance(value, str):
        return preset(value.strip())
    if isinstance(value, dict):
        if "conditions" in value and "extends" not in value:
            try:
                return rule_from_dict({"name": value.get("name", "custom"), **value})
            except RuleError:
                pass
        return parse_rule_toml(rule_toml_text(value), source="rule")
    raise RuleError(N_('rule: a preset name such as "double-two-thirds", or a [rule] table'))


def parse_vote_toml(data_bytes: bytes, community_id: int, tz: tzinfo, now: datetime, *, created_by: str = "") -> Vote:
    try:
        data = tomllib.loads(data_bytes.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise RuleError(N_("the file is not UTF-8 text")) from None
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(N_("not valid TOML: {error}"), error=str(exc)) from None
    unknown = set(data) - KEYS
    if unknown:
        raise RuleError(
            N_("unknown key(s) {keys}; known keys: {known}"),
            keys=", ".join(sorted(unknown)),
            known=", ".join(sorted(KEYS)),
        )
    scope_raw = data.get("scope", {})
    if not isinstance(scope_raw, dict) or set(scope_raw) - {"building", "entrance"}:
        raise RuleError(N_('scope: a table such as scope = {{ building = "3", entrance = "2" }}'))
    scope = Scope(str(scope_raw.get("building", "")).strip(), str(scope_raw.get("entrance", "")).strip())
    if scope.entrance and not scope.building:
        raise RuleError(N_("scope: an entrance needs its building"))
    opens_at = _moment(data, "opens_at", tz, now)
    closes_at = _moment(data, "closes_at", tz, now)
    if closes_at <= max(opens_at, now):
        raise RuleError(N_("closes_at: must be later than opens_at and than now"))
    show = data.get("show_turnout", False)
    if not isinstance(show, bool):
        raise RuleError(N_("show_turnout: true or false"))
    reminder = data.get("reminder_time")
    if reminder is not None:
        try:
            reminder = parse_hhmm(str(reminder))
        except ValueError:
            raise RuleError(N_('reminder_time: a local time such as "19:00"')) from None
    if "rule" not in data:
        raise RuleError(N_('rule: required, e.g. rule = "double-two-thirds"'))
    return Vote(
        community_id,
        _text(data, "title", 200),
        _text(data, "text", 3000),
        _rule(data["rule"]),
        scope,
        opens_at,
        closes_at,
        show_turnout=show,
        reminder_time=reminder,
        created_by=created_by,
    )
