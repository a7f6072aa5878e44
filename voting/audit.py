"""Signed tallies, the export bundle, and offline verification that trusts nothing but the bundle and a key.

A bundle is a zip: manifest.json (SHA-256 of every other file), roster.csv (the frozen roster by
pseudonym; labels, owner keys and pseudonym_key.txt only in full exports), ledger.jsonl (the hash
chain), tallies/N-STAGE.json with .sig (Ed25519 over the exact JSON bytes), public_key.pem and
summary.txt. `verify_bundle` recomputes the chain, the roster hash and every tally and checks
every signature; it reports every failure with the file and the entry or row where it is.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import json
import multiprocessing
import queue
import re
import struct
import threading
import zipfile
import zlib
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from multiprocessing.connection import Connection
from operator import add, itemgetter
from typing import IO, Any, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from voting.canonical import canonical_json, sha256_hex
from voting.errors import N_, VotingError
from voting.ledger import (
    FrozenRoster,
    FrozenUnit,
    LedgerEntry,
    LedgerFormatError,
    normalize_receipt,
    parse_entry_line,
    ref,
    scan_block,
    scan_line,
)
from voting.model import Choice, UnitStatus, parse_area
from voting.rules import rule_from_dict
from voting.tally import TallyResult
from voting.votes import GENESIS, Vote

__all__ = [
    "BUNDLE_FORMAT",
    "TALLY_FORMAT",
    "BundleWriter",
    "Failure",
    "SignedTally",
    "VerifyReport",
    "find_receipt",
    "fingerprint",
    "generate_private_key",
    "load_private_key",
    "load_public_key",
    "private_key_pem",
    "public_key_hex",
    "public_key_pem",
    "sign_tally",
    "tally_payload",
    "verify_bundle",
    "write_bundle",
]

BUNDLE_FORMAT = "renovote-bundle/1"
TALLY_FORMAT = "renovote-tally/1"
MANIFEST = "manifest.json"
ROSTER = "roster.csv"
LEDGER = "ledger.jsonl"
PUBLIC_KEY = "public_key.pem"
PSEUDONYM_KEY = "pseudonym_key.txt"
SUMMARY = "summary.txt"
STAGES = ("preliminary", "final")
_REF = re.compile(r"[0-9a-f]{32}")
_STATUSES = {str(s): s for s in UnitStatus}
#: What zipfile raises on a damaged archive, besides KeyError for a missing member: BadZipFile
#: (bad headers, CRC), zlib.error (corrupt deflate data), EOFError/OSError (truncated),
#: ValueError (a corrupt offset: "negative seek value"), NotImplementedError, a RuntimeError
#: (unknown compression or version, encryption flags). Each becomes a zip_unreadable failure.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError)


# --- keys -------------------------------------------------------------------------------------


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    """Raise ValueError when the bytes are not an unencrypted Ed25519 private key in PEM."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 key")
    return key


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_hex(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key as 64 lowercase hex digits (load_public_key reads this form too)."""
    return _raw(key).hex()


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """A public key as PEM, or as 64 hex digits of the raw key; ValueError otherwise."""
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a PEM public key ({exc})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key
    try:
        raw = bytes.fromhex(text.decode("ascii").replace(" ", ""))
    except (ValueError, UnicodeDecodeError):
        raise ValueError("neither PEM nor 64 hex digits") from None
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key has 32 bytes (64 hex digits)")
    return Ed25519PublicKey.from_public_bytes(raw)


def fingerprint(key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 of the raw public key, in groups of four: "ab12 cd34 ef56 7890"."""
    digest = hashlib.sha256(_raw(key)).hexdigest()[:16]
    return " ".join(digest[i : i + 4] for i in range(0, 16, 4))


# --- signed tallies ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedTally:
    stage: str
    payload: bytes  # canonical JSON: exactly the bytes signed
    signature: bytes

    def data(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.payload)
        return loaded


def tally_payload(
    vote: Vote,
    result: TallyResult,
    *,
    stage: str,
    roster_hash: str,
    head_seq: int,
    head_hash: str,
    opened_at: str,
    closes_at: str,
    closed_at: str,
    signed_at: str,
) -> dict[str, Any]:
    """Everything a signed tally states: rule, frozen-roster hash, ledger head, counts, outcome, times."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}")
    return {
        "format": TALLY_FORMAT,
        "stage": stage,
        "vote_id": str(vote.id),
        "title": vote.title,
        "rule": vote.rule.as_dict(),
        "scope": {"building": vote.scope.building, "entrance": vote.scope.entrance},
        "non_voters_follow_majority": vote.non_voters_follow_majority,
        "roster_hash": roster_hash,
        "ledger_head": {"seq": head_seq, "hash": head_hash},
        "counts": result.as_dict(),
        "passed": result.passed,
        "opened_at": opened_at,
        "closes_at": closes_at,
        "closed_at": closed_at,
        "signed_at": signed_at,
    }


def sign_tally(key: Ed25519PrivateKey, payload: dict[str, Any]) -> SignedTally:
    data = canonical_json(payload)
    return SignedTally(str(payload["stage"]), data, key.sign(data))


# --- writing ----------------------------------------------------------------------------------


def _csv_bytes(rows: Iterable[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


class BundleWriter:
    """Writes a bundle to `out`, streaming the ledger: `add_entry` for each entry, then `finish`.

    Without `pseudonym_key` the export is pseudonymised: no unit label, no owner key, nothing
    that links a pseudonym to a flat; every hash and signature still verifies.
    """

    def __init__(self, out: IO[bytes], *, vote_id: str, frozen: FrozenRoster, pseudonym_key: bytes | None) -> None:
        self.vote_id = vote_id
        self.full = pseudonym_key is not None
        self.files: dict[str, str] = {}
        self._zip = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED)
        self._put(ROSTER, _csv_bytes(frozen.csv_rows(with_labels=self.full)))
        if pseudonym_key is not None:
            self._put(PSEUDONYM_KEY, pseudonym_key.hex().encode("ascii") + b"\n")
        self._ledger = self._zip.open(LEDGER, "w", force_zip64=True)
        self._ledger_hash = hashlib.sha256()

    def _put(self, name: str, data: bytes) -> None:
        self._zip.writestr(name, data)
        self.files[name] = sha256_hex(data)

    def add_entry(self, entry: LedgerEntry) -> None:
        line = entry.line() + b"\n"
        self._ledger.write(line)
        self._ledger_hash.update(line)

    def finish(self, tallies: Sequence[SignedTally], public_key: Ed25519PublicKey, summary: str) -> dict[str, Any]:
        """Write the signed tallies, the key, the summary and the manifest; close the zip."""
        self._ledger.close()
        self.files[LEDGER] = self._ledger_hash.hexdigest()
        for number, signed in enumerate(tallies, start=1):
            self._put(f"tallies/{number}-{signed.stage}.json", signed.payload)
            self._put(f"tallies/{number}-{signed.stage}.sig", signed.signature.hex().encode("ascii") + b"\n")
        self._put(PUBLIC_KEY, public_key_pem(public_key))
        self._put(SUMMARY, summary.encode("utf-8"))
        manifest = {
            "format": BUNDLE_FORMAT,
            "vote_id": self.vote_id,
            "pseudonymised": not self.full,
            "public_key_fingerprint": fingerprint(public_key),
            "files": dict(sorted(self.files.items())),
        }
        self._zip.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
        self._zip.close()
        return manifest


def write_bundle(
    out: IO[bytes],
    *,
    vote_id: str,
    frozen: FrozenRoster,
    entries: Iterable[LedgerEntry],
    tallies: Sequence[SignedTally],
    public_key: Ed25519PublicKey,
    summary: str,
    pseudonym_key: bytes | None = None,
) -> dict[str, Any]:
    """Write a whole bundle in one call (see BundleWriter); returns the manifest."""
    writer = BundleWriter(out, vote_id=vote_id, frozen=frozen, pseudonym_key=pseudonym_key)
    for entry in entries:
        writer.add_entry(entry)
    return writer.finish(tallies, public_key, summary)


# --- verification -----------------------------------------------------------------------------

FAILURE_TEXTS: dict[str, str] = {
    "zip_unreadable": N_("the file is not a complete zip archive ({detail})"),
    "file_missing": N_("a file the bundle needs is missing"),
    "file_unlisted": N_("a file is in the bundle but not in the manifest"),
    "file_hash": N_("the file's SHA-256 differs from the manifest: it was changed after export"),
    "manifest_bad": N_("the manifest cannot be read ({detail})"),
    "public_key_bad": N_("the public key cannot be read ({detail})"),
    "public_key_mismatch": N_("the bundle was signed with another key than the one given (bundle key {detail})"),
    "roster_bad": N_("row {where}: {detail}"),
    "pseudonym_mismatch": N_("row {where}: the pseudonym does not match the unit label or owner ({detail})"),
    "ledger_bad": N_("line {where}: {detail}"),
    "entry_hash": N_("entry {where}: its content does not match its hash: the entry was edited"),
    "entry_link": N_("entry {where}: it does not follow the entry before it: an entry was dropped, inserted or moved"),
    "entry_seq": N_("entry {where}: expected sequence number {detail}: an entry was dropped, inserted or moved"),
    "entry_vote": N_("entry {where}: it belongs to vote {detail}, not to this one"),
    "entry_unit": N_("entry {where}: its unit is not in the frozen roster"),
    "entry_owner": N_("entry {where}: its owner is not the owner of its unit in the frozen roster"),
    "tally_bad": N_("the signed tally cannot be read ({detail})"),
    "tally_signature": N_("the signature does not match the tally: it was changed or signed with another key"),
    "tally_roster": N_("the tally was computed on another roster (roster hash differs)"),
    "tally_head": N_("the ledger head the tally states (entry {detail}) is not in the ledger"),
    "tally_counts": N_("recounting the ledger under the stated rule gives other counts: {detail}"),
    "tally_vote": N_("the tally is for vote {detail}, not for this one"),
    "checkpoint": N_("the published ledger head {where} is not in this ledger: the chain was rewritten"),
    "no_tally": N_("the bundle holds no signed tally"),
}


@dataclass(frozen=True, slots=True)
class Failure:
    """One thing wrong with a bundle: `file`, `where` (entry seq, line or row), a stable `code`."""

    file: str
    code: str
    where: str = ""
    detail: str = ""

    @property
    def template(self) -> str:
        return FAILURE_TEXTS[self.code]

    @property
    def params(self) -> dict[str, str]:
        """The values the code's message template takes."""
        return {"where": self.where, "detail": self.detail}

    def message(self) -> str:
        return f"{self.file}: " + self.template.format(where=self.where, detail=self.detail)


@dataclass(slots=True)
class VerifyReport:
    failures: list[Failure] = field(default_factory=list)
    vote_id: str = ""
    entries: int = 0
    units: int = 0
    tallies: list[dict[str, Any]] = field(default_factory=list)
    fingerprint: str = ""
    key_from_bundle: bool = True
    pseudonymised: bool = True

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, file: str, code: str, where: object = "", detail: object = "") -> None:
        self.failures.append(Failure(file, code, str(where), str(detail)))


def _read(zf: zipfile.ZipFile, name: str, report: VerifyReport) -> bytes | None:
    try:
        return zf.read(name)
    except KeyError:
        report.fail(name, "file_missing")
    except _ZIP_ERRORS as exc:
        report.fail(name, "zip_unreadable", detail=exc)
    return None


def _check_manifest(zf: zipfile.ZipFile, report: VerifyReport, kept: dict[str, bytes]) -> dict[str, Any] | None:
    """The manifest, checking every file's hash against it (the ledger's while it is checked); the
    roster's bytes are kept in `kept` when they could be read, for _read_roster to read them once."""
    raw = _read(zf, MANIFEST, report)
    if raw is None:
        return None
    try:
        manifest: dict[str, Any] = json.loads(raw)
        files = manifest["files"]
        if manifest.get("format") != BUNDLE_FORMAT or not isinstance(files, dict):
            raise ValueError(f"format is not {BUNDLE_FORMAT}")
    except (ValueError, KeyError, TypeError) as exc:
        report.fail(MANIFEST, "manifest_bad", detail=exc)
        return None
    report.vote_id = str(manifest.get("vote_id", ""))
    report.pseudonymised = bool(manifest.get("pseudonymised", True))
    present = set(zf.namelist()) - {MANIFEST}
    for name in sorted(present - set(files)):
        report.fail(name, "file_unlisted")
    for name, expected in sorted(files.items()):
        if name not in present:
            report.fail(name, "file_missing")
            continue
        if name == LEDGER:
            continue  # hashed while its entries are checked: one pass over the largest file
        digest = hashlib.sha256()
        try:
            if name == ROSTER:  # read whole: _read_roster needs it so
                kept[name] = zf.read(name)
                digest.update(kept[name])
            else:  # streamed: a file of the bundle may be anything
                with zf.open(name) as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(chunk)
        except _ZIP_ERRORS as exc:
            report.fail(name, "zip_unreadable", detail=exc)
            continue
        if digest.hexdigest() != expected:
            report.fail(name, "file_hash")
    return manifest


_ROSTER_COLUMNS = ["unit_ref", "owner_ref", "area_m2", "status"]
_LABEL_COLUMNS = ["unit_id", "building", "entrance", "room", "owner_key"]
#: Areas as BundleWriter writes them, one a line: two decimals, at most 15 digits before the point
#: (so that int() stays far from its limit).
_PLAIN_AREAS = re.compile(r"[0-9]{1,15}\.[0-9][0-9](?:\n[0-9]{1,15}\.[0-9][0-9])*")


def _plain_roster_units(raw: bytes) -> tuple[bool, list[FrozenUnit]] | None:
    """Whether roster.csv is labelled and its units, when it is plain and has nothing to report.

    Plain: UTF-8 with exactly the header of a pseudonymised or full export, no quote, carriage
    return or NUL (so csv.reader takes every field verbatim between commas), each row with as many
    fields as the header, areas with two decimals. Nothing to report: a known status, an area above
    0, no unit twice. None otherwise: _read_roster then reads it with csv and reports row by row
    what is wrong. The units are those that reading would give.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    header, _, body = text.partition("\n")
    labelled = header == ",".join(_ROSTER_COLUMNS + _LABEL_COLUMNS)
    width = len(_ROSTER_COLUMNS) + (len(_LABEL_COLUMNS) if labelled else 0)
    body = body.removesuffix("\n")  # the newline after the last row; a blank row stays a line
    if not (labelled or header == ",".join(_ROSTER_COLUMNS)) or not body or any(c in body for c in '"\r\x00'):
        return None
    # Each row's fields, then "\n" alone, and so on: every (width + 1)th item is "\n" exactly when
    # every row has `width` fields (a field never is "\n": each newline became its own item).
    items = body.replace("\n", ",\n,").split(",")
    ends = items[width :: width + 1]
    if len(items) % (width + 1) != width or ends.count("\n") != len(ends):
        return None
    unit_refs, owner_refs, area_texts, status_texts, *labels = (items[i :: width + 1] for i in range(width))
    areas_text = "\n".join(area_texts)
    if _PLAIN_AREAS.fullmatch(areas_text) is None:
        return None
    areas = list(map(int, areas_text.replace(".", "").split("\n")))  # "78.73" -> 7873 hundredths, as parse_area
    statuses = list(map(_STATUSES.get, status_texts))
    if 0 in areas or None in statuses or len(set(unit_refs)) != len(unit_refs):
        return None
    return labelled, list(map(FrozenUnit, unit_refs, owner_refs, areas, statuses, *labels))


def _check_pseudonyms(key: bytes, number: int, unit: FrozenUnit, report: VerifyReport) -> None:
    if ref(key, "unit:" + unit.unit_id) != unit.unit_ref:
        report.fail(ROSTER, "pseudonym_mismatch", number, "unit " + unit.unit_id)
    if ref(key, unit.owner_key) != unit.owner_ref:
        report.fail(ROSTER, "pseudonym_mismatch", number, "owner")


def _read_roster(zf: zipfile.ZipFile, report: VerifyReport, kept: dict[str, bytes]) -> FrozenRoster | None:
    raw = kept.pop(ROSTER) if ROSTER in kept else _read(zf, ROSTER, report)
    if raw is None:
        return None
    key_raw = _read(zf, PSEUDONYM_KEY, report) if PSEUDONYM_KEY in zf.namelist() else None
    key = None
    if key_raw is not None:
        try:
            key = bytes.fromhex(key_raw.decode("ascii").strip())
        except (ValueError, UnicodeDecodeError):
            report.fail(PSEUDONYM_KEY, "roster_bad", 1, "not hex")
    plain = _plain_roster_units(raw)
    rows: Sequence[Sequence[str]] | None = None
    if plain is not None:
        labelled, units = plain
        if key is not None and labelled:
            for number, unit in enumerate(units, start=2):
                _check_pseudonyms(key, number, unit, report)
    else:
        read = _read_roster_rows(raw, key, report)
        if read is None:
            return None
        units, rows = read
    report.units = len(units)
    try:
        return FrozenRoster(tuple(units))
    except ValueError:  # a malformed pseudonym: find the rows to name them
        if rows is None:  # plain rows: each unit has the unit_ref and owner_ref its row has
            rows = [[unit.unit_ref, unit.owner_ref] for unit in units]
        for number, row in enumerate(rows, start=2):
            if len(row) >= 2 and not (_REF.fullmatch(row[0]) and _REF.fullmatch(row[1])):
                report.fail(ROSTER, "roster_bad", number, "unit_ref and owner_ref must be 32 lowercase hex digits")
        return None


def _read_roster_rows(
    raw: bytes, key: bytes | None, report: VerifyReport
) -> tuple[list[FrozenUnit], list[list[str]]] | None:
    """Read roster.csv with csv, reporting every row that is wrong: the units and the rows after
    the header, or None when the header is wrong."""
    reader = csv.reader(io.StringIO(raw.decode("utf-8", errors="replace")))
    try:
        rows = list(reader)
    except csv.Error as exc:  # e.g. a bare carriage return inside a field: not a CSV this writer makes
        report.fail(ROSTER, "roster_bad", reader.line_num, f"not valid CSV ({exc})")
        return None
    if not rows or rows[0][:4] != _ROSTER_COLUMNS:
        report.fail(ROSTER, "roster_bad", 1, "header must start with unit_ref,owner_ref,area_m2,status")
        return None
    labelled = rows[0][4:] == _LABEL_COLUMNS
    units: list[FrozenUnit] = []
    seen: set[str] = set()
    for number, row in enumerate(rows[1:], start=2):
        try:
            if len(row) != len(rows[0]):
                raise ValueError(f"expected {len(rows[0])} columns")
            area = parse_area(row[2])
            if area <= 0:
                raise ValueError("area must be more than 0")
            status = _STATUSES[row[3]]
            if row[0] in seen:
                raise ValueError("unit appears twice")
            seen.add(row[0])
        except KeyError:
            report.fail(ROSTER, "roster_bad", number, f"unknown status {row[3]!r}")
            continue
        except ValueError as exc:
            report.fail(ROSTER, "roster_bad", number, exc)
            continue
        labels = row[4:9] if labelled else ["", "", "", "", ""]
        unit = FrozenUnit(row[0], row[1], area, status, *labels)
        if key is not None and labelled:
            _check_pseudonyms(key, number, unit, report)
        units.append(unit)
    return units, rows[1:]


def _read_public_key(
    zf: zipfile.ZipFile, given: Ed25519PublicKey | None, report: VerifyReport
) -> Ed25519PublicKey | None:
    raw = _read(zf, PUBLIC_KEY, report)
    bundled = None
    if raw is not None:
        try:
            bundled = load_public_key(raw)
        except ValueError as exc:
            report.fail(PUBLIC_KEY, "public_key_bad", detail=exc)
    if given is not None:
        report.key_from_bundle = False
        if bundled is not None and _raw(bundled) != _raw(given):
            report.fail(PUBLIC_KEY, "public_key_mismatch", detail=fingerprint(bundled))
        report.fingerprint = fingerprint(given)
        return given
    if bundled is not None:
        report.fingerprint = fingerprint(bundled)
    return bundled


@dataclass
class _TallyCheck:
    name: str
    payload: dict[str, Any]
    head_seq: int
    head_hash: str
    choices: dict[str, Choice] | None = None
    head_found: bool = False


def _read_tallies(zf: zipfile.ZipFile, key: Ed25519PublicKey | None, report: VerifyReport) -> list[_TallyCheck]:
    names = sorted(
        (n for n in zf.namelist() if n.startswith("tallies/") and n.endswith(".json")),
        key=lambda n: int(n.split("/")[1].split("-")[0]) if n.split("/")[1].split("-")[0].isdigit() else 0,
    )
    checks: list[_TallyCheck] = []
    for name in names:
        payload_bytes = _read(zf, name, report)
        sig_raw = _read(zf, name[:-5] + ".sig", report)
        if payload_bytes is None or sig_raw is None:
            continue
        try:
            signature = bytes.fromhex(sig_raw.decode("ascii").strip())
        except (ValueError, UnicodeDecodeError):
            report.fail(name[:-5] + ".sig", "tally_bad", detail="signature is not hex")
            continue
        if key is not None:
            try:
                key.verify(signature, payload_bytes)
            except InvalidSignature:
                report.fail(name, "tally_signature")
        try:
            payload = json.loads(payload_bytes)
            if not isinstance(payload, dict) or payload.get("format") != TALLY_FORMAT:
                raise ValueError(f"format is not {TALLY_FORMAT}")
            head_seq, head_hash = payload["ledger_head"]["seq"], payload["ledger_head"]["hash"]
            if type(head_seq) is not int or not isinstance(head_hash, str):
                raise ValueError("ledger_head needs an integer seq and a text hash")
            check = _TallyCheck(name, payload, head_seq, head_hash)
        except (ValueError, KeyError, TypeError) as exc:
            report.fail(name, "tally_bad", detail=exc)
            continue
        if str(payload.get("vote_id")) != report.vote_id:
            report.fail(name, "tally_vote", detail=payload.get("vote_id"))
        if check.head_seq == 0:
            check.head_found = check.head_hash == GENESIS
            check.choices = {}
        checks.append(check)
    if not checks:
        report.fail("tallies/", "no_tally")
    return checks


#: How much of the ledger is checked at a time: about 3,000 lines, at once when they can be.
_LEDGER_CHUNK = 1 << 20
#: How much of it is decompressed at a time, ahead, in a thread (see _read_ahead).
_READ_AHEAD = 8 << 20


def _read_ahead(fh: IO[bytes], digest: hashlib._Hash) -> Iterator[bytes]:
    """fh's content in large chunks, read and hashed into `digest` in a thread while the caller
    checks the chunks before: decompression, zipfile's CRC and SHA-256 release the GIL on large
    buffers, so this work runs on another core. At most two chunks wait; an exception in the
    thread (a damaged zip) is raised here. The thread has ended when this generator has."""
    chunks: queue.SimpleQueue[bytes | BaseException | None] = queue.SimpleQueue()
    free = threading.Semaphore(2)
    stop = threading.Event()

    def read() -> None:
        try:
            while free.acquire() and not stop.is_set():
                chunk = fh.read(_READ_AHEAD)
                if not chunk:
                    break
                digest.update(chunk)
                chunks.put(chunk)
            chunks.put(None)
        except BaseException as exc:  # noqa: BLE001 -- handed over to the caller, which raises it
            chunks.put(exc)

    reader = threading.Thread(target=read, name="ledger-reader", daemon=True)
    reader.start()
    try:
        while (item := chunks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            free.release()
            yield item
    finally:
        stop.set()
        free.release()  # wakes the thread if it waits for room
        reader.join()


def _iter_blocks(zf: zipfile.ZipFile, report: VerifyReport, expected_sha256: str | None) -> Iterator[bytes]:
    """The ledger in blocks of whole lines of about _LEDGER_CHUNK bytes (without the newline after
    the last line); hashes the file as it goes by and checks it against the manifest at the end."""
    digest = hashlib.sha256()
    try:
        with zf.open(LEDGER) as fh:
            rest = b""
            for chunk in _read_ahead(fh, digest):
                data = rest + chunk
                start = 0
                while start < len(data):
                    cut = data.rfind(b"\n", start, start + _LEDGER_CHUNK)
                    if cut < 0:  # a line longer than a block
                        cut = data.find(b"\n", start + _LEDGER_CHUNK)
                        if cut < 0:
                            break
                    yield data[start:cut]
                    start = cut + 1
                rest = data[start:]
            if rest:
                yield rest
    except KeyError:
        if expected_sha256 is None:
            report.fail(LEDGER, "file_missing")
        return
    except _ZIP_ERRORS as exc:
        report.fail(LEDGER, "zip_unreadable", detail=exc)
        return
    if expected_sha256 is not None and digest.hexdigest() != expected_sha256:
        report.fail(LEDGER, "file_hash")


#: A choice as one byte, and back: b"" (none, or withdrawn) is 0.
_CHOICE_CODES = [b"", *(str(c).encode() for c in Choice)]
_CHOICE_CODE = {choice: code for code, choice in enumerate(_CHOICE_CODES)}
_CHOICE_OF_CODE = dict(enumerate(Choice, start=1))
_CHOICE_OF_TEXT = {str(c).encode(): c for c in Choice}


class _Latest:
    """Each owner's latest choice so far. The roster's owners have numbers (their place in
    `owners`) and a choice code each in a list, which a block of entries sets in one call; any other
    owner_ref an entry names (only entries checked on their own can) has its choice in a dict."""

    def __init__(self, owners: list[bytes]) -> None:
        self.owners = owners  # each once
        self.number = dict(zip(owners, range(len(owners)), strict=True))
        self.codes = [0] * len(owners)
        self.others: dict[bytes, bytes] = {}

    def set_many(self, numbers: Iterable[int], codes: bytes) -> None:
        deque(map(self.codes.__setitem__, numbers, codes), maxlen=0)  # in order: the last one stays

    def set(self, owner_ref: bytes, choice: bytes | None) -> None:
        number = self.number.get(owner_ref)
        if number is None:
            self.others[owner_ref] = choice or b""
        else:
            self.codes[number] = _CHOICE_CODE[choice or b""]

    def choices(self) -> dict[str, Choice]:
        """As recount takes them: by owner_ref, withdrawn owners left out."""
        names = b"\n".join(self.owners).decode("ascii").split("\n")  # refs are hex digits
        result = {names[number]: _CHOICE_OF_CODE[code] for number, code in enumerate(self.codes) if code}
        result.update({owner.decode(): _CHOICE_OF_TEXT[choice] for owner, choice in self.others.items() if choice})
        return result


def _ref_columns(roster: FrozenRoster) -> tuple[list[bytes], list[bytes]]:
    """unit_refs and owner_refs as bytes. The refs are hex digits (FrozenRoster checks), so each
    column is joined, encoded and split again in three calls rather than encoded ref by ref."""
    if not roster.units:
        return [], []
    units, owners = ("\n".join(map(itemgetter(i), roster.units)).encode("ascii").split(b"\n") for i in (0, 1))
    return units, owners


def _pair_keys(units: Iterable[bytes], owners: Iterable[bytes]) -> Iterator[bytes]:
    """Each unit with its owner as one key, unit_ref + ":" + owner_ref (see _LedgerCheck.owner_number)."""
    return map(add, map(add, units, repeat(b":")), owners)


@dataclass(frozen=True, slots=True)
class _Piece:
    """A block of the ledger whose entries passed every check that does not depend on the entries
    before it (see _piece), with what the checks that do depend on them need."""

    first_seq: int
    count: int
    prev_hash: bytes  # the first entry's
    last_hash: bytes
    owners: Sequence[int] | None  # each entry's owner by number (see _Latest); None without a roster
    choices: bytes  # each entry's choice code (see _CHOICE_CODES)


def _piece(block: bytes, vote_id: bytes, owner_number: dict[bytes, int] | None) -> _Piece | None:
    """A block of lines as a piece of the chain, or None when a line needs checking on its own.

    A piece: every line is a well-formed entry whose hash matches and which links to the line
    before (scan_block), of this vote, numbered one after another, for a unit of the frozen roster
    and that unit's owner (`owner_number`, see _LedgerCheck; None: no roster to check against).
    """
    scanned = scan_block(block)
    if scanned is None:
        return None
    count = len(scanned.seq)
    first = int(scanned.seq[0])
    if scanned.vote_id.count(vote_id) != count or list(map(int, scanned.seq)) != list(range(first, first + count)):
        return None
    owners = None
    if owner_number is not None:
        found = list(map(owner_number.get, _pair_keys(scanned.unit_ref, scanned.owner_ref)))
        if None in found:
            return None
        owners = cast(list[int], found)
    choices = bytes(map(_CHOICE_CODE.__getitem__, scanned.choice))
    return _Piece(first, count, scanned.prev_hash, scanned.entry_hash[-1], owners, choices)


#: The start of the helper's answer for a piece: first seq, count, first prev_hash, last hash.
_PIECE_HEAD = struct.Struct("=QQ64s64s")


def _helper_main(
    blocks_in: Connection,
    pieces_out: Connection,
    parent_ends: tuple[Connection, Connection],
    vote_id: bytes,
    owner_number: dict[bytes, int],
) -> None:
    """The helper process: answers each block it is sent, in order, until b"" or until the checking
    process is gone (its ends of the pipes, copied by fork, are closed here).

    An answer is b"" (no piece) or a piece packed small: first seq, count, the first prev_hash,
    the last hash, then each entry's owner as its number (4 bytes) and its choice code (1 byte).
    Small, so that a few answers fit in the pipe: the helper goes on to the next block without
    waiting for the checking process to read them."""
    for end in parent_ends:
        end.close()
    while block := blocks_in.recv_bytes():
        piece = _piece(block, vote_id, owner_number)
        if piece is None or piece.owners is None:
            pieces_out.send_bytes(b"")
            continue
        pieces_out.send_bytes(
            _PIECE_HEAD.pack(piece.first_seq, piece.count, piece.prev_hash, piece.last_hash)
            + struct.pack(f"{piece.count}I", *piece.owners)  # as cast("I") reads them
            + piece.choices
        )


class _Helper:
    """A second process checking blocks of a large ledger (see _piece) while this one checks others:
    the checks hold the GIL, so a thread would not run them on the other core.

    The process is forked, so that it starts at once with the roster it needs and runs nothing
    but _helper_main (a spawned interpreter would import the caller's main module again), and only
    from a process with no other thread, which fork could leave holding a lock in the copy. Blocks
    are written to it by a thread here, which is the one to wait while the helper is busy. Whatever
    happens to the helper, the report is the same: a block it was sent and did not answer for is
    checked here instead (see _InOrder)."""

    #: Blocks sent and not answered for at most: one being checked, the next ones waiting.
    MAX_SENT = 3

    def __init__(self, vote_id: bytes, owner_number: dict[bytes, int]) -> None:
        context = multiprocessing.get_context("fork")
        blocks_in, self._blocks = context.Pipe(duplex=False)
        self._pieces, pieces_out = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_helper_main,
            args=(blocks_in, pieces_out, (self._blocks, self._pieces), vote_id, owner_number),
            name="renovote-verify-helper",
            daemon=True,
        )
        try:
            self._process.start()
        except BaseException:
            self._blocks.close()
            self._pieces.close()
            raise
        finally:
            blocks_in.close()
            pieces_out.close()
        self.sent = 0
        self._to_send: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send_all, name="block-sender", daemon=True)
        self._sender.start()

    @classmethod
    def start(cls, vote_id: bytes, owner_number: dict[bytes, int] | None) -> _Helper | None:
        """A helper, or None where none can be forked safely (then this process checks alone)."""
        forkable = threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
        if owner_number is None or not forkable:
            return None
        try:
            return cls(vote_id, owner_number)
        except Exception:  # noqa: BLE001 -- e.g. in a daemon process, or out of processes: check alone
            return None

    def _send_all(self) -> None:
        try:
            while block := self._to_send.get():
                self._blocks.send_bytes(block)
            self._blocks.send_bytes(b"")
        except OSError:  # the helper is gone: piece() says so
            pass
        finally:
            self._blocks.close()

    def send(self, block: bytes) -> None:
        self._to_send.put(block)
        self.sent += 1

    def has_piece(self) -> bool:
        return self._pieces.poll()

    def piece(self) -> _Piece | None:
        """The answer for the earliest block sent and not answered for (waits for it)."""
        data = self._pieces.recv_bytes()
        self.sent -= 1
        if not data:
            return None
        first_seq, count, prev_hash, last_hash = _PIECE_HEAD.unpack_from(data)
        choices_at = _PIECE_HEAD.size + 4 * count
        owners = memoryview(data)[_PIECE_HEAD.size : choices_at].cast("I")
        return _Piece(first_seq, count, prev_hash, last_hash, owners, data[choices_at:])

    def close(self) -> None:
        # Answers first: a helper still writing one (when checking stopped early) then fails, stops
        # reading blocks, and so the thread writing them stops too.
        self._pieces.close()
        self._to_send.put(b"")
        self._sender.join()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._process.close()


class _LedgerCheck:
    """The ledger's entries in order against the chain, the roster and the vote, with each owner's
    latest choice so far. Everything is bytes, as the lines hold it.

    `apply` takes many lines at once, checked by _piece, only when every check passes for every
    line (then nothing is reported); otherwise `line` checks them one by one and reports each failure."""

    def __init__(
        self,
        roster: FrozenRoster | None,
        checks: list[_TallyCheck],
        checkpoints: Sequence[tuple[int, str]],
        report: VerifyReport,
    ) -> None:
        self.report = report
        self.unit_refs, owner_refs = ([], []) if roster is None else _ref_columns(roster)
        self.latest = _Latest(list(dict.fromkeys(owner_refs)))
        #: unit_ref + ":" + owner_ref -> the owner's number, for each unit of the roster (None: no
        #: roster). The refs are hex digits and each unit is in the roster once (_read_roster refuses
        #: a unit twice), so an entry's key is there exactly when its unit is in the roster with that
        #: owner: one lookup per entry checks it and gives the number.
        self.owner_number: dict[bytes, int] | None = None
        if roster is not None:
            numbers = map(self.latest.number.__getitem__, owner_refs)
            self.owner_number = dict(zip(_pair_keys(self.unit_refs, owner_refs), numbers, strict=True))
        self.owner_refs = owner_refs
        self._owner_of: dict[bytes, bytes] | None = None
        self.by_head: dict[int, list[_TallyCheck]] = {}
        for check in checks:
            self.by_head.setdefault(check.head_seq, []).append(check)
        self.pending_checkpoints = {seq: digest.lower().encode() for seq, digest in checkpoints}
        self.found_checkpoints: set[int] = set()
        #: The sequence numbers a block must not cover: they need the state right after their entry.
        self.watched = sorted({*self.by_head, *self.pending_checkpoints})
        self.expected_seq = 1
        self.prev_hash = GENESIS.encode()
        self.vote_id = report.vote_id.encode()
        self.entries = 0

    def apply(self, piece: _Piece) -> bool:
        """Take a piece of the chain if it follows the entries so far and holds no tally head or
        checkpoint; False (nothing changed) otherwise."""
        first, end = self.expected_seq, self.expected_seq + piece.count
        watched = bisect_left(self.watched, first)
        if (
            piece.first_seq != first
            or piece.prev_hash != self.prev_hash
            or (watched < len(self.watched) and self.watched[watched] < end)
        ):
            return False
        if piece.owners is not None:  # without a roster there is no recount, nor latest choices to keep
            self.latest.set_many(piece.owners, piece.choices)
        self.entries += piece.count
        self.expected_seq, self.prev_hash = end, piece.last_hash
        return True

    def line(self, number: int, line: bytes) -> None:
        if not line:
            return
        fail = self.report.fail
        try:
            seq, prev, vote, _kind, unit_ref, owner_ref, choice, claimed, actual = scan_line(line, number)
        except LedgerFormatError as exc:
            fail(LEDGER, "ledger_bad", exc.line, exc.message)
            self.expected_seq += 1
            return
        self.entries += 1
        if actual != claimed:
            fail(LEDGER, "entry_hash", seq)
        if seq != self.expected_seq:
            fail(LEDGER, "entry_seq", seq, self.expected_seq)
        if prev != self.prev_hash:
            fail(LEDGER, "entry_link", seq)
        if vote != self.vote_id:
            fail(LEDGER, "entry_vote", seq, vote.decode(errors="replace"))
        if self.owner_number is not None:
            if self._owner_of is None:  # made on the first entry checked on its own
                self._owner_of = dict(zip(self.unit_refs, self.owner_refs, strict=True))
            unit_owner = self._owner_of.get(unit_ref)
            if unit_owner is None:
                fail(LEDGER, "entry_unit", seq)
            elif unit_owner != owner_ref:
                fail(LEDGER, "entry_owner", seq)
        self.latest.set(owner_ref, choice)
        if seq in self.by_head:
            for check in self.by_head[seq]:
                check.head_found = claimed.decode() == check.head_hash
                check.choices = self.latest.choices()
        if self.pending_checkpoints.get(seq) == claimed:
            self.found_checkpoints.add(seq)
        self.expected_seq, self.prev_hash = seq + 1, claimed


#: Ledgers of at least this many bytes (about 150,000 entries) are checked with a helper process.
_HELPER_MIN_BYTES: int | None = 48 << 20
_SENT = "sent to the helper"
#: Blocks read and not yet taken at most (their memory), when the earliest is with the helper.
_MAX_PENDING = 6


class _InOrder:
    """Takes blocks of the ledger in order: each as a piece when it is one (see _piece), made here
    or by the helper, otherwise line by line. Whatever happens to the helper, the result is the
    same: the blocks it had and did not answer for are made into pieces here."""

    def __init__(self, ledger: _LedgerCheck, helper: _Helper | None) -> None:
        self.ledger = ledger
        self.helper = helper
        self.pending: deque[tuple[bytes, _Piece | str | None]] = deque()  # in order, with their piece
        self.number = 0  # of the last line taken

    def add(self, block: bytes) -> None:
        """Send the block to the helper if it has room, or make its piece here; then take the blocks
        whose piece is known, in order (waiting for the helper when too many are pending)."""
        if self.helper is not None and block and self.helper.sent < self.helper.MAX_SENT:
            self.helper.send(block)
            self.pending.append((block, _SENT))
        else:
            self.pending.append((block, self._piece_here(block)))
        while self.pending and (
            self.pending[0][1] is not _SENT or len(self.pending) > _MAX_PENDING or self._helper_has_piece()
        ):
            self._take_first()

    def finish(self) -> None:
        while self.pending:
            self._take_first()

    def _piece_here(self, block: bytes) -> _Piece | None:
        return _piece(block, self.ledger.vote_id, self.ledger.owner_number)

    def _helper_has_piece(self) -> bool:
        return self.helper is None or self.helper.has_piece()

    def _without_helper(self) -> None:
        self.helper = None
        self.pending = deque((b, self._piece_here(b) if p is _SENT else p) for b, p in self.pending)

    def _take_first(self) -> None:
        block, piece = self.pending[0]
        if piece is _SENT:
            try:
                piece = self.helper.piece()  # type: ignore[union-attr]  # _SENT only while there is one
            except (EOFError, OSError):  # the helper is gone
                self._without_helper()
                block, piece = self.pending[0]
        self.pending.popleft()
        ledger = self.ledger
        if isinstance(piece, _Piece) and ledger.apply(piece):
            self.number += piece.count
            return
        for line in block.split(b"\n"):
            self.number += 1
            ledger.line(self.number, line)


def _check_ledger(
    zf: zipfile.ZipFile,
    ledger_sha256: str | None,
    roster: FrozenRoster | None,
    checks: list[_TallyCheck],
    checkpoints: Sequence[tuple[int, str]],
    report: VerifyReport,
    large: bool,
) -> None:
    ledger = _LedgerCheck(roster, checks, checkpoints, report)
    helper = _Helper.start(ledger.vote_id, ledger.owner_number) if large else None  # before any thread
    try:
        in_order = _InOrder(ledger, helper)
        for block in _iter_blocks(zf, report, ledger_sha256):
            in_order.add(block)
        in_order.finish()
    finally:
        if helper is not None:
            helper.close()
    report.entries = ledger.entries
    for seq, digest in checkpoints:
        if seq not in ledger.found_checkpoints:
            report.fail(LEDGER, "checkpoint", f"{seq}:{digest}")
    for check in checks:
        if not check.head_found:
            report.fail(check.name, "tally_head", detail=f"{check.head_seq}:{check.head_hash}")


def _recount(roster: FrozenRoster, checks: list[_TallyCheck], report: VerifyReport) -> None:
    for check in checks:
        payload = check.payload
        if payload.get("roster_hash") != roster.roster_hash:
            report.fail(check.name, "tally_roster")
        if check.choices is None:
            continue
        try:
            rule = rule_from_dict(payload["rule"])
            result = roster.count(
                rule, check.choices, non_voters_follow_majority=bool(payload.get("non_voters_follow_majority"))
            )
        except (VotingError, KeyError, TypeError, ValueError) as exc:
            report.fail(check.name, "tally_bad", detail=exc)
            continue
        recomputed = result.as_dict()
        stated = payload.get("counts")
        try:
            same_counts = canonical_json(recomputed) == canonical_json(stated)
        except TypeError:  # a float or another value canonical JSON refuses: not what was counted
            same_counts = False
        if not same_counts or payload.get("passed") is not result.passed:
            stated_counts = stated if isinstance(stated, dict) else {}
            differing = sorted(
                k for k in set(recomputed) | set(stated_counts) if stated_counts.get(k) != recomputed.get(k)
            )
            report.fail(
                check.name, "tally_counts", detail=", ".join(differing) or ("counts" if not same_counts else "passed")
            )
        report.tallies.append(
            {
                "file": check.name,
                "stage": payload.get("stage"),
                "passed": result.passed,
                "head_seq": check.head_seq,
                "rule": rule.name,
            }
        )


def verify_bundle(
    source: bytes | IO[bytes],
    public_key: Ed25519PublicKey | None = None,
    checkpoints: Sequence[tuple[int, str]] = (),
) -> VerifyReport:
    """Recompute everything from the bundle alone; `report.ok` or every failure with where it is.

    The cycle collector is paused meanwhile (and resumed if it ran): verification makes millions
    of short-lived tuples and no reference cycle, and each collection would walk the roster again
    (about 10% of the time on a million entries).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _verify(source, public_key, checkpoints)
    finally:
        if collecting:
            gc.enable()


def _verify(
    source: bytes | IO[bytes], public_key: Ed25519PublicKey | None, checkpoints: Sequence[tuple[int, str]]
) -> VerifyReport:
    report = VerifyReport()
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        zf = zipfile.ZipFile(stream)
    except _ZIP_ERRORS as exc:
        report.fail("bundle", "zip_unreadable", detail=exc)
        return report
    with zf:
        kept: dict[str, bytes] = {}
        manifest = _check_manifest(zf, report, kept)
        if manifest is None:
            return report
        key = _read_public_key(zf, public_key, report)
        roster = _read_roster(zf, report, kept)
        checks = _read_tallies(zf, key, report)
        _check_ledger(zf, manifest["files"].get(LEDGER), roster, checks, checkpoints, report, _large_ledger(zf))
        if roster is not None:
            _recount(roster, checks, report)
    return report


def _large_ledger(zf: zipfile.ZipFile) -> bool:
    """Whether the ledger is large enough for a helper process to pay (by the size the zip states:
    a wrong size costs time, never a check)."""
    try:
        size = zf.getinfo(LEDGER).file_size
    except KeyError:
        return False
    return _HELPER_MIN_BYTES is not None and size >= _HELPER_MIN_BYTES


def find_receipt(source: bytes | IO[bytes], receipt: str) -> LedgerEntry | None:
    """The entry of a bundle whose receipt code is `receipt` (as a resident types it), if any.

    A lookup, not a verification: lines that are not well-formed entries are skipped (verify_bundle
    reports them), and the receipt is that of the entry's recomputed hash. An archive that cannot be
    read raises zipfile's own errors (zipfile.BadZipFile, KeyError when there is no ledger.jsonl).
    """
    wanted = normalize_receipt(receipt)
    if not wanted:
        return None
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    with zipfile.ZipFile(stream) as zf, zf.open(LEDGER) as fh:
        for number, line in enumerate(fh, start=1):
            try:
                entry, _claimed = parse_entry_line(line, number)
            except LedgerFormatError:
                continue
            if entry.receipt == wanted:
                return entry
    return None
