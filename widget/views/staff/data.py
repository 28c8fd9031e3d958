"""Staff, admins only: supporters' data. Export (streamed, audited), the audit log, and
erasure on a supporter's request (the abuse monitor is ``abuse``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Response, g, render_template, request
from flask_babel import ngettext
from sqlalchemy import select
from wtforms import EmailField
from wtforms.validators import DataRequired, Email

from ... import widget_state
from ...campaigns import SLUG
from ...clock import utcnow
from ...exports import ExportFilter, audit_export, count_rows, csv_chunks, sealed_note
from ...extensions import db
from ...models import Audit
from ...privacy import erase_supporter, find_by_email
from . import ButtonForm, StaffForm, admin_required, bp, csv_download, own_pages_only
from .campaigns import campaign_or_404


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
    # Command line only: the private key never comes near the server (README, sealed mode).
    rows, sealed = count_rows(db.session, campaign, filters)
    if widget_state().settings.sealed or sealed:
        return render_template(
            "staff/message.html", title="Names are sealed", message=sealed_note(campaign)
        ), 409
    audit_export(db.session, campaign, filters, rows=rows, actor=g.staff.email, now=utcnow())
    return csv_download(
        lambda session: csv_chunks(session, campaign, filters), f"{campaign.slug}-signatures"
    )


@bp.get("/audit")
@admin_required
def audit() -> str:
    entries = db.session.scalars(select(Audit).order_by(Audit.at.desc()).limit(200)).all()
    return render_template("staff/audit.html", entries=entries)


@bp.route("/erase", methods=["GET", "POST"])
@admin_required
def erase() -> tuple[str, int]:
    """Find a supporter's signatures by address; erase them all on their request. The search
    is a POST with the form's CSRF token: the address stays out of URLs (access and proxy logs,
    history), and a link on another site cannot search (audited) in an admin's name."""
    form = EraseForm()
    valid = form.validate_on_submit()
    if request.method == "POST" and "csrf_token" in form.errors:
        return render_template(
            "staff/message.html",
            title="Search again",
            message="This search form had expired. Open the erase page again and search.",
        ), 400
    addresses = widget_state().addresses
    found = find_by_email(db.session, form.email.data, addresses) if valid else []
    if valid:
        # a search shows a supporter's data: recorded, without the address searched for
        search = Audit(
            at=utcnow(), actor=g.staff.email, action="erase.search", details={"found": len(found)}
        )
        db.session.add(search)
        db.session.commit()
    status = 400 if request.method == "POST" and not valid else 200
    return render_template(
        "staff/erase.html", form=form, found=found, searched=valid, button=ButtonForm()
    ), status


@bp.post("/erase/confirm")
@admin_required
def erase_confirm() -> Any:
    form = EraseForm()
    if form.validate_on_submit():
        erased = erase_supporter(
            db.session,
            form.email.data,
            now=utcnow(),
            actor=g.staff.email,
            addresses=widget_state().addresses,
        )
        return render_template(
            "staff/message.html",
            title="Erased",
            message=ngettext(
                "%(num)d signature erased; the counts were corrected.",
                "%(num)d signatures erased; the counts were corrected.",
                erased,
            )
            + " The audit log records that an erasure happened, not whose.",
        )
    return render_template(
        "staff/erase.html", form=form, found=[], searched=False, button=ButtonForm()
    ), 400
