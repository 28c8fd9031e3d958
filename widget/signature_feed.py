"""The verified signatures a key may read, page by page, shaped like OSDI signatures.

Order and cursor: ``(updated_at, id)`` ascending, and the cursor is the last row's pair,
signed (``tokens.cursor_tokens``) and bound to the campaign and the key's scope. A change to a
signature moves its ``updated_at`` forward, so a walk from the first page to ``next: null``
returns every signature listed throughout the walk exactly once, except one that changed
during the walk: that one comes again, later, in its new state. Nothing is skipped: rows newer
than ``SETTLE`` are held back until then, so a transaction that commits a little after it took
its time cannot land behind a page already read. Withdrawn, invalidated and erased signatures
leave the list (the ``signature.withdrawn`` webhook tells a receiver what to delete).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from .campaigns import SLUG
from .clock import iso
from .models import ApiKey, Campaign, Partner, Signature
from .sealing import personal_fields
from .tokens import TokenInvalid, TokenService

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 500
#: how long a change may take from taking its time to committing, at the most
SETTLE = timedelta(seconds=10)
#: ``identifiers`` are ``action-widget:<id>``, OSDI's ``[system name]:[id]``
SYSTEM = "action-widget"


class FeedError(ValueError):
    """A query parameter that cannot be used: the API's 400, naming the parameter."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


class FeedForbidden(Exception):
    """A partner's key asked for what is not its partner's: the API's 403."""


@dataclass(frozen=True)
class Query:
    """What the caller asked for, checked."""

    per_page: int
    partner_id: int | None
    updated_since: datetime | None
    after: tuple[datetime, int] | None


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    #: the cursor of the next page; None on the last page
    next_cursor: str | None


def parse_query(
    session: Session,
    key: ApiKey,
    campaign: Campaign,
    args: dict[str, str],
    cursors: TokenService,
) -> Query:
    """The checked query, or ``FeedError`` (400) / ``FeedForbidden`` (403)."""
    per_page = _per_page(args.get("per_page"))
    partner_id = _partner(session, key, args.get("partner"))
    since = _updated_since(args.get("updated_since"))
    after = _cursor(args.get("cursor"), key, campaign, cursors)
    return Query(per_page, partner_id, since, after)


def _per_page(value: str | None) -> int:
    if value is None:
        return DEFAULT_PER_PAGE
    if not (value.isascii() and value.isdigit() and len(value) <= 4) or not (
        1 <= int(value) <= MAX_PER_PAGE
    ):
        raise FeedError("per_page", f"per_page: give a whole number from 1 to {MAX_PER_PAGE}.")
    return int(value)


def _partner(session: Session, key: ApiKey, slug: str | None) -> int | None:
    """The partner to filter by. A partner's key may name only its own partner (anything
    else is 403, whether such a partner exists or not); the organisation's, any partner."""
    if slug is None:
        return key.partner_id
    partner_id = (
        session.scalar(select(Partner.id).where(Partner.slug == slug))
        if SLUG.fullmatch(slug)
        else None
    )
    if key.partner_id is not None and partner_id != key.partner_id:
        raise FeedForbidden
    if partner_id is None:
        raise FeedError("partner", "partner: no partner with this name.")
    return partner_id


def _updated_since(value: str | None) -> datetime | None:
    """ISO 8601 (``2026-12-01T10:00:00Z``, an offset, or naive meaning UTC)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if len(value) <= 40 else None
        if moment is not None and moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        raise FeedError(
            "updated_since", "updated_since: give an ISO 8601 time, e.g. 2026-12-01T10:00:00Z."
        )
    return moment


def _cursor(
    value: str | None, key: ApiKey, campaign: Campaign, cursors: TokenService
) -> tuple[datetime, int] | None:
    if value is None:
        return None
    problem = FeedError("cursor", "cursor: not a cursor of this list; start again without it.")
    try:
        payload = cursors.loads(value) if len(value) <= 400 else None
    except TokenInvalid:
        payload = None
    if not payload or payload.get("c") != campaign.id or payload.get("a") != key.partner_id:
        raise problem
    try:
        moment, row = datetime.fromisoformat(payload["u"]), payload["i"]
    except (KeyError, TypeError, ValueError):
        raise problem from None
    if type(row) is not int:
        raise problem
    return moment, row


def read_page(
    session: Session,
    key: ApiKey,
    campaign: Campaign,
    query: Query,
    cursors: TokenService,
    now: datetime,
) -> Page:
    """One page of what ``key`` may read of ``campaign``'s verified signatures."""
    statement = (
        select(Signature, Partner.slug)
        .outerjoin(Partner, Signature.partner_id == Partner.id)
        .where(
            Signature.campaign_id == campaign.id,
            Signature.verified_at.is_not(None),
            Signature.withdrawn_at.is_(None),
            Signature.invalidated_at.is_(None),
            Signature.anonymised_at.is_(None),
            Signature.updated_at < now - SETTLE,
        )
        .order_by(Signature.updated_at, Signature.id)
        .limit(query.per_page + 1)
    )
    if key.partner_id is not None:
        statement = statement.where(Signature.partner_opt_in.is_(True))
    if query.partner_id is not None:
        statement = statement.where(Signature.partner_id == query.partner_id)
    if query.updated_since is not None:
        statement = statement.where(Signature.updated_at >= query.updated_since)
    if query.after is not None:
        moment, row = query.after
        statement = statement.where(
            or_(
                Signature.updated_at > moment,
                and_(Signature.updated_at == moment, Signature.id > row),
            )
        )
    rows = session.execute(statement).all()
    more, rows = len(rows) > query.per_page, rows[: query.per_page]
    organisation = key.partner_id is None
    records = [signature_record(s, campaign, slug, organisation=organisation) for s, slug in rows]
    next_cursor = None
    if more:
        last = rows[-1][0]
        next_cursor = cursors.dumps(
            {"c": campaign.id, "a": key.partner_id, "u": last.updated_at.isoformat(), "i": last.id}
        )
    return Page(records, next_cursor)


def signature_record(
    signature: Signature, campaign: Campaign, partner: str | None, *, organisation: bool
) -> dict[str, Any]:
    """An OSDI signature, with what OSDI has no field for under ``action_widget``. A partner
    reads neither the organisation's ``opt_in`` nor anything but its own consent."""
    ours: dict[str, Any] = {
        "campaign": campaign.slug,
        "actions": list(signature.actions),
        "language": signature.language,
        "partner": partner,
        "partner_opt_in": bool(signature.partner_opt_in),
        "verified_date": iso(signature.verified_at),
    }
    if organisation:
        ours["opt_in"] = bool(signature.opt_in)
    subscribed = signature.opt_in if organisation else signature.partner_opt_in
    return {
        "identifiers": [f"{SYSTEM}:{signature.id}"],
        "origin_system": SYSTEM,
        "created_date": iso(signature.created_at),
        "modified_date": iso(signature.updated_at),
        "action_date": iso(signature.created_at),
        **osdi_person(signature, subscribed=bool(subscribed)),
        "action_widget": ours,
    }


def osdi_person(signature: Signature, *, subscribed: bool) -> dict[str, Any]:
    """``sealing.personal_fields`` in OSDI's shape: ``person`` and ``referrer_data``, or for
    a sealed row its box as it is and the country alone."""
    fields = personal_fields(signature)
    country = {"primary": True, "country": signature.country}
    if "sealed" in fields:
        return {"sealed": fields["sealed"], "person": {"postal_addresses": [country]}}
    record: dict[str, Any] = {
        "person": {
            "name": fields["name"],
            "email_addresses": [
                {
                    "address": fields["email"],
                    "primary": True,
                    "status": "subscribed" if subscribed else "unsubscribed",
                }
            ],
            "postal_addresses": [country],
            "languages_spoken": [signature.language],
        }
    }
    if fields["source_url"]:
        website = urlsplit(fields["source_url"]).hostname
        record["referrer_data"] = {"website": website, "url": fields["source_url"]}
    return record
