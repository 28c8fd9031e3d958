"""Staff: API keys for the signatures API. A partner account sees, makes and revokes only
its own partner's keys; an admin, every key."""

from __future__ import annotations

from typing import Any

from flask import abort, g, redirect, render_template, url_for
from sqlalchemy import select
from wtforms import StringField

from ... import widget_state
from ...apikeys import ApiKeyError, create_key, find_key, list_keys, revoke_key
from ...clock import utcnow
from ...extensions import db
from ...models import Partner
from ...sealed_partners import KEY_REFUSED, partner_output_refused
from . import ButtonForm, StaffForm, admin_or_partner, bp


class KeyForm(StaffForm):
    name = StringField("Name (what the key is for, e.g. “Our CRM”)")
    #: an admin's choice; a partner account's keys are always its own partner's
    partner = StringField("Whose supporters it reads")


def key_scope() -> dict[str, Any]:
    """``list_keys``/``find_key`` arguments: a partner account sees its partner's keys only."""
    return {"partner_id": g.staff.partner_id, "everyone": g.staff.partner_id is None}


@bp.route("/keys", methods=["GET", "POST"])
@admin_or_partner
def api_keys() -> Any:
    """List and make keys. A new key is shown in this one answer (never in a URL, a session
    or a redirect), and only its hash is kept."""
    form = KeyForm()
    new_key, error = None, None
    if form.validate_on_submit():
        own = g.staff.partner.slug if g.staff.partner_id is not None else None
        partner = own if g.staff.partner_id is not None else (form.partner.data or None)
        try:
            _row, new_key = create_key(
                db.session,
                form.name.data or "",
                partner,
                utcnow(),
                actor=g.staff.email,
                sealed=widget_state().settings.sealed,
            )
        except ApiKeyError as problem:
            db.session.rollback()
            error = problem
    partners = []
    if g.staff.partner_id is None:
        partners = db.session.scalars(select(Partner).order_by(Partner.name)).all()
    status = 400 if error or form.errors else 200
    return render_template(
        "staff/keys.html",
        form=form,
        button=ButtonForm(),
        keys=list_keys(db.session, **key_scope()),
        partners=partners,
        new_key=new_key,
        error=error,
        sealed_note=KEY_REFUSED
        if partner_output_refused(sealed=widget_state().settings.sealed, partner=g.staff.partner_id)
        else None,
    ), status


@bp.post("/keys/<int:key_id>/revoke")
@admin_or_partner
def revoke_api_key(key_id: int) -> Any:
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        key = find_key(db.session, str(key_id), **key_scope())
    except ApiKeyError:
        abort(404)
    try:
        revoke_key(db.session, key, utcnow(), actor=g.staff.email)
    except ApiKeyError:
        db.session.rollback()  # revoked already: the list shows when
    return redirect(url_for("staff.api_keys"))
