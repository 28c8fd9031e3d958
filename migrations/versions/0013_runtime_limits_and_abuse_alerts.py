"""run-time limits, the allow-list for shared addresses, and abuse alerts

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runtime_limit",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=254), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_runtime_limit")),
    )
    op.create_table(
        "limit_allowance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("network", sa.String(length=50), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.CheckConstraint(
            "length(note) BETWEEN 1 AND 200", name=op.f("ck_limit_allowance_note_length")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_limit_allowance")),
        sa.UniqueConstraint("network", name=op.f("uq_limit_allowance_network")),
        sqlite_autoincrement=True,
    )
    version = op.create_table(
        "runtime_limits_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runtime_limits_version")),
    )
    op.bulk_insert(version, [{"id": 1, "version": 0}])
    op.create_table(
        "abuse_alert",
        sa.Column("cause", sa.String(length=400), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("cause", name=op.f("pk_abuse_alert")),
    )


def downgrade() -> None:
    op.drop_table("abuse_alert")
    op.drop_table("runtime_limits_version")
    op.drop_table("limit_allowance")
    op.drop_table("runtime_limit")
