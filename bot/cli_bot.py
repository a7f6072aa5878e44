"""`renovote run` (the bot, from config.toml) and `renovote sandbox` (everything local, no Telegram needed)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from bot.config import ENV_TOKEN, Config
from bot.i18n import Translator

__all__ = ["add_commands"]

log = logging.getLogger(__name__)


class NoTokenError(Exception):
    pass


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _cmd_run(_: Translator, args: argparse.Namespace, config: Config) -> int:
    if not config.telegram.token:
        if args.sandbox_without_token:
            sys.stdout.write(_("No Telegram token is configured: starting the local sandbox.") + "\n")
            return _cmd_sandbox(_, args, config)
        from bot.cli import BadInputError

        raise BadInputError(
            _(
                "telegram.token is empty. Put the token from @BotFather in config.toml under [telegram] "
                "(see config.example.toml) or set {env}. To try renovote without Telegram, run `renovote sandbox`."
            ).format(env=ENV_TOKEN)
        )
    from storage.migrate import upgrade

    upgrade(config.database.url)
    _logging()
    asyncio.run(_serve(config))
    return 0


async def _serve(config: Config) -> None:
    from bot.app import build_bot, build_context, build_dispatcher, start_polling, start_webhook
    from storage.db import make_engine
    from storage.uow import UnitOfWorkFactory

    engine = make_engine(config.database.url)
    key = _signing_key(config.audit.private_key_path)
    ctx = build_context(
        UnitOfWorkFactory(engine),
        tz_name=config.general.timezone,
        default_locale=config.general.default_locale,
        signing_key=lambda: key,
        admins=frozenset(config.admin.telegram_ids),
        objection_days=config.voting.objection_working_days,
        checkpoint_time=config.voting.checkpoint_time,
    )
    tg = config.telegram
    bot = build_bot(tg.token, tg.api_base, ctx)
    dp = build_dispatcher(ctx)
    if tg.mode == "webhook":
        running = await start_webhook(
            bot, dp, public_url=tg.webhook_url, secret=tg.webhook_secret, host=tg.webhook_host, port=tg.webhook_port
        )
        log.info("webhook mode: listening on %s:%s", tg.webhook_host, tg.webhook_port)
    else:
        running = await start_polling(bot, dp)
        log.info("long polling %s", tg.api_base)
    ctx.bot_username = (await bot.get_me()).username or ""
    await running.start_jobs(ctx)
    try:
        await _until_stopped()
    finally:
        await running.stop()
        await engine.dispose()


def _signing_key(path: Path) -> Any:
    """The tally-signing key; made (and its public key logged) on the first start if there is none."""
    from bot.keys import load_signing_key, write_new_signing_key

    if not path.exists():
        write_new_signing_key(path)
        log.warning("no tally-signing key at %s: a new one was made; publish its public key (renovote keys show)", path)
    return load_signing_key(path)


def _cmd_sandbox(_: Translator, args: argparse.Namespace, config: Config) -> int:
    from storage.migrate import upgrade

    path = Path(args.db)
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):  # a fresh demo every start
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    _logging()
    asyncio.run(_sandbox(_, url, args, config))
    return 0


async def _sandbox(_: Translator, url: str, args: argparse.Namespace, config: Config) -> None:
    from bot.sandbox.run import start_sandbox

    host = args.host or config.sandbox.host
    port = args.port if args.port is not None else config.sandbox.port
    sandbox = await start_sandbox(
        url,
        host=host,
        port=port,
        mode="webhook" if args.webhook else "polling",
        tz_name=config.general.timezone,
        default_locale=config.general.default_locale,
    )
    first = sandbox.demo.residents[0]
    lines = [
        "",
        _("renovote sandbox is running: open {url}").format(url=sandbox.url),
        _("Try first: pick “{user}” on the left, type the invite code {code}, then tap 🗳 Votes and vote.").format(
            user=first.label, code=first.hint
        ),
        _("Also there: a resident with two homes, an English-speaking resident, the developer's representative,"),
        _(
            "a community worker (👥 Bindings) and an auditor. The demo database is {db}; it is fresh at every start."
        ).format(db=args.db),
        _("Stop with Ctrl+C."),
        "",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    try:
        await _until_stopped()
    finally:
        await sandbox.close()


def add_commands(sub: Any, _: Translator) -> None:
    r = sub.add_parser("run", help=_("run the Telegram bot from config.toml (polling or webhook)"))
    r.add_argument(
        "--sandbox-without-token",
        action="store_true",
        help=_("start the local sandbox when no token is configured (what `make run` does)"),
    )
    _sandbox_arguments(r, _)
    r.set_defaults(handler=_cmd_run, needs_config=True)
    s = sub.add_parser("sandbox", help=_("run the bot against a local Bot API server with a web chat and a demo"))
    _sandbox_arguments(s, _)
    s.set_defaults(handler=_cmd_sandbox, needs_config=True)


def _sandbox_arguments(p: argparse.ArgumentParser, _: Translator) -> None:
    p.add_argument("--host", help=_("address of the web chat (default: sandbox.host, 127.0.0.1)"))
    p.add_argument("--port", type=int, help=_("port of the web chat (default: sandbox.port, 8080; 0 picks a free one)"))
    p.add_argument("--webhook", action="store_true", help=_("the sandbox delivers updates by webhook, not polling"))
    p.add_argument("--db", default="var/sandbox.sqlite3", help=_("demo database file (recreated at every start)"))
