"""Staff: the dashboard, one campaign's numbers, the editor, and the count report."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC
from typing import Any

from flask import abort, g, redirect, render_template, request, url_for
from flask_wtf.file import FileField
from wtforms import DateTimeLocalField, IntegerField, StringField, TextAreaField
from wtforms.validators import Optional

from ...campaigns import ACTIONS, CampaignFileError, find_campaign, save_campaign
from ...clock import utcnow
from ...extensions import db
from ...models import Campaign, Partner
from ...reports import REPORT_LABELS, bar_chart, campaign_numbers, daily_confirmations
from . import ButtonForm, StaffForm, admin_required, bp


class CampaignForm(StaffForm):
    """The editor; the rules live in ``widget.campaigns.parse_campaign`` (one place)."""

    slug = StringField("Short name in URLs (cannot change later)")
    reference = StringField("Reference, e.g. UA 109.23")
    title = StringField("Title")
    summary = TextAreaField("Summary")
    ask = TextAreaField("What supporters are asked to do")
    sample_letter = TextAreaField("Sample letter")
    additional_info = TextAreaField("Additional information")
    deadline_note = TextAreaField("Deadline, as you want supporters to read it")
    goal = IntegerField("Goal (verified signatures)", validators=[Optional()])
    closes_at = DateTimeLocalField("Closes at (UTC; empty keeps it open)", validators=[Optional()])
    languages = StringField("Languages, first is the campaign's own (e.g. en, ur, fa)")
    allowed_origins = TextAreaField('Sites that may embed it, one per line ("*" for any)')
    targets = TextAreaField("Who to contact ([[targets]] entries)")
    upload = FileField("…or upload a campaign TOML file")


def campaign_or_404(slug: str) -> Campaign:
    return find_campaign(db.session, slug) or abort(404)


@bp.get("/")
def dashboard() -> str:
    campaigns = db.session.query(Campaign).order_by(Campaign.created_at.desc()).all()
    numbers = [campaign_numbers(db.session, c) for c in campaigns]
    return render_template("staff/dashboard.html", numbers=numbers, now=utcnow())


@bp.get("/campaigns/<slug>")
def campaign(slug: str) -> str:
    campaign = campaign_or_404(slug)
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
    )


@bp.get("/campaigns/<slug>/report")
def report(slug: str) -> str:
    """For the officials: totals only, no personal data; prints on A4 (or saves as PDF)."""
    campaign = campaign_or_404(slug)
    return render_template(
        "staff/report.html",
        campaign=campaign,
        numbers=campaign_numbers(db.session, campaign),
        printed=utcnow(),
        labels=REPORT_LABELS,
    )


@bp.route("/campaigns/new", methods=["GET", "POST"])
@admin_required
def new_campaign() -> Any:
    return edit(None)


@bp.route("/campaigns/<slug>/edit", methods=["GET", "POST"])
@admin_required
def edit_campaign(slug: str) -> Any:
    return edit(campaign_or_404(slug))


def edit(campaign: Campaign | None) -> Any:
    form = CampaignForm(data=form_data(campaign) if campaign and request.method == "GET" else None)
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            data = uploaded(form) or submitted(form, campaign)
            saved, _created = save_campaign(
                db.session,
                data,
                utcnow(),
                actor=g.staff.email,
                only_new=campaign is None,
                expected_slug=campaign.slug if campaign else None,
            )
        except CampaignFileError as error:
            db.session.rollback()
            errors[error.field.split("[")[0].split(".")[0]] = str(error)
        else:
            return redirect(url_for("staff.campaign", slug=saved.slug))
    status = 400 if errors or form.errors else 200
    return render_template(
        "staff/edit.html",
        form=form,
        campaign=campaign,
        errors=errors,
        actions=ACTIONS,
        chosen=request.form.getlist("actions")
        if request.method == "POST"
        else (campaign.actions if campaign else list(ACTIONS)),
    ), status


def uploaded(form: CampaignForm) -> dict[str, Any] | None:
    file = form.upload.data
    if not file or not getattr(file, "filename", ""):
        return None
    try:
        return tomllib.loads(file.read().decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CampaignFileError("upload", f"not a valid TOML file ({error})") from None


def submitted(form: CampaignForm, campaign: Campaign | None) -> dict[str, Any]:
    try:
        targets = tomllib.loads(form.targets.data or "").get("targets")
    except tomllib.TOMLDecodeError as error:
        raise CampaignFileError("targets", f"not valid TOML ({error})") from None
    data: dict[str, Any] = {
        "slug": campaign.slug if campaign else (form.slug.data or "").strip(),
        "reference": form.reference.data,
        "title": form.title.data,
        "summary": form.summary.data,
        "ask": form.ask.data,
        "sample_letter": form.sample_letter.data,
        "additional_info": form.additional_info.data,
        "deadline_note": form.deadline_note.data,
        "languages": [c.strip() for c in (form.languages.data or "").split(",") if c.strip()],
        "actions": request.form.getlist("actions"),
        "allowed_origins": (form.allowed_origins.data or "").split(),
        "targets": targets,
    }
    if form.goal.data is not None:
        data["goal"] = form.goal.data
    if form.closes_at.data:
        data["closes_at"] = form.closes_at.data.replace(tzinfo=UTC)
    if campaign and campaign.opens_at:
        data["opens_at"] = campaign.opens_at.replace(tzinfo=UTC)
    return data


def form_data(campaign: Campaign) -> dict[str, Any]:
    return {
        "slug": campaign.slug,
        "reference": campaign.reference,
        "title": campaign.title,
        "summary": campaign.summary,
        "ask": campaign.ask,
        "sample_letter": campaign.sample_letter,
        "additional_info": campaign.additional_info,
        "deadline_note": campaign.deadline_note,
        "goal": campaign.goal,
        "closes_at": campaign.closes_at,
        "languages": ", ".join(campaign.languages),
        "allowed_origins": "\n".join(campaign.allowed_origins),
        "targets": targets_toml(campaign.targets),
    }


def targets_toml(targets: list[dict[str, str]]) -> str:
    """The targets as ``[[targets]]`` TOML (JSON string escapes are valid TOML strings)."""
    blocks = []
    for target in targets:
        lines = ["[[targets]]"]
        lines += [
            f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in target.items()
        ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


@bp.post("/campaigns/<slug>/close")
@admin_required
def close(slug: str) -> Any:
    campaign = campaign_or_404(slug)
    if ButtonForm().validate_on_submit():
        campaign.closes_at = utcnow()
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
