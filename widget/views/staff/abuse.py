"""Staff, admins only: the abuse monitor, and taking fake signatures out of the count from it.

The admin picks the criteria (IP hash, email domain, partner, time window; all given must
match), sees a dry run of what would change, then confirms it. An open end of the window is
pinned to the dry run's moment, and the confirmation carries a signed digest of the exact
signatures the dry run showed: if the selection matches any others by then, nothing is done
and the new figures are shown instead. The rules and the one transaction are ``widget.abuse``'s, the
same as the ``invalidate`` command's.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from flask import g, render_template, request
from sqlalchemy import select
from wtforms import DateTimeLocalField, HiddenField, SelectField, StringField
from wtforms.validators import Length, Optional

from ... import widget_state
from ...abuse import (
    PreviewOutdated,
    Selection,
    SelectionError,
    check_selection,
    invalidate,
    recent_activity,
)
from ...clock import utcnow
from ...extensions import db
from ...forms import strip
from ...models import Campaign, Partner
from ...tokens import TokenInvalid, TokenService, preview_tokens
from . import StaffForm, admin_required, bp
from .campaigns import campaign_or_404

#: the abuse monitor's time span, in hours: a quarter of an hour to 30 days
MIN_HOURS, MAX_HOURS = 0.25, 24.0 * 30
TIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


class SelectionForm(StaffForm):
    """The criteria; ``widget.abuse.check_selection`` has the rules, shown at the form's top."""

    ip_hash = StringField("IP hash", filters=[strip], validators=[Length(max=64)])
    domain = StringField("Email domain", filters=[strip], validators=[Length(max=300)])
    partner = SelectField("Partner", choices=[], default="")
    since = DateTimeLocalField("From (UTC)", format=TIME_FORMATS, validators=[Optional()])
    until = DateTimeLocalField("Until (UTC)", format=TIME_FORMATS, validators=[Optional()])
    #: the dry run's signed digest of the signatures it showed, sent back by its confirm button
    preview = HiddenField()

    def selection(self) -> Selection:
        return Selection(
            self.ip_hash.data or None,
            self.domain.data or None,
            self.partner.data or None,
            self.since.data,
            self.until.data,
        )


def previews() -> TokenService:
    return preview_tokens(widget_state().settings.secret_keys)


def expected_digest(campaign: Campaign, token: str) -> str:
    """The digest a confirm button carries; "" (matching nothing, so the confirm shows the new
    dry run) when it is forged, expired, or another campaign's."""
    try:
        payload = previews().loads(token)
    except TokenInvalid:
        return ""
    digest = payload.get("d")
    return digest if payload.get("c") == campaign.id and isinstance(digest, str) else ""


def pinned_end(now: datetime) -> datetime:
    """A dry run's moment as the end of an open window, to the whole second the form carries
    (rounded up, so that nothing the dry run saw falls outside it)."""
    return now.replace(microsecond=0) + timedelta(seconds=1)


def selection_form(formdata: Any = None) -> SelectionForm:
    """The form, with every registered partner to pick from (inactive ones too: their old
    signatures still count)."""
    form = SelectionForm(formdata) if formdata is not None else SelectionForm()
    partners = db.session.execute(select(Partner.slug, Partner.name).order_by(Partner.slug))
    form.partner.choices = [("", "Any partner or none")] + [
        (slug, f"{name} ({slug})") for slug, name in partners
    ]
    return form


def activity_hours() -> float | None:
    """``?hours=``: a number from a quarter of an hour to 30 days, else None (NaN, inf, text)."""
    value = request.args.get("hours")
    if value is None:
        return 1.0
    try:
        hours = float(value)
    except ValueError:
        return None
    return hours if math.isfinite(hours) and MIN_HOURS <= hours <= MAX_HOURS else None


def monitor(campaign: Campaign, form: SelectionForm, hours: float = 1.0, status: int = 200) -> Any:
    now = utcnow()
    report = recent_activity(db.session, campaign, now - timedelta(hours=hours), now)
    return render_template(
        "staff/activity.html", campaign=campaign, report=report, hours=hours, form=form
    ), status


@bp.get("/campaigns/<slug>/activity")
@admin_required
def activity(slug: str) -> Any:
    """The monitor; ``?ip_hash=``, ``?domain=``, ``?partner=`` (a row's "Select") fill the form."""
    campaign = campaign_or_404(slug)
    hours = activity_hours()
    if hours is None:
        return render_template(
            "staff/message.html",
            title="Bad time span",
            message=f"Give the hours as a number from {MIN_HOURS} to {MAX_HOURS:g}.",
        ), 400
    return monitor(campaign, selection_form(request.args), hours)


def preview_page(
    campaign: Campaign, form: SelectionForm, outdated: PreviewOutdated | None = None
) -> Any:
    """The dry run, with the confirm button that carries its digest."""
    try:
        selection = check_selection(form.selection())
        pinned = selection.until is None
        if pinned:
            selection = replace(selection, until=pinned_end(utcnow()))
            form.until.data = selection.until
        result = outdated.preview if outdated else None
        result = result or invalidate(
            db.session, campaign, selection, now=utcnow(), actor=g.staff.email, apply=False
        )
    except SelectionError as error:
        db.session.rollback()
        return selection_refused(campaign, form, error)
    form.domain.data = selection.domain
    form.preview.data = previews().dumps({"c": campaign.id, "d": result.digest})
    return render_template(
        "staff/invalidate_preview.html",
        campaign=campaign,
        form=form,
        selection=selection,
        result=result,
        outdated=outdated is not None,
        pinned=pinned,
    ), 409 if outdated else 200


def selection_refused(campaign: Campaign, form: SelectionForm, error: SelectionError) -> Any:
    form.form_errors.append(str(error))
    return monitor(campaign, form, status=400)


@bp.post("/campaigns/<slug>/invalidate/preview")
@admin_required
def invalidate_preview(slug: str) -> Any:
    campaign = campaign_or_404(slug)
    form = selection_form()
    if not form.validate_on_submit():
        return monitor(campaign, form, status=400)
    return preview_page(campaign, form)


@bp.post("/campaigns/<slug>/invalidate")
@admin_required
def invalidate_confirm(slug: str) -> Any:
    campaign = campaign_or_404(slug)
    form = selection_form()
    if not form.validate_on_submit() or not form.preview.data:
        return monitor(campaign, form, status=400)
    expected = expected_digest(campaign, form.preview.data)
    try:
        result = invalidate(
            db.session,
            campaign,
            form.selection(),
            now=utcnow(),
            actor=g.staff.email,
            apply=True,
            expect=expected,
        )
    except SelectionError as error:
        db.session.rollback()
        return selection_refused(campaign, form, error)
    except PreviewOutdated as outdated:
        return preview_page(campaign, form, outdated)
    return render_template("staff/invalidate_done.html", campaign=campaign, result=result)
