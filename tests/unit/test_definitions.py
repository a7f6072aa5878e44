"""A vote defined in a TOML file: local times, presets or a custom rule, and a clear error for each mistake."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from voting.definitions import parse_vote_toml
from voting.errors import RuleError

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
GOOD = """
title = "加装电梯"
text = "是否同意？"
rule = "double-two-thirds"
scope = { building = "3", entrance = "2" }
opens_at = 2026-11-25T08:00:00
closes_at = 2026-12-02T20:00:00+08:00
show_turnout = true
reminder_time = "19：00"
"""


def test_a_definition_gives_the_vote_with_local_times_in_utc() -> None:
    vote = parse_vote_toml(GOOD.encode(), 7, TZ, NOW, created_by="worker:1")
    assert (vote.community_id, vote.title, vote.rule.name) == (7, "加装电梯", "double-two-thirds")
    assert (vote.scope.building, vote.scope.entrance) == ("3", "2")
    assert vote.opens_at == datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
    assert vote.closes_at == datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert vote.show_turnout and vote.reminder_time == "19:00" and vote.created_by == "worker:1"


def test_opens_now_and_a_custom_rule_table() -> None:
    text = GOOD.replace("opens_at = 2026-11-25T08:00:00", 'opens_at = "now"').replace(
        'rule = "double-two-thirds"\n', ""
    )
    text += '\n[rule]\nname = "plan-approval"\nextends = "double-two-thirds"\n'
    text += '[[rule.conditions]]\nkind = "approval"\nthreshold = "2/3"\nbase = "participating"\n'
    vote = parse_vote_toml(text.encode(), 1, TZ, NOW)
    assert vote.opens_at == NOW
    assert vote.rule.name == "plan-approval" and len(vote.rule.conditions) == 2  # the preset's one, plus one
    assert str(vote.rule.conditions[1].base) == "participating"


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        (('rule = "double-two-thirds"', 'rule = "ninety"'), "ninety"),
        (('title = "加装电梯"', 'title = ""'), "title"),
        (("closes_at = 2026-12-02T20:00:00+08:00", "closes_at = 2026-11-24T20:00:00"), "closes_at"),
        (("closes_at = 2026-12-02T20:00:00+08:00", 'closes_at = "next week"'), "closes_at"),
        (('reminder_time = "19：00"', 'reminder_time = "7pm"'), "reminder_time"),
        (("show_turnout = true", 'show_turnout = "yes"'), "show_turnout"),
        (('scope = { building = "3", entrance = "2" }', 'scope = { entrance = "2" }'), "scope"),
        (("show_turnout = true", "show_turnout = true\ncolour = 1"), "colour"),
        (("title =", "title"), "TOML"),
    ],
)
def test_each_mistake_is_named(change: tuple[str, str], mentions: str) -> None:
    with pytest.raises(RuleError) as refused:
        parse_vote_toml(GOOD.replace(*change).encode(), 1, TZ, NOW)
    assert mentions in str(refused.value)
