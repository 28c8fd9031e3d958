"""Staff: offline actions (admins enter and remove them) and the recount ("Check the count" for
every staff account, "Mend the count" for admins), all on the campaign page."""

from __future__ import annotations

from typing import Any

from flask import abort, g, redirect, url_for
from wtforms import SelectField, StringField, TextAreaField

from ...clock import utcnow
from ...extensions import db
from ...models import Campaign
from ...offline import (
    OfflineError,
    add_offline_action,
    offline_entries,
    offline_tally,
    parse_count,
    remove_offline_action,
)
from ...recount import last_recount, recount
from . import ButtonForm, StaffForm, admin_required, bp
from .campaigns import campaign_or_404, campaign_page


class OfflineForm(StaffForm):
    """The rules live in ``widget.offline.check_entry``; errors show next to their field."""

    count = StringField("How many actions")
    action = SelectField("Which action", choices=[], validate_choice=False)
    note = TextAreaField("Where they come from (shown in the report)")


def offline_form(campaign: Campaign) -> OfflineForm:
    form = OfflineForm()
    form.action.choices = [("", "Several kinds, or not known (total only)")] + [
        (action, action) for action in campaign.actions
    ]
    return form


def report_counts(campaign: Campaign) -> dict[str, Any]:
    """The report's totals: online, offline (every live entry with its note) and the last
    recount's statement."""
    return {
        "offline": offline_tally(db.session, campaign),
        "offline_entries": offline_entries(db.session, campaign),
        "last_recount": last_recount(db.session, campaign),
    }


def count_panel(campaign: Campaign, form: OfflineForm | None = None) -> dict[str, Any]:
    """The campaign page's share: the report's figures and the offline form."""
    return {**report_counts(campaign), "offline_form": form or offline_form(campaign)}


@bp.post("/campaigns/<slug>/offline")
@admin_required
def add_offline(slug: str) -> Any:
    campaign = campaign_or_404(slug)
    form = offline_form(campaign)
    if form.validate_on_submit():
        try:
            add_offline_action(
                db.session,
                campaign,
                count=parse_count(form.count.data),
                action=form.action.data or None,
                note=form.note.data,
                now=utcnow(),
                actor=g.staff.email,
            )
        except OfflineError as error:
            db.session.rollback()
            getattr(form, error.field).errors = [str(error)]
        else:
            return redirect(url_for("staff.campaign", slug=slug, _anchor="offline-title"))
    return campaign_page(campaign, form=form, status=400)


@bp.post("/campaigns/<slug>/offline/<int:entry_id>/remove")
@admin_required
def remove_offline(slug: str, entry_id: int) -> Any:
    campaign = campaign_or_404(slug)
    if not ButtonForm().validate_on_submit():
        abort(400)
    remove_offline_action(db.session, campaign, entry_id, now=utcnow(), actor=g.staff.email)
    return redirect(url_for("staff.campaign", slug=slug, _anchor="offline-title"))


@bp.post("/campaigns/<slug>/recount")
def check_count(slug: str) -> Any:
    """Any staff account may check; the result is kept in the audit log and shown."""
    campaign = campaign_or_404(slug)
    if not ButtonForm().validate_on_submit():
        abort(400)
    recount(db.session, campaign, now=utcnow(), actor=g.staff.email)
    return redirect(url_for("staff.campaign", slug=slug, _anchor="recount-title"))


@bp.post("/campaigns/<slug>/recount/fix")
@admin_required
def fix_count(slug: str) -> Any:
    campaign = campaign_or_404(slug)
    if not ButtonForm().validate_on_submit():
        abort(400)
    recount(db.session, campaign, now=utcnow(), actor=g.staff.email, fix=True)
    return redirect(url_for("staff.campaign", slug=slug, _anchor="recount-title"))
