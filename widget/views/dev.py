"""The dev mailbox: with ``WIDGET_MAIL_URL=outbox://`` mail stays in the database; read it here.

Registered only when the app runs in debug mode.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template
from sqlalchemy import select

from .. import paths
from ..extensions import db
from ..models import OutboxMessage

bp = Blueprint("dev", __name__, url_prefix="/dev", template_folder=str(paths.TEMPLATES))


@bp.get("/mail")
def mailbox() -> str:
    messages = db.session.scalars(
        select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(100)
    ).all()
    return render_template("dev/mailbox.html", messages=messages)


@bp.get("/mail/<int:message_id>")
def message(message_id: int) -> str:
    message = db.session.get(OutboxMessage, message_id) or abort(404)
    return render_template("dev/message.html", message=message)


@bp.get("/mail/<int:message_id>.html")
def message_html(message_id: int) -> Response:
    """The HTML part as the supporter's mail client would show it."""
    message = db.session.get(OutboxMessage, message_id) or abort(404)
    response = Response(message.html_body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
