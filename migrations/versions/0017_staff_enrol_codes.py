"""staff enrolment codes: a one-time code for a required first two-factor enrolment

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns: SQLite adds them in place, no rebuild of a table sessions point at.
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("enrol_code_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("enrol_code_expires_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # Dropping a column rebuilds the table on SQLite: with foreign keys off (env.py) the
    # sessions that point at it stay.
    with op.batch_alter_table("staff", **({"recreate": "always"} if sqlite else {})) as batch_op:
        batch_op.drop_column("enrol_code_expires_at")
        batch_op.drop_column("enrol_code_hash")
