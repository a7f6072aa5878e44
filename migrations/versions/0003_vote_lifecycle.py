"""vote lifecycle: events, job runs, objections, drafts

What the worker tools need: a vote's events (extended, closed, published, ...), scheduled jobs that
ran (each runs once), residents' objections, a worker's conversation in progress, the community's
group chat, a vote's daily reminder time and objection deadline, a worker's current community.
Columns are added with plain ADD COLUMN (no table rebuild on SQLite: `votes` is referenced by the
ledger trigger and by foreign keys).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:41:58.732120
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_job_runs")),
    )
    op.create_table(
        "drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_drafts_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_drafts_community_id_communities"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drafts")),
    )
    op.create_table(
        "objections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vote_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("owner_key", sa.String(length=220), nullable=False),
        sa.Column("unit_id", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=100), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("correction_seq", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_objections_account_id_accounts"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["vote_id"], ["votes.id"], name=op.f("fk_objections_vote_id_votes"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objections")),
    )
    with op.batch_alter_table("objections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_objections_vote_id_resolved_at"), ["vote_id", "resolved_at"], unique=False)

    op.create_table(
        "vote_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vote_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["vote_id"], ["votes.id"], name=op.f("fk_vote_events_vote_id_votes"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vote_events")),
    )
    with op.batch_alter_table("vote_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vote_events_vote_id_id"), ["vote_id", "id"], unique=False)

    op.add_column("accounts", sa.Column("current_community_id", sa.Integer(), nullable=True))
    op.add_column("accounts", sa.Column("app_language", sa.String(length=10), nullable=True))
    op.add_column("communities", sa.Column("group_chat_id", sa.BigInteger(), nullable=True))
    op.add_column("votes", sa.Column("reminder_time", sa.String(length=5), nullable=True))
    op.add_column("votes", sa.Column("objection_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("votes", sa.Column("created_by", sa.String(length=100), server_default="", nullable=False))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+), not a batch rebuild of `votes` (see the module docstring).
    op.drop_column("votes", "created_by")
    op.drop_column("votes", "objection_until")
    op.drop_column("votes", "reminder_time")
    op.drop_column("communities", "group_chat_id")
    op.drop_column("accounts", "app_language")
    op.drop_column("accounts", "current_community_id")

    with op.batch_alter_table("vote_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vote_events_vote_id_id"))

    op.drop_table("vote_events")
    with op.batch_alter_table("objections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_objections_vote_id_resolved_at"))

    op.drop_table("objections")
    op.drop_table("drafts")
    op.drop_table("job_runs")
