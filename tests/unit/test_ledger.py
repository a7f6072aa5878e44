"""The ballot ledger: one canonical encoding, keyed pseudonyms, hash-chained entries, receipts, strict lines."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import PREV_MEMBER, rechain, roster_a, roster_b
from voting.canonical import canonical_json, sha256_hex
from voting.ledger import (
    EntryKind,
    FrozenRoster,
    FrozenUnit,
    LedgerEntry,
    LedgerFormatError,
    latest_choices_from_entries,
    next_entry,
    normalize_receipt,
    parse_entry_line,
    receipt_of,
    ref,
    scan_block,
    scan_line,
    utc_iso,
)
from voting.model import DEVELOPER, Choice, Roster, Unit, UnitStatus
from voting.rules import preset
from voting.tally import latest_choices, tally
from voting.votes import GENESIS

KEY = bytes(range(32))
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _chain(n: int = 5, vote_id: str = "7") -> list[LedgerEntry]:
    """n entries on roster A: units in turn, choices in turn."""
    frozen = FrozenRoster.build(roster_a(), KEY)
    units = list(frozen.units)
    choices = [Choice.AGREE, Choice.DISAGREE, Choice.ABSTAIN]
    entries: list[LedgerEntry] = []
    head: tuple[int, str] = (0, GENESIS)
    for i in range(n):
        unit = units[i % len(units)]
        entry = next_entry(
            *head,
            vote_id=vote_id,
            kind=EntryKind.CAST,
            unit_ref=unit.unit_ref,
            owner_ref=unit.owner_ref,
            choice=choices[i % 3],
            actor=f"account:{i}",
            at=f"2026-11-23T00:00:{i:02d}.000000Z",
        )
        entries.append(entry)
        head = (entry.seq, entry.entry_hash)
    return entries


# --- canonical encoding ------------------------------------------------------------------------


def test_canonical_json_rejects_float_anywhere_in_the_value() -> None:
    for value in (1.5, {"a": 0.0}, [1, [2, {"b": float("nan")}]], ("x", 1e3)):
        with pytest.raises(TypeError):
            canonical_json(value)


def test_canonical_json_rejects_keys_that_are_not_text() -> None:
    with pytest.raises(TypeError):
        canonical_json({1: "a"})
    with pytest.raises(TypeError):
        canonical_json({"ok": {None: 1}})


def test_canonical_json_rejects_types_outside_json() -> None:
    for value in ({1, 2}, b"bytes", object(), {"when": datetime(2026, 1, 1, tzinfo=UTC)}):
        with pytest.raises(TypeError):
            canonical_json(value)


def test_canonical_json_is_independent_of_key_order_compact_and_utf8() -> None:
    assert canonical_json({"b": [1, True, None], "a": "同意"}) == canonical_json({"a": "同意", "b": (1, True, None)})
    assert canonical_json({"b": [1, True, None], "a": "同意"}) == '{"a":"同意","b":[1,true,null]}'.encode()


def test_sha256_hex_is_lowercase_hex_of_the_bytes() -> None:
    assert sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()


# --- pseudonyms and the frozen roster -----------------------------------------------------------


def test_a_reference_is_the_first_16_bytes_of_hmac_sha256_as_hex() -> None:
    expected = hmac.new(KEY, b"unit:101", hashlib.sha256).digest()[:16].hex()
    assert ref(KEY, "unit:101") == expected
    assert len(expected) == 32
    assert ref(bytes(32), "unit:101") != expected  # another vote's key gives another pseudonym


def test_a_frozen_roster_refers_to_units_and_owners_only_by_pseudonym() -> None:
    frozen = FrozenRoster.build(roster_a(), KEY)
    assert [u.unit_ref for u in frozen.units] == sorted(u.unit_ref for u in frozen.units)
    by_id = {u.unit_id: u for u in frozen.units}
    assert by_id["101"].unit_ref == ref(KEY, "unit:101")
    assert by_id["101"].owner_ref == ref(KEY, "owner:p1")
    assert by_id["201"].owner_ref == by_id["202"].owner_ref  # p3 owns both: one owner pseudonym


def test_the_roster_hash_ignores_labels_so_a_pseudonymised_export_keeps_it() -> None:
    frozen = FrozenRoster.build(roster_a(), KEY)
    stripped = FrozenRoster(tuple(FrozenUnit(u.unit_ref, u.owner_ref, u.area, u.status) for u in frozen.units))
    assert stripped.roster_hash == frozen.roster_hash
    rows = [[u.unit_ref, u.owner_ref, u.area, str(u.status)] for u in frozen.units]
    assert frozen.roster_hash == sha256_hex(canonical_json({"format": "renovote-roster/1", "units": rows}))


def test_the_roster_hash_changes_with_any_area_or_owner() -> None:
    frozen = FrozenRoster.build(roster_a(), KEY)
    first, *rest = frozen.units
    assert FrozenRoster((first._replace(area=first.area + 1), *rest)).roster_hash != frozen.roster_hash
    other_owner = rest[0].owner_ref
    assert FrozenRoster((first._replace(owner_ref=other_owner), *rest)).roster_hash != frozen.roster_hash


def test_a_frozen_roster_counts_like_the_labelled_roster_with_the_developer_as_one_person() -> None:
    roster = roster_b()
    frozen = FrozenRoster.build(roster, KEY)
    agreeing = [f"S{i:03d}" for i in range(101)] + ["U00"]
    labelled = tally(roster, preset("double-two-thirds"), latest_choices(roster, [(u, Choice.AGREE) for u in agreeing]))
    ref_of = {u.unit_id: u.owner_ref for u in frozen.units}
    by_ref = {ref_of[u]: Choice.AGREE for u in agreeing}
    assert frozen.count(preset("double-two-thirds"), by_ref).as_dict() == labelled.as_dict()
    assert labelled.passed  # 102 persons and 8,760.00 m²

    unlabelled = frozen.to_roster()
    assert unlabelled.total == roster.total  # 11,700.00 m² and 151 persons
    assert unlabelled.owner_of(ref(KEY, "unit:U00")) == DEVELOPER


# --- entries, hashes, the chain -----------------------------------------------------------------


def test_utc_iso_writes_utc_with_microseconds_and_rejects_naive_times() -> None:
    shanghai = timezone(timedelta(hours=8))
    assert utc_iso(datetime(2026, 11, 23, 8, 0, 0, 5, tzinfo=shanghai)) == "2026-11-23T00:00:00.000005Z"
    with pytest.raises(ValueError):
        utc_iso(datetime(2026, 11, 23))  # noqa: DTZ001 - the naive time this test feeds in on purpose


def test_the_entry_hash_is_sha256_of_the_canonical_body_including_seq_and_prev_hash() -> None:
    entry = _chain(2)[1]
    body = entry.body()
    assert body["seq"] == 2 and body["prev_hash"] == _chain(1)[0].entry_hash
    assert "hash" not in body and "proxy_name" not in body  # absent optional fields are left out
    assert entry.entry_hash == hashlib.sha256(canonical_json(body)).hexdigest()


def test_the_first_entry_links_to_genesis_and_each_next_to_the_head() -> None:
    entries = _chain(3)
    assert entries[0].seq == 1 and entries[0].prev_hash == GENESIS == "0" * 64
    assert [e.prev_hash for e in entries[1:]] == [e.entry_hash for e in entries[:-1]]
    fields = {k: v for k, v in entries[2].body().items() if k not in ("seq", "prev_hash")}
    fields["kind"], fields["choice"] = EntryKind(fields["kind"]), Choice(fields["choice"])
    assert next_entry(entries[1].seq, entries[1].entry_hash, **fields) == entries[2]


def test_entry_kinds_carry_what_they_need() -> None:
    base = {"vote_id": "7", "unit_ref": "a" * 32, "owner_ref": "b" * 32, "actor": "worker:3", "at": "t"}
    with pytest.raises(ValueError, match="withdrawal"):
        next_entry(0, GENESIS, kind=EntryKind.WITHDRAW, choice=Choice.AGREE, **base)
    with pytest.raises(ValueError, match="withdrawal"):
        next_entry(0, GENESIS, kind=EntryKind.CAST, choice=None, **base)
    with pytest.raises(ValueError, match="reason"):
        next_entry(0, GENESIS, kind=EntryKind.CORRECTION, choice=Choice.AGREE, **base)
    with pytest.raises(ValueError, match="proxy"):
        next_entry(0, GENESIS, kind=EntryKind.PROXY, choice=Choice.AGREE, **base)
    paper = next_entry(
        0, GENESIS, kind=EntryKind.PAPER, choice=Choice.AGREE, attachment_sha256=sha256_hex(b"scan"), **base
    )
    assert paper.body()["attachment_sha256"] == sha256_hex(b"scan")


def test_the_latest_entry_of_each_owner_wins_and_a_withdrawal_removes_the_ballot() -> None:
    frozen = FrozenRoster.build(roster_a(), KEY)
    u = {x.unit_id: x for x in frozen.units}
    script = [
        ("101", EntryKind.CAST, Choice.DISAGREE),
        ("201", EntryKind.PAPER, Choice.AGREE),
        ("101", EntryKind.CAST, Choice.AGREE),
        ("202", EntryKind.DOOR_TO_DOOR, Choice.DISAGREE),  # p3 again, through the other unit
        ("102", EntryKind.CAST, Choice.ABSTAIN),
        ("102", EntryKind.WITHDRAW, None),
    ]
    entries: list[LedgerEntry] = []
    head: tuple[int, str] = (0, GENESIS)
    for unit, kind, choice in script:
        entry = next_entry(
            *head,
            vote_id="7",
            kind=kind,
            unit_ref=u[unit].unit_ref,
            owner_ref=u[unit].owner_ref,
            choice=choice,
            actor="worker:1",
            at="t",
        )
        entries.append(entry)
        head = (entry.seq, entry.entry_hash)
    assert latest_choices_from_entries(entries) == {
        u["101"].owner_ref: Choice.AGREE,
        u["201"].owner_ref: Choice.DISAGREE,
    }
    assert latest_choices_from_entries(entries, upto_seq=5)[u["102"].owner_ref] is Choice.ABSTAIN
    assert latest_choices_from_entries(entries, upto_seq=2) == {
        u["101"].owner_ref: Choice.DISAGREE,
        u["201"].owner_ref: Choice.AGREE,
    }


# --- receipts -----------------------------------------------------------------------------------


def test_a_receipt_is_the_first_50_bits_of_the_entry_hash_in_crockford_base32() -> None:
    entry = _chain(1)[0]
    bits = int(entry.entry_hash, 16) >> (256 - 50)
    expected = "".join(CROCKFORD[(bits >> (5 * (9 - i))) & 31] for i in range(10))
    assert entry.receipt == f"{expected[:5]}-{expected[5:]}"
    assert receipt_of("f" * 64) == "ZZZZZ-ZZZZZ" and receipt_of("0" * 64) == "00000-00000"


def test_a_typed_receipt_is_normalised_from_lower_case_missing_dash_and_look_alike_letters() -> None:
    assert normalize_receipt("ab1c0-de0fg") == "AB1C0-DE0FG"
    assert normalize_receipt("AB1C0DE0FG") == "AB1C0-DE0FG"
    assert normalize_receipt("abicO deOfg") == "AB1C0-DE0FG"
    assert normalize_receipt("ablc0-de0fg") == "AB1C0-DE0FG"
    assert normalize_receipt(" ab1c0 - de0fg ") == "AB1C0-DE0FG"
    for bad in ("", "AB1C0-DE0F", "AB1C0-DE0FGH", "AB1C0-DE0F!"):
        assert normalize_receipt(bad) == ""


# --- the JSONL line format ----------------------------------------------------------------------


def test_a_line_is_the_canonical_body_with_its_hash_and_parses_back() -> None:
    entry = _chain(2)[1]
    line = entry.line()
    assert json.loads(line) == {**entry.body(), "hash": entry.entry_hash}
    assert line == canonical_json({**entry.body(), "hash": entry.entry_hash})
    assert parse_entry_line(line, 2) == (entry, entry.entry_hash)


def _line_with(change: dict[str, object], drop: str = "") -> bytes:
    data = json.loads(_chain(1)[0].line())
    data.update(change)
    data.pop(drop, None)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("change", "drop", "message"),
    [
        ({"seq": 1.0}, "", "seq"),
        ({"seq": True}, "", "seq"),
        ({"seq": "1"}, "", "seq"),
        ({"choice": "yes"}, "", "choice"),
        ({"kind": "email"}, "", "kind"),
        ({"prev_hash": "0" * 63}, "", "prev_hash"),
        ({"hash": "G" * 64}, "", "hash"),
        ({"actor": 17}, "", "actor"),
        ({"reason": 1}, "", "reason"),
        ({"extra": "x"}, "", "unknown field"),
        ({}, "owner_ref", "owner_ref"),
    ],
)
def test_the_line_parser_is_strict_and_says_which_line(change: dict[str, object], drop: str, message: str) -> None:
    with pytest.raises(LedgerFormatError, match=message) as info:
        parse_entry_line(_line_with(change, drop), 41)
    assert info.value.line == 41 and str(info.value).startswith("line 41:")


def test_a_line_that_is_not_json_or_not_an_object_is_rejected_with_its_line() -> None:
    for raw in (b"{", b"[]", b"\xff"):
        with pytest.raises(LedgerFormatError) as info:
            parse_entry_line(raw, 9)
        assert info.value.line == 9


def test_the_scanner_refuses_a_line_not_in_canonical_form() -> None:
    entry = _chain(1)[0]
    spaced = json.dumps({**entry.body(), "hash": entry.entry_hash}, sort_keys=True, ensure_ascii=False).encode()
    with pytest.raises(LedgerFormatError, match="canonical"):
        scan_line(spaced, 1)


texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)


@settings(max_examples=120, deadline=None)
@given(
    actor=texts,
    at=texts,
    proxy=st.one_of(st.none(), texts),
    reason=st.one_of(st.none(), texts),
    choice=st.sampled_from(Choice),
    seq=st.integers(1, 10**12),
)
def test_the_scanner_and_the_parser_agree_on_every_entry(
    actor: str, at: str, proxy: str | None, reason: str | None, choice: Choice, seq: int
) -> None:
    kind = EntryKind.PROXY if proxy else (EntryKind.CORRECTION if reason else EntryKind.PAPER)
    entry = LedgerEntry(
        vote_id="7",
        seq=seq,
        prev_hash="a" * 64,
        kind=kind,
        unit_ref=ref(KEY, "unit:1"),
        owner_ref=ref(KEY, "unit:1"),
        choice=choice,
        actor=actor,
        at=at,
        proxy_name=proxy,
        reason=reason,
    )
    scanned = scan_line(entry.line(), 1)
    assert scanned.actual_hash == scanned.claimed_hash == entry.entry_hash.encode()
    assert scanned.seq == seq and scanned.choice == str(choice).encode()
    assert parse_entry_line(entry.line(), 1) == (entry, entry.entry_hash)


entries_in_a_block = st.lists(
    st.tuples(
        st.sampled_from(EntryKind),
        st.sampled_from(Choice),
        texts,  # actor
        st.one_of(st.none(), texts),  # proxy name or reason, for the kinds that take one
        st.one_of(st.none(), st.just("ab" * 32)),  # attachment_sha256
    ),
    min_size=1,
    max_size=6,
)


def _block_of(script: list[tuple[EntryKind, Choice, str, str | None, str | None]], first_seq: int) -> list[LedgerEntry]:
    frozen = FrozenRoster.build(roster_a(), KEY)
    units = list(frozen.units)
    entries: list[LedgerEntry] = []
    head = (first_seq - 1, "c" * 64)
    for number, (kind, choice, actor, extra, attachment) in enumerate(script):
        unit = units[number % len(units)]
        entry = LedgerEntry(
            vote_id="7",
            seq=head[0] + 1,
            prev_hash=head[1],
            kind=kind,
            unit_ref=unit.unit_ref,
            owner_ref=unit.owner_ref,
            choice=None if kind is EntryKind.WITHDRAW else choice,
            actor=actor,
            at="2026-11-23T00:00:00.000000Z",
            proxy_name=(extra or "x") if kind is EntryKind.PROXY else None,
            reason=(extra or "x") if kind is EntryKind.CORRECTION else None,
            attachment_sha256=attachment,
        )
        entries.append(entry)
        head = (entry.seq, entry.entry_hash)
    return entries


@settings(max_examples=300, deadline=None)
@given(
    script=entries_in_a_block,
    first_seq=st.integers(1, 10**12),
    damage=st.one_of(st.none(), st.tuples(st.integers(0, 10**6), st.integers(0, 255))),
    relink=st.booleans(),
)
def test_the_block_scanner_returns_only_what_the_line_scanner_accepts_line_by_line(
    script: list[tuple[EntryKind, Choice, str, str | None, str | None]],
    first_seq: int,
    damage: tuple[int, int] | None,
    relink: bool,
) -> None:
    """scan_block returns either None (the verifier then scans line by line) or, for a block whose
    every line scan_line accepts with its own hash and the hash before it, those very fields."""
    entries = _block_of(script, first_seq)
    damaged = bytearray(b"\n".join(entry.line() for entry in entries))
    if damage is not None:
        damaged[damage[0] % len(damaged)] = damage[1]
    block = rechain(bytes(damaged)) if relink else bytes(damaged)
    scanned = scan_block(block)
    if damage is None and all(b"\\" not in entry.line() for entry in entries):
        assert scanned is not None  # plain lines: the fast path takes them
    if scanned is None:
        return
    lines = [scan_line(line, number) for number, line in enumerate(block.split(b"\n"), start=1)]
    assert all(line.actual_hash == line.claimed_hash for line in lines)
    assert [line.prev_hash for line in lines[1:]] == [line.claimed_hash for line in lines[:-1]]
    assert scanned.prev_hash == lines[0].prev_hash
    assert scanned.seq == tuple(str(line.seq).encode() for line in lines)
    assert scanned.vote_id == tuple(line.vote_id for line in lines)
    assert scanned.kind == tuple(line.kind for line in lines)
    assert scanned.unit_ref == tuple(line.unit_ref for line in lines)
    assert scanned.owner_ref == tuple(line.owner_ref for line in lines)
    assert scanned.choice == tuple(line.choice or b"" for line in lines)
    assert scanned.entry_hash == tuple(line.claimed_hash for line in lines)


def _second(change: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """Apply a change to the second line of a block only."""

    def apply(block: bytes) -> bytes:
        lines = block.split(b"\n")
        lines[1] = change(lines[1])
        return b"\n".join(lines)

    return apply


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (_second(lambda line: line.replace(b'"seq":2', b'"seq":02')), "seq not canonical"),
        (lambda b: b.replace(b'"seq":1,', b'"seq":0,'), "seq 0"),
        (lambda b: b.replace(b"\n", b"\r\n", 1), "a carriage return (scan_line strips it)"),
        (lambda b: b.replace(b"\n", b"\n\n", 1), "a blank line (the verifier skips it)"),
        (_second(lambda line: line.replace(b'"actor":"a', b'"actor":"\\u0061')), "an escape"),
        (
            _second(lambda line: line.replace(b'"actor":"a', b'"actor":"\\"')),
            "an escaped quote (canonical: scan_line takes it)",
        ),
        (_second(lambda line: line.replace(b'"actor":"a', b'"actor":"\xff')), "not UTF-8"),
        (_second(lambda line: line.replace(b'"actor":"a', b'"actor":"\x01')), "a control character"),
        (_second(lambda line: line.replace(b'"actor":"a', b'"actor":"\x7f\xc3\xa9')), ""),
        (_second(lambda line: line.replace(b'"kind":"cast"', b'"kind":"withdraw"')), "a withdrawal with a choice"),
        (_second(lambda line: line.replace(b'"choice":"agree"', b'"choice":null')), "a cast with no choice"),
        (_second(lambda line: line.replace(b'"kind":"cast"', b'"kind":"correction"')), "a correction, no reason"),
        (
            _second(
                lambda line: line.replace(b'"kind":"cast"', b'"kind":"correction"').replace(
                    b'"prev_hash"', b'"reason":"","prev_hash"'
                )
            ),
            "a correction, empty reason",
        ),
        (_second(lambda line: line.replace(b'"kind":"cast"', b'"kind":"proxy"')), "a proxy with no name"),
        (_second(lambda line: line.replace(b'"kind":"cast"', b'"kind":"vote"')), "an unknown kind"),
        (lambda b: b.replace(b'"prev_hash":"c', b'"prev_hash":"C', 1), "a first prev_hash not lowercase hex"),
        (lambda b: b.replace(b'"prev_hash":"c', b'"prev_hash":"g', 1), "a first prev_hash not hex"),
    ],
)
def test_the_block_scanner_leaves_every_doubtful_block_to_the_line_scanner(
    change: Callable[[bytes], bytes], why: str
) -> None:
    """Each change is rehashed and relinked, as a forger would: the scanner's own checks must catch it."""
    entries = _block_of([(EntryKind.CAST, Choice.AGREE, "actor", None, None)] * 3, 1)
    block = b"\n".join(entry.line() for entry in entries)
    assert scan_block(block) is not None and scan_block(rechain(block)) is not None
    changed = rechain(change(block))
    assert changed != block, why
    if not why:  # DEL and non-ASCII UTF-8 are plain text: the block stays whole
        assert scan_block(changed) is not None
        return
    assert scan_block(changed) is None, why
    if "(" in why:
        return
    with pytest.raises(LedgerFormatError):
        for number, line in enumerate(changed.split(b"\n"), start=1):
            scan_line(line, number)


def test_the_block_scanner_leaves_a_broken_link_or_hash_to_the_line_scanner() -> None:
    entries = _block_of([(EntryKind.CAST, Choice.AGREE, "actor", None, None)] * 3, 1)
    block = b"\n".join(entry.line() for entry in entries)
    unlinked = _second(lambda line: PREV_MEMBER.sub(b'"prev_hash":"' + b"d" * 64 + b'"', line))(block)
    rehashed_only_the_second = _second(lambda line: rechain(line.replace(b'"agree"', b'"abstain"')))(block)
    edited_last = block[: block.rindex(b"\n")] + block[block.rindex(b"\n") :].replace(b'"agree"', b'"abstain"')
    for changed in (unlinked, rehashed_only_the_second, edited_last):
        assert scan_block(changed) is None


def test_every_unit_the_developer_holds_takes_the_one_developer_pseudonym() -> None:
    held = Roster.of([Unit("8", 100, "x", status=UnitStatus.UNSOLD), Unit("9", 100, status=UnitStatus.UNDELIVERED)])
    frozen = FrozenRoster.build(held, KEY)
    assert {u.owner_ref for u in frozen.units} == {ref(KEY, DEVELOPER)}
    assert frozen.to_roster().total.headcount == 1
