"""The `renovote` command. Exit codes: 0 done (a motion that fails is still a result), 2 bad input."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from bot.cli_audit import CommandError, key_error_text
from bot.cli_audit import add_commands as add_audit_commands
from bot.cli_bot import add_commands as add_bot_commands
from bot.config import Config, ConfigError, load_config
from bot.i18n import Translator, locale_from_env, translator
from bot.keys import KeyFileError
from bot.render import describe_input_error, describe_rule_error, render_tally
from voting.errors import InputFileError, RuleError
from voting.files import read_ballots, read_roster
from voting.rules import PRESETS, Rule, parse_rule_toml, preset
from voting.tally import latest_choices, tally

__all__ = ["main"]

EXIT_BAD_INPUT = 2


class BadInputError(Exception):
    """Input the user must fix; carries the text to show them."""


def _read_bytes(_: Translator, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise BadInputError(_("{file}: no such file. Check the path.").format(file=path)) from None
    except IsADirectoryError:
        raise BadInputError(_("{file}: is a folder, not a file.").format(file=path)) from None
    except OSError as exc:
        raise BadInputError(_("{file}: cannot be read ({error}).").format(file=path, error=exc.strerror)) from None


def load_rule(_: Translator, name_or_path: str) -> Rule:
    """A preset by name, or a custom rule from a TOML file."""
    if name_or_path in PRESETS:
        return preset(name_or_path)
    if not name_or_path.endswith(".toml") and not Path(name_or_path).exists():
        return preset(name_or_path)  # raises RuleError naming the presets
    data = _read_bytes(_, name_or_path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInputError(_("{file}: a rule file must be UTF-8 text.").format(file=name_or_path)) from None
    return parse_rule_toml(text, source=name_or_path)


def _cmd_tally(_: Translator, args: argparse.Namespace, config: Config) -> int:
    del config
    rule = load_rule(_, args.rule)
    # Parsing makes millions of objects and no reference cycles: pausing the cycle collector
    # meanwhile saves it from walking them again and again (about 1.7 s on a million units).
    collecting = gc.isenabled()
    gc.disable()
    try:
        roster = read_roster(_read_bytes(_, args.roster), args.roster)
        ballots = read_ballots(_read_bytes(_, args.ballots), args.ballots, roster)
    finally:
        if collecting:
            gc.enable()
    result = tally(
        roster, rule, latest_choices(roster, ballots), non_voters_follow_majority=args.non_voters_follow_majority
    )
    if args.json:
        sys.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(render_tally(_, result) + "\n")
    return 0


def _cmd_demo(_: Translator, args: argparse.Namespace, config: Config) -> int:
    """A whole vote on a fresh temporary database: import, open, cast, close, sign, export, verify."""
    from bot.demo import run_demo

    del config
    return run_demo(_, Path(args.out) / "demo-bundle.zip", datetime.now(UTC))


def _config(_: Translator, args: argparse.Namespace) -> Config:
    try:
        return load_config(Path(args.config) if args.config else None)
    except ConfigError as exc:
        raise BadInputError(_(exc.template).format(**exc.params)) from None


def _cmd_db_upgrade(_: Translator, args: argparse.Namespace, config: Config) -> int:
    from storage.migrate import upgrade

    upgrade(config.database.url)
    sys.stdout.write(_("Database is up to date: {url}").format(url=_safe_url(config.database.url)) + "\n")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser(_: Translator) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="renovote", description=_("Resident consultations and owner votes for old-community renovation.")
    )
    parser.add_argument("--lang", choices=["zh_CN", "en"], help=_("language of the output (default: from LANG)"))
    parser.add_argument("--config", metavar="PATH", help=_("configuration file (default: ./config.toml if present)"))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("tally", help=_("count a vote from a roster file and a ballots file"))
    p.add_argument("--roster", required=True, help=_("roster: CSV (UTF-8 or GBK) or .xlsx"))
    p.add_argument("--ballots", required=True, help=_("ballots: unit_id, choice; in the order cast"))
    p.add_argument(
        "--rule", required=True, help=_("{presets}, or the path of a rule TOML file").format(presets=", ".join(PRESETS))
    )
    p.add_argument("--json", action="store_true", help=_("print one JSON object"))
    p.add_argument(
        "--non-voters-follow-majority",
        action="store_true",
        help=_("also show the count with non-voters following the majority (a local rule; off by default)"),
    )
    p.set_defaults(handler=_cmd_tally)
    d = sub.add_parser("demo", help=_("run a whole vote on a temporary database and verify its signed bundle"))
    d.add_argument("--out", default="var", help=_("folder for the demo bundle (default: var)"))
    d.set_defaults(handler=_cmd_demo)
    add_audit_commands(sub, _)
    add_bot_commands(sub, _)
    db = sub.add_parser("db", help=_("database maintenance"))
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = db_sub.add_parser("upgrade", help=_("apply the database migrations"))
    up.set_defaults(handler=_cmd_db_upgrade, needs_config=True)
    return parser


def _fail(message: str) -> NoReturn:
    sys.stderr.write(message + "\n")
    raise SystemExit(EXIT_BAD_INPUT)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    lang = locale_from_env()
    if "--lang" in argv[:-1]:
        lang = argv[argv.index("--lang") + 1]
    _ = translator(lang)
    args = build_parser(_).parse_args(argv)
    try:
        config = _config(_, args) if getattr(args, "needs_config", False) else Config()
        code = args.handler(_, args, config)
    except (BadInputError, CommandError) as exc:
        _fail(str(exc))
    except InputFileError as exc:
        _fail(describe_input_error(_, exc))
    except RuleError as exc:
        _fail(describe_rule_error(_, exc))
    except KeyFileError as exc:
        _fail(key_error_text(_, exc))
    raise SystemExit(code)
