"""Staff: partner accounts. A partner's own page (its numbers, embed codes and consenting
supporters), and the admin's part: creating and deactivating the partner's accounts."""

from __future__ import annotations

import secrets

from flask import Response, abort, g, render_template
from sqlalchemy import select
from wtforms import EmailField
from wtforms.validators import DataRequired, Email

from ... import widget_state
from ...clock import utcnow
from ...extensions import db
from ...models import Partner, Staff
from ...partner_supporters import audit_partner_export, partner_numbers, supporters_csv
from ...sealed_partners import CSV_REFUSED
from ...staff import StaffError, create_staff, deactivate_staff
from .. import absolute_url
from . import (
    ButtonForm,
    StaffForm,
    admin_or_partner,
    admin_required,
    bp,
    csv_download,
    own_pages_only,
)


class PartnerAccountForm(StaffForm):
    email = EmailField("Email address of the new account", validators=[DataRequired(), Email()])


def partner_in_view(slug: str) -> Partner:
    """The partner of a page: a partner account may open only its own (403 for another slug,
    known or not, so the answer does not tell which partners exist); an admin any (404)."""
    own = g.staff.partner
    if own is not None:
        if slug != own.slug:
            abort(403)
        return own
    return db.session.scalar(select(Partner).where(Partner.slug == slug)) or abort(404)


def partner_accounts(partner: Partner) -> list[Staff]:
    return list(
        db.session.scalars(
            select(Staff).where(Staff.partner_id == partner.id).order_by(Staff.email)
        )
    )


@bp.get("/partners/<slug>/home")
@admin_or_partner
def partner_home(slug: str) -> str:
    """What the partner sees: its verified signatures per campaign, its embed codes, the CSV
    of the supporters who agreed to hear from it."""
    partner = partner_in_view(slug)
    return render_template(
        "staff/partner_home.html",
        partner=partner,
        numbers=partner_numbers(db.session, partner),
        sealed_note=CSV_REFUSED if widget_state().settings.sealed else None,
    )


@bp.get("/partners/<slug>/supporters.csv")
@own_pages_only
@admin_or_partner
def partner_supporters_csv(slug: str) -> Response | tuple[str, int]:
    """Streamed like the organisation's export, and like it only for our own pages: a
    cross-site link would download (audited) in the account's name. Refused in sealed mode
    (``widget.sealed_partners``), before anything is audited."""
    partner = partner_in_view(slug)
    if widget_state().settings.sealed:
        return render_template(
            "staff/message.html", title="Supporters' data is sealed", message=CSV_REFUSED
        ), 409
    audit_partner_export(db.session, partner, actor=g.staff.email, now=utcnow())
    partner_id = partner.id
    return csv_download(
        # the stream's own copy of the partner: the request's session ends first
        lambda session: supporters_csv(session, session.get_one(Partner, partner_id)),
        f"{partner.slug}-supporters",
    )


@bp.post("/partners/<slug>/accounts")
@admin_required
def partner_account_create(slug: str) -> tuple[str, int]:
    """A new account for the partner, with a random first password shown once; the partner
    changes it on the password page."""
    partner = partner_in_view(slug)
    form = PartnerAccountForm()
    error = None
    if form.validate_on_submit():
        password = secrets.token_urlsafe(15)
        try:
            account = create_staff(
                db.session,
                form.email.data,
                password,
                "partner",
                utcnow(),
                partner=partner.slug,
                actor=g.staff.email,
            )
        except StaffError as problem:
            db.session.rollback()
            said = str(problem)
            error = said[:1].upper() + said[1:] + "."
        else:
            return render_template(
                "staff/partner_account.html",
                partner=partner,
                account=account,
                password=password,
                login_url=absolute_url("staff.login"),
                form=form,
                error=None,
            ), 200
    return render_template(
        "staff/partner_account.html",
        partner=partner,
        account=None,
        password=None,
        form=form,
        error=error or "Give the email address of the new account.",
    ), 400


@bp.post("/partners/<slug>/accounts/<int:account_id>/deactivate")
@admin_required
def partner_account_deactivate(slug: str, account_id: int) -> tuple[str, int]:
    partner = partner_in_view(slug)
    account = db.session.get(Staff, account_id)
    if account is None or account.partner_id != partner.id:
        abort(404)
    if not ButtonForm().validate_on_submit():
        abort(400)
    deactivate_staff(db.session, account, utcnow(), actor=g.staff.email)
    return render_template(
        "staff/message.html",
        title="Account deactivated",
        message=f"{account.email} can no longer sign in; every browser signed in to it "
        "has been signed out.",
    ), 200
