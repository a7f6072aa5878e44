"""Which PostgreSQL the storage suite uses: the override, else the local server when it answers."""

from __future__ import annotations

import pytest

from tests.integration import conftest


def test_without_the_variable_and_no_server_the_postgresql_tests_skip_and_say_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(conftest.PG_ENV, raising=False)
    monkeypatch.setattr(conftest, "PG_DEFAULT", "postgresql+asyncpg://postgres@127.0.0.1:1/test")
    with pytest.raises(pytest.skip.Exception, match=r"TEST_DATABASE_URL is not set and .*:1/test does not answer"):
        conftest.postgresql_base()


def test_the_variable_overrides_the_local_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(conftest.PG_ENV, "postgresql+asyncpg://someone@db.example:6543/x")
    assert conftest.postgresql_base() == "postgresql+asyncpg://someone@db.example:6543/x"
