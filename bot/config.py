"""Configuration: `config.toml` (every key documented in config.example.toml), secrets from the environment.

A missing file means embedded defaults (SQLite under ./var). A malformed file or value raises
ConfigError naming the key and what to put there.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storage.defaults import DEFAULT_URL
from voting.errors import N_
from voting.schedule import parse_hhmm

__all__ = [
    "AuditConfig",
    "Config",
    "ConfigError",
    "DatabaseConfig",
    "GeneralConfig",
    "SandboxConfig",
    "TelegramConfig",
    "load_config",
]


class ConfigError(Exception):
    """A config problem; `template` is a gettext msgid, `params` fill it."""

    def __init__(self, template: str, **params: Any) -> None:
        self.template = template
        self.params = params
        super().__init__(template.format(**params))


@dataclass(frozen=True)
class GeneralConfig:
    default_locale: str = "zh_CN"
    timezone: str = "Asia/Shanghai"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = DEFAULT_URL


@dataclass(frozen=True)
class AuditConfig:
    private_key_path: Path = Path("var/tally-signing-key.pem")


@dataclass(frozen=True)
class TelegramConfig:
    token: str = ""  # empty: no bot configured (make run starts the sandbox instead)
    api_base: str = "https://api.telegram.org"
    mode: str = "polling"  # or "webhook"
    webhook_url: str = ""  # the public https URL Telegram posts to (path /telegram/webhook is appended)
    webhook_secret: str = ""
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8081


@dataclass(frozen=True)
class SandboxConfig:
    host: str = "127.0.0.1"
    port: int = 8080


@dataclass(frozen=True)
class AdminConfig:
    telegram_ids: tuple[int, ...] = ()  # who may create communities and grant worker / auditor roles


@dataclass(frozen=True)
class VotingConfig:
    objection_working_days: int = 5  # Hangzhou's public notice: at least 5 working days
    checkpoint_time: str = "09:00"  # local time of the daily ledger-head checkpoint in the group


@dataclass(frozen=True)
class Config:
    general: GeneralConfig = field(default_factory=GeneralConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    source: Path | None = None
    admin: AdminConfig = field(default_factory=AdminConfig)
    voting: VotingConfig = field(default_factory=VotingConfig)


_SECTIONS: Mapping[str, set[str]] = {
    "general": {"default_locale", "timezone"},
    "database": {"url"},
    "audit": {"private_key_path"},
    "telegram": {"token", "api_base", "mode", "webhook_url", "webhook_secret", "webhook_host", "webhook_port"},
    "sandbox": {"host", "port"},
    "admin": {"telegram_ids"},
    "voting": {"objection_working_days", "checkpoint_time"},
}

ENV_DATABASE_URL = "RENOVOTE_DATABASE_URL"
ENV_AUDIT_KEY = "RENOVOTE_AUDIT_KEY_PATH"
ENV_TOKEN = "RENOVOTE_TELEGRAM_TOKEN"
ENV_WEBHOOK_SECRET = "RENOVOTE_WEBHOOK_SECRET"


def _port(section: Mapping[str, Any], name: str, key: str, default: int) -> int:
    value = section.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(N_("{key}: expected a port number from 1 to 65535, got {value!r}"), key=key, value=value)
    return value


def _telegram(raw: Mapping[str, Any], env: Mapping[str, str]) -> TelegramConfig:
    token = env.get(ENV_TOKEN) or raw.get("token", "")
    if not isinstance(token, str):
        raise ConfigError(
            N_('{key}: expected the token from @BotFather in quotes, like "123456:ABC..."'), key="telegram.token"
        )
    token = token.strip()
    if token and (":" not in token or not token.split(":", 1)[0].isdigit()):
        raise ConfigError(
            N_('{key}: this does not look like a bot token; copy it from @BotFather, like "123456:ABC-DEF..."'),
            key="telegram.token",
        )
    api_base = _string(raw, "api_base", "telegram.api_base", TelegramConfig.api_base)
    if not api_base.startswith(("http://", "https://")):
        raise ConfigError(N_('{key}: expected a URL such as "https://api.telegram.org"'), key="telegram.api_base")
    mode = _string(raw, "mode", "telegram.mode", "polling")
    if mode not in ("polling", "webhook"):
        raise ConfigError(N_('{key}: use "polling" or "webhook"'), key="telegram.mode")
    webhook_url = str(raw.get("webhook_url", "")).strip()
    secret = env.get(ENV_WEBHOOK_SECRET) or str(raw.get("webhook_secret", "")).strip()
    if mode == "webhook":
        if not webhook_url.startswith(("https://", "http://")):
            raise ConfigError(
                N_('{key}: webhook mode needs the public URL Telegram posts to, like "https://bot.example.org"'),
                key="telegram.webhook_url",
            )
        if not 16 <= len(secret) <= 256 or not all(c.isalnum() or c in "_-" for c in secret):
            raise ConfigError(
                N_("{key}: webhook mode needs a secret of 16-256 letters, digits, _ or - (or set {env})"),
                key="telegram.webhook_secret",
                env=ENV_WEBHOOK_SECRET,
            )
    return TelegramConfig(
        token=token,
        api_base=api_base,
        mode=mode,
        webhook_url=webhook_url,
        webhook_secret=secret,
        webhook_host=_string(raw, "webhook_host", "telegram.webhook_host", "127.0.0.1"),
        webhook_port=_port(raw, "webhook_port", "telegram.webhook_port", 8081),
    )


def _string(section: Mapping[str, Any], name: str, key: str, default: str) -> str:
    value = section.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(N_("{key}: expected a non-empty text in quotes, got {value!r}"), key=key, value=value)
    return value.strip()


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read `path` (default ./config.toml if it exists), validate it, apply environment overrides."""
    env = os.environ if environ is None else environ
    if path is None:
        candidate = Path("config.toml")
        path = candidate if candidate.exists() else None
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(N_("{key}: no such file; copy config.example.toml to start one"), key=str(path)) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(N_("{key}: not valid TOML ({error})"), key=str(path), error=str(exc)) from None
    for name, value in data.items():
        if name not in _SECTIONS:
            raise ConfigError(
                N_("[{key}]: unknown section; known sections: {known}"), key=name, known=", ".join(_SECTIONS)
            )
        if not isinstance(value, dict):
            raise ConfigError(N_("{key}: expected a [section] table"), key=name)
        for key in value:
            if key not in _SECTIONS[name]:
                raise ConfigError(
                    N_("{key}: unknown key; known keys: {known}"),
                    key=f"{name}.{key}",
                    known=", ".join(sorted(_SECTIONS[name])),
                )
    general_raw, db_raw, audit_raw, telegram_raw, sandbox_raw = (
        data.get(s, {}) for s in ("general", "database", "audit", "telegram", "sandbox")
    )
    general = GeneralConfig(
        default_locale=_string(general_raw, "default_locale", "general.default_locale", "zh_CN"),
        timezone=_string(general_raw, "timezone", "general.timezone", "Asia/Shanghai"),
    )
    if general.default_locale not in ("zh_CN", "en"):
        raise ConfigError(N_('{key}: use "zh_CN" or "en"'), key="general.default_locale")
    try:
        general.tz  # noqa: B018 - validates the zone name now rather than at the first message
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            N_('{key}: unknown time zone {value!r}; use a name such as "Asia/Shanghai"'),
            key="general.timezone",
            value=general.timezone,
        ) from None
    url = env.get(ENV_DATABASE_URL) or _string(db_raw, "url", "database.url", DEFAULT_URL)
    if not url.startswith(("sqlite+aiosqlite:///", "postgresql+asyncpg://")):
        raise ConfigError(
            N_('{key}: use "sqlite+aiosqlite:///path/file.sqlite3" or "postgresql+asyncpg://user@host:5432/db"'),
            key="database.url",
        )
    key_path = env.get(ENV_AUDIT_KEY) or _string(
        audit_raw, "private_key_path", "audit.private_key_path", str(AuditConfig.private_key_path)
    )
    sandbox = SandboxConfig(
        host=_string(sandbox_raw, "host", "sandbox.host", "127.0.0.1"),
        port=_port(sandbox_raw, "port", "sandbox.port", 8080),
    )
    return Config(
        general,
        DatabaseConfig(url),
        AuditConfig(Path(key_path)),
        _telegram(telegram_raw, env),
        sandbox,
        path,
        _admin(data.get("admin", {})),
        _voting(data.get("voting", {})),
    )


def _admin(raw: Mapping[str, Any]) -> AdminConfig:
    ids = raw.get("telegram_ids", [])
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids):
        raise ConfigError(
            N_("{key}: expected a list of Telegram user ids, like [123456789]; a user sees theirs with /whoami"),
            key="admin.telegram_ids",
        )
    return AdminConfig(tuple(ids))


def _voting(raw: Mapping[str, Any]) -> VotingConfig:
    days = raw.get("objection_working_days", VotingConfig.objection_working_days)
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 60:
        raise ConfigError(
            N_("{key}: expected a number of working days from 0 to 60"), key="voting.objection_working_days"
        )
    checkpoint = _string(raw, "checkpoint_time", "voting.checkpoint_time", VotingConfig.checkpoint_time)
    try:
        checkpoint = parse_hhmm(checkpoint)
    except ValueError:
        raise ConfigError(
            N_('{key}: expected a local time of day like "09:00"'), key="voting.checkpoint_time"
        ) from None
    return VotingConfig(days, checkpoint)
