"""Cross-site request forgery defence for the sign form, which has no cookie to lean on.

The widget lives in a third-party iframe, where Safari, Firefox (strict) and Chrome's tracking
protection block our cookies, and Flask-WTF's CSRF needs the session cookie. So the form carries
a signed, expiring token bound to its campaign (no cookie needed), and the request must come from
our own origin: ``Sec-Fetch-Site: same-origin``, or else an ``Origin`` equal to ours (OWASP: the
Origin fallback is required, since older browsers send no Fetch Metadata). A request with neither
header is not from a browser, so it cannot be a forgery riding on a supporter's browser; the
signed token and the confirmation mail still stand in its way.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from wtforms import ValidationError
from wtforms.csrf.core import CSRF

from .tokens import TokenExpired, TokenInvalid, TokenService


class FormTokenCSRF(CSRF):
    """WTForms CSRF whose token is signed with our keys and names the campaign it is for.

    ``csrf_context`` is ``(TokenService, campaign slug)``. The token also records when the
    form was shown, so the view can tell a bot's instant submit (``form.seconds_to_fill``), and
    a nonce (``form.token_nonce``), so an accepted form cannot be sent again.
    """

    def setup_form(self, form):  # type: ignore[no-untyped-def]
        self.tokens, self.campaign = form.meta.csrf_context
        return super().setup_form(form)

    def generate_csrf_token(self, csrf_token_field) -> str:  # type: ignore[no-untyped-def]
        return new_form_token(self.tokens, self.campaign)

    def validate_csrf_token(self, form, field) -> None:  # type: ignore[no-untyped-def]
        tokens: TokenService = self.tokens
        try:
            payload = tokens.loads(field.data or "")
        except TokenExpired:
            raise ValidationError(
                _l("This form was open for a long time. Please check your details and sign again.")
            ) from None
        except TokenInvalid:
            raise ValidationError(
                _l("This form could not be checked. Please sign again.")
            ) from None
        if payload.get("c") != self.campaign:
            raise ValidationError(_l("This form belongs to another campaign. Please sign again."))
        nonce = payload.get("n")
        form.token_nonce = nonce if isinstance(nonce, str) else None
        issued = payload.get("t")
        form.seconds_to_fill = time.time() - issued if isinstance(issued, int | float) else None


def new_form_token(tokens: TokenService, campaign_slug: str) -> str:
    """A sign form token for the campaign: signed, with its own nonce and the time it was made."""
    issued = int(time.time())  # rounded down: never in the future
    return tokens.dumps({"c": campaign_slug, "n": secrets.token_urlsafe(8), "t": issued})


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def is_same_origin(
    headers: Mapping[str, str], our_origin: str, *, navigation: bool = False
) -> bool:
    """Whether a request came from a page of ours (see the module docstring); ``our_origin`` is
    the configured public origin, never one taken from the request's ``Host``.

    ``Sec-Fetch-Site`` must be ``same-origin``; with ``navigation`` (a GET that hands out data,
    such as the signatures CSV, which ``SameSite=Lax`` cookies reach from a cross-site link)
    ``none`` too: typed or bookmarked. Browsers without Fetch Metadata are judged by ``Origin``
    and ``Referer``: either, if present, must be ours. With neither, it is not a browser.
    """
    site = headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin" or (navigation and site == "none")
    origin = headers.get("Origin")
    if origin is not None and origin != our_origin:
        return False
    referer = headers.get("Referer")
    if referer is not None:
        try:
            return origin_of(referer) == our_origin
        except ValueError:  # unparsable, e.g. "http://[::1"
            return False
    return True
