"""After signing, on the page that signed: the receipt's poll (has the supporter confirmed
since?), and "this address is wrong: correct it"."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from .. import limits, receipts, widget_state
from ..campaigns import find_campaign
from ..clock import utcnow
from ..extensions import db
from ..security import is_same_origin
from . import embed, our_origin, protect, render_message

bp = Blueprint("progress", __name__)
protect(bp)


@bp.post("/w/<slug>/progress")
@limits.limited(limits.PROGRESS)
def poll(slug: str) -> Response:
    """``{"state": "pending" | "confirmed"}``; a forged, expired or foreign receipt is
    "pending" like any other, so the answer tells nothing about an address."""
    campaign = find_campaign(db.session, slug, now=utcnow())
    state = receipts.Progress.PENDING
    if campaign is not None:
        state = receipts.progress(
            db.session,
            request.form.get("receipt"),
            campaign.id,
            now=utcnow(),
            lifetime=widget_state().verify_tokens.max_age,
        )
    response = jsonify(state=state.value)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/w/<slug>/correct")
@limits.limited(limits.PER_IP)
def correct(slug: str) -> tuple[str, int]:
    """Back to the sign form with what was typed; the pending signature that this page's own
    submission stored (its receipt says so) is dropped, so the mistyped address gets no
    reminder and never counts."""
    campaign = embed.campaign_or_404(slug)
    if not is_same_origin(request.headers, our_origin()):
        return render_message("widget/problem.html", 403, campaign=campaign, problem="origin")
    receipts.drop_mistaken(
        db.session,
        request.form.get("receipt"),
        campaign.id,
        now=utcnow(),
        lifetime=widget_state().verify_tokens.max_age,
    )
    return embed.render_widget(campaign, embed.sign_form(campaign), embed.posted_source())


# the failure pages of the sign form's blueprint (in the widget's language, with the way back)
bp.register_error_handler(404, embed.not_found)
bp.register_error_handler(413, embed.too_large)


@bp.errorhandler(429)
def too_many(error: Exception) -> Response:
    """The poll over its limit answers "pending" (the page waits as asked); "correct it" gets
    the sign form's page."""
    if request.endpoint != "progress.poll":
        return embed.too_many(error)
    response = jsonify(state=receipts.Progress.PENDING.value)
    response.status_code = 429
    response.headers["Retry-After"] = str(limits.retry_after())
    response.headers["Cache-Control"] = "no-store"
    return response
