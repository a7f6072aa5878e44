"""The audit bundle: a real bundle verifies; every kind of tampering fails and says where."""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.factories import rechain, roster_a
from voting import audit
from voting.audit import (
    BundleWriter,
    VerifyReport,
    find_receipt,
    fingerprint,
    generate_private_key,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_hex,
    public_key_pem,
    sign_tally,
    tally_payload,
    verify_bundle,
    write_bundle,
)
from voting.canonical import canonical_json
from voting.ledger import EntryKind, FrozenRoster, LedgerEntry, next_entry, ref
from voting.model import Choice, Scope
from voting.rules import preset
from voting.votes import GENESIS, Vote, VoteStatus

KEY = bytes(range(32))
T0 = datetime(2026, 11, 23, tzinfo=UTC)
SIGNING_KEY = generate_private_key()


def _entries(frozen: FrozenRoster) -> list[LedgerEntry]:
    """Roster A: p1 disagrees then agrees, p2 disagrees, p3 on paper agrees, p2 withdraws, p2 abstains."""
    refs = {u.unit_id: (u.unit_ref, u.owner_ref) for u in frozen.units}
    script = [
        ("101", Choice.DISAGREE, EntryKind.CAST, {}),
        ("101", Choice.AGREE, EntryKind.CAST, {}),
        ("102", Choice.DISAGREE, EntryKind.CAST, {}),
        ("202", Choice.AGREE, EntryKind.PAPER, {"attachment_sha256": hashlib.sha256(b"scan").hexdigest()}),
        ("102", None, EntryKind.WITHDRAW, {}),
        ("102", Choice.ABSTAIN, EntryKind.PROXY, {"proxy_name": "李四之子"}),
    ]
    entries: list[LedgerEntry] = []
    head_seq, head_hash = 0, GENESIS
    for number, (unit, choice, kind, extra) in enumerate(script):
        unit_ref, owner_ref = refs[unit]
        entry = next_entry(
            head_seq,
            head_hash,
            vote_id="7",
            kind=kind,
            unit_ref=unit_ref,
            owner_ref=owner_ref,
            choice=choice,
            actor="worker:1" if kind is not EntryKind.CAST else f"account:{unit}",
            at=f"2026-11-23T0{number}:00:00.000000Z",
            **extra,
        )
        entries.append(entry)
        head_seq, head_hash = entry.seq, entry.entry_hash
    return entries


def _bundle(*, full: bool = True, extra_final: bool = False) -> tuple[bytes, list[LedgerEntry]]:
    frozen = FrozenRoster.build(roster_a(), KEY)
    entries = _entries(frozen)
    vote = Vote(
        1,
        "加装电梯",
        "…",
        preset("double-two-thirds"),
        Scope(),
        T0,
        T0 + timedelta(days=7),
        id=7,
        status=VoteStatus.CLOSED,
    )
    tallies = []
    stages = [("preliminary", entries)]
    if extra_final:
        correction = next_entry(
            entries[-1].seq,
            entries[-1].entry_hash,
            vote_id="7",
            kind=EntryKind.CORRECTION,
            unit_ref=entries[2].unit_ref,
            owner_ref=entries[2].owner_ref,
            choice=Choice.AGREE,
            actor="worker:1",
            at="2026-11-30T00:00:00.000000Z",
            reason="misrecorded",
        )
        stages.append(("final", [*entries, correction]))
    for stage, chain in stages:
        latest: dict[str, Choice] = {}
        for e in chain:
            if e.choice is None:
                latest.pop(e.owner_ref, None)
            else:
                latest[e.owner_ref] = e.choice
        result = frozen.count(vote.rule, latest)
        payload = tally_payload(
            vote,
            result,
            stage=stage,
            roster_hash=frozen.roster_hash,
            head_seq=chain[-1].seq,
            head_hash=chain[-1].entry_hash,
            opened_at="2026-11-23T00:00:00.000000Z",
            closes_at="2026-11-30T00:00:00.000000Z",
            closed_at="2026-11-30T00:00:00.000000Z",
            signed_at="2026-11-30T00:00:01.000000Z",
        )
        tallies.append(sign_tally(SIGNING_KEY, payload))
    out = io.BytesIO()
    writer = BundleWriter(out, vote_id="7", frozen=frozen, pseudonym_key=KEY if full else None)
    for entry in stages[-1][1]:
        writer.add_entry(entry)
    writer.finish(tallies, SIGNING_KEY.public_key(), "摘要\nSummary\n")
    return out.getvalue(), stages[-1][1]


def _rewrite(bundle: bytes, name: str, change: Callable[[bytes], bytes], *, fix_manifest: bool = True) -> bytes:
    """Change one member; with fix_manifest, also update its hash, as a careful forger would."""
    src = zipfile.ZipFile(io.BytesIO(bundle))
    members = {n: src.read(n) for n in src.namelist()}
    members[name] = change(members[name])
    if fix_manifest:
        manifest = json.loads(members["manifest.json"])
        manifest["files"][name] = hashlib.sha256(members[name]).hexdigest()
        members["manifest.json"] = json.dumps(manifest).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for n, data in members.items():
            dst.writestr(n, data)
    return out.getvalue()


def _lines(change: Callable[[list[bytes]], list[bytes]]) -> Callable[[bytes], bytes]:
    def apply(data: bytes) -> bytes:
        return b"\n".join(change(data.rstrip(b"\n").split(b"\n"))) + b"\n"

    return apply


def _codes(bundle: bytes, **kwargs: object) -> set[tuple[str, str, str]]:
    report = verify_bundle(bundle, **kwargs)  # type: ignore[arg-type]
    assert not report.ok
    for failure in report.failures:
        assert failure.message()  # every failure renders a message
    return {(f.file, f.code, f.where) for f in report.failures}


def test_a_real_bundle_verifies_with_its_own_key_and_says_so() -> None:
    bundle, entries = _bundle()
    report = verify_bundle(bundle)
    assert report.ok, [f.message() for f in report.failures]
    assert report.key_from_bundle
    assert report.entries == len(entries) and report.units == 4
    assert report.tallies[0]["passed"] is True  # p1 and p3 agree: 240.00 of 300.00 m², 2 of 3 owners
    assert verify_bundle(bundle, SIGNING_KEY.public_key()).ok


def test_the_recomputed_tally_counts_the_latest_ballot_and_drops_withdrawals() -> None:
    bundle, _ = _bundle()
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        counts = json.loads(zf.read("tallies/1-preliminary.json"))["counts"]
    assert counts["agree"] == {"area_m2": "240.00", "headcount": 2}
    assert counts["abstain"] == {"area_m2": "60.00", "headcount": 1}
    assert counts["disagree"] == {"area_m2": "0.00", "headcount": 0}


def test_editing_one_entry_fails_at_that_entry() -> None:
    bundle, _ = _bundle()

    def edit(lines: list[bytes]) -> list[bytes]:
        lines[2] = lines[2].replace(b'"choice":"disagree"', b'"choice":"agree"')
        return lines

    codes = _codes(_rewrite(bundle, "ledger.jsonl", _lines(edit)))
    assert ("ledger.jsonl", "entry_hash", "3") in codes


def test_editing_an_entry_and_rehashing_it_breaks_the_next_link() -> None:
    bundle, entries = _bundle()
    forged = next_entry(
        entries[1].seq,
        entries[1].entry_hash,
        **{
            **{k: v for k, v in entries[2].body().items() if k not in ("seq", "prev_hash", "kind", "choice")},
            "kind": EntryKind.CAST,
            "choice": Choice.AGREE,
        },
    )

    def edit(lines: list[bytes]) -> list[bytes]:
        lines[2] = forged.line()
        return lines

    codes = _codes(_rewrite(bundle, "ledger.jsonl", _lines(edit)))
    assert ("ledger.jsonl", "entry_link", "4") in codes


def test_dropping_an_entry_fails_where_the_gap_is() -> None:
    bundle, _ = _bundle()
    codes = _codes(_rewrite(bundle, "ledger.jsonl", _lines(lambda lines: lines[:3] + lines[4:])))
    assert ("ledger.jsonl", "entry_seq", "5") in codes
    assert ("ledger.jsonl", "entry_link", "5") in codes


def test_dropping_the_last_entry_fails_on_the_signed_head() -> None:
    bundle, _ = _bundle()
    codes = _codes(_rewrite(bundle, "ledger.jsonl", _lines(lambda lines: lines[:-1])))
    assert ("tallies/1-preliminary.json", "tally_head", "") in codes


def test_inserting_an_entry_fails_where_it_was_inserted() -> None:
    bundle, _ = _bundle()
    codes = _codes(_rewrite(bundle, "ledger.jsonl", _lines(lambda lines: [*lines[:2], lines[1], *lines[2:]])))
    assert ("ledger.jsonl", "entry_seq", "2") in codes


def test_swapping_two_entries_fails_where_the_order_breaks() -> None:
    bundle, _ = _bundle()
    codes = _codes(_rewrite(bundle, "ledger.jsonl", _lines(lambda lines: [lines[0], lines[2], lines[1], *lines[3:]])))
    assert ("ledger.jsonl", "entry_seq", "3") in codes


def test_changing_one_roster_area_fails_on_the_roster_hash() -> None:
    bundle, _ = _bundle()
    codes = _codes(_rewrite(bundle, "roster.csv", lambda data: data.replace(b",60.00,", b",61.00,", 1)))
    assert ("tallies/1-preliminary.json", "tally_roster") in {(f, c) for f, c, _w in codes}


def test_changing_one_count_in_the_signed_tally_fails_the_signature() -> None:
    bundle, _ = _bundle()
    codes = _codes(
        _rewrite(bundle, "tallies/1-preliminary.json", lambda data: data.replace(b'"headcount":2', b'"headcount":3', 1))
    )
    assert ("tallies/1-preliminary.json", "tally_signature", "") in codes
    assert ("tallies/1-preliminary.json", "tally_counts") in {(f, c) for f, c, _w in codes}


def test_a_tally_re_signed_with_another_key_fails_against_the_published_key() -> None:
    bundle, _ = _bundle()
    other = generate_private_key()

    def resign(data: bytes) -> bytes:
        payload = json.loads(data)
        payload["passed"] = True
        return sign_tally(other, payload).payload

    forged = _rewrite(bundle, "tallies/1-preliminary.json", resign)
    forged = _rewrite(
        forged,
        "tallies/1-preliminary.sig",
        lambda _d: (
            other.sign(
                json.dumps(json.loads(zipfile.ZipFile(io.BytesIO(forged)).read("tallies/1-preliminary.json"))).encode()
            )
            .hex()
            .encode()
        ),
    )
    codes = _codes(forged, public_key=SIGNING_KEY.public_key())
    assert ("tallies/1-preliminary.json", "tally_signature", "") in codes


def test_a_wrong_public_key_is_reported_with_the_bundles_fingerprint() -> None:
    bundle, _ = _bundle()
    report = verify_bundle(bundle, generate_private_key().public_key())
    assert not report.ok
    assert {f.code for f in report.failures} >= {"public_key_mismatch", "tally_signature"}
    assert not report.key_from_bundle


@pytest.mark.parametrize("keep", [0, 100, 1000])
def test_a_truncated_zip_fails_cleanly(keep: int) -> None:
    bundle, _ = _bundle()
    report = verify_bundle(bundle[: keep or len(bundle) // 2])
    assert not report.ok
    assert report.failures[0].code == "zip_unreadable"


def test_a_file_deleted_or_edited_without_fixing_the_manifest_is_named() -> None:
    bundle, _ = _bundle()
    edited = _rewrite(bundle, "summary.txt", lambda d: d + b"!", fix_manifest=False)
    assert ("summary.txt", "file_hash", "") in _codes(edited)


def test_checkpoints_published_while_open_must_be_in_the_chain() -> None:
    bundle, entries = _bundle()
    assert verify_bundle(bundle, checkpoints=[(3, entries[2].entry_hash)]).ok
    codes = _codes(bundle, checkpoints=[(3, "f" * 64)])
    assert ("ledger.jsonl", "checkpoint", f"3:{'f' * 64}") in codes


def test_pseudonymised_bundle_verifies_has_no_labels_and_keeps_receipts_findable() -> None:
    bundle, entries = _bundle(full=False)
    assert verify_bundle(bundle).ok
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        assert "pseudonym_key.txt" not in zf.namelist()
        text = b"".join(zf.read(n) for n in zf.namelist())
    for label in (b",101,", b"unit_id", b"owner_key", b"owner:p", b"unit:"):
        assert label not in text
    found = find_receipt(bundle, entries[3].receipt.lower().replace("-", ""))
    assert found is not None and found.seq == 4


def test_full_bundle_checks_every_pseudonym_against_the_labels() -> None:
    bundle, _ = _bundle()
    forged = _rewrite(bundle, "roster.csv", lambda d: d.replace(b",101,", b",109,", 1))
    assert ("roster.csv", "pseudonym_mismatch") in {(f, c) for f, c, _w in _codes(forged)}
    assert ref(KEY, "unit:101") in zipfile.ZipFile(io.BytesIO(bundle)).read("roster.csv").decode()


def test_preliminary_and_final_tallies_both_verify_after_a_correction() -> None:
    bundle, entries = _bundle(extra_final=True)
    report = verify_bundle(bundle, SIGNING_KEY.public_key())
    assert report.ok, [f.message() for f in report.failures]
    assert [t["stage"] for t in report.tallies] == ["preliminary", "final"]
    assert [t["passed"] for t in report.tallies] == [True, True]
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        final = json.loads(zf.read("tallies/2-final.json"))
    assert final["counts"]["agree"] == {"area_m2": "300.00", "headcount": 3}
    assert entries[-1].kind is EntryKind.CORRECTION


def test_canonical_json_rejects_float_and_ignores_key_order() -> None:
    with pytest.raises(TypeError):
        canonical_json({"area": 60.5})
    assert (
        canonical_json({"b": 1, "a": "同意"})
        == canonical_json({"a": "同意", "b": 1})
        == ('{"a":"同意","b":1}'.encode())
    )


def test_the_streamed_roster_hash_is_the_canonical_json_hash() -> None:
    """FrozenRoster writes its canonical form directly; it must equal canonical_json of the same rows."""
    frozen = FrozenRoster.build(roster_a(), KEY)
    rows = [[u.unit_ref, u.owner_ref, u.area, str(u.status)] for u in frozen.units]
    expected = hashlib.sha256(canonical_json({"format": "renovote-roster/1", "units": rows})).hexdigest()
    assert frozen.roster_hash == expected


def test_a_roster_row_with_a_malformed_pseudonym_is_reported_by_row() -> None:
    bundle, _ = _bundle()
    forged = _rewrite(bundle, "roster.csv", lambda d: d.replace(d.split(b"\n")[1][:32], b'x"y' + b"0" * 29, 1))
    assert ("roster.csv", "roster_bad", "2") in _codes(forged)


# --- added: deletion, forged keys, damaged archives, malformed tallies, the report's shape ---------------


def _members(bundle: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name, data in members.items():
            dst.writestr(name, data)
    return out.getvalue()


def _forge_tally(bundle: bytes, forger: Ed25519PrivateKey, payload: object) -> bytes:
    """A forger replaces the tally, signs it with their own key, ships that key and fixes the manifest."""
    members = _members(bundle)
    data = json.dumps(payload).encode()
    members["tallies/1-preliminary.json"] = data
    members["tallies/1-preliminary.sig"] = forger.sign(data).hex().encode() + b"\n"
    members["public_key.pem"] = public_key_pem(forger.public_key())
    manifest = json.loads(members["manifest.json"])
    for name in ("tallies/1-preliminary.json", "tallies/1-preliminary.sig", "public_key.pem"):
        manifest["files"][name] = hashlib.sha256(members[name]).hexdigest()
    members["manifest.json"] = json.dumps(manifest).encode()
    return _zip(members)


@pytest.mark.parametrize("name", ["roster.csv", "ledger.jsonl", "tallies/1-preliminary.sig", "public_key.pem"])
def test_a_deleted_file_fails_naming_the_file(name: str) -> None:
    bundle, _ = _bundle()
    members = _members(bundle)
    del members[name]
    assert (name, "file_missing", "") in _codes(_zip(members))


def test_a_file_added_to_the_bundle_but_not_to_the_manifest_is_named() -> None:
    bundle, _ = _bundle()
    members = _members(bundle)
    members["tallies/0-preliminary.json"] = b"{}"
    assert ("tallies/0-preliminary.json", "file_unlisted", "") in _codes(_zip(members))


def test_a_forger_re_signing_with_their_own_key_shows_their_fingerprint_and_fails_against_the_published_key() -> None:
    bundle, _ = _bundle()
    forger = generate_private_key()
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        payload = json.loads(zf.read("tallies/1-preliminary.json"))
    forged = _forge_tally(bundle, forger, payload)  # the same tally, another signer

    self_checked = verify_bundle(forged)
    assert self_checked.ok and self_checked.key_from_bundle  # all the bundle can prove about itself ...
    assert self_checked.fingerprint == fingerprint(forger.public_key())  # ... and the auditor sees whose key
    assert self_checked.fingerprint != fingerprint(SIGNING_KEY.public_key())

    codes = _codes(forged, public_key=SIGNING_KEY.public_key())
    assert ("public_key.pem", "public_key_mismatch", "") in codes
    assert ("tallies/1-preliminary.json", "tally_signature", "") in codes


@pytest.mark.parametrize(
    "payload",
    [
        [1, 2],
        {"format": "renovote-tally/1", "ledger_head": [6]},
        {"format": "renovote-tally/1", "ledger_head": {"seq": 1e400, "hash": "0" * 64}},
        {"format": "renovote-tally/1", "ledger_head": {"seq": "6", "hash": "0" * 64}},
    ],
)
def test_a_signed_tally_of_the_wrong_shape_is_reported_not_raised(payload: object) -> None:
    bundle, _ = _bundle()
    assert ("tallies/1-preliminary.json", "tally_bad") in {
        (f, c) for f, c, _w in _codes(_forge_tally(bundle, generate_private_key(), payload))
    }


def test_signed_counts_holding_floats_or_the_wrong_shape_fail_the_recount() -> None:
    bundle, _ = _bundle()
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        payload = json.loads(zf.read("tallies/1-preliminary.json"))
    for counts in ({**payload["counts"], "total": {"area_m2": 300.0, "headcount": 3.0}}, [payload["counts"]]):
        forged = _forge_tally(bundle, generate_private_key(), {**payload, "counts": counts})
        assert ("tallies/1-preliminary.json", "tally_counts") in {(f, c) for f, c, _w in _codes(forged)}


def test_verification_never_raises_on_a_damaged_archive() -> None:
    """Random byte damage anywhere in the zip: a report with failures, never a traceback."""
    import random

    bundle, _ = _bundle()
    rng = random.Random(20261123)
    failed = 0
    for _ in range(400):
        damaged = bytearray(bundle)
        for _ in range(rng.randint(1, 3)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        report = verify_bundle(bytes(damaged))  # must return, whatever the damage
        failed += not report.ok
        for failure in report.failures:
            assert failure.message()
    assert failed > 300  # the rest hit bytes no check covers: timestamps, version fields of zip headers


def test_every_failure_code_has_an_english_template_that_renders_with_its_params() -> None:
    from voting.audit import FAILURE_TEXTS, Failure

    for code in FAILURE_TEXTS:
        failure = Failure("ledger.jsonl", code, "12", "detail")
        assert failure.params == {"where": "12", "detail": "detail"}
        assert failure.template.format(**failure.params)
        assert failure.message().startswith("ledger.jsonl: ")


def test_the_manifest_lists_every_file_with_its_sha256_the_fingerprint_and_the_export_kind() -> None:
    for full in (True, False):
        bundle, _ = _bundle(full=full)
        members = _members(bundle)
        manifest = json.loads(members.pop("manifest.json"))
        assert manifest["format"] == "renovote-bundle/1" and manifest["vote_id"] == "7"
        assert manifest["pseudonymised"] is not full
        assert manifest["public_key_fingerprint"] == fingerprint(SIGNING_KEY.public_key())
        assert manifest["files"] == {n: hashlib.sha256(d).hexdigest() for n, d in members.items()}
        assert ("pseudonym_key.txt" in members) is full


def test_the_roster_csv_writes_areas_with_two_decimals_and_labels_only_in_full_exports() -> None:
    full = _members(_bundle()[0])["roster.csv"].decode().splitlines()
    assert full[0].startswith("unit_ref,owner_ref,area_m2,status,unit_id,building,entrance,room")
    assert any(line.endswith(",90.00,sold,202,,,,owner:p3") for line in full)
    bare = _members(_bundle(full=False)[0])["roster.csv"].decode().splitlines()
    assert bare[0] == "unit_ref,owner_ref,area_m2,status"
    assert all(line.count(",") == 3 for line in bare)


def test_public_keys_round_trip_as_pem_and_hex_and_have_a_grouped_fingerprint() -> None:
    key = SIGNING_KEY.public_key()
    assert len(public_key_hex(key)) == 64
    assert public_key_hex(load_public_key(public_key_pem(key))) == public_key_hex(key)
    assert public_key_hex(load_public_key(public_key_hex(key).encode())) == public_key_hex(key)
    digest = hashlib.sha256(bytes.fromhex(public_key_hex(key))).hexdigest()[:16]
    assert fingerprint(key) == " ".join(digest[i : i + 4] for i in range(0, 16, 4))
    assert load_private_key(private_key_pem(SIGNING_KEY)).public_key() == key


def test_the_signed_payload_is_the_canonical_encoding_of_the_tally() -> None:
    bundle, entries = _bundle()
    raw = _members(bundle)["tallies/1-preliminary.json"]
    payload = json.loads(raw)
    assert raw == canonical_json(payload)
    assert payload["ledger_head"] == {"seq": entries[-1].seq, "hash": entries[-1].entry_hash}
    assert payload["rule"] == preset("double-two-thirds").as_dict()
    assert payload["scope"] == {"building": "", "entrance": ""}
    assert payload["stage"] == "preliminary" and payload["non_voters_follow_majority"] is False
    SIGNING_KEY.public_key().verify(bytes.fromhex(_members(bundle)["tallies/1-preliminary.sig"].decode()), raw)


def test_find_receipt_skips_lines_it_cannot_read_and_returns_none_for_unknown_codes() -> None:
    bundle, entries = _bundle()
    damaged = _rewrite(bundle, "ledger.jsonl", lambda d: b"not json\n" + d)
    found = find_receipt(damaged, entries[0].receipt)
    assert found is not None and found.entry_hash == entries[0].entry_hash
    unused = next(c for c in ("00000-00000", "00000-00001") if c not in {e.receipt for e in entries})
    assert find_receipt(bundle, unused) is None
    assert find_receipt(bundle, "not a code") is None


# --- the fast paths report exactly what the line-by-line and csv paths report -------------------


def _long_bundle(*, full: bool) -> tuple[bytes, list[LedgerEntry]]:
    """40 entries of every kind on roster A (some with texts that need escapes), a preliminary tally
    at entry 20 and a final one at entry 40."""
    frozen = FrozenRoster.build(roster_a(), KEY)
    units = list(frozen.units)
    kinds = [EntryKind.CAST, EntryKind.PAPER, EntryKind.PROXY, EntryKind.CORRECTION, EntryKind.WITHDRAW]
    entries: list[LedgerEntry] = []
    head_seq, head_hash = 0, GENESIS
    for number in range(40):
        unit = units[number * 7 % len(units)]
        kind = EntryKind.CAST if number % 3 else kinds[number // 3 % len(kinds)]
        if number == 38:
            kind = EntryKind.WITHDRAW  # one owner withdrawn at the final head
        entry = next_entry(
            head_seq,
            head_hash,
            vote_id="7",
            kind=kind,
            unit_ref=unit.unit_ref,
            owner_ref=unit.owner_ref,
            choice=None if kind is EntryKind.WITHDRAW else list(Choice)[number % 3],
            actor='worker "1"' if number == 11 else f"account:{number}",
            at=f"2026-11-23T00:00:{number:02d}.000000Z",
            proxy_name="李四之子" if kind is EntryKind.PROXY else None,
            reason="misrecorded" if kind is EntryKind.CORRECTION else None,
            attachment_sha256=hashlib.sha256(b"scan").hexdigest() if kind is EntryKind.PAPER else None,
        )
        entries.append(entry)
        head_seq, head_hash = entry.seq, entry.entry_hash
    vote = Vote(1, "加装电梯", "…", preset("double-two-thirds"), Scope(), T0, T0 + timedelta(days=7), id=7)
    tallies = []
    for stage, upto in (("preliminary", 20), ("final", 40)):
        latest: dict[str, Choice] = {}
        for e in entries[:upto]:
            if e.choice is None:
                latest.pop(e.owner_ref, None)
            else:
                latest[e.owner_ref] = e.choice
        payload = tally_payload(
            vote,
            frozen.count(vote.rule, latest),
            stage=stage,
            roster_hash=frozen.roster_hash,
            head_seq=upto,
            head_hash=entries[upto - 1].entry_hash,
            opened_at="a",
            closes_at="b",
            closed_at="c",
            signed_at="d",
        )
        tallies.append(sign_tally(SIGNING_KEY, payload))
    out = io.BytesIO()
    write_bundle(
        out,
        vote_id="7",
        frozen=frozen,
        entries=entries,
        tallies=tallies,
        public_key=SIGNING_KEY.public_key(),
        summary="",
        pseudonym_key=KEY if full else None,
    )
    return out.getvalue(), entries


def _ledger_damage(rng: random.Random, data: bytes) -> bytes:
    lines = data.rstrip(b"\n").split(b"\n")
    at = rng.randrange(len(lines))
    other = rng.randrange(len(lines))
    line = bytearray(lines[at])
    how = rng.randrange(12)
    if how == 0:
        line[rng.randrange(len(line))] = rng.randrange(256)
    elif how == 1:
        del lines[at]
    elif how == 2:
        lines.insert(at, lines[other])
    elif how == 3:
        lines[at], lines[other] = lines[other], lines[at]
    elif how == 4:
        lines.insert(at, b"")
    elif how == 5:
        line += b"\r"
    elif how == 6:
        line = bytearray(line.replace(b'"vote_id":"7"', b'"vote_id":"8"'))
    elif how == 7:
        unit = lines[other][lines[other].index(b'"unit_ref"') :][:45]
        line = bytearray(re.sub(rb'"unit_ref":"[0-9a-f]{32}"', unit, bytes(line)))
    elif how == 8:
        line = bytearray(line.replace(b'"seq":', b'"seq":1', 1))
    elif how == 9:
        line = bytearray(line.replace(b'"actor":"', b'"actor":"\\u0041', 1))
    elif how == 10:
        line = bytearray(line.replace(b'"hash":"', b'"hash":"A', 1)[:-2] + line[-1:])
    else:
        line = bytearray(line.replace(b'"choice":"agree"', b'"choice":null', 1))
    if how not in (1, 2, 3, 4):
        lines[at] = bytes(line)
    changed = b"\n".join(lines) + b"\n"
    return rechain(changed) if rng.random() < 0.7 else changed  # mostly as a careful forger would


_ROSTER_DAMAGE: list[Callable[[bytes], bytes]] = [
    lambda d: d.replace(b",60.00,", b",0.00,", 1),
    lambda d: d.replace(b",60.00,", b",60.0,", 1),
    lambda d: d.replace(b",60.00,", b",60,", 1),
    lambda d: d.replace(b",60.00,", b",060.00,", 1),
    lambda d: d.replace(b",60.00,", b",6O.00,", 1),
    lambda d: d.replace(b",60.00,", b",-60.00,", 1),
    lambda d: d.replace(b",60.00,", b"," + b"9" * 5000 + b".00,", 1),
    lambda d: d.replace(b",sold", b",Sold", 1),
    lambda d: d.replace(b",sold", b",unsold", 1),
    lambda d: d.replace(b"\n", b"\r\n"),
    lambda d: d + d[d.index(b"\n") + 1 : d.index(b"\n", d.index(b"\n") + 1) + 1],  # a row twice
    lambda d: d.replace(b"\n", b"\n\n", 2),
    lambda d: d.replace(b",sold", b',"sold"', 1),
    lambda d: d.replace(b",sold", b",sold,extra", 1),
    lambda d: d.replace(b"status", b"state", 1),
    lambda d: b"\xef\xbb\xbf" + d,
    lambda d: d.replace(b",sold", b",s\xffld", 1),
    lambda d: d.rstrip(b"\n"),
    lambda d: d[: d.rindex(b"\n", 0, len(d) - 1) + 1],  # the last row dropped
    lambda d: re.sub(rb"\n([0-9a-f])", lambda m: b"\n" + m.group(1).upper(), d, count=1),
    lambda d: re.sub(rb"\n[0-9a-f]{32}", b"\nabc", d, count=1),
    lambda d: re.sub(rb"\n[0-9a-f]{32}", b"\n" + b"a" * 31, d, count=1),
    lambda d: d.replace(b"\n", b"\n\x00", 1),
    lambda d: d.replace(b",sold\n", b"\nsold,", 1),  # a field moved to the next row: 3 then 5 columns
    lambda d: d[: d.index(b"\n") + 1] + re.sub(rb",([^,\n]*)\n", rb"\n\1,", d[d.index(b"\n") + 1 :], count=1),
    lambda d: re.sub(rb"\n([0-9a-f]{32})", rb'\n"\1"', d, count=1),  # quoted: csv reads it unquoted
    lambda d: re.sub(rb"\n([0-9a-f]{32}),", rb'\n"\1,"', d, count=1),  # quoted with the comma
]


def _slow_report(bundle: bytes, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> VerifyReport:
    with monkeypatch.context() as patched:
        patched.setattr(audit, "scan_block", lambda block: None)
        patched.setattr(audit, "_plain_roster_units", lambda raw: None)
        return verify_bundle(bundle, **kwargs)


@pytest.mark.parametrize(("chunk", "read_ahead"), [(300, 700), (1000, 5000), (1 << 20, 8 << 20)])
def test_checking_blocks_of_lines_at_once_reports_exactly_what_checking_line_by_line_does(
    chunk: int, read_ahead: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every check is made on each line whichever path takes it: the reports are the same, in order."""
    monkeypatch.setattr(audit, "_LEDGER_CHUNK", chunk)
    monkeypatch.setattr(audit, "_READ_AHEAD", read_ahead)
    taken: list[bool] = []
    apply = audit._LedgerCheck.apply

    def counted(self: audit._LedgerCheck, piece: audit._Piece) -> bool:
        taken.append(apply(self, piece))
        return taken[-1]

    monkeypatch.setattr(audit._LedgerCheck, "apply", counted)
    rng = random.Random(chunk)
    for full in (True, False):
        bundle, entries = _long_bundle(full=full)
        checkpoints = [(5, entries[4].entry_hash), (33, entries[32].entry_hash)]
        assert verify_bundle(bundle, checkpoints=checkpoints).ok
        if chunk < 1 << 20:
            assert any(taken), "the fast path took no block"
        failed = 0
        for _ in range(150):
            fix_manifest = rng.random() < 0.9
            damaged = _rewrite(bundle, "ledger.jsonl", lambda d: _ledger_damage(rng, d), fix_manifest=fix_manifest)
            fast = verify_bundle(damaged, checkpoints=checkpoints)
            assert fast == _slow_report(damaged, monkeypatch, checkpoints=checkpoints)
            failed += not fast.ok
        assert failed > 100  # some changes are harmless: a carriage return, a unit or choice replaced by itself


@pytest.mark.parametrize("full", [True, False])
@pytest.mark.parametrize("damage", range(len(_ROSTER_DAMAGE)))
def test_reading_a_plain_roster_at_once_reports_exactly_what_reading_it_with_csv_does(
    full: bool, damage: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle, _ = _long_bundle(full=full)
    assert audit._plain_roster_units(_members(bundle)["roster.csv"]) is not None
    damaged = _rewrite(bundle, "roster.csv", _ROSTER_DAMAGE[damage])
    assert damaged != bundle
    assert verify_bundle(damaged) == _slow_report(damaged, monkeypatch)


def _one_tally_bundle(frozen: FrozenRoster, entries: list[LedgerEntry], latest: dict[str, Choice]) -> bytes:
    """A full bundle of `entries` with one preliminary tally signed at their head, counting `latest`."""
    vote = Vote(1, "t", "", preset("double-two-thirds"), Scope(), T0, T0 + timedelta(days=7), id=7)
    payload = tally_payload(
        vote,
        frozen.count(vote.rule, latest),
        stage="preliminary",
        roster_hash=frozen.roster_hash,
        head_seq=entries[-1].seq,
        head_hash=entries[-1].entry_hash,
        opened_at="a",
        closes_at="b",
        closed_at="c",
        signed_at="d",
    )
    out = io.BytesIO()
    write_bundle(
        out,
        vote_id="7",
        frozen=frozen,
        entries=entries,
        tallies=[sign_tally(SIGNING_KEY, payload)],
        public_key=SIGNING_KEY.public_key(),
        summary="",
    )
    return out.getvalue()


def test_an_entry_for_no_unit_fails_even_on_an_empty_roster() -> None:
    frozen = FrozenRoster(())
    entry = next_entry(
        0, GENESIS, vote_id="7", kind=EntryKind.CAST, unit_ref="", owner_ref="", choice=Choice.AGREE, actor="a", at="b"
    )
    bundle = _one_tally_bundle(frozen, [entry], {})
    assert ("ledger.jsonl", "entry_unit", "1") in _codes(bundle)


def test_verification_leaves_the_cycle_collector_as_it_found_it() -> None:
    import gc

    bundle, _ = _bundle()
    assert gc.isenabled()
    assert verify_bundle(bundle).ok and gc.isenabled()
    assert not verify_bundle(b"not a zip").ok and gc.isenabled()
    gc.disable()
    try:
        assert verify_bundle(bundle).ok and not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("read_ahead", [100, 1 << 20])
def test_the_ledger_is_read_ahead_in_a_thread_that_ends_with_the_reading(
    read_ahead: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    monkeypatch.setattr(audit, "_LEDGER_CHUNK", 200)
    monkeypatch.setattr(audit, "_READ_AHEAD", read_ahead)
    bundle, entries = _long_bundle(full=False)
    threads = threading.active_count()
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        blocks = audit._iter_blocks(zf, VerifyReport(), None)
        assert next(blocks).startswith(b'{"actor"')
        if read_ahead < 1000:  # more chunks than the two the thread may read ahead: it waits
            assert threading.active_count() == threads + 1
        blocks.close()  # stopped early: the thread ends too
        assert threading.active_count() == threads
        lines = b"\n".join(audit._iter_blocks(zf, VerifyReport(), None)).split(b"\n")
        assert lines == [entry.line() for entry in entries]
        assert threading.active_count() == threads


class _FakeHelper:
    """Answers like the helper process, in this process; gone (EOFError, OSError) after `lasts` blocks."""

    MAX_SENT = 2

    def __init__(self, lasts: int, how: type[Exception], vote_id: bytes, owner_number: dict[bytes, int] | None) -> None:
        self.lasts, self.how = lasts, how
        self.vote_id, self.owner_number = vote_id, owner_number
        self.blocks: list[bytes] = []
        self.sent = 0
        self.answered = 0

    def send(self, block: bytes) -> None:
        self.blocks.append(block)
        self.sent += 1

    def has_piece(self) -> bool:
        return self.answered % 3 != 2  # now and then not yet: the checker goes on with later blocks

    def piece(self) -> audit._Piece | None:
        if self.answered >= self.lasts:
            raise self.how
        block = self.blocks[self.answered]
        self.answered += 1
        self.sent -= 1
        return audit._piece(block, self.vote_id, self.owner_number)

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("lasts", "how"), [(10**9, EOFError), (3, EOFError), (0, EOFError), (4, OSError)])
def test_blocks_checked_by_the_helper_give_the_same_report_even_if_it_goes(
    lasts: int, how: type[Exception], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit, "_LEDGER_CHUNK", 500)
    monkeypatch.setattr(audit, "_READ_AHEAD", 3000)
    monkeypatch.setattr(audit, "_HELPER_MIN_BYTES", 0)
    helpers: list[_FakeHelper] = []

    def start(vote_id: bytes, owner_number: dict[bytes, int] | None) -> _FakeHelper:
        helpers.append(_FakeHelper(lasts, how, vote_id, owner_number))
        return helpers[-1]

    monkeypatch.setattr(audit._Helper, "start", start)
    rng = random.Random(lasts)
    bundle, entries = _long_bundle(full=True)
    checkpoints = [(5, entries[4].entry_hash), (33, entries[32].entry_hash)]
    assert verify_bundle(bundle, checkpoints=checkpoints).ok
    assert helpers[-1].answered >= min(lasts, 3)
    for _ in range(100):
        damaged = _rewrite(bundle, "ledger.jsonl", lambda d: _ledger_damage(rng, d))
        fast = verify_bundle(damaged, checkpoints=checkpoints)
        assert fast == _slow_report(damaged, monkeypatch, checkpoints=checkpoints)


def test_a_large_ledger_is_checked_with_a_helper_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "_LEDGER_CHUNK", 500)
    monkeypatch.setattr(audit, "_HELPER_MIN_BYTES", 0)
    answered: list[audit._Piece | None] = []
    piece = audit._Helper.piece
    monkeypatch.setattr(audit._Helper, "piece", lambda self: answered.append(piece(self)) or answered[-1])
    bundle, _ = _long_bundle(full=False)
    assert verify_bundle(bundle).ok
    assert any(isinstance(p, audit._Piece) for p in answered)
    edited = _rewrite(bundle, "ledger.jsonl", _lines(lambda lines: [*lines[:7], lines[8], lines[7], *lines[9:]]))
    report = verify_bundle(edited)
    assert report == _slow_report(edited, monkeypatch)
    assert ("ledger.jsonl", "entry_seq", "9") in {(f.file, f.code, f.where) for f in report.failures}


def test_a_helper_process_killed_midway_changes_nothing_in_the_report(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "_LEDGER_CHUNK", 300)
    monkeypatch.setattr(audit, "_HELPER_MIN_BYTES", 0)
    answered = []
    piece = audit._Helper.piece

    def then_killed(self: audit._Helper) -> audit._Piece | None:
        if len(answered) == 2:
            self._process.kill()
            self._process.join()
        answered.append(None)
        return piece(self)

    monkeypatch.setattr(audit._Helper, "piece", then_killed)
    bundle, _ = _long_bundle(full=False)
    edited = _rewrite(bundle, "ledger.jsonl", _lines(lambda lines: [*lines[:30], lines[31], lines[30], *lines[32:]]))
    for checked in (bundle, edited):
        answered.clear()
        assert verify_bundle(checked) == _slow_report(checked, monkeypatch)
        assert len(answered) >= 3  # the helper was asked again after it was killed


def test_an_entry_whose_refs_join_into_a_roster_units_refs_is_still_not_that_unit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Refs of 31 and 33 digits pass the roster's own check (32-digit blocks once joined): an entry
    with the same digits cut elsewhere is another unit, also when its block is checked at once."""
    monkeypatch.setattr(audit, "_LEDGER_CHUNK", 300)  # a block a line: the first is not the head's
    from voting.ledger import FrozenUnit
    from voting.model import UnitStatus

    frozen = FrozenRoster((FrozenUnit("a" * 31, "b" * 33, 6000, UnitStatus.SOLD),))
    entries = [
        next_entry(
            0,
            GENESIS,
            vote_id="7",
            kind=EntryKind.CAST,
            unit_ref="a" * 31 + "b",
            owner_ref="b" * 32,
            choice=Choice.AGREE,
            actor="a",
            at="b",
        ),
    ]
    for _ in range(3):
        entries.append(
            next_entry(
                entries[-1].seq,
                entries[-1].entry_hash,
                vote_id="7",
                kind=EntryKind.CAST,
                unit_ref="a" * 31,
                owner_ref="b" * 33,
                choice=Choice.AGREE,
                actor="a",
                at="b",
            )
        )
    bundle = _one_tally_bundle(frozen, entries, {"b" * 33: Choice.AGREE})
    assert ("ledger.jsonl", "entry_unit", "1") in _codes(bundle)


def test_within_a_block_checked_at_once_the_later_ballot_of_an_owner_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "_LEDGER_CHUNK", 700)  # two or three lines a block
    frozen = FrozenRoster.build(roster_a(), KEY)
    units = {u.unit_id: u for u in frozen.units}
    script = [("101", Choice.AGREE), ("101", Choice.DISAGREE), ("201", Choice.DISAGREE), ("202", Choice.AGREE)]
    script += [("102", Choice.ABSTAIN)] * 8
    entries: list[LedgerEntry] = []
    for unit_id, choice in script:
        head_seq, head_hash = (entries[-1].seq, entries[-1].entry_hash) if entries else (0, GENESIS)
        unit = units[unit_id]
        entries.append(
            next_entry(
                head_seq,
                head_hash,
                vote_id="7",
                kind=EntryKind.CAST,
                unit_ref=unit.unit_ref,
                owner_ref=unit.owner_ref,
                choice=choice,
                actor="a",
                at="b",
            )
        )
    latest = {e.owner_ref: e.choice for e in entries}  # p1 disagrees, p3 agrees, p2 abstains
    bundle = _one_tally_bundle(frozen, entries, latest)
    taken: list[bool] = []
    apply = audit._LedgerCheck.apply
    monkeypatch.setattr(audit._LedgerCheck, "apply", lambda self, piece: taken.append(apply(self, piece)) or taken[-1])
    report = verify_bundle(bundle)
    assert report.ok, [f.message() for f in report.failures]
    assert taken[0]  # the first block, p1 agreeing then disagreeing, was taken at once


def test_a_roster_that_is_not_valid_csv_is_reported_not_a_crash() -> None:
    bundle, _ = _bundle()
    forged = _rewrite(bundle, "roster.csv", lambda d: d.replace(b",60.00,", b",60\r.00,", 1))
    assert ("roster.csv", "roster_bad") in {(f, c) for f, c, _w in _codes(forged)}
