"""JSON: a campaign's facts and its live count (public, cacheable by browsers and proxies), and
its verified signatures for an API key (``widget.signature_feed``, never cached or shared)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, current_app, g, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import InternalServerError

from .. import counter, limits, signature_feed, widget_state
from ..apikeys import KeyRefused, authenticate, note_use
from ..campaigns import find_campaign
from ..clock import iso, utcnow
from ..extensions import db
from ..models import Campaign
from ..offline import count_fields
from ..sealed_partners import API_REFUSED, partner_output_refused
from . import absolute_url, failures

bp = Blueprint("api", __name__, url_prefix="/api/v1")

#: seconds a browser or proxy may reuse a count, and serve a stale one while it refreshes
COUNT_MAX_AGE = 5
COUNT_STALE = 30
#: seconds each app process reuses a count it has read: every open widget polls the count, and
#: within this second the answer costs no database query (it may already be 5 s old anyway)
COUNT_REUSE = 1.0


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
                **count_fields(db.session, campaign),
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
        body = json_body({"campaign": campaign.slug, **count_fields(db.session, campaign)})
        recent = (now + COUNT_REUSE, changes, *body)
        recent_counts[slug] = recent
    return cacheable_json(recent[2], recent[3])


def private_json(data: dict[str, object], status: int = 200, **headers: str) -> Response:
    """An answer for one API key's holder: never stored by a cache, never readable by a
    script on another site (no CORS header at all)."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    response = Response(body, status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.update(headers)
    return response


def unauthorized(refused: KeyRefused) -> Response:
    """401, the same for a missing, malformed, unknown or revoked key (RFC 6750)."""
    challenge = 'Bearer realm="action-widget"'
    if refused.problem:
        challenge += f', error="{refused.problem}"'
    return private_json(
        {"error": "unauthorized", "message": "Give a valid API key: Authorization: Bearer aw_..."},
        401,
        **{"WWW-Authenticate": challenge},
    )


def api_key_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """The key is checked before anything else, so a caller without one learns nothing, not
    even which campaigns exist; ``g.api_key`` is the key for the view and its rate limit."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            g.api_key = authenticate(db.session, request.headers.get("Authorization"))
        except KeyRefused as refused:
            return unauthorized(refused)
        return view(*args, **kwargs)

    return wrapped


#: the query parameters the signatures list takes, carried on into its ``next`` link
FEED_PARAMETERS = ("per_page", "partner", "updated_since", "cursor")


@bp.get("/campaigns/<slug>/signatures")
@api_key_required
@limits.limited(limits.PER_API_KEY)
def signatures(slug: str) -> Response:
    key, now = g.api_key, utcnow()
    note_use(db.session, key, now)
    if partner_output_refused(sealed=widget_state().settings.sealed, partner=key.partner_id):
        return private_json({"error": "sealed", "message": API_REFUSED}, 403)
    campaign = find_campaign(db.session, slug, now=now)
    if campaign is None:
        return private_json({"error": "not-found", "message": "No campaign with this name."}, 404)
    args = {name: request.args[name] for name in FEED_PARAMETERS if name in request.args}
    cursors = widget_state().cursor_tokens
    try:
        query = signature_feed.parse_query(db.session, key, campaign, args, cursors)
    except signature_feed.FeedError as error:
        return private_json(
            {"error": "bad-request", "parameter": error.parameter, "message": str(error)}, 400
        )
    except signature_feed.FeedForbidden:
        return private_json(
            {"error": "forbidden", "message": "This key reads only its own partner's supporters."},
            403,
        )
    page = signature_feed.read_page(db.session, key, campaign, query, cursors, now)
    links: dict[str, object] = {"self": {"href": absolute_url("api.signatures", slug=slug, **args)}}
    next_url = None
    if page.next_cursor:
        next_url = absolute_url("api.signatures", slug=slug, **{**args, "cursor": page.next_cursor})
        links["next"] = {"href": next_url}
    return private_json(
        {
            "per_page": query.per_page,
            "next": next_url,
            "_links": links,
            "_embedded": {"osdi:signatures": page.records},
        }
    )


@bp.errorhandler(429)
def too_many(_error: Exception) -> Response:
    seconds = limits.retry_after()
    return private_json(
        {"error": "rate-limited", "message": f"Too many requests; try again in {seconds} s."},
        429,
        **{"Retry-After": str(seconds)},
    )


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
