"""`renovote keys …` and `renovote audit …`: the signing key, exporting and verifying audit bundles."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import Config
from bot.i18n import Translator
from bot.keys import KeyFileError, write_new_signing_key
from voting.errors import NotFoundError, VoteStateError

if TYPE_CHECKING:
    from storage.uow import UnitOfWorkFactory

# The database, crypto and audit modules are imported inside the commands that use them: `renovote
# tally` must not pay a second of start-up for them.

__all__ = ["add_commands", "key_error_text", "write_bundle_file"]

EXIT_FAILED_VERIFICATION = 1


class CommandError(Exception):
    """A message for the user; the command exits 2."""


def key_error_text(_: Translator, exc: KeyFileError) -> str:
    texts = {
        "exists": _("{path}: a key already exists. Keep it (votes were signed with it) or pass --force to replace it."),
        "missing": _("{path}: no signing key. Create one with `renovote keys generate`."),
        "unreadable": _("{path}: the signing key cannot be read ({detail})."),
        "invalid": _("{path}: this is not an Ed25519 private key in PEM ({detail})."),
    }
    return texts[exc.reason].format(path=exc.path, detail=exc.detail)


def _cmd_keys_generate(_: Translator, args: argparse.Namespace, config: Config) -> int:
    from cryptography.hazmat.primitives import serialization

    from voting.audit import fingerprint, public_key_pem

    path = Path(args.path) if args.path else config.audit.private_key_path
    key = write_new_signing_key(path, force=args.force)
    public = key.public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    out = [
        _("Private key written to {path} (mode 0600). Keep it secret and back it up.").format(path=path),
        _("Public key (publish it; auditors pass it to `renovote audit verify --public-key`):"),
        public_key_pem(public).decode("ascii").rstrip(),
        _("Raw: {hex}").format(hex=raw.hex()),
        _("Fingerprint: {fingerprint}").format(fingerprint=fingerprint(public)),
    ]
    sys.stdout.write("\n".join(out) + "\n")
    return 0


async def write_bundle_file(
    uow: UnitOfWorkFactory, vote_id: int, out: Path, *, pseudonymise: bool = False
) -> dict[str, Any]:
    """Export a closed vote's bundle to `out` with its bilingual summary; the file appears whole or not at all."""
    from bot.render import render_bundle_summary
    from voting import services
    from voting.audit import fingerprint, load_public_key

    vote, result = await services.current_tally(uow(), vote_id)
    async with uow() as u:
        stored = await u.tallies.of_vote(vote_id)
    if not stored:
        raise VoteStateError(vote_id, str(vote.status), "export before the vote is closed")
    summary = render_bundle_summary(
        vote.title,
        result,
        roster_hash=vote.roster_hash or "",
        head_seq=vote.head_seq,
        head_hash=vote.head_hash,
        fingerprint=fingerprint(load_public_key(stored[-1].public_key.hex().encode("ascii"))),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    try:
        with tmp.open("wb") as fh:
            manifest = await services.export_bundle(uow(), vote_id, fh, summary=summary, pseudonymise=pseudonymise)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return manifest


async def _export(config: Config, vote_id: int, out: Path, pseudonymise: bool) -> dict[str, Any]:
    from storage.db import make_engine
    from storage.uow import UnitOfWorkFactory

    engine = make_engine(config.database.url)
    try:
        return await write_bundle_file(UnitOfWorkFactory(engine), vote_id, out, pseudonymise=pseudonymise)
    finally:
        await engine.dispose()


def _cmd_audit_export(_: Translator, args: argparse.Namespace, config: Config) -> int:
    out = Path(args.out)
    try:
        manifest = asyncio.run(_export(config, args.vote, out, args.pseudonymise))
    except NotFoundError:
        raise CommandError(_("There is no vote {vote}.").format(vote=args.vote)) from None
    except VoteStateError:
        raise CommandError(
            _("Vote {vote} is not closed yet: a bundle holds a signed tally, which exists only after closing.").format(
                vote=args.vote
            )
        ) from None
    sys.stdout.write(
        _("Bundle written to {path}: {files} files, signing key {fingerprint}.").format(
            path=out, files=len(manifest["files"]) + 1, fingerprint=manifest["public_key_fingerprint"]
        )
        + "\n"
    )
    return 0


def _parse_checkpoint(_: Translator, text: str) -> tuple[int, str]:
    seq, sep, digest = text.partition(":")
    if not sep or not seq.isdigit() or len(digest) != 64:
        raise CommandError(_("--checkpoint {value}: write SEQ:HASH, e.g. 120:3f1a… (64 hex digits)").format(value=text))
    return int(seq), digest.lower()


def _cmd_audit_verify(_: Translator, args: argparse.Namespace, config: Config) -> int:
    from bot.render import describe_verify_report
    from voting.audit import load_public_key, verify_bundle

    del config
    key = None
    if args.public_key:
        try:
            key = load_public_key(Path(args.public_key).read_bytes())
        except OSError as exc:
            raise CommandError(
                _("{path}: cannot be read ({error}).").format(path=args.public_key, error=exc.strerror)
            ) from None
        except ValueError as exc:
            raise CommandError(
                _("{path}: not an Ed25519 public key ({error}).").format(path=args.public_key, error=exc)
            ) from None
    checkpoints = [_parse_checkpoint(_, c) for c in args.checkpoint or []]
    try:
        with Path(args.bundle).open("rb") as fh:
            report = verify_bundle(fh, key, checkpoints)
    except OSError as exc:
        raise CommandError(
            _("{path}: cannot be read ({error}).").format(path=args.bundle, error=exc.strerror)
        ) from None
    sys.stdout.write(describe_verify_report(_, report) + "\n")
    return 0 if report.ok else EXIT_FAILED_VERIFICATION


def add_commands(sub: Any, _: Translator) -> None:
    keys = sub.add_parser("keys", help=_("the Ed25519 key that signs tallies"))
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    gen = keys_sub.add_parser("generate", help=_("create the signing key (mode 0600) and print the public key"))
    gen.add_argument("--path", help=_("where to write it (default: audit.private_key_path from the config)"))
    gen.add_argument("--force", action="store_true", help=_("replace an existing key"))
    gen.set_defaults(handler=_cmd_keys_generate, needs_config=True)

    audit = sub.add_parser("audit", help=_("export and verify audit bundles"))
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    export = audit_sub.add_parser("export", help=_("write the signed bundle of a closed vote"))
    export.add_argument("vote", type=int, help=_("the vote's number"))
    export.add_argument("--out", required=True, help=_("the .zip file to write"))
    export.add_argument(
        "--pseudonymise",
        action="store_true",
        help=_("leave out unit labels and owners, for public posting (receipts still findable)"),
    )
    export.set_defaults(handler=_cmd_audit_export, needs_config=True)
    verify = audit_sub.add_parser("verify", help=_("check a bundle offline: chain, roster, recount, signatures"))
    verify.add_argument("bundle", help=_("the bundle .zip"))
    verify.add_argument("--public-key", help=_("the published public key (PEM or 64 hex digits)"))
    verify.add_argument(
        "--checkpoint",
        action="append",
        metavar="SEQ:HASH",
        help=_("a ledger head published while voting was open; may be repeated"),
    )
    verify.set_defaults(handler=_cmd_audit_verify, needs_config=False)
