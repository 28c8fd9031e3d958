"""Staff, admins only: the mail queue. Failed mail is shown (never to whom or what it said) and
can be sent again, one message or all, audited."""

from __future__ import annotations

from typing import Any

from flask import g, redirect, render_template, request, url_for

from ... import widget_state
from ...clock import utcnow
from ...extensions import db
from ...outbox_status import failed_mail, queue_status, resend
from . import ButtonForm, admin_required, bp


def describe_age(seconds: int | None) -> str:
    """``3 min``, ``5 h 12 min``, ``2 days 4 h``: how long the oldest unsent mail has waited."""
    if seconds is None:
        return "none waiting"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if days:
        return f"{days} days {hours % 24} h" if days > 1 else f"1 day {hours % 24} h"
    if hours:
        return f"{hours} h {minutes % 60} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


@bp.get("/mail")
@admin_required
def mail() -> str:
    status = queue_status(db.session)
    return render_template(
        "staff/mail.html",
        status=status,
        oldest=describe_age(status.oldest_unsent_seconds(utcnow())),
        failed=failed_mail(db.session),
        resent=request.args.get("resent", type=int),
        button=ButtonForm(),
        sealed=widget_state().settings.sealed,
    )


@bp.post("/mail/resend")
@admin_required
def mail_resend() -> Any:
    """``id`` (repeated) resends those messages; ``all=failed`` every failed one."""
    resent = 0
    if ButtonForm().validate_on_submit():
        everything = request.form.get("all") == "failed"
        ids = request.form.getlist("id", type=int)
        if everything or ids:
            chosen = None if everything else ids
            resent = len(resend(db.session, chosen, actor=g.staff.email, now=utcnow()))
    return redirect(url_for("staff.mail", resent=resent))
