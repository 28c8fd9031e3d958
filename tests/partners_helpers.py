"""Partners, partner accounts and signatures for the partner tests: small factories."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.addresses import email_key
from widget.clock import utcnow
from widget.extensions import db
from widget.models import Campaign, Partner, Signature
from widget.partners import save_partner
from widget.staff import create_staff

from .conftest import STAFF_PASSWORD, StaffActions

PARTNER = "news-site"
OTHER = "other-site"
INACTIVE = "gone-site"
HTTPS = {"base_url": "https://localhost"}
#: our own pages' download link, as a browser sends it
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def add_partners(app: Flask) -> None:
    """Two active partners and an inactive one."""
    with db.sessionmaker(app)() as session:
        now = utcnow()
        save_partner(session, PARTNER, "News Site", ["https://news.example"], now, actor="t")
        save_partner(session, OTHER, "Other Site", ["https://other.example"], now, actor="t")
        save_partner(session, INACTIVE, "Gone Site", [], now, actor="t", active=False)


def partner_login(
    staff: StaffActions, slug: str = PARTNER, email: str | None = None
) -> FlaskClient:
    """A browser signed in to a new account of partner ``slug``."""
    email = email or f"{slug}@example.org"
    with db.sessionmaker(staff.app)() as session:
        create_staff(session, email, STAFF_PASSWORD, "partner", utcnow(), partner=slug)
    client, response = staff.login(email)
    assert response.status_code == 302
    return client


def partner_id(session: Session, slug: str) -> int:
    found = session.scalar(select(Partner.id).where(Partner.slug == slug))
    assert found is not None
    return found


def add_campaign(session: Session, slug: str, reference: str) -> Campaign:
    now = utcnow()
    campaign = Campaign(
        slug=slug,
        reference=reference,
        title=f"Campaign {reference}",
        summary="S",
        ask="A",
        targets=[],
        languages=["en"],
        actions=["letter"],
        allowed_origins=["*"],
        created_at=now,
        updated_at=now,
    )
    session.add(campaign)
    session.commit()
    return campaign


def add_signature(
    session: Session,
    email: str,
    *,
    campaign: str = "ua-109-23",
    partner: str | None = PARTNER,
    verified: bool = True,
    partner_opt_in: bool = True,
    at: datetime | None = None,
    **fields: object,
) -> Signature:
    """A signature row as the signing flow leaves it (verified unless told)."""
    at = at or datetime(2026, 11, 20, 9, 30, 5)
    campaign_id = session.scalar(select(Campaign.id).where(Campaign.slug == campaign))
    values: dict[str, object] = {
        "campaign_id": campaign_id,
        "email": email,
        "email_key": email_key(email),
        "name": "Ayesha Khan",
        "country": "PK",
        "actions": ["letter"],
        "consent_version": "2026-11",
        "language": "en",
        "partner_id": partner_id(session, partner) if partner else None,
        "created_at": at,
        "verified_at": at + timedelta(minutes=5) if verified else None,
        "partner_opt_in": partner_opt_in,
        "partner_consent_version": "partner-2026-12" if partner_opt_in else None,
    }
    values.update(fields)
    signature = Signature(**values)
    session.add(signature)
    session.commit()
    return signature
