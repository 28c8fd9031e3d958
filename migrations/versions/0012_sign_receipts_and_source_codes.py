"""sign receipts (the widget learns of a confirmation), and the source code a signature came by

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_receipt",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("signature_id", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("made_signature", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["signature_id"],
            ["signature.id"],
            name=op.f("fk_sign_receipt_signature_id_signature"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_sign_receipt")),
    )
    with op.batch_alter_table("sign_receipt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sign_receipt_signature_id"), ["signature_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sign_receipt_issued_at"), ["issued_at"], unique=False)
    # A nullable column: SQLite adds it in place (ALTER TABLE ... ADD COLUMN), no rebuild.
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ref", sa.String(length=32), nullable=True))


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # Dropping a column rebuilds the table on SQLite: keep it AUTOINCREMENT (0007).
    rebuild = {"recreate": "always", "table_kwargs": {"sqlite_autoincrement": True}}
    with op.batch_alter_table("signature", **(rebuild if sqlite else {})) as batch_op:
        batch_op.drop_column("ref")
    with op.batch_alter_table("sign_receipt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_receipt_issued_at"))
        batch_op.drop_index(batch_op.f("ix_sign_receipt_signature_id"))
    op.drop_table("sign_receipt")
