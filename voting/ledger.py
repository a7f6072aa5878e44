"""The append-only, hash-chained ballot ledger of a vote, and its pseudonymous frozen roster.

Units and owners appear in entries only as keyed pseudonyms (`ref`), so a bundle can be
published without unit labels while every hash and signature still verifies.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from hashlib import sha256
from itertools import chain
from operator import add, attrgetter, methodcaller
from typing import Any, NamedTuple

from voting.canonical import canonical_json, sha256_hex
from voting.model import DEVELOPER, Choice, Roster, Unit, UnitStatus, Weight, format_area
from voting.rules import Rule
from voting.tally import TallyResult, tally
from voting.votes import GENESIS

__all__ = [
    "EntryKind",
    "FrozenRoster",
    "FrozenUnit",
    "LedgerEntry",
    "LedgerFormatError",
    "latest_choices_from_entries",
    "next_entry",
    "normalize_receipt",
    "parse_entry_line",
    "parse_utc",
    "receipt_of",
    "ref",
    "scan_block",
    "scan_line",
    "utc_iso",
]

ROSTER_FORMAT = "renovote-roster/1"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_HEX64 = frozenset("0123456789abcdef")
_HEX_DIGITS = b"0123456789abcdef"


class EntryKind(StrEnum):
    CAST = "cast"  # a resident in chat
    PAPER = "paper"  # a written ballot entered by a worker
    DOOR_TO_DOOR = "door_to_door"  # collected at the door by a worker
    PROXY = "proxy"  # cast by a proxy named in the entry
    CORRECTION = "correction"  # a worker corrected a recorded ballot during the objection period
    WITHDRAW = "withdraw"  # the owner's ballot no longer counts


def ref(key: bytes, text: str) -> str:
    """A keyed pseudonym: the first 16 bytes of HMAC-SHA256(key, text), as 32 hex characters."""
    return hmac.new(key, text.encode("utf-8"), sha256).hexdigest()[:32]


def utc_iso(moment: datetime) -> str:
    """An aware datetime as UTC ISO 8601 with microseconds and "Z"."""
    if moment.utcoffset() is None:
        raise ValueError("naive datetime: pass an aware UTC time")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    """The inverse of utc_iso."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def receipt_of(entry_hash: str) -> str:
    """A short code from an entry hash: the first 50 bits in Crockford base32, as XXXXX-XXXXX."""
    bits = int(entry_hash[:13], 16) >> 2  # 52 bits -> 50
    chars = []
    for _ in range(10):
        chars.append(_CROCKFORD[bits & 31])
        bits >>= 5
    code = "".join(reversed(chars))
    return f"{code[:5]}-{code[5:]}"


def normalize_receipt(text: str) -> str:
    """Accept what people type: lower case, spaces, no dash, O for 0, I or L for 1."""
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum())
    cleaned = cleaned.translate(str.maketrans("OILU", "011V"))
    if len(cleaned) != 10 or any(ch not in _CROCKFORD for ch in cleaned):
        return ""
    return f"{cleaned[:5]}-{cleaned[5:]}"


class FrozenUnit(NamedTuple):
    """A unit of a frozen roster: pseudonyms (32 lowercase hex digits), area, status; labels for full exports."""

    unit_ref: str
    owner_ref: str
    area: int
    status: UnitStatus
    unit_id: str = ""
    building: str = ""
    entrance: str = ""
    room: str = ""
    owner_key: str = ""


@dataclass(frozen=True, slots=True)
class FrozenRoster:
    """The roster of a vote at the moment it opened, by pseudonym; labels kept aside for full exports."""

    units: tuple[FrozenUnit, ...]
    roster_hash: str = field(init=False)
    _counted: list[_FrozenElectorate] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        units = tuple(sorted(self.units, key=attrgetter("unit_ref")))
        object.__setattr__(self, "units", units)
        object.__setattr__(self, "_counted", [])
        # All refs in a row are 32-digit blocks of lowercase hex; joined and checked in a few calls.
        refs = "".join(chain.from_iterable(map(attrgetter("unit_ref", "owner_ref"), units)))
        hex_refs = refs.isascii() and len(refs) % 32 == 0 and not refs.encode("ascii").translate(None, _HEX_DIGITS)
        if not hex_refs or not set(map(type, map(attrgetter("area"), units))) <= {int}:
            raise ValueError("a frozen unit needs 32-hex-digit pseudonyms and an integer area")
        # canonical_json({"format": ROSTER_FORMAT, "units": [[unit_ref, owner_ref, area, status], ...]}),
        # written out directly: refs are hex, areas integers and statuses plain words, so each row's
        # canonical form is exactly this text; streaming it avoids a million-node walk.
        digest = sha256(b'{"format":"' + ROSTER_FORMAT.encode() + b'","units":[')
        digest.update(",".join(f'["{u.unit_ref}","{u.owner_ref}",{u.area},"{u.status}"]' for u in units).encode())
        digest.update(b"]}")
        object.__setattr__(self, "roster_hash", digest.hexdigest())

    @classmethod
    def build(cls, roster: Roster, key: bytes) -> FrozenRoster:
        return cls(
            tuple(
                FrozenUnit(
                    ref(key, "unit:" + u.unit_id),
                    ref(key, u.owner_key),
                    u.area,
                    u.status,
                    u.unit_id,
                    u.building,
                    u.entrance,
                    u.room,
                    u.owner_key,
                )
                for u in roster
            )
        )

    def _electorate(self) -> _FrozenElectorate:
        """Owner weights as the law counts them, built once: developer-held units are one person
        whatever their pseudonyms say; every other owner is their owner_ref."""
        if not self._counted:
            sold = UnitStatus.SOLD
            owner_area: dict[str, int] = {}
            developer_refs: set[str] = set()
            for u in self.units:
                if u.status is sold:
                    key = u.owner_ref
                else:
                    key = DEVELOPER
                    developer_refs.add(u.owner_ref)
                owner_area[key] = owner_area.get(key, 0) + u.area
            self._counted.append(_FrozenElectorate(owner_area, developer_refs))
        return self._counted[0]

    def to_roster(self) -> Roster:
        """A Roster keyed by pseudonyms, counting exactly as the labelled one (developer units stay one person)."""
        sold = UnitStatus.SOLD
        return Roster(
            tuple(Unit(u.unit_ref, u.area, u.owner_ref if u.status is sold else "", u.status) for u in self.units)
        )

    def count(
        self, rule: Rule, choices: Mapping[str, Choice], *, non_voters_follow_majority: bool = False
    ) -> TallyResult:
        """Tally choices keyed by owner_ref (as the ledger records them) on this roster."""
        electorate = self._electorate()
        developer = electorate.developer_refs
        by_key = {DEVELOPER if owner_ref in developer else owner_ref: c for owner_ref, c in choices.items()}
        return tally(electorate, rule, by_key, non_voters_follow_majority=non_voters_follow_majority)

    def csv_rows(self, with_labels: bool) -> Iterator[list[str]]:
        header = ["unit_ref", "owner_ref", "area_m2", "status"]
        if with_labels:
            header += ["unit_id", "building", "entrance", "room", "owner_key"]
        yield header
        for u in self.units:
            row = [u.unit_ref, u.owner_ref, format_area(u.area), str(u.status)]
            if with_labels:
                row += [u.unit_id, u.building, u.entrance, u.room, u.owner_key]
            yield row


@dataclass(frozen=True, slots=True)
class _FrozenElectorate:
    owner_area: dict[str, int]
    developer_refs: set[str]

    @property
    def total(self) -> Weight:
        return Weight(sum(self.owner_area.values()), len(self.owner_area))


class LedgerFormatError(ValueError):
    """A ledger line that is not a well-formed entry; `line` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(f"line {line}: {message}")


_OPTIONAL = ("proxy_name", "reason", "attachment_sha256")


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One ballot event; its hash covers every field, the previous hash and the sequence number."""

    vote_id: str
    seq: int
    prev_hash: str
    kind: EntryKind
    unit_ref: str
    owner_ref: str
    choice: Choice | None
    actor: str
    at: str
    proxy_name: str | None = None
    reason: str | None = None
    attachment_sha256: str | None = None
    entry_hash: str = field(init=False)

    def __post_init__(self) -> None:
        if self.seq < 1:
            raise ValueError("seq starts at 1")
        if (self.choice is None) != (self.kind is EntryKind.WITHDRAW):
            raise ValueError("a withdrawal has no choice; every other entry has one")
        if self.kind is EntryKind.CORRECTION and not self.reason:
            raise ValueError("a correction needs a reason")
        if self.kind is EntryKind.PROXY and not self.proxy_name:
            raise ValueError("a proxy ballot names the proxy")
        object.__setattr__(self, "entry_hash", sha256_hex(canonical_json(self.body())))

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "vote_id": self.vote_id,
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "kind": str(self.kind),
            "unit_ref": self.unit_ref,
            "owner_ref": self.owner_ref,
            "choice": None if self.choice is None else str(self.choice),
            "actor": self.actor,
            "at": self.at,
        }
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body

    @property
    def receipt(self) -> str:
        return receipt_of(self.entry_hash)

    def line(self) -> bytes:
        """The JSONL line (without newline): the body and its hash."""
        return canonical_json({**self.body(), "hash": self.entry_hash})


def next_entry(head_seq: int, head_hash: str, **fields: Any) -> LedgerEntry:
    """The entry that follows the head (seq 0 and GENESIS for an empty ledger)."""
    return LedgerEntry(seq=head_seq + 1, prev_hash=head_hash if head_seq else GENESIS, **fields)


def _expect(cond: bool, line: int, message: str) -> None:
    if not cond:
        raise LedgerFormatError(line, message)


def parse_entry_line(raw: bytes | str, line: int) -> tuple[LedgerEntry, str]:
    """Parse one JSONL line strictly; returns the entry (hash recomputed) and the hash the line claims."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LedgerFormatError(line, f"not JSON ({exc})") from None
    _expect(isinstance(data, dict), line, "not a JSON object")
    allowed = {
        "vote_id",
        "seq",
        "prev_hash",
        "kind",
        "unit_ref",
        "owner_ref",
        "choice",
        "actor",
        "at",
        "hash",
        *_OPTIONAL,
    }
    unknown = set(data) - allowed
    _expect(not unknown, line, f"unknown field(s) {sorted(unknown)}")
    for name in ("vote_id", "prev_hash", "kind", "unit_ref", "owner_ref", "actor", "at", "hash"):
        _expect(isinstance(data.get(name), str), line, f"field {name!r} must be text")
    _expect(isinstance(data.get("seq"), int) and not isinstance(data.get("seq"), bool), line, "seq must be an integer")
    for name in ("prev_hash", "hash"):
        _expect(len(data[name]) == 64 and set(data[name]) <= _HEX64, line, f"{name} must be 64 hex digits")
    choice = data.get("choice")
    _expect(choice is None or choice in set(Choice), line, f"unknown choice {choice!r}")
    _expect(data["kind"] in set(EntryKind), line, f"unknown kind {data['kind']!r}")
    for name in _OPTIONAL:
        _expect(data.get(name) is None or isinstance(data[name], str), line, f"{name} must be text")
    try:
        entry = LedgerEntry(
            vote_id=data["vote_id"],
            seq=data["seq"],
            prev_hash=data["prev_hash"],
            kind=EntryKind(data["kind"]),
            unit_ref=data["unit_ref"],
            owner_ref=data["owner_ref"],
            choice=None if choice is None else Choice(choice),
            actor=data["actor"],
            at=data["at"],
            proxy_name=data.get("proxy_name"),
            reason=data.get("reason"),
            attachment_sha256=data.get("attachment_sha256"),
        )
    except ValueError as exc:
        raise LedgerFormatError(line, str(exc)) from None
    return entry, data["hash"]


def latest_choices_from_entries(entries: Iterable[LedgerEntry], upto_seq: int | None = None) -> dict[str, Choice]:
    """Each owner's latest choice (owner_ref -> choice); a withdrawal removes the owner."""
    latest: dict[str, Choice] = {}
    for entry in entries:
        if upto_seq is not None and entry.seq > upto_seq:
            break
        if entry.choice is None:
            latest.pop(entry.owner_ref, None)
        else:
            latest[entry.owner_ref] = entry.choice
    return latest


# --- fast, exact scanning of canonical lines (the verifier's hot path) -----------------------------


def _line_pattern(text: bytes, hex64: bytes, seq: bytes) -> bytes:
    """A canonical ledger line as a regular expression, keys in canonical order. `text` matches the
    content of a JSON string, `hex64` that of a hash, `seq` the sequence number. Its groups: head
    (everything before the hash member), choice, claimed hash, tail (everything after the hash
    member), kind, owner_ref, prev_hash, proxy_name, reason, seq, unit_ref, vote_id."""
    string = b'"' + text + b'"'
    captured = b'"(' + text + b')"'
    return (
        rb'(\{"actor":' + string + rb',"at":' + string + rb'(?:,"attachment_sha256":' + string + rb")?"
        rb',"choice":(?:null|"(agree|disagree|abstain)"))'
        rb',"hash":"(' + hex64 + rb')"'
        rb'(,"kind":"(cast|paper|door_to_door|proxy|correction|withdraw)"'
        rb',"owner_ref":' + captured + rb',"prev_hash":"(' + hex64 + rb')"'
        rb'(?:,"proxy_name":' + captured + rb")?"
        rb'(?:,"reason":' + captured + rb")?"
        rb',"seq":(' + seq + rb")"
        rb',"unit_ref":' + captured + rb',"vote_id":' + captured + rb"\})"
    )


#: One line, exactly: a JSON string without escapes is canonical exactly when it matches.
_CANONICAL_LINE = re.compile(_line_pattern(rb'[^"\\\x00-\x1f]*', rb"[0-9a-f]{64}", rb"0|[1-9][0-9]{0,17}") + rb"$")
#: Every line of a block at once, with cheaper classes than _CANONICAL_LINE (a string is anything
#: but a quote, a hash any 64 characters but a quote, seq 0 is left out); scan_block makes up the
#: difference for the whole block at once: no escape or control character, lowercase hex hashes.
_PLAIN_LINES = re.compile(rb"^" + _line_pattern(rb'[^"]*', rb'[^"]{64}', rb"[1-9][0-9]{0,17}") + rb"$", re.MULTILINE)
#: What no line of a block matched by _PLAIN_LINES may hold for _CANONICAL_LINE to match it too:
#: a backslash (an escape) or a control character (the newline only separates lines).
_NOT_PLAIN = bytes(range(0x0A)) + bytes(range(0x0B, 0x20)) + b"\\"
_DIGEST = methodcaller("digest")


class ScannedEntry(NamedTuple):
    """The fields the verifier needs, as the bytes of the line, the hash it claims and the hash it has."""

    seq: int
    prev_hash: bytes
    vote_id: bytes
    kind: bytes
    unit_ref: bytes
    owner_ref: bytes
    choice: bytes | None
    claimed_hash: bytes
    actual_hash: bytes


def scan_line(raw: bytes, line: int) -> ScannedEntry:
    """Check one JSONL line and hash its content. Exact: a line that is not the canonical encoding
    of a well-formed entry raises LedgerFormatError, whatever path it takes."""
    raw = raw.rstrip(b"\r\n")
    match = _CANONICAL_LINE.match(raw)
    if match is None:
        entry, claimed_text = parse_entry_line(raw, line)  # full parse: says what is wrong, or ...
        if entry.line() != raw:
            raise LedgerFormatError(line, "not in canonical form (key order, spacing or escapes)")
        return ScannedEntry(  # a canonical line whose texts need escapes (a quote, a line break ...)
            entry.seq,
            entry.prev_hash.encode(),
            entry.vote_id.encode(),
            str(entry.kind).encode(),
            entry.unit_ref.encode(),
            entry.owner_ref.encode(),
            None if entry.choice is None else str(entry.choice).encode(),
            claimed_text.encode(),
            entry.entry_hash.encode(),
        )
    head, choice, claimed, tail, kind, owner_ref, prev_hash, proxy_name, reason, seq, unit_ref, vote_id = match.groups()
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise LedgerFormatError(line, "text that is not UTF-8") from None
    if (choice is None) != (kind == b"withdraw"):
        raise LedgerFormatError(line, "a withdrawal has no choice; every other entry has one")
    if kind == b"correction" and not reason:
        raise LedgerFormatError(line, "a correction needs a reason")
    if kind == b"proxy" and not proxy_name:
        raise LedgerFormatError(line, "a proxy ballot names the proxy")
    if seq == b"0":
        raise LedgerFormatError(line, "seq starts at 1")
    actual = sha256(head + tail).hexdigest().encode("ascii")  # the line without its hash member
    return ScannedEntry(int(seq), prev_hash, vote_id, kind, unit_ref, owner_ref, choice, claimed, actual)


class ScannedBlock(NamedTuple):
    """A block of lines that is an unbroken piece of a hash chain: its fields, one tuple per field
    with one item per line, as the bytes of the lines (seq as its digits, a null choice as b""),
    except prev_hash: the first line's (each other line's is the hash of the line before)."""

    seq: tuple[bytes, ...]
    prev_hash: bytes
    vote_id: tuple[bytes, ...]
    kind: tuple[bytes, ...]
    unit_ref: tuple[bytes, ...]
    owner_ref: tuple[bytes, ...]
    choice: tuple[bytes, ...]
    entry_hash: tuple[bytes, ...]


def _well_formed(
    kinds: tuple[bytes, ...], choices: tuple[bytes, ...], reasons: tuple[bytes, ...], proxy_names: tuple[bytes, ...]
) -> bool:
    """What scan_line checks after the match, for a whole block: a choice exactly when the entry is
    not a withdrawal, a reason for a correction, a name for a proxy."""
    if (b"withdraw" in kinds or b"" in choices) and any(
        (choice == b"") != (kind == b"withdraw") for choice, kind in zip(choices, kinds, strict=True)
    ):
        return False
    if b"correction" in kinds and not all(r for k, r in zip(kinds, reasons, strict=True) if k == b"correction"):
        return False
    return b"proxy" not in kinds or all(p for k, p in zip(kinds, proxy_names, strict=True) if k == b"proxy")


def scan_block(block: bytes) -> ScannedBlock | None:
    """Scan lines separated by newlines at once, when they hold nothing to report between them.

    None unless every line is the plain canonical encoding of a well-formed entry (no escape in its
    texts, no carriage return, no blank line), its hash is the SHA-256 of its content, and each line
    after the first names the hash of the line before as its prev_hash. The caller then scans the
    lines one by one with scan_line, which accepts the rest and says what is wrong. Whenever this
    returns, scan_line accepts every line with the same fields and an actual hash equal to the claimed.
    """
    rows = _PLAIN_LINES.findall(block)
    # A match runs from the start of a line to the end of one, and no two start on the same line:
    # as many matches as lines means each line is one match, whole.
    if len(rows) != block.count(b"\n") + 1 or len(block.translate(None, _NOT_PLAIN)) != len(block):
        return None
    if not block.isascii():
        try:
            block.decode("utf-8")  # a newline is never inside a UTF-8 sequence: each line is UTF-8 too
        except UnicodeDecodeError:
            return None
    heads, choices, claimed, tails, kinds, owner_refs, prev_hashes, proxy_names, reasons, seqs, unit_refs, vote_ids = (
        zip(*rows, strict=True)
    )
    # Hex digits: each claimed hash is compared with a computed one below, each prev_hash but the
    # first with a claimed hash here; the first is checked.
    if prev_hashes[1:] != claimed[:-1] or prev_hashes[0].translate(None, _HEX_DIGITS):
        return None
    if not _well_formed(kinds, choices, reasons, proxy_names):
        return None
    contents = map(add, heads, tails)  # each line without its hash member
    if b"".join(map(_DIGEST, map(sha256, contents))).hex().encode("ascii") != b"".join(claimed):
        return None
    return ScannedBlock(seqs, prev_hashes[0], vote_ids, kinds, unit_refs, owner_refs, choices, claimed)
