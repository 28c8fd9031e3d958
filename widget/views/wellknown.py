"""``/.well-known/security.txt`` (RFC 9116): where to report a security problem."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parseaddr

from flask import Blueprint, Response

from .. import widget_state
from ..clock import utcnow

bp = Blueprint("wellknown", __name__)

#: RFC 9116 asks for an expiry under a year away, so a stale file is seen as stale
LIFETIME = timedelta(days=365)


@bp.get("/.well-known/security.txt")
def security_txt() -> Response:
    settings = widget_state().settings
    contact = settings.security_contact or f"mailto:{parseaddr(settings.mail_from)[1]}"
    expires = (utcnow() + LIFETIME).replace(microsecond=0).isoformat() + "Z"
    body = f"Contact: {contact}\nExpires: {expires}\nPreferred-Languages: en\n"
    response = Response(body, mimetype="text/plain")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
