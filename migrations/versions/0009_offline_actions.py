"""offline actions, and whether the widget shows them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "offline_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.Column("removed_by", sa.String(length=254), nullable=True),
        sa.CheckConstraint(
            "count > 0 AND count <= 1000000", name=op.f("ck_offline_action_count_in_range")
        ),
        sa.CheckConstraint(
            "length(note) BETWEEN 1 AND 500", name=op.f("ck_offline_action_note_length")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_offline_action_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offline_action")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("offline_action", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_offline_action_campaign_id"), ["campaign_id"], unique=False
        )
    # SQLite adds a column in place (ALTER TABLE ... ADD COLUMN): no rebuild of the table
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "count_offline_in_widget", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_column("count_offline_in_widget")
    with op.batch_alter_table("offline_action", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offline_action_campaign_id"))
    op.drop_table("offline_action")
