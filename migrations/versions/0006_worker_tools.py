"""worker tools: a phone number for each home of a roster

The roster may carry the owner's phone (电话 / 手机); it is kept with each roster version and copied
into a vote's frozen roster, so the door-to-door list can show it. Empty when the file has none.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("roster_units", "frozen_units"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("phone", sa.String(length=50), server_default="", nullable=False))


def downgrade() -> None:
    for table in ("frozen_units", "roster_units"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("phone")
