"""The supporter's own pages: see a signature and withdraw it; the privacy notice."""

from __future__ import annotations

from flask import Blueprint, g, request

from .. import LOCALES, limits, paths, privacy, widget_state
from ..campaigns import find_campaign
from ..clock import utcnow
from ..extensions import db
from ..notices import MailNotices
from ..outbox import enqueue
from ..security import is_same_origin
from . import absolute_url, our_origin, protect, render_message, signature_from_link

bp = Blueprint("manage", __name__, template_folder=str(paths.TEMPLATES))
protect(bp)


@bp.get("/m/<token>")
@limits.limited(limits.LINKS)
def manage(token: str) -> tuple[str, int]:
    """What we hold about the supporter for this campaign, and a button to withdraw."""
    signature = signature_from_link(
        widget_state().manage_tokens, token, expired="manage-expired", only_counting=False
    )
    return render_message(
        "widget/manage.html", signature=signature, campaign=signature.campaign, token=token
    )


@bp.post("/m/<token>")
@limits.limited(limits.LINKS, limits.PER_IP)
def withdraw(token: str) -> tuple[str, int]:
    signature = signature_from_link(
        widget_state().manage_tokens, token, expired="manage-expired", only_counting=False
    )
    campaign = signature.campaign
    if not is_same_origin(request.headers, our_origin()):
        return render_message("widget/problem.html", 403, campaign=campaign, problem="origin")
    if signature.withdrawn_at is None and signature.email:
        # Queued before the address is erased; it leaves with the mail (see retention). A
        # sealed signature has no address the server can read: no goodbye mail.
        notices = MailNotices(absolute_url, widget_state())
        enqueue(db.session, notices.withdrawn(signature), utcnow())
    outcome = privacy.withdraw_signature(db.session, signature.id, now=utcnow())
    return render_message("widget/withdrawn.html", campaign=campaign, outcome=outcome.value)


@bp.get("/privacy")
def notice() -> tuple[str, int]:
    """What we keep, for how long, and who sees it: written from the running settings."""
    wanted = request.args.get("lang")
    g.widget_locale = wanted if wanted in LOCALES else None
    # with now, a campaign that has not opened yet stays unknown here too
    campaign = find_campaign(db.session, request.args.get("campaign", ""), now=utcnow())
    return render_message(
        "widget/privacy.html",
        campaign=campaign,
        retention=widget_state().retention,
        sealed=widget_state().settings.sealed,
    )
