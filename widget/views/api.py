"""Public JSON: a campaign's facts and its live count, cacheable by browsers and proxies."""

from __future__ import annotations

import hashlib
import json
import time

from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import InternalServerError

from .. import counter
from ..campaigns import find_campaign
from ..clock import utcnow
from ..extensions import db
from ..models import Campaign
from . import failures

bp = Blueprint("api", __name__, url_prefix="/api/v1")

#: seconds a browser or proxy may reuse a count, and serve a stale one while it refreshes
COUNT_MAX_AGE = 5
COUNT_STALE = 30
#: seconds each app process reuses a count it has read: every open widget polls the count, and
#: within this second the answer costs no database query (it may already be 5 s old anyway)
COUNT_REUSE = 1.0


def iso(moment: object) -> str | None:
    return moment.isoformat(timespec="seconds") + "Z" if moment else None  # type: ignore[attr-defined]


def campaign_or_404(slug: str) -> Campaign:
    campaign = find_campaign(db.session, slug, now=utcnow())
    if campaign is None:
        abort(404)
    return campaign


def json_body(data: dict[str, object]) -> tuple[str, str]:
    """JSON and its content ETag, so an unchanged count costs a 304 and no body."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return body, hashlib.sha256(body.encode()).hexdigest()[:20]


def cacheable_json(body: str, etag: str) -> Response:
    response = Response(body, mimetype="application/json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = (
        f"public, max-age={COUNT_MAX_AGE}, stale-while-revalidate={COUNT_STALE}"
    )
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response.make_conditional(request)


def count_fields(campaign: Campaign) -> dict[str, object]:
    counts = counter.tally(db.session, campaign.id, campaign.actions)
    return {
        "count": counts.count,
        "goal": campaign.goal,
        "by_action": counts.by_action,
        "updated_at": iso(counts.updated_at),
    }


@bp.get("/campaigns/<slug>")
def campaign(slug: str) -> Response:
    campaign = campaign_or_404(slug)
    return cacheable_json(
        *json_body(
            {
                "campaign": campaign.slug,
                "reference": campaign.reference,
                "title": campaign.title,
                "deadline": iso(campaign.closes_at),
                "deadline_note": campaign.deadline_note,
                "open": campaign.is_open(utcnow()),
                "actions": campaign.actions,
                "languages": campaign.languages,
                **count_fields(campaign),
            }
        )
    )


@bp.get("/campaigns/<slug>/count")
def count(slug: str) -> Response:
    # per campaign: (until, ``counter.changes_in_process`` then, body, ETag) of the last count
    recent_counts: dict[str, tuple[float, int, str, str]]
    recent_counts = current_app.extensions.setdefault("widget.recent_counts", {})
    now, changes = time.monotonic(), counter.changes_in_process
    recent = recent_counts.get(slug)
    if recent is None or recent[0] < now or recent[1] != changes:
        campaign = campaign_or_404(slug)
        body = json_body({"campaign": campaign.slug, **count_fields(campaign)})
        recent = (now + COUNT_REUSE, changes, *body)
        recent_counts[slug] = recent
    return cacheable_json(recent[2], recent[3])


@bp.errorhandler(404)
def not_found(_error: Exception) -> tuple[dict[str, str], int]:
    return {"error": "not-found", "message": "No campaign with this name."}, 404


@bp.errorhandler(DBAPIError)
def database_failed(error: DBAPIError) -> tuple[dict[str, str], int, dict[str, str]]:
    """JSON, like every answer here: 503 with Retry-After while the database cannot serve."""
    if failures.database_status(error) == 503:
        retry = {"Retry-After": str(failures.RETRY_AFTER)}
        return {"error": "unavailable", "message": "Please try again shortly."}, 503, retry
    return internal_error(error)


@bp.errorhandler(InternalServerError)
def internal_error(_error: Exception) -> tuple[dict[str, str], int, dict[str, str]]:
    return {"error": "internal", "message": "Something went wrong."}, 500, {}
