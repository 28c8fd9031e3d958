"""partner accounts and consent, webhooks, API keys, sealed signatures, signature.updated_at

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from widget.clock import utcnow

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner.id"],
            name=op.f("fk_api_key_partner_id_partner"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_key_key_hash")),
    )
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_key_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "webhook",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("previous_secret", sa.String(length=100), nullable=True),
        sa.Column("previous_secret_until", sa.DateTime(), nullable=True),
        sa.Column("paused_at", sa.DateTime(), nullable=True),
        sa.Column("batch_max", sa.Integer(), nullable=True),
        sa.Column("batch_seconds", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("private_ok", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner.id"],
            name=op.f("fk_webhook_partner_id_partner"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook")),
    )
    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webhook_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("failed_at", sa.DateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_webhook_delivery_attempts_not_negative")),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhook.id"],
            name=op.f("fk_webhook_delivery_webhook_id_webhook"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
        sa.UniqueConstraint("message_id", name=op.f("uq_webhook_delivery_message_id")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_delivery_next_attempt_at"), ["next_attempt_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_webhook_delivery_webhook_id"), ["webhook_id"], unique=False
        )

    op.create_table(
        "webhook_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("signature_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_delivery.id"],
            name=op.f("fk_webhook_event_delivery_id_webhook_delivery"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["signature_id"],
            ["signature.id"],
            name=op.f("fk_webhook_event_signature_id_signature"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhook.id"],
            name=op.f("fk_webhook_event_webhook_id_webhook"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_event")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("webhook_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_event_delivery_id"), ["delivery_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_webhook_event_signature_id"), ["signature_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_webhook_event_webhook_id"), ["webhook_id"], unique=False
        )

    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_announced_at", sa.DateTime(), nullable=True))
    # Campaigns closed before webhooks existed are not announced to the first endpoint.
    campaign = sa.table(
        "campaign", sa.column("closes_at", sa.DateTime()), sa.column("closed_announced_at")
    )
    op.execute(
        campaign.update()
        .where(campaign.c.closes_at < utcnow())
        .values(closed_announced_at=campaign.c.closes_at)
    )

    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("partner_opt_in", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("partner_consent_version", sa.String(length=20), nullable=True)
        )
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("sealed", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("sealed_key", sa.String(length=64), nullable=True))
    # Every row had a last change: the latest of its own dates.
    signature = sa.table(
        "signature",
        *(
            sa.column(name, sa.DateTime())
            for name in (
                "updated_at",
                "created_at",
                "verified_at",
                "withdrawn_at",
                "invalidated_at",
                "anonymised_at",
            )
        ),
    )
    latest = signature.c.created_at
    for column in ("verified_at", "withdrawn_at", "invalidated_at", "anonymised_at"):
        later = signature.c[column]
        latest = sa.case((later > latest, later), else_=latest)
    op.execute(signature.update().values(updated_at=latest))
    sqlite = op.get_bind().dialect.name == "sqlite"
    # Setting NOT NULL rebuilds the table on SQLite: keep it AUTOINCREMENT (0007).
    rebuild = {"recreate": "always", "table_kwargs": {"sqlite_autoincrement": True}}
    with op.batch_alter_table("signature", **(rebuild if sqlite else {})) as batch_op:
        batch_op.alter_column("updated_at", existing_type=sa.DateTime(), nullable=False)
        batch_op.create_index(batch_op.f("ix_signature_updated_at"), ["updated_at"], unique=False)

    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("partner_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_staff_partner_id"), ["partner_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_staff_partner_id_partner"),
            "partner",
            ["partner_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.drop_constraint(batch_op.f("ck_staff_role_known"), type_="check")
        batch_op.create_check_constraint("role_known", "role IN ('admin', 'viewer', 'partner')")
        batch_op.create_check_constraint(
            "partner_role_has_partner", "(role = 'partner') = (partner_id IS NOT NULL)"
        )


def downgrade() -> None:
    op.execute("DELETE FROM staff WHERE role = 'partner'")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_staff_partner_role_has_partner"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_staff_role_known"), type_="check")
        batch_op.create_check_constraint("role_known", "role IN ('admin', 'viewer')")
        batch_op.drop_constraint(batch_op.f("fk_staff_partner_id_partner"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_staff_partner_id"))
        batch_op.drop_column("partner_id")

    sqlite = op.get_bind().dialect.name == "sqlite"
    rebuild = {"recreate": "always", "table_kwargs": {"sqlite_autoincrement": True}}
    with op.batch_alter_table("signature", **(rebuild if sqlite else {})) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signature_updated_at"))
        batch_op.drop_column("sealed_key")
        batch_op.drop_column("sealed")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("partner_consent_version")
        batch_op.drop_column("partner_opt_in")

    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_column("closed_announced_at")

    with op.batch_alter_table("webhook_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_event_webhook_id"))
        batch_op.drop_index(batch_op.f("ix_webhook_event_signature_id"))
        batch_op.drop_index(batch_op.f("ix_webhook_event_delivery_id"))

    op.drop_table("webhook_event")
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_delivery_webhook_id"))
        batch_op.drop_index(batch_op.f("ix_webhook_delivery_next_attempt_at"))

    op.drop_table("webhook_delivery")
    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_partner_id"))

    op.drop_table("webhook")
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_key_partner_id"))

    op.drop_table("api_key")
