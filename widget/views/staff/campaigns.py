"""Staff: the dashboard, one campaign's numbers and the count report (the editor: ``editor``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, abort, g, redirect, render_template, request, url_for
from flask_babel import force_locale

from ... import limits, paths, widget_state
from ... import report_pdf as pdf
from ...campaigns import find_campaign
from ...clock import utcnow
from ...exports import sealed_note
from ...extensions import db
from ...models import Campaign, Partner
from ...reports import (
    REPORT_LABELS,
    bar_chart,
    campaign_numbers,
    countries_by_name,
    daily_confirmations,
    report_language,
)
from ...webhook_events import announce_closed
from . import ButtonForm, admin_required, also_for_partners, bp


def campaign_or_404(slug: str) -> Campaign:
    return find_campaign(db.session, slug) or abort(404)


@bp.get("/")
@also_for_partners
def dashboard() -> Any:
    """The campaigns' numbers; a partner account goes to its own partner page instead."""
    if g.staff.partner is not None:
        return redirect(url_for("staff.partner_home", slug=g.staff.partner.slug))
    campaigns = db.session.query(Campaign).order_by(Campaign.created_at.desc()).all()
    numbers = [campaign_numbers(db.session, c) for c in campaigns]
    return render_template("staff/dashboard.html", numbers=numbers, now=utcnow())


@bp.get("/campaigns/<slug>")
def campaign(slug: str) -> tuple[str, int]:
    return campaign_page(campaign_or_404(slug))


def campaign_page(campaign: Campaign, *, form: Any = None, status: int = 200) -> tuple[str, int]:
    """The campaign's page; ``form`` is an offline entry sent back with its errors."""
    from .counts import count_panel

    today = utcnow().date()
    chart = bar_chart(daily_confirmations(db.session, campaign, today))
    partners = db.session.query(Partner).order_by(Partner.name).all()
    return render_template(
        "staff/campaign.html",
        campaign=campaign,
        numbers=campaign_numbers(db.session, campaign),
        chart=chart,
        partners=partners,
        button=ButtonForm(),
        is_open=campaign.is_open(utcnow()),
        sealed_note=sealed_note(campaign) if widget_state().settings.sealed else None,
        **count_panel(campaign, form),
    ), status


@bp.get("/campaigns/<slug>/report")
def report(slug: str) -> str:
    """For the officials: totals only, no personal data; prints on A4, or downloads as a PDF
    (``report_pdf``). Written in the campaign's first language, or ``?lang=`` among the
    campaign's languages."""
    return report_html(campaign_or_404(slug), request.args.get("lang"), utcnow())


@bp.get("/campaigns/<slug>/report.pdf")
@limits.limited(limits.REPORT_PDF)
def report_pdf(slug: str) -> Response:
    """The report page as a PDF, laid out from the same HTML and print stylesheet. Limited per
    account, and to ``MAX_RENDERS`` at once per process: past that, a 503 asks to come back."""
    campaign = campaign_or_404(slug)
    reason = pdf.unavailable_reason()
    if reason:
        return Response(f"No PDF on this server: {reason}", 503, mimetype="text/plain")
    if not pdf.RENDERS.acquire(blocking=False):
        return Response(
            "The server is making other PDFs just now. Try again in a few seconds.",
            503,
            mimetype="text/plain",
            headers={"Retry-After": str(pdf.BUSY_RETRY_AFTER)},
        )
    try:
        printed = utcnow()
        static = url_for("widget.static", filename="staff.css").rsplit("/", 1)[0]  # a prefix too
        body = pdf.render_pdf(
            report_html(campaign, request.args.get("lang"), printed), paths.STATIC, static
        )
    except OSError as error:
        reason = pdf.library_problem(error)
        return Response(f"No PDF on this server: {reason}", 503, mimetype="text/plain")
    finally:
        pdf.RENDERS.release()
    name = pdf.pdf_filename(campaign.slug, printed.date().isoformat())
    return Response(
        body,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def report_html(campaign: Campaign, wanted_language: str | None, printed: datetime) -> str:
    from .counts import report_counts

    language = report_language(campaign, wanted_language)
    numbers = campaign_numbers(db.session, campaign)
    settings = widget_state().settings
    with force_locale(language.locale):
        return render_template(
            "staff/report.html",
            campaign=campaign,
            numbers=numbers,
            countries=countries_by_name(numbers.by_country, language.locale),
            language=language,
            org_name=settings.org_name,
            org_url=settings.org_url,
            printed=printed,
            labels=REPORT_LABELS,
            pdf_unavailable=pdf.unavailable_reason(),
            **report_counts(campaign),
        )


@bp.post("/campaigns/<slug>/close")
@admin_required
def close(slug: str) -> Any:
    campaign = campaign_or_404(slug)
    if ButtonForm().validate_on_submit():
        now = utcnow()
        if campaign.closes_at is None or campaign.closes_at > now:
            campaign.closes_at = now  # closing a closed campaign again changes nothing
        announce_closed(db.session, campaign, now)
        db.session.commit()
    return redirect(url_for("staff.campaign", slug=slug))


@bp.post("/campaigns/<slug>/reopen")
@admin_required
def reopen(slug: str) -> Any:
    campaign = campaign_or_404(slug)
    if ButtonForm().validate_on_submit():
        campaign.closes_at = None
        campaign.updated_at = utcnow()
        db.session.commit()
    return redirect(url_for("staff.campaign", slug=slug))
