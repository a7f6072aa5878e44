"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 08:18:38.453635
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The database keeps the ledger straight on its own. An entry is refused unless its vote accepts it
# (open and the entry's time within [opens_at, closes_at); a correction only while the vote is closed,
# i.e. in its objection period) and it follows the vote's head (seq + 1, prev_hash = head hash).
# Inserting it moves the head and sets the owner's current ballot in the same statement, so the
# current ballots are always derived from the ledger. The messages start with "ledger:" and name
# which check refused the entry; storage maps them to typed errors.
SQLITE_HEAD_TRIGGER = """
CREATE TRIGGER trg_ledger_entries_append AFTER INSERT ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger: vote does not accept this entry now')
    WHERE NOT EXISTS (
        SELECT 1 FROM votes WHERE id = NEW.vote_id AND (
            (NEW.kind = 'correction' AND status = 'closed')
            OR (NEW.kind <> 'correction' AND status = 'open' AND NEW.at >= opens_at AND NEW.at < closes_at))
    );
    SELECT RAISE(ABORT, 'ledger: chain broken, the entry does not follow the head of its vote')
    WHERE NOT EXISTS (
        SELECT 1 FROM votes WHERE id = NEW.vote_id AND head_seq = NEW.seq - 1 AND head_hash = NEW.prev_hash
    );
    UPDATE votes SET head_seq = NEW.seq, head_hash = NEW.entry_hash WHERE id = NEW.vote_id;
    INSERT INTO current_ballots (vote_id, owner_ref, seq, choice) VALUES (NEW.vote_id, NEW.owner_ref, NEW.seq, NEW.choice)
    ON CONFLICT (vote_id, owner_ref) DO UPDATE SET seq = excluded.seq, choice = excluded.choice;
END
"""

POSTGRESQL_HEAD_FUNCTION = """
CREATE FUNCTION ledger_entries_append() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE votes SET head_seq = NEW.seq, head_hash = NEW.entry_hash
     WHERE id = NEW.vote_id AND head_seq = NEW.seq - 1 AND head_hash = NEW.prev_hash
       AND ((NEW.kind = 'correction' AND status = 'closed')
            OR (NEW.kind <> 'correction' AND status = 'open' AND NEW.at >= opens_at AND NEW.at < closes_at));
    IF NOT FOUND THEN
        IF EXISTS (SELECT 1 FROM votes WHERE id = NEW.vote_id AND head_seq = NEW.seq - 1 AND head_hash = NEW.prev_hash)
        THEN
            RAISE EXCEPTION 'ledger: vote does not accept this entry now'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RAISE EXCEPTION 'ledger: chain broken, entry % does not follow the head of vote %', NEW.seq, NEW.vote_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    INSERT INTO current_ballots (vote_id, owner_ref, seq, choice) VALUES (NEW.vote_id, NEW.owner_ref, NEW.seq, NEW.choice)
    ON CONFLICT (vote_id, owner_ref) DO UPDATE SET seq = excluded.seq, choice = excluded.choice;
    RETURN NEW;
END
$$
"""

POSTGRESQL_HEAD_TRIGGER = """
CREATE TRIGGER trg_ledger_entries_append AFTER INSERT ON ledger_entries
FOR EACH ROW EXECUTE FUNCTION ledger_entries_append()
"""


def _create_head_trigger() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_HEAD_FUNCTION)
        op.execute(POSTGRESQL_HEAD_TRIGGER)
    else:
        op.execute(SQLITE_HEAD_TRIGGER)


def _drop_head_trigger() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trg_ledger_entries_append ON ledger_entries")
        op.execute("DROP FUNCTION IF EXISTS ledger_entries_append()")
    else:
        op.execute("DROP TRIGGER IF EXISTS trg_ledger_entries_append")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("telegram_id", sa.BigInteger(), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("telegram_id", name=op.f("uq_accounts_telegram_id")),
    )
    op.create_table(
        "communities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_communities")),
    )
    op.create_table(
        "invite_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.String(length=100), nullable=False),
        sa.Column("owner_key", sa.String(length=220), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_invite_codes_community_id_communities"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite_codes")),
        sa.UniqueConstraint("code", name=op.f("uq_invite_codes_code")),
    )
    op.create_table(
        "roster_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source_name", sa.String(length=300), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_roster_versions_community_id_communities"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roster_versions")),
        sa.UniqueConstraint("community_id", "version", name=op.f("uq_roster_versions_community_id_version")),
    )
    op.create_table(
        "bindings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("owner_key", sa.String(length=220), nullable=False),
        sa.Column("invite_code_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_bindings_account_id_accounts"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_bindings_community_id_communities"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["invite_code_id"],
            ["invite_codes.id"],
            name=op.f("fk_bindings_invite_code_id_invite_codes"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bindings")),
        sa.UniqueConstraint(
            "account_id", "community_id", "owner_key", name=op.f("uq_bindings_account_id_community_id_owner_key")
        ),
        sa.UniqueConstraint("invite_code_id", name=op.f("uq_bindings_invite_code_id")),
    )
    op.create_table(
        "roster_units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("roster_version_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.String(length=100), nullable=False),
        sa.Column("area", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("building", sa.String(length=50), nullable=False),
        sa.Column("entrance", sa.String(length=50), nullable=False),
        sa.Column("room", sa.String(length=50), nullable=False),
        sa.Column("area_source", sa.String(length=20), nullable=False),
        sa.CheckConstraint("status IN ('sold', 'unsold', 'undelivered')", name=op.f("ck_roster_units_status_known")),
        sa.CheckConstraint("area > 0", name=op.f("ck_roster_units_area_positive")),
        sa.ForeignKeyConstraint(
            ["roster_version_id"],
            ["roster_versions.id"],
            name=op.f("fk_roster_units_roster_version_id_roster_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roster_units")),
        sa.UniqueConstraint("roster_version_id", "unit_id", name=op.f("uq_roster_units_roster_version_id_unit_id")),
    )
    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("scope_building", sa.String(length=50), nullable=False),
        sa.Column("scope_entrance", sa.String(length=50), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("show_turnout", sa.Boolean(), nullable=False),
        sa.Column("non_voters_follow_majority", sa.Boolean(), nullable=False),
        sa.Column("roster_version_id", sa.Integer(), nullable=True),
        sa.Column("roster_hash", sa.String(length=64), nullable=True),
        sa.Column("pseudonym_key", sa.LargeBinary(length=32), nullable=True),
        sa.Column("head_seq", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('scheduled', 'open', 'closed', 'final')", name=op.f("ck_votes_status_known")),
        sa.CheckConstraint("closes_at > opens_at", name=op.f("ck_votes_closes_after_opening")),
        sa.CheckConstraint("head_seq >= 0", name=op.f("ck_votes_head_seq_not_negative")),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_votes_community_id_communities"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["roster_version_id"],
            ["roster_versions.id"],
            name=op.f("fk_votes_roster_version_id_roster_versions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_votes")),
    )
    op.create_table(
        "current_ballots",
        sa.Column("vote_id", sa.Integer(), nullable=False),
        sa.Column("owner_ref", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("choice", sa.String(length=10), nullable=True),
        sa.ForeignKeyConstraint(
            ["vote_id"], ["votes.id"], name=op.f("fk_current_ballots_vote_id_votes"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("vote_id", "owner_ref", name=op.f("pk_current_ballots")),
    )
    op.create_table(
        "frozen_units",
        sa.Column("vote_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.String(length=100), nullable=False),
        sa.Column("building", sa.String(length=50), nullable=False),
        sa.Column("entrance", sa.String(length=50), nullable=False),
        sa.Column("room", sa.String(length=50), nullable=False),
        sa.Column("area", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("area_source", sa.String(length=20), nullable=False),
        sa.Column("owner_key", sa.String(length=220), nullable=False),
        sa.Column("unit_ref", sa.String(length=32), nullable=False),
        sa.Column("owner_ref", sa.String(length=32), nullable=False),
        sa.CheckConstraint("area > 0", name=op.f("ck_frozen_units_area_positive")),
        sa.ForeignKeyConstraint(
            ["vote_id"], ["votes.id"], name=op.f("fk_frozen_units_vote_id_votes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("vote_id", "unit_id", name=op.f("pk_frozen_units")),
        sa.UniqueConstraint("vote_id", "unit_ref", name=op.f("uq_frozen_units_vote_id_unit_ref")),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vote_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("receipt", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("owner_ref", sa.String(length=32), nullable=False),
        sa.Column("choice", sa.String(length=10), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("attachment", sa.LargeBinary(), nullable=True),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_ledger_entries_seq_positive")),
        sa.ForeignKeyConstraint(
            ["vote_id"], ["votes.id"], name=op.f("fk_ledger_entries_vote_id_votes"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("vote_id", "entry_hash", name=op.f("uq_ledger_entries_vote_id_entry_hash")),
        sa.UniqueConstraint("vote_id", "idempotency_key", name=op.f("uq_ledger_entries_vote_id_idempotency_key")),
        sa.UniqueConstraint("vote_id", "seq", name=op.f("uq_ledger_entries_vote_id_seq")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_entries_vote_id_receipt"), ["vote_id", "receipt"], unique=False)

    op.create_table(
        "signed_tallies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vote_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("stage IN ('preliminary', 'final')", name=op.f("ck_signed_tallies_stage_known")),
        sa.ForeignKeyConstraint(
            ["vote_id"], ["votes.id"], name=op.f("fk_signed_tallies_vote_id_votes"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signed_tallies")),
        sa.UniqueConstraint("vote_id", "stage", name=op.f("uq_signed_tallies_vote_id_stage")),
    )

    _create_head_trigger()


def downgrade() -> None:
    _drop_head_trigger()
    op.drop_table("signed_tallies")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_vote_id_receipt"))

    op.drop_table("ledger_entries")
    op.drop_table("frozen_units")
    op.drop_table("current_ballots")
    op.drop_table("votes")
    op.drop_table("roster_units")
    op.drop_table("bindings")
    op.drop_table("roster_versions")
    op.drop_table("invite_codes")
    op.drop_table("communities")
    op.drop_table("accounts")
