"""`renovote demo`: a whole vote on a fresh temporary database, signed, exported and verified."""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from bot.cli_audit import write_bundle_file
from bot.i18n import Translator
from bot.render import describe_verify_report, render_tally
from storage.db import make_engine
from storage.migrate import upgrade
from storage.uow import UnitOfWorkFactory
from voting import services
from voting.audit import fingerprint, generate_private_key, verify_bundle
from voting.files import read_roster
from voting.ledger import EntryKind
from voting.model import Choice, Scope, UnitStatus, format_area
from voting.rules import preset
from voting.votes import Vote

EXAMPLES = Path(__file__).parent / "examples"


async def _run(_: Translator, url: str, out: Path, now: datetime) -> int:
    engine = make_engine(url)
    uow = UnitOfWorkFactory(engine)
    rng = random.Random(2026)
    key = generate_private_key()
    try:
        data = (EXAMPLES / "community.csv").read_bytes()
        roster = read_roster(data, "community.csv")
        community = await services.create_community(uow(), "幸福里小区", now)
        imported = await services.import_roster(uow(), community, roster, "community.csv", data, "worker:demo", now)
        vote = Vote(
            community,
            "幸福里小区综合改造方案",
            "是否同意《幸福里小区老旧小区改造方案》？",
            preset("double-two-thirds"),
            Scope(),
            now,
            now + timedelta(days=7),
        )
        vote_id = await services.create_vote(uow(), vote, now)
        await services.open_vote(uow(), vote_id, now, os.urandom(32))
        sold = [u for u in roster if u.status is UnitStatus.SOLD]
        developer = next(u for u in roster if u.status is not UnitStatus.SOLD)
        moment = now + timedelta(minutes=5)
        events = 0
        receipts = []
        choices = [Choice.AGREE] * 8 + [Choice.DISAGREE, Choice.ABSTAIN]
        for round_ in range(3):
            for unit in rng.sample(sold, k=min(len(sold), (96, 70, 60)[round_])):
                moment += timedelta(seconds=rng.randint(10, 900))
                r = await services.cast_ballot(
                    uow(),
                    vote_id,
                    unit.unit_id,
                    rng.choice(choices),
                    actor=f"account:{unit.unit_id}",
                    now=moment,
                    idempotency_key=f"demo:{events}",
                )
                receipts.append(r.receipt)
                events += 1
        paper = sold[3]
        await services.cast_ballot(
            uow(),
            vote_id,
            paper.unit_id,
            Choice.AGREE,
            actor="worker:demo",
            now=moment,
            kind=EntryKind.PAPER,
            attachment=b"scan of the signed paper ballot",
        )
        await services.cast_ballot(
            uow(),
            vote_id,
            sold[7].unit_id,
            Choice.AGREE,
            actor="worker:demo",
            now=moment,
            kind=EntryKind.PROXY,
            proxy_name="业主之女",
        )
        await services.cast_ballot(
            uow(),
            vote_id,
            developer.unit_id,
            Choice.AGREE,
            actor="worker:demo",
            now=moment,
            kind=EntryKind.PAPER,
            attachment=b"developer's sealed consent",
        )
        events += 3
        signed = await services.close_vote(uow(), vote_id, vote.closes_at, key)
        await write_bundle_file(uow, vote_id, out)
        _closed, result = await services.current_tally(uow(), vote_id)
    finally:
        await engine.dispose()

    lines = [
        _("Example community: {units} units, {owners} owners (developer-held units count as one), {area} m².").format(
            units=imported.units,
            owners=imported.owners,
            area=format_area(imported.total_area),
        ),
        _(
            "{events} ballot events recorded (revotes, a paper ballot with a photo, a proxy), vote closed and signed."
        ).format(events=events),
        "",
        render_tally(_, result),
        "",
        _("Signed tally: ledger head entry {seq}; signing key fingerprint {fingerprint}.").format(
            seq=signed.data()["ledger_head"]["seq"], fingerprint=fingerprint(key.public_key())
        ),
        _("Audit bundle: {path}").format(path=out),
        "",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    with out.open("rb") as fh:
        report = verify_bundle(fh, key.public_key())
    sys.stdout.write(describe_verify_report(_, report) + "\n\n")
    sys.stdout.write(
        _("One of the receipts handed out: {receipt}. Verify the bundle yourself:").format(receipt=receipts[-1])
        + f"\n  .venv/bin/renovote audit verify {out}\n"
    )
    return 0 if report.ok else 1


def run_demo(_: Translator, out: Path, now: datetime) -> int:
    with tempfile.TemporaryDirectory(prefix="renovote-demo-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'demo.sqlite3'}"
        upgrade(url)
        return asyncio.run(_run(_, url, out, now))
