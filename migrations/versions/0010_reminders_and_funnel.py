"""reminders, and the funnel's marks: mail sent, link opened, bounced

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS = ("mailed_at", "reminded_at", "link_opened_at", "mail_bounced_at")


def upgrade() -> None:
    # Nullable columns: SQLite adds them in place (ALTER TABLE ... ADD COLUMN), no rebuild.
    with op.batch_alter_table("signature", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.DateTime(), nullable=True))
    # Signatures from before: a confirmed one had its mail and opened its link by the time it
    # was confirmed, so the funnel's steps stay in order; a pending one is taken as mailed
    # (the outbox keeps no older record), so it may get its reminder.
    signature = sa.table(
        "signature",
        *(sa.column(name, sa.DateTime()) for name in ("created_at", "verified_at", *COLUMNS)),
    )
    op.execute(
        signature.update()
        .where(signature.c.verified_at.is_not(None))
        .values(mailed_at=signature.c.verified_at, link_opened_at=signature.c.verified_at)
    )
    op.execute(
        signature.update()
        .where(signature.c.verified_at.is_(None))
        .values(mailed_at=signature.c.created_at)
    )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # Dropping a column rebuilds the table on SQLite: keep it AUTOINCREMENT (0007).
    rebuild = {"recreate": "always", "table_kwargs": {"sqlite_autoincrement": True}}
    with op.batch_alter_table("signature", **(rebuild if sqlite else {})) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
