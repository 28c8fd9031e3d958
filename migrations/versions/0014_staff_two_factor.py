"""staff two-factor sign-in: the TOTP secret and last step, and recovery codes

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns: SQLite adds them in place, no rebuild of a table sessions point at.
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.Integer(), nullable=True))
    op.create_table(
        "staff_recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_staff_recovery_code_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_recovery_code")),
    )
    with op.batch_alter_table("staff_recovery_code", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staff_recovery_code_staff_id"), ["staff_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("staff_recovery_code")
    sqlite = op.get_bind().dialect.name == "sqlite"
    # Dropping a column rebuilds the table on SQLite: with foreign keys off (env.py) the
    # sessions that point at it stay.
    with op.batch_alter_table("staff", **({"recreate": "always"} if sqlite else {})) as batch_op:
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_secret")
