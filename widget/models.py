"""The tables. Times are naive UTC (``widget.clock.utcnow``) on every database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: DateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Campaign(Base):
    """One ask with its targets; loaded from a TOML file (``widget.campaigns``)."""

    __tablename__ = "campaign"
    __table_args__ = (
        CheckConstraint("goal IS NULL OR goal > 0", name="goal_positive"),
        CheckConstraint("length(slug) BETWEEN 1 AND 64", name="slug_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the name in URLs and in the embed snippet, e.g. ``ua-109-23``
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    #: the organisation's own reference, e.g. "UA 109.23"
    reference: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    #: what supporters are asked to do
    ask: Mapped[str] = mapped_column(Text)
    additional_info: Mapped[str] = mapped_column(Text, default="")
    sample_letter: Mapped[str] = mapped_column(Text, default="")
    #: who to write to: list of {name, title, address, email, phone, fax, social, salutation}
    targets: Mapped[list[Any]] = mapped_column(default=list)
    #: language codes, the first one is the campaign's own
    languages: Mapped[list[Any]] = mapped_column(default=list)
    #: texts in the campaign's other languages: {"ur": {"title": ..., "summary": ...}}
    translations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: the actions a supporter may report, from ``widget.campaigns.ACTIONS``
    actions: Mapped[list[Any]] = mapped_column(default=list)
    goal: Mapped[int | None]
    opens_at: Mapped[datetime | None]
    #: after this the widget shows the final count and no form; None keeps it open
    closes_at: Mapped[datetime | None]
    #: the deadline as the organisation states it, shown as information
    deadline_note: Mapped[str] = mapped_column(Text, default="")
    #: origins allowed to frame the widget; ``["*"]`` allows any site
    allowed_origins: Mapped[list[Any]] = mapped_column(default=lambda: ["*"])
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    def text(self, field: str, language: str) -> tuple[str, str]:
        """A text in ``language`` if the campaign gives it, else in its own first language;
        with the language it is in, for the ``lang`` attribute."""
        translated = (self.translations or {}).get(language, {}).get(field)
        if translated:
            return translated, language
        return getattr(self, field), (self.languages or ["en"])[0]

    def is_open(self, now: datetime) -> bool:
        """Signing is possible between ``opens_at`` and ``closes_at`` (both optional)."""
        if self.opens_at is not None and now < self.opens_at:
            return False
        return self.closes_at is None or now < self.closes_at


class Partner(Base):
    """A site that embeds the widget; signatures it brings are credited to it."""

    __tablename__ = "partner"
    __table_args__ = (CheckConstraint("length(slug) BETWEEN 1 AND 64", name="slug_length"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the name in ``data-partner``
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: the partner's site origins, allowed to frame campaigns that restrict framing
    origins: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Signature(Base):
    """A supporter's signature on one campaign; it counts only once verified."""

    __tablename__ = "signature"
    __table_args__ = (
        UniqueConstraint("campaign_id", "email_key"),
        CheckConstraint("length(country) = 2", name="country_alpha2"),
        # Ids are never given again after a row is deleted (purge), so an old link cannot
        # name a stranger's signature. PostgreSQL sequences never reuse ids anyway.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    #: the address as typed: mail goes there
    email: Mapped[str] = mapped_column(String(254))
    #: the address normalised for duplicate detection (``widget.addresses.email_key``)
    email_key: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(120))
    #: ISO 3166-1 alpha-2
    country: Mapped[str] = mapped_column(String(2))
    #: the actions the supporter reports having taken
    actions: Mapped[list[Any]] = mapped_column(default=list)
    #: which wording of the consent text was agreed to
    consent_version: Mapped[str] = mapped_column(String(20))
    #: may the organisation contact this supporter (never pre-ticked)
    opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the widget language the supporter signed in
    language: Mapped[str] = mapped_column(String(10))
    #: the partner whose page the supporter signed on; None when unknown or signed directly
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("partner.id", ondelete="SET NULL"), index=True
    )
    #: the embedding page (origin and path only) where the browser disclosed it
    source_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    verified_at: Mapped[datetime | None] = mapped_column(index=True)
    withdrawn_at: Mapped[datetime | None]
    #: set when staff invalidate it as abuse: it no longer counts or exports
    invalidated_at: Mapped[datetime | None]
    #: set when its personal fields were erased (withdrawal, retention); counts may survive it
    anonymised_at: Mapped[datetime | None]
    #: keyed hash of the client IP (``widget.abuse.ip_hash``), never the IP itself
    ip_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    #: a random secret that every link to this signature carries; erasure changes it, so a
    #: link dies with the signature it was made for (None only for rows older than links
    #: that carry it)
    link_secret: Mapped[str | None] = mapped_column(String(32))

    campaign: Mapped[Campaign] = relationship()
    partner: Mapped[Partner | None] = relationship()


class Count(Base):
    """Verified totals per campaign and action, split over shards.

    A confirmation adds 1 to one shard (chosen by signature id) in the same transaction as the
    verification, so concurrent confirmations do not queue on one hot row; readers sum the shards.
    The action ``"*"`` holds the number of verified signatures.
    """

    __tablename__ = "count"
    __table_args__ = (CheckConstraint("value >= 0", name="value_not_negative"),)

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True
    )
    action: Mapped[str] = mapped_column(String(20), primary_key=True)
    shard: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]


class Staff(Base):
    """A staff account: admins change things and see personal data; viewers see numbers."""

    __tablename__ = "staff"
    __table_args__ = (CheckConstraint("role IN ('admin', 'viewer')", name="role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    #: werkzeug's salted scrypt hash, never the password
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(10))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class StaffSession(Base):
    """A signed-in staff browser. The cookie holds a random token whose hash is kept here, so
    signing out (or a password change) ends the session even for a copied cookie."""

    __tablename__ = "staff_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    #: SHA-256 of the token in the cookie, never the token itself
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class Audit(Base):
    """Who did what to supporters' data, and when: exports, invalidations, erasures."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    #: a staff email, or ``cli:<user>`` for a command
    actor: Mapped[str] = mapped_column(String(254))
    #: e.g. ``export``, ``invalidate``, ``erase``
    action: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OutboxMessage(Base):
    """A queued mail: stored in the same transaction as what caused it, sent later."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        # /healthz and the staff mail page look only at unsent mail: a small partial index,
        # however many sent messages the retention period keeps
        Index(
            "ix_outbox_message_unsent",
            "created_at",
            sqlite_where=text("sent_at IS NULL"),
            postgresql_where=text("sent_at IS NULL"),
        ),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(Text)
    #: the Message-ID header, the same on every attempt so receivers can drop duplicates
    message_id: Mapped[str | None] = mapped_column(String(255))
    #: which mail it is (``confirm``, ``already_signed``, ``withdrawn``, ...)
    kind: Mapped[str] = mapped_column(String(40), default="")
    #: the signature it is about: its mails go when the signature is withdrawn or erased
    signature_id: Mapped[int | None] = mapped_column(
        ForeignKey("signature.id", ondelete="CASCADE"), index=True
    )
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    #: when a sender may next try; None once sent or given up
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    #: a sender holds the message until then; another sender may take it afterwards
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    #: set when the retries are used up
    failed_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
