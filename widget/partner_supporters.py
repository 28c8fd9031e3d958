"""What a partner sees of the supporters it brought: counts per campaign, and the supporters who
agreed to hear from it (``partner_opt_in``) as a CSV.

Only signatures that count and still hold personal data reach a partner: verified, not
withdrawn, not invalidated, not anonymised, and ticked for this partner. The CSV is built with
the organisation export's cell escaping and BOM (``widget.exports``) and audited the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.orm import Session

from .exports import BATCH, BOM, csv_writer, drain, safe_cell, streaming, timestamp_text
from .models import Audit, Campaign, Partner, Signature
from .reports import counted

HEADER = (
    "name",
    "email",
    "country",
    "language",
    "signed_at",
    "confirmed_at",
    "campaign",
    "campaign_reference",
)


@dataclass(frozen=True)
class PartnerCampaignNumbers:
    campaign: Campaign
    #: verified signatures credited to the partner
    verified: int
    #: of those, how many agreed that the partner may contact them
    consenting: int


def partner_numbers(session: Session, partner: Partner) -> list[PartnerCampaignNumbers]:
    """Every campaign, newest first, with the partner's verified signatures (zero included:
    a partner needs the campaigns it has not embedded yet, for their embed codes)."""
    rows = session.execute(
        select(
            Campaign,
            func.count(Signature.id),
            func.coalesce(func.sum(case((Signature.partner_opt_in.is_(True), 1), else_=0)), 0),
        )
        .outerjoin(
            Signature,
            (Signature.campaign_id == Campaign.id)
            & (Signature.partner_id == partner.id)
            & counted()[0]
            & counted()[1]
            & counted()[2],
        )
        .group_by(Campaign.id)
        .order_by(Campaign.created_at.desc(), Campaign.id)
    ).all()
    return [PartnerCampaignNumbers(c, int(n), int(yes)) for c, n, yes in rows]


def _consenting(partner: Partner, *columns: ColumnElement[Any]) -> Select[Any]:
    return (
        select(*columns)
        .join(Campaign, Signature.campaign_id == Campaign.id)
        .where(Signature.partner_id == partner.id, Signature.partner_opt_in.is_(True))
        .where(*counted())
        .where(Signature.anonymised_at.is_(None))
        # A sealed row's clear columns are empty and its data is the organisation's to open:
        # it never reaches a partner (the lead wires the full refusal of sealed-data mode).
        .where(Signature.sealed.is_(None))
    )


def count_consenting(session: Session, partner: Partner) -> int:
    query = _consenting(partner, Signature.id).subquery()
    return session.scalar(select(func.count()).select_from(query)) or 0


def audit_partner_export(session: Session, partner: Partner, *, actor: str, now: datetime) -> int:
    """Record the download before it starts, as the organisation's export does; returns the
    number of rows it holds."""
    rows = count_consenting(session, partner)
    session.add(
        Audit(
            at=now,
            actor=actor,
            action="partner.export",
            details={"partner": partner.slug, "rows": rows},
        )
    )
    session.commit()
    return rows


def supporters_csv(session: Session, partner: Partner) -> Iterator[str]:
    """The partner's consenting supporters, a batch of rows per chunk (flat memory)."""
    buffer, writer = csv_writer()
    writer.writerow(HEADER)
    yield BOM + drain(buffer)
    connection = streaming(session)
    dialect = connection.dialect.name
    columns = (
        Signature.name,
        Signature.email,
        Signature.country,
        Signature.language,
        timestamp_text(Signature.created_at, dialect),
        timestamp_text(Signature.verified_at, dialect),
        Campaign.slug,
        Campaign.reference,
    )
    result = connection.execute(
        _consenting(partner, *columns).order_by(Signature.verified_at, Signature.id)
    )
    for partition in result.partitions(BATCH):
        for name, email, country, language, signed, confirmed, slug, reference in partition:
            writer.writerow(
                (
                    safe_cell(name),
                    safe_cell(email),
                    country,
                    language,
                    signed,
                    confirmed,
                    slug,
                    safe_cell(reference),
                )
            )
        yield drain(buffer)
