"""allowed networks of shared addresses get raised limits, not none: a multiplier each

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A small table of an admin's entries: SQLite's rebuild for the check constraint is cheap.
    with op.batch_alter_table("limit_allowance", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("multiplier", sa.Integer(), server_default="20", nullable=False)
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_limit_allowance_multiplier_range"), "multiplier BETWEEN 2 AND 1000"
        )


def downgrade() -> None:
    with op.batch_alter_table("limit_allowance", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_limit_allowance_multiplier_range"), type_="check")
        batch_op.drop_column("multiplier")
