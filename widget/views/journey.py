"""What the pages after signing show: where the supporter stands, and the share step.

Glue between the request and ``widget.receipts`` / ``widget.sharing``; the pages that use it
are in ``views.embed`` (check email, confirmed) and ``views.progress`` (the receipt's poll).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, g
from flask_babel import gettext as _

from .. import receipts, sharing, widget_state
from ..clock import utcnow
from ..extensions import db
from ..models import Campaign, Signature
from ..public_facts import public_facts
from ..signing import Submitted
from . import absolute_url

#: the sign form's fields that "send the link again" and "correct the address" post back
TYPED_FIELDS = ("name", "email", "country", "consent", "opt_in", "partner_opt_in")


class ReceiptDesk:
    """Hands the page that signed its receipt (``on_stored``): one found again only when the
    submission made the signature, or the page's own posted back by "send the link again"
    (``widget.receipts``); a bot's answer, where nothing was stored, keeps the fresh one it
    starts with, never found either, so all look alike."""

    def __init__(self, now: datetime, campaign_id: int, posted: str | None) -> None:
        self.now = now
        self.receipt = receipts.new_receipt()
        self.held = receipts.held_receipt(
            db.session, posted, campaign_id, now=now, lifetime=widget_state().verify_tokens.max_age
        )

    def __call__(self, signature: Signature, outcome: Submitted) -> None:
        self.receipt = receipts.issue_receipt(
            db.session,
            signature.id,
            now=self.now,
            made_signature=outcome is Submitted.NEW,
            held=self.held,
        )


def typed_values(form: Any) -> list[tuple[str, str]]:
    """What the supporter typed, as (name, value) pairs for hidden fields."""
    pairs = [("actions", action) for action in form.actions.data or ()]
    for name in TYPED_FIELDS:
        value = form[name].data
        if value is True:
            pairs.append((name, "y"))
        elif value:
            pairs.append((name, str(value)))
    return pairs


def share_context(campaign: Campaign, source_url: str | None) -> dict[str, Any]:
    """The share step's links, to the partner's page where it is the recorded, allowed source
    (``back_url``), else to the widget's page."""
    facts = public_facts(current_app).campaign(db.session, campaign.slug, now=utcnow())
    active = facts.partners.values() if facts else ()
    back = sharing.back_to_source(source_url, sharing.partner_origins(campaign, active))
    page = back or absolute_url("widget.page", slug=campaign.slug)
    title = campaign.text("title", g.get("widget_locale", "en"))[0]
    message = _("I have signed: %(title)s. Will you add your name?", title=title)
    return {
        "share": sharing.share_links(page, message, title),
        "share_title": title,
        "back_url": back,
    }


def link_days() -> int:
    """How long the confirm link works, from its token service."""
    return widget_state().verify_tokens.max_age.days


def check_email_context(
    campaign: Campaign, form: Any, receipt: str, source: str | None
) -> dict[str, Any]:
    counts = public_facts(current_app).counts(db.session, campaign)
    return {
        "email": form.email.data,
        "typed": typed_values(form),
        "fresh_token": form.csrf_token.current_token,
        "source": source,
        "receipt": receipt,
        "link_days": link_days(),
        "lifetime_seconds": int(widget_state().verify_tokens.max_age.total_seconds()),
        # as the widget page shows it: kept for a second in this process (``public_facts``)
        "tally": counts.tally,
        "offline": counts.offline,
        **share_context(campaign, source),
    }
