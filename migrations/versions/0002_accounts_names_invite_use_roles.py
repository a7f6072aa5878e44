"""accounts names, invite use, roles

Invite codes remember who used them (a revoked binding never frees its code); an account may be bound
again after a worker revoked its binding; workers and auditors hold roles per community.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:44:34.520979
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('worker', 'auditor')", name=op.f("ck_roles_role_known")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_roles_account_id_accounts"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["communities.id"], name=op.f("fk_roles_community_id_communities"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roles")),
        sa.UniqueConstraint("account_id", "community_id", "role", name=op.f("uq_roles_account_id_community_id_role")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=200), server_default="", nullable=False))

    with op.batch_alter_table("bindings", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_bindings_account_id_community_id_owner_key"), type_="unique")
        batch_op.create_index(batch_op.f("ix_bindings_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bindings_community_id"), ["community_id"], unique=False)

    with op.batch_alter_table("frozen_units", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_frozen_units_owner_key_vote_id"), ["owner_key", "vote_id"], unique=False)

    with op.batch_alter_table("invite_codes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("used_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("used_by", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_invite_codes_community_id_unit_id"), ["community_id", "unit_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_invite_codes_used_by_accounts"), "accounts", ["used_by"], ["id"], ondelete="RESTRICT"
        )


def downgrade() -> None:
    with op.batch_alter_table("invite_codes", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_invite_codes_used_by_accounts"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_invite_codes_community_id_unit_id"))
        batch_op.drop_column("used_by")
        batch_op.drop_column("used_at")

    with op.batch_alter_table("frozen_units", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_frozen_units_owner_key_vote_id"))

    with op.batch_alter_table("bindings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bindings_community_id"))
        batch_op.drop_index(batch_op.f("ix_bindings_account_id"))
        batch_op.create_unique_constraint(
            batch_op.f("uq_bindings_account_id_community_id_owner_key"), ["account_id", "community_id", "owner_key"]
        )

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("name")

    op.drop_table("roles")
