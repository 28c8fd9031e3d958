"""Partner sites: who may frame restricted campaigns, and who brought which signatures."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from .campaigns import RESERVED_SLUGS, SLUG, CampaignFileError, check_characters
from .models import Audit, Campaign, Partner
from .origins import OriginError, check_origin, is_origin

MAX_SOURCE_URL = 500
CONTROL = re.compile(r"[\x00-\x20\x7f]")
#: the ``partner.name`` column's length
MAX_NAME = 200


class PartnerError(ValueError):
    """A partner's slug, name or origin is not acceptable; ``field`` names which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def save_partner(
    session: Session,
    slug: str,
    name: str,
    origins: list[str],
    now: datetime,
    *,
    actor: str,
    active: bool | None = None,
    only_new: bool = False,
) -> tuple[Partner, bool]:
    """Create the partner, or update its name, origins (and ``active``); audited as ``actor``.

    ``only_new`` refuses a slug that exists (the staff's "Add a partner" never overwrites one);
    ``partner add`` is create-or-update, its documented contract.
    """
    if not SLUG.fullmatch(slug):
        raise PartnerError(
            "slug", f"slug {slug[:70]!r}: use lowercase letters, digits and inner hyphens"
        )
    if slug in RESERVED_SLUGS:
        raise PartnerError("slug", f"slug {slug!r} is the staff area's own address; choose another")
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise PartnerError("name", f"name: give 1 to {MAX_NAME} characters")
    try:
        check_characters("name", name, multiline=False)
        checked = sorted({check_origin(origin) for origin in origins})
    except CampaignFileError as error:
        raise PartnerError("name", str(error)) from None
    except OriginError as error:
        raise PartnerError("origins", f"origin {error}") from None
    partner = session.scalar(select(Partner).where(Partner.slug == slug))
    if partner is not None and only_new:
        raise PartnerError(
            "slug", f"a partner {slug!r} exists already; change it from its own page"
        )
    created = partner is None
    if partner is None:
        partner = Partner(slug=slug, created_at=now, active=True)
        session.add(partner)
    partner.name = name
    partner.origins = checked
    if active is not None:
        partner.active = active
    action = "partner.create" if created else "partner.update"
    session.add(Audit(at=now, actor=actor, action=action, details={"partner": slug}))
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
    # Checked again on the way out: a row written before origins were checked this strictly
    # must not put CSP syntax (a ";" starts a new directive) into the header.
    return sorted(origin for origin in allowed if is_origin(origin))


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
