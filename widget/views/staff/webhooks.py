"""Staff, admins and partner accounts: webhook endpoints. A partner account sees and changes
only its own partner's endpoints (``g.staff.partner_id``), and what it adds is its partner's.
A new secret is shown once, in the answer to the form that made it (never stored for show)."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, g, redirect, render_template, request, url_for
from sqlalchemy import select
from wtforms import IntegerField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ... import webhooks, widget_state
from ...clock import utcnow
from ...extensions import db
from ...models import Partner
from ...sealed_partners import WEBHOOK_REFUSED, partner_output_refused
from . import ButtonForm, StaffForm, admin_or_partner, bp


class WebhookForm(StaffForm):
    url = StringField("Endpoint URL (https://…)")
    events = SelectMultipleField(
        "Events (none ticked: all of them)",
        choices=[SelectChoice(name, name) for name in webhooks.EVENT_TYPES],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validate_choice=True,
    )
    partner = SelectField(
        "For", choices=[SelectChoice("", "The organisation")], validate_choice=False
    )
    batch_max = IntegerField("Batch: at most this many events per delivery", [Optional()])
    batch_seconds = IntegerField("Batch: longest wait in seconds", [Optional()])


def scope() -> int | None:
    return g.staff.partner_id


def add_form() -> WebhookForm:
    form = WebhookForm()
    if scope() is None:
        partners = db.session.execute(select(Partner.slug, Partner.name).order_by(Partner.name))
        choices = [SelectChoice(slug, name) for slug, name in partners]
        form.partner.choices = [SelectChoice("", "The organisation"), *choices]
    return form


def page(
    form: WebhookForm | None = None,
    *,
    secret: tuple[int, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return render_template(
        "staff/webhooks.html",
        webhooks=webhooks.list_webhooks(db.session, scope()),
        deliveries=webhooks.recent_deliveries(db.session, scope()),
        form=form or add_form(),
        button=ButtonForm(),
        secret=secret,
        error=error,
        replayed=request.args.get("replayed", type=int),
        sealed_note=WEBHOOK_REFUSED
        if partner_output_refused(sealed=widget_state().settings.sealed, partner=scope())
        else None,
    ), status


@bp.get("/webhooks")
@admin_or_partner
def webhook_list() -> tuple[str, int]:
    return page()


@bp.post("/webhooks")
@admin_or_partner
def webhook_add() -> Any:
    form = add_form()
    if not form.validate_on_submit():
        return page(form, error="Check the form and try again.", status=400)
    partner = None
    if scope() is not None:
        partner = db.session.get_one(Partner, scope()).slug
    elif form.partner.data:
        partner = form.partner.data
    try:
        webhook, secret = webhooks.add_webhook(
            db.session,
            (form.url.data or "").strip(),
            partner=partner,
            events=form.events.data or [],
            batch_max=form.batch_max.data,
            batch_seconds=form.batch_seconds.data,
            allow_plain_http=current_app.debug,
            sealed=widget_state().settings.sealed,
            partner_account=scope() is not None,
            actor=g.staff.email,
            now=utcnow(),
        )
    except webhooks.WebhookError as error:
        db.session.rollback()
        return page(form, error=str(error), status=400)
    return page(secret=(webhook.id, secret))


def _change(webhook_id: int, change: Any) -> Any:
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        return change(db.session, webhook_id, scope=scope(), actor=g.staff.email, now=utcnow())
    except webhooks.NoSuchWebhook:
        abort(404)
    except webhooks.WebhookError as error:
        db.session.rollback()
        return page(error=str(error), status=400)


@bp.post("/webhooks/<int:webhook_id>/pause")
@admin_or_partner
def webhook_pause(webhook_id: int) -> Any:
    _change(webhook_id, webhooks.pause_webhook)
    return redirect(url_for("staff.webhook_list"))


@bp.post("/webhooks/<int:webhook_id>/resume")
@admin_or_partner
def webhook_resume(webhook_id: int) -> Any:
    answer = _change(webhook_id, webhooks.resume_webhook)
    if isinstance(answer, tuple):  # refused: the list again, saying why
        return answer
    return redirect(url_for("staff.webhook_list"))


@bp.post("/webhooks/<int:webhook_id>/rotate")
@admin_or_partner
def webhook_rotate(webhook_id: int) -> Any:
    secret = _change(webhook_id, webhooks.rotate_secret)
    return page(secret=(webhook_id, secret))


@bp.post("/webhooks/replay")
@admin_or_partner
def webhook_replay() -> Any:
    """``id`` (repeated) replays those failed deliveries; ``all=failed`` every one in scope."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    everything = request.form.get("all") == "failed"
    ids = request.form.getlist("id", type=int)
    replayed = 0
    if everything or ids:
        chosen = None if everything else ids
        replayed = len(
            webhooks.replay_failed(
                db.session, chosen, scope=scope(), actor=g.staff.email, now=utcnow()
            )
        )
    return redirect(url_for("staff.webhook_list", replayed=replayed))
