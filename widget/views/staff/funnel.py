"""Staff: a campaign's funnel, from signing to confirming (``widget.funnel``): counts only,
so viewers may see it; partner accounts may not (it covers every partner)."""

from __future__ import annotations

from flask import render_template

from ...extensions import db
from ...funnel import RATE_OF, STEPS, campaign_funnel
from . import bp
from .campaigns import campaign_or_404


@bp.get("/campaigns/<slug>/funnel")
def funnel(slug: str) -> str:
    campaign = campaign_or_404(slug)
    return render_template(
        "staff/funnel.html",
        campaign=campaign,
        funnel=campaign_funnel(db.session, campaign),
        steps=STEPS,
        rate_of=RATE_OF,
    )
