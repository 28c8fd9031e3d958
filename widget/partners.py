"""Partner sites: who may frame restricted campaigns, and who brought which signatures."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from .campaigns import ORIGIN, SLUG
from .models import Campaign, Partner

MAX_SOURCE_URL = 500
CONTROL = re.compile(r"[\x00-\x20\x7f]")


class PartnerError(ValueError):
    """A partner's slug, name or origin is not acceptable."""


def save_partner(
    session: Session, slug: str, name: str, origins: list[str], now: datetime
) -> tuple[Partner, bool]:
    """Create the partner, or update its name and origins; returns it and whether it is new."""
    if not SLUG.match(slug):
        raise PartnerError(f"slug {slug!r}: use lowercase letters, digits and inner hyphens")
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise PartnerError("name: give 1 to 200 characters")
    for origin in origins:
        if not ORIGIN.match(origin):
            raise PartnerError(
                f"origin {origin!r}: give scheme and host only, e.g. https://news.example.org"
            )
    partner = session.scalar(select(Partner).where(Partner.slug == slug))
    created = partner is None
    if partner is None:
        partner = Partner(slug=slug, created_at=now, active=True)
        session.add(partner)
    partner.name = name
    partner.origins = sorted(set(origins))
    session.commit()
    return partner, created


def active_partner(session: Session, slug: str | None) -> Partner | None:
    """The partner named in ``data-partner``; unknown or inactive ones credit nobody."""
    if not slug:
        return None
    return session.scalar(select(Partner).where(Partner.slug == slug, Partner.active.is_(True)))


def frame_ancestors(session: Session, campaign: Campaign) -> list[str]:
    """The origins that may frame the widget of ``campaign``: ``["*"]``, or its own list plus
    every active partner's origins."""
    if "*" in campaign.allowed_origins:
        return ["*"]
    partner_origins = session.scalars(select(Partner.origins).where(Partner.active.is_(True)))
    allowed = set(campaign.allowed_origins)
    for origins in partner_origins:
        allowed.update(origins)
    return sorted(allowed)


def source_url(url: str | None, our_origin: str) -> str | None:
    """The embedding page as origin and path: no query or fragment, which may carry personal
    data; nothing when the page is our own, or when it is no URL at all (``http://[::1``, control
    characters: a browser never sends them, and PostgreSQL refuses NUL)."""
    if not url or CONTROL.search(url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    # without any user:password@ a link may carry
    origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    if origin == our_origin:
        return None
    return f"{origin}{parts.path}"[:MAX_SOURCE_URL]
