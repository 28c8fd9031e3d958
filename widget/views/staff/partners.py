"""Staff: partner sites, and the embed-code generator."""

from __future__ import annotations

from typing import Any

from flask import abort, g, redirect, render_template, request, url_for
from sqlalchemy import func, select
from wtforms import BooleanField, StringField, TextAreaField

from ... import LOCALES
from ...clock import utcnow
from ...embed_views import VIEWS, parse_view
from ...extensions import db
from ...models import Campaign, Partner, Signature
from ...partners import PartnerError, save_partner
from ...reports import counted
from ...themes import MODES, parse_theme
from .. import absolute_url
from . import ButtonForm, StaffForm, admin_required, also_for_partners, bp
from .partner_accounts import PartnerAccountForm, partner_accounts


class PartnerForm(StaffForm):
    slug = StringField("Partner slug (the data-partner value)")
    name = StringField("Name")
    origins = TextAreaField("Their sites, one per line (https://news.example.org)")
    active = BooleanField("Active", default=True)


@bp.get("/partners")
def partners() -> str:
    rows = db.session.execute(
        select(Partner, func.count(Signature.id))
        .outerjoin(
            Signature,
            (Signature.partner_id == Partner.id) & counted()[0] & counted()[1] & counted()[2],
        )
        .group_by(Partner.id)
        .order_by(Partner.name)
    ).all()
    return render_template("staff/partners.html", rows=rows)


@bp.route("/partners/new", methods=["GET", "POST"])
@bp.route("/partners/<slug>", methods=["GET", "POST"])
@admin_required
def partner(slug: str | None = None) -> Any:
    existing = db.session.scalar(select(Partner).where(Partner.slug == slug)) if slug else None
    if slug and existing is None:
        abort(404)
    form = PartnerForm(
        data={
            "slug": existing.slug,
            "name": existing.name,
            "origins": "\n".join(existing.origins),
            "active": existing.active,
        }
        if existing and request.method == "GET"
        else None
    )
    error: PartnerError | None = None
    if form.validate_on_submit():
        try:
            save_partner(
                db.session,
                existing.slug if existing else (form.slug.data or "").strip(),
                form.name.data or "",
                (form.origins.data or "").split(),
                utcnow(),
                actor=g.staff.email,
                active=bool(form.active.data),
                only_new=existing is None,
            )
        except PartnerError as problem:
            db.session.rollback()
            error = problem
        else:
            return redirect(url_for("staff.partners"))
    status = 400 if error or form.errors else 200
    return render_template(
        "staff/partner.html",
        form=form,
        partner=existing,
        error=error,
        accounts=partner_accounts(existing) if existing else [],
        account_form=PartnerAccountForm(formdata=None),
        account_error=None,
        button=ButtonForm(),
    ), status


@bp.get("/embed")
@also_for_partners
def embed_code() -> str:
    """Pick campaign, partner, language, theme, view and width; copy the snippet; see it live.
    A partner account makes codes for its own slug only: another one is refused, not swapped."""
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.title)).all()
    own = g.staff.partner
    if own is not None and request.args.get("partner", own.slug) != own.slug:
        abort(403)
    partners = (
        [own]
        if own is not None
        else db.session.scalars(
            select(Partner).where(Partner.active.is_(True)).order_by(Partner.name)
        ).all()
    )
    chosen = {
        "campaign": request.args.get("campaign") or (campaigns[0].slug if campaigns else ""),
        "partner": own.slug if own is not None else request.args.get("partner", ""),
        "lang": request.args.get("lang", ""),
        "theme": request.args.get("theme", "light"),
        "accent": request.args.get("accent", ""),
        "view": parse_view(request.args.get("view")),
        "width": "full" if request.args.get("width") == "full" else "",
    }
    theme = parse_theme(f"{chosen['theme']} {chosen['accent']}")
    theme_value = theme.mode + (f" {theme.accent}" if theme.accent else "")
    return render_template(
        "staff/embed.html",
        campaigns=campaigns,
        partners=partners,
        locales=LOCALES,
        modes=MODES,
        views=VIEWS,
        chosen=chosen,
        theme_value=theme_value,
        script_url=absolute_url("widget.embed_js"),
        widget_url=absolute_url("widget.page", slug=chosen["campaign"])
        if chosen["campaign"]
        else "",
    )
