"""hardening: ids never reused, per-signature link secrets, outbox message ids, staff sessions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite gives a deleted row's id to the next insert unless the table is AUTOINCREMENT,
    # which only a rebuild of the table can add.
    rebuild = {"recreate": "always", "table_kwargs": {"sqlite_autoincrement": True}}
    with op.batch_alter_table("signature", **(rebuild if sqlite else {})) as batch_op:
        batch_op.add_column(sa.Column("link_secret", sa.String(length=32), nullable=True))
    with op.batch_alter_table("outbox_message", **(rebuild if sqlite else {})) as batch_op:
        batch_op.alter_column(
            "subject", existing_type=sa.String(length=200), type_=sa.Text(), existing_nullable=False
        )
        batch_op.add_column(sa.Column("message_id", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("kind", sa.String(length=40), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("signature_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_outbox_message_signature_id"), ["signature_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_message_signature_id_signature"),
            "signature",
            ["signature_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.create_index(
        "ix_outbox_message_unsent",
        "outbox_message",
        ["created_at"],
        sqlite_where=sa.text("sent_at IS NULL"),
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.create_table(
        "staff_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff.id"],
            name=op.f("fk_staff_session_staff_id_staff"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_session_token_hash")),
    )
    with op.batch_alter_table("staff_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_session_staff_id"), ["staff_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("staff_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_session_staff_id"))
    op.drop_table("staff_session")
    op.drop_index("ix_outbox_message_unsent", table_name="outbox_message")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_outbox_message_signature_id_signature"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_outbox_message_signature_id"))
        batch_op.drop_column("signature_id")
        batch_op.drop_column("kind")
        batch_op.drop_column("message_id")
        batch_op.alter_column(
            "subject", existing_type=sa.Text(), type_=sa.String(length=200), existing_nullable=False
        )
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.drop_column("link_secret")
