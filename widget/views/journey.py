"""What the pages after signing show: where the supporter stands, and the share step.

Glue between the request and ``widget.receipts`` / ``widget.sharing``; the pages that use it
are in ``views.embed`` (check email, confirmed) and ``views.progress`` (the receipt's poll).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, g, url_for
from flask_babel import gettext as _
from markupsafe import Markup

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


HIDDEN = Markup('<input type="hidden" name="{}" value="{}">')


def typed_fields(form: Any, receipt: str, source: str | None) -> Markup:
    """The hidden fields that "send the link again" and "correct it" post back: the page's
    receipt, what was typed, the embedding page (each value escaped)."""
    pairs = [("receipt", receipt), *typed_values(form)]
    if source:
        pairs.append(("source", source))
    return Markup("\n").join(HIDDEN.format(name, value) for name, value in pairs)


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


def check_email_parts(
    campaign: Campaign, form: Any, receipt: str, source: str | None, query: dict[str, str]
) -> tuple[dict[str, object], dict[str, str | None]]:
    """The check-email page's inputs (the key of its reused renderings, ``widget.page_cache``)
    and its slots: everything of this submission (the address, what was typed, the receipt,
    a fresh token, the share links, which may lead to the partner's page) and of the request's
    query (the forms' actions)."""
    counts = public_facts(current_app).counts(db.session, campaign)
    share = share_context(campaign, source)
    inputs = {
        "locale": g.widget_locale,
        "campaign": campaign,
        "link_days": link_days(),
        "lifetime_seconds": int(widget_state().verify_tokens.max_age.total_seconds()),
        # as the widget page shows it: kept for a second in this process (``public_facts``)
        "tally": counts.tally,
        "offline": counts.offline,
        "share_title": share["share_title"],
    }
    slots: dict[str, str | None] = {
        "email": form.email.data,
        "typed_fields": typed_fields(form, receipt, source),
        "fresh_token": form.csrf_token.current_token,
        "receipt": receipt,
        "sign_action": url_for("widget.sign", slug=campaign.slug, **query),
        "correct_action": url_for("progress.correct", slug=campaign.slug, **query),
        "page_link": url_for("widget.page", slug=campaign.slug, **query),
        **share_slots(share["share"]),
    }
    return inputs, slots


def share_slots(share: sharing.ShareLinks) -> dict[str, str | None]:
    """The share links as slots of a reused page (``share_of`` makes them links again)."""
    hrefs = {**share.links, "copy": share.copy, "share": share.share}
    return {f"share_{channel}": hrefs[channel] for channel in sharing.CHANNELS}


def share_of(context: dict[str, object]) -> sharing.ShareLinks:
    """``share_slots`` taken out of a page's context, as the template reads them."""
    hrefs = {channel: str(context.pop(f"share_{channel}")) for channel in sharing.CHANNELS}
    copy, web_share = hrefs.pop("copy"), hrefs.pop("share")
    return sharing.ShareLinks(links=hrefs, copy=copy, share=web_share)
