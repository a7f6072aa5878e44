"""config.toml: defaults without a file, secrets from the environment, and a message naming the key on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_file_means_embedded_defaults_and_no_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, environ={})
    assert config.telegram.token == "" and config.telegram.mode == "polling"
    assert config.database.url.startswith("sqlite+aiosqlite:///")
    assert config.sandbox.port == 8080


def test_the_example_config_loads_as_it_is_shipped() -> None:
    config = load_config(Path(__file__).parents[2] / "config.example.toml", environ={})
    assert config.telegram.api_base == "https://api.telegram.org"


def test_the_token_and_webhook_secret_may_come_from_the_environment(tmp_path: Path) -> None:
    path = _write(tmp_path, '[telegram]\nmode = "webhook"\nwebhook_url = "https://bot.example.org"\n')
    config = load_config(
        path, environ={"RENOVOTE_TELEGRAM_TOKEN": "123456:ABC-def", "RENOVOTE_WEBHOOK_SECRET": "s" * 32}
    )
    assert config.telegram.token == "123456:ABC-def" and config.telegram.webhook_secret == "s" * 32


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[telegram]\ntoken = "not a token"\n', "telegram.token"),
        ("[telegram]\ntoken = 12\n", "telegram.token"),
        ('[telegram]\nmode = "push"\n', "telegram.mode"),
        ('[telegram]\napi_base = "api.telegram.org"\n', "telegram.api_base"),
        ('[telegram]\nmode = "webhook"\nwebhook_secret = "abcdefghijklmnopq"\n', "telegram.webhook_url"),
        (
            '[telegram]\nmode = "webhook"\nwebhook_url = "https://x.org"\nwebhook_secret = "short"\n',
            "telegram.webhook_secret",
        ),
        ("[telegram]\nwebhook_port = 70000\n", "telegram.webhook_port"),
        ('[telegram]\ntokn = "1:a"\n', "telegram.tokn"),
        ('[sandbox]\nport = "eighty"\n', "sandbox.port"),
    ],
)
def test_a_bad_value_names_its_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, text), environ={})
    assert caught.value.params["key"] == key
