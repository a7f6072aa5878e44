"""`renovote keys generate`, `renovote demo`, `renovote audit export|verify` as an auditor runs them."""

from __future__ import annotations

import asyncio
import io
import stat
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from storage.db import make_engine
from storage.migrate import upgrade
from storage.uow import UnitOfWorkFactory
from tests.factories import roster_a
from voting import services
from voting.audit import load_private_key
from voting.model import Choice, Scope
from voting.rules import preset
from voting.votes import Vote

T0 = datetime(2026, 11, 23, tzinfo=UTC)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(["--lang", "en", *argv])
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


def test_keys_generate_writes_a_0600_key_and_refuses_to_overwrite_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys" / "signing.pem"
    code, out, _err = _run(capsys, "keys", "generate", "--path", str(path))
    assert code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "Fingerprint:" in out and "BEGIN PUBLIC KEY" in out
    load_private_key(path.read_bytes())
    before = path.read_bytes()
    code, _out, err = _run(capsys, "keys", "generate", "--path", str(path))
    assert code == 2 and "--force" in err
    assert path.read_bytes() == before


def _closed_vote(db: str, key_path: Path) -> None:
    upgrade(db)

    async def build() -> None:
        engine = make_engine(db)
        uow = UnitOfWorkFactory(engine)
        community = await services.create_community(uow(), "c", T0)
        await services.import_roster(uow(), community, roster_a(), "r.csv", b"", "worker:1", T0)
        vote_id = await services.create_vote(
            uow(), Vote(community, "t", "x", preset("double-two-thirds"), Scope(), T0, T0 + timedelta(days=1)), T0
        )
        await services.open_vote(uow(), vote_id, T0, b"s" * 32)
        await services.cast_ballot(uow(), vote_id, "101", Choice.AGREE, actor="account:1", now=T0)
        await services.close_vote(uow(), vote_id, T0 + timedelta(days=1), load_private_key(key_path.read_bytes()))
        await engine.dispose()

    asyncio.run(build())


def test_export_then_verify_passes_and_a_tampered_copy_fails_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_path = tmp_path / "k.pem"
    _run(capsys, "keys", "generate", "--path", str(key_path))
    db = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{db}"\n[audit]\nprivate_key_path = "{key_path}"\n', encoding="utf-8")
    _closed_vote(db, key_path)
    bundle = tmp_path / "bundle.zip"
    code, out, err = _run(capsys, "--config", str(config), "audit", "export", "1", "--out", str(bundle))
    assert code == 0, err
    assert "Bundle written" in out
    public = tmp_path / "public.pem"
    public.write_bytes(
        load_private_key(key_path.read_bytes())
        .public_key()
        .public_bytes(
            __import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.PEM,
            __import__(
                "cryptography.hazmat.primitives.serialization", fromlist=["PublicFormat"]
            ).PublicFormat.SubjectPublicKeyInfo,
        )
    )
    code, out, _err = _run(capsys, "audit", "verify", str(bundle), "--public-key", str(public))
    assert code == 0 and out.startswith("PASS")

    with zipfile.ZipFile(bundle) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["ledger.jsonl"] = members["ledger.jsonl"].replace(b'"agree"', b'"disagree"')
    forged = tmp_path / "forged.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    forged.write_bytes(buffer.getvalue())
    code, out, _err = _run(capsys, "audit", "verify", str(forged), "--public-key", str(public))
    assert code == 1
    assert out.startswith("FAIL")
    assert "ledger.jsonl" in out

    code, _out, err = _run(capsys, "audit", "verify", str(bundle), "--checkpoint", "3-abc")
    assert code == 2 and "SEQ:HASH" in err


def test_exporting_an_open_or_unknown_vote_says_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{db}"\n', encoding="utf-8")
    upgrade(db)
    code, _out, err = _run(capsys, "--config", str(config), "audit", "export", "9", "--out", str(tmp_path / "b.zip"))
    assert code == 2 and "no vote 9" in err
    assert not (tmp_path / "b.zip").exists()


def test_a_malformed_config_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[database]\nurl = "mysql://x"\n', encoding="utf-8")
    code, _out, err = _run(capsys, "--config", str(config), "db", "upgrade")
    assert code == 2 and "database.url" in err


def test_demo_runs_a_whole_vote_and_verifies_its_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = _run(capsys, "demo", "--out", str(tmp_path))
    assert code == 0
    assert "PASS" in out
    assert (tmp_path / "demo-bundle.zip").exists()
