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
    #: what a supporter says on the phone to a target (``widget.take_action``)
    call_script: Mapped[str] = mapped_column(Text, default="")
    #: who to write to: list of {name, title, address, email, phone, fax, social, salutation,
    #: salutations: {language: salutation}}
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
    #: when its ``campaign.closed`` webhook event was queued: once per closing (a reopening
    #: clears it)
    closed_announced_at: Mapped[datetime | None]
    #: origins allowed to frame the widget; ``["*"]`` allows any site
    allowed_origins: Mapped[list[Any]] = mapped_column(default=lambda: ["*"])
    #: whether the widget also shows the actions taken offline (``widget.offline``) beside
    #: its verified online count; ``data-count`` stays the online count either way
    count_offline_in_widget: Mapped[bool] = mapped_column(Boolean, default=False)
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


def _created_at(context: Any) -> Any:
    """An inserted row's last change is its creation; every later change sets its own time."""
    return context.get_current_parameters()["created_at"]


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
    #: may the partner it was signed through contact this supporter (a separate box, shown
    #: only for a registered active partner, never pre-ticked)
    partner_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    #: which wording of the partner consent was agreed to; None when not given
    partner_consent_version: Mapped[str | None] = mapped_column(String(20))
    #: the last change that a connected system would want to hear of (signed, confirmed,
    #: withdrawn, invalidated, erased): the API's ``updated_since`` and its cursor; the
    #: funnel's own marks (mailed, reminded, bounced, link opened) are not such changes
    updated_at: Mapped[datetime] = mapped_column(index=True, default=_created_at)
    #: with ``WIDGET_DATA_PUBLIC_KEY`` set: the personal fields as one sealed box (base64),
    #: the clear columns left empty (``widget.sealing``)
    sealed: Mapped[str | None] = mapped_column(Text)
    #: which public key sealed it (its fingerprint), so a rekey knows what to re-seal
    sealed_key: Mapped[str | None] = mapped_column(String(64))
    #: when the relay first accepted its confirm mail (or reminder): the funnel's "mail sent",
    #: kept after the outbox row is purged
    mailed_at: Mapped[datetime | None]
    #: when its one reminder was queued (``widget.reminders``); the claim that makes it once
    reminded_at: Mapped[datetime | None]
    #: the first GET of its confirm page (the funnel's "link opened"; no tracking pixel)
    link_opened_at: Mapped[datetime | None]
    #: the receiving server refused its confirm or reminder mail for good (a 5xx for the
    #: recipient): no reminder follows
    mail_bounced_at: Mapped[datetime | None]
    #: the source code (``ref=``) of the link the supporter came by (``widget.sharing``)
    ref: Mapped[str | None] = mapped_column(String(32))

    campaign: Mapped[Campaign] = relationship()
    partner: Mapped[Partner | None] = relationship()


class SignReceipt(Base):
    """What the page that signed holds, to learn of the confirmation (``widget.receipts``):
    only its hash is kept, and it names no address."""

    __tablename__ = "sign_receipt"

    #: SHA-256 of the receipt, never the receipt
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    signature_id: Mapped[int] = mapped_column(
        ForeignKey("signature.id", ondelete="CASCADE"), index=True
    )
    issued_at: Mapped[datetime] = mapped_column(index=True)
    #: this submission stored the signature (it was new): only then is the receipt found
    #: (its poll, "correct the address")
    made_signature: Mapped[bool] = mapped_column(Boolean)


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


class OfflineAction(Base):
    """Actions taken away from the widget (letters from a vigil, a street stall's petition
    sheets), entered by staff with a note saying where they came from.

    A mistaken entry is never edited or deleted: it is removed (``removed_at``, audited) and
    entered again, so the report and the audit log always explain the number.
    """

    __tablename__ = "offline_action"
    __table_args__ = (
        CheckConstraint("count > 0 AND count <= 1000000", name="count_in_range"),
        CheckConstraint("length(note) BETWEEN 1 AND 500", name="note_length"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), index=True
    )
    #: how many actions (or signatures on paper) the entry stands for
    count: Mapped[int]
    #: one of the campaign's offered actions; None when the entry is not one kind of action
    action: Mapped[str | None] = mapped_column(String(20))
    #: where they came from and who holds the papers, e.g. "Vigil at the embassy, 3 Dec"
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    #: a staff email, or ``cli:<user>``
    created_by: Mapped[str] = mapped_column(String(254))
    #: set when the entry was found wrong: it no longer counts, and stays for the record
    removed_at: Mapped[datetime | None]
    removed_by: Mapped[str | None] = mapped_column(String(254))


class Staff(Base):
    """A staff account: admins change things and see personal data; viewers see numbers."""

    __tablename__ = "staff"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'viewer', 'partner')", name="role_known"),
        CheckConstraint(
            "(role = 'partner') = (partner_id IS NOT NULL)", name="partner_role_has_partner"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    #: werkzeug's salted scrypt hash, never the password
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(10))
    #: a partner account sees only this partner's pages; None for the organisation's staff
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    #: the TOTP secret, encrypted with a key derived from the secret key (``widget.two_factor``);
    #: None: no second factor
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    #: the last TOTP time step used to sign in: a code is good once, not for its whole window
    totp_last_step: Mapped[int | None]
    #: a one-time code for the first enrolment where it is required (``widget.enrol_codes``)
    enrol_code_hash: Mapped[str | None] = mapped_column(String(64))
    enrol_code_expires_at: Mapped[datetime | None]

    partner: Mapped[Partner | None] = relationship()


class StaffSession(Base):
    """A signed-in staff browser. The cookie holds a random token whose hash is kept here, so
    signing out (or a password change) ends the session even for a copied cookie."""

    __tablename__ = "staff_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    #: SHA-256 of the token in the cookie, never the token itself
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class StaffRecoveryCode(Base):
    """A single-use recovery code for two-factor sign-in, kept as its SHA-256 hash only."""

    __tablename__ = "staff_recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    #: set when the code is spent; a spent code never signs in again
    used_at: Mapped[datetime | None]


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


class Webhook(Base):
    """An endpoint of the organisation's (or a partner's) that hears of events, signed as
    Standard Webhooks (``widget.webhooks``)."""

    __tablename__ = "webhook"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    #: a partner's endpoint hears only of that partner's consenting supporters
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), index=True
    )
    #: the event types it wants; empty for all
    events: Mapped[list[Any]] = mapped_column(default=list)
    #: ``whsec_`` and the base64 key that signs its deliveries
    secret: Mapped[str] = mapped_column(String(100))
    #: after a rotation the old secret signs beside the new one until ``previous_secret_until``
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None]
    #: paused endpoints keep their events queued and get none until resumed
    paused_at: Mapped[datetime | None]
    #: batching: at most this many events per delivery (None: one event per delivery) ...
    batch_max: Mapped[int | None]
    #: ... and a batch waits at most this long for more
    batch_seconds: Mapped[int | None]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(254), default="")
    #: added by the organisation (CLI, admin), not a partner account: may reach a non-public
    #: address while ``WIDGET_WEBHOOK_ALLOW_PRIVATE`` is on (``widget.webhook_address``)
    private_ok: Mapped[bool] = mapped_column(Boolean, default=False)

    partner: Mapped[Partner | None] = relationship()


class WebhookEvent(Base):
    """One event for one endpoint, stored in the transaction that caused it."""

    __tablename__ = "webhook_event"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(
        ForeignKey("webhook.id", ondelete="CASCADE"), index=True
    )
    #: ``signature.verified``, ``signature.withdrawn``, ``campaign.closed``
    type: Mapped[str] = mapped_column(String(40))
    #: the ``data`` of the event as delivered
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: the signature whose personal data it carries: it goes when the signature is erased
    signature_id: Mapped[int | None] = mapped_column(
        ForeignKey("signature.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    #: the delivery it was put into (None while waiting for one)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_delivery.id", ondelete="CASCADE"), index=True
    )


class WebhookDelivery(Base):
    """One POST to one endpoint, with its retries: one event, or a batch of them."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(
        ForeignKey("webhook.id", ondelete="CASCADE"), index=True
    )
    #: the ``webhook-id`` header, the same on every retry
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    #: the JSON body, fixed when the delivery is made so every retry sends the same bytes
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_until: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    #: the receiver's status code at the last attempt (None: no answer)
    last_status: Mapped[int | None]
    last_error: Mapped[str] = mapped_column(Text, default="")


class ApiKey(Base):
    """A key for ``/api/v1/.../signatures``; only its hash is kept."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    #: a partner's key sees only that partner's consenting supporters
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("partner.id", ondelete="CASCADE"), index=True
    )
    #: SHA-256 of the key, never the key
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: the key's first characters, to tell keys apart in lists
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(254), default="")
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    partner: Mapped[Partner | None] = relationship()


class RuntimeLimit(Base):
    """A rate limit set by an admin at run time (``widget.runtime_limits``); without a row the
    ``WIDGET_RATELIMIT_*`` setting holds."""

    __tablename__ = "runtime_limit"

    #: which limit: ``sign``, ``ip``, ``links``, ``mail``, ``login``, ``login_account``, ``api``
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: the ``limits`` package's syntax, e.g. ``10 per minute;100 per hour``
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(254))


class LimitAllowance(Base):
    """A network of shared addresses (a campus, a mobile carrier's NAT) whose clients get the
    per-client limits raised by ``multiplier`` (``widget.runtime_limits``)."""

    __tablename__ = "limit_allowance"
    __table_args__ = (
        CheckConstraint("length(note) BETWEEN 1 AND 200", name="note_length"),
        CheckConstraint("multiplier BETWEEN 2 AND 1000", name="multiplier_range"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: a CIDR network in its normal form, e.g. ``192.0.2.0/24``
    network: Mapped[str] = mapped_column(String(50), unique=True)
    #: whose addresses they are, e.g. "University campus"
    note: Mapped[str] = mapped_column(Text)
    #: the per-client limits times this for its clients
    multiplier: Mapped[int] = mapped_column(default=20, server_default="20")
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(254))


class RuntimeLimitsVersion(Base):
    """One row whose number every change of the two tables above raises: each process reads
    it every few seconds and reloads them only when it moved."""

    __tablename__ = "runtime_limits_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(default=0)


class AbuseAlert(Base):
    """When staff were last mailed about one cause (``widget.alerts``): once an hour at most."""

    __tablename__ = "abuse_alert"

    #: e.g. ``ua-109-23/ip/<hash>``, ``ua-109-23/domain/spam.example``
    cause: Mapped[str] = mapped_column(String(400), primary_key=True)
    last_sent_at: Mapped[datetime]
