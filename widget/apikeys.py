"""API keys for ``GET /api/v1/campaigns/<c>/signatures``: made, listed, revoked, checked.

A key is ``aw_`` and 32 random bytes (256 bits). Only its SHA-256 is kept: a key that strong
cannot be guessed from its hash, so it needs no slow salted hash (which would cost every API
request its time), and a unique index on the hash finds the key in one lookup without
comparing secrets in Python. A key shows once, when made; the ``prefix`` tells keys apart.
An organisation key (``partner_id`` None) sees every verified signature; a partner's key only
that partner's supporters who agreed to hear from it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from .campaigns import CampaignFileError, check_characters
from .models import ApiKey, Audit, Partner
from .sealed_partners import KEY_REFUSED, partner_output_refused

KEY_PREFIX = "aw_"
#: what a key looks like: the prefix and 43 URL-safe base64 characters (32 bytes)
KEY_SHAPE = re.compile(r"aw_[A-Za-z0-9_-]{43}")
#: the characters of a key kept in clear to tell keys apart in lists (``ApiKey.prefix``)
PREFIX_LENGTH = 11
#: the ``api_key.name`` column's length
MAX_NAME = 100
#: ``last_used_at`` is written at most this often per key, not on every request
TOUCH_EVERY = timedelta(minutes=1)


class ApiKeyError(ValueError):
    """A key cannot be made or revoked as asked; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class KeyRefused(Exception):
    """No usable key in the request (none, malformed, unknown, revoked): the API's 401.

    ``problem`` is RFC 6750's error code: None when no credentials came at all."""

    def __init__(self, problem: str | None) -> None:
        super().__init__(problem or "no key")
        self.problem = problem


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    session: Session,
    name: str,
    partner_slug: str | None,
    now: datetime,
    *,
    actor: str,
    sealed: bool = False,
) -> tuple[ApiKey, str]:
    """A new key and its only clear copy; audited as ``actor`` (never with the key). In sealed
    mode (``sealed``) a partner's key is refused (``widget.sealed_partners``)."""
    if partner_output_refused(sealed=sealed, partner=partner_slug):
        raise ApiKeyError("partner", KEY_REFUSED)
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise ApiKeyError("name", f"name: give 1 to {MAX_NAME} characters")
    try:
        check_characters("name", name, multiline=False)
    except CampaignFileError as error:
        raise ApiKeyError("name", str(error)) from None
    partner = None
    if partner_slug is not None:
        partner = session.scalar(select(Partner).where(Partner.slug == partner_slug))
        if partner is None:
            raise ApiKeyError("partner", f"no partner {partner_slug[:70]!r}; see: partner add")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name,
        partner_id=partner.id if partner else None,
        key_hash=hash_key(key),
        prefix=key[:PREFIX_LENGTH],
        created_at=now,
        created_by=actor,
    )
    session.add(row)
    session.flush()
    session.add(Audit(at=now, actor=actor, action="apikey.create", details=_details(row, partner)))
    session.commit()
    return row, key


def list_keys(session: Session, *, partner_id: int | None, everyone: bool) -> list[ApiKey]:
    """Newest first: every key (``everyone``, the organisation's admins and the CLI), or only
    the keys of ``partner_id`` (a partner account)."""
    query = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    if not everyone:
        query = query.where(ApiKey.partner_id == partner_id)
    return list(session.scalars(query))


def find_key(session: Session, reference: str, *, partner_id: int | None, everyone: bool) -> ApiKey:
    """The key named by its id or its prefix (as ``apikey list`` shows them), within scope."""
    reference = reference.strip()
    if reference.isascii() and reference.isdigit() and len(reference) < 12:
        condition = ApiKey.id == int(reference)
    elif reference.startswith(KEY_PREFIX) and len(reference) == PREFIX_LENGTH:
        condition = ApiKey.prefix == reference
    else:
        raise ApiKeyError("key", f"{reference[:20]!r}: give a key's id or its prefix (aw_...)")
    query = select(ApiKey).where(condition)
    if not everyone:
        query = query.where(ApiKey.partner_id == partner_id)
    found = list(session.scalars(query.limit(2)))
    if not found:
        raise ApiKeyError("key", f"no key {reference!r}; see: apikey list")
    if len(found) > 1:
        raise ApiKeyError("key", f"several keys start with {reference!r}; give the id")
    return found[0]


def revoke_key(session: Session, key: ApiKey, now: datetime, *, actor: str) -> None:
    """From now on the key gets 401; audited. Revoking twice is refused, so nobody believes
    they stopped a key that someone else had already stopped at another time."""
    if key.revoked_at is not None:
        raise ApiKeyError("key", f"key {key.prefix} was revoked already")
    key.revoked_at = now
    session.add(Audit(at=now, actor=actor, action="apikey.revoke", details=_details(key)))
    session.commit()


def _details(key: ApiKey, partner: Partner | None = None) -> dict[str, object]:
    partner = partner or key.partner
    return {
        "key": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "partner": partner.slug if partner else None,
    }


def bearer_token(authorization: str | None) -> str:
    """The key in an ``Authorization: Bearer <key>`` header (RFC 6750; the scheme is
    case-insensitive), or ``KeyRefused``: no header at all, another scheme, or no key shape."""
    if authorization is None:
        raise KeyRefused(None)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise KeyRefused("invalid_request")
    token = token.strip()
    if not KEY_SHAPE.fullmatch(token):
        raise KeyRefused("invalid_token")
    return token


def authenticate(session: Session, authorization: str | None) -> ApiKey:
    """The live key the header carries, or ``KeyRefused``: unknown, revoked, and a key of a
    deactivated partner alike (its data stops flowing the moment the partner is turned off;
    turning it on again restores the key, which revoking would not)."""
    token = bearer_token(authorization)
    found = session.execute(
        select(ApiKey, Partner.active)
        .outerjoin(Partner, ApiKey.partner_id == Partner.id)
        .where(ApiKey.key_hash == hash_key(token))
    ).first()
    if found is None:
        raise KeyRefused("invalid_token")
    key, partner_active = found
    if key.revoked_at is not None or (key.partner_id is not None and not partner_active):
        raise KeyRefused("invalid_token")
    return key


def note_use(session: Session, key: ApiKey, now: datetime) -> None:
    """Set ``last_used_at``, at most once a minute per key: one conditional UPDATE that
    matches nothing within the minute, so a busy key costs no write per request (and two
    processes racing write once)."""
    if key.last_used_at is not None and key.last_used_at > now - TOUCH_EVERY:
        return
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key.id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - TOUCH_EVERY),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
