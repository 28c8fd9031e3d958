"""Staff, admins only: supporters' data. Export (streamed, audited), the audit log, abuse
activity, and erasure on a supporter's request."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

from flask import Response, g, render_template, request, stream_with_context
from sqlalchemy import select
from wtforms import EmailField
from wtforms.validators import DataRequired, Email

from ...abuse import recent_activity
from ...campaigns import SLUG
from ...clock import utcnow
from ...exports import ExportFilter, audit_export, csv_chunks
from ...extensions import db
from ...models import Audit
from ...privacy import erase_supporter, find_by_email
from . import ButtonForm, StaffForm, admin_required, bp, own_pages_only
from .campaigns import campaign_or_404

#: the abuse monitor's time span, in hours: a quarter of an hour to 30 days
MIN_HOURS, MAX_HOURS = 0.25, 24.0 * 30


class EraseForm(StaffForm):
    email = EmailField("The supporter's email address", validators=[DataRequired(), Email()])


def export_filter() -> ExportFilter | None:
    """The download form's filters, or None if one is not what the form offers (a date, a
    partner slug), so that the admin is told rather than handed an empty file."""
    since = request.args.get("since") or None
    partner = request.args.get("partner") or None
    try:
        since_day = date.fromisoformat(since) if since else None
    except ValueError:
        return None
    if partner is not None and not SLUG.fullmatch(partner):
        return None
    return ExportFilter(since_day, partner, bool(request.args.get("opted_in")))


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


@bp.get("/campaigns/<slug>/signatures.csv")
@own_pages_only
@admin_required
def signatures_csv(slug: str) -> Response | tuple[str, int]:
    """Streamed: rows go out as the database yields them, in constant memory. Only for our own
    page's download form (``own_pages_only``): a cross-site link would export (audited) in an
    admin's name."""
    campaign = campaign_or_404(slug)
    filters = export_filter()
    if filters is None:
        return render_template(
            "staff/message.html",
            title="Bad filter",
            message="Give the date as YYYY-MM-DD and pick the partner from the list.",
        ), 400
    audit_export(db.session, campaign, filters, actor=g.staff.email, now=utcnow())
    session = db.sessionmaker()()

    def generate() -> Any:
        try:
            yield from csv_chunks(session, campaign, filters)
        finally:
            session.close()

    filename = f"{campaign.slug}-signatures-{utcnow():%Y-%m-%d}.csv"
    response = Response(stream_with_context(generate()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/audit")
@admin_required
def audit() -> str:
    entries = db.session.scalars(select(Audit).order_by(Audit.at.desc()).limit(200)).all()
    return render_template("staff/audit.html", entries=entries)


@bp.get("/campaigns/<slug>/activity")
@admin_required
def activity(slug: str) -> str | tuple[str, int]:
    campaign = campaign_or_404(slug)
    hours = activity_hours()
    if hours is None:
        return render_template(
            "staff/message.html",
            title="Bad time span",
            message=f"Give the hours as a number from {MIN_HOURS} to {MAX_HOURS:g}.",
        ), 400
    now = utcnow()
    report = recent_activity(db.session, campaign, now - timedelta(hours=hours), now)
    return render_template("staff/activity.html", campaign=campaign, report=report, hours=hours)


@bp.route("/erase", methods=["GET", "POST"])
@admin_required
def erase() -> tuple[str, int]:
    """Find a supporter's signatures by address; erase them all on their request."""
    form = EraseForm(request.args if request.method == "GET" else None, meta={"csrf": False})
    valid = bool(form.email.data) and form.validate()
    found = find_by_email(db.session, form.email.data) if valid else []
    status = 400 if form.email.data and not valid else 200
    return render_template("staff/erase.html", form=form, found=found, button=ButtonForm()), status


@bp.post("/erase/confirm")
@admin_required
def erase_confirm() -> Any:
    form = EraseForm()
    if form.validate_on_submit():
        erased = erase_supporter(db.session, form.email.data, now=utcnow(), actor=g.staff.email)
        return render_template(
            "staff/message.html",
            title="Erased",
            message=f"{erased} signature(s) erased; the counts were corrected. "
            "The audit log records that an erasure happened, not whose.",
        )
    return render_template("staff/erase.html", form=form, found=[], button=ButtonForm()), 400
