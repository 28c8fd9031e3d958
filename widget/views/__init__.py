"""Blueprints: ``embed`` (widget, verify), ``api`` (public JSON), ``health``, ``dev`` (mailbox)."""

from __future__ import annotations

import secrets

from flask import Blueprint, Response, abort, g, render_template, request, url_for
from sqlalchemy.orm import joinedload

from .. import LOCALES, widget_state
from ..campaigns import find_campaign
from ..extensions import db
from ..models import Campaign, Signature
from ..security import origin_of
from ..tokens import TokenExpired, TokenInvalid, TokenService, link_fits


def absolute_url(endpoint: str, **values: object) -> str:
    """A link for a mail: always under ``WIDGET_PUBLIC_URL``, never the request's ``Host``."""
    return public_base() + url_for(endpoint, **values)


def public_base() -> str:
    base = widget_state().settings.public_url
    assert base is not None, "init_app sets the public URL"
    return base


def our_origin() -> str:
    return origin_of(public_base())


#: the largest body a supporter's request may have; a sign form is a few hundred bytes
MAX_CONTENT_LENGTH = 16 * 1024


#: the one body the supporter's forms send; anything else (JSON, files) is not from our pages
FORM_TYPE = "application/x-www-form-urlencoded"


def protect(bp: Blueprint) -> None:
    """The supporter-facing blueprints' common guard: a small body limit, only our forms' kind
    of body, no NUL anywhere, headers that keep pages out of caches and out of frames (the
    widget page opens framing itself), and the widget's own page when something fails."""
    from . import failures

    bp.before_request(_style_nonce)
    bp.before_request(_limit_body_size)
    bp.before_request(_refuse_malformed)
    bp.after_request(_security_headers)
    bp.register_error_handler(LinkProblem, _link_problem_page)
    bp.register_error_handler(MalformedRequest, _malformed_page)
    failures.register(bp)


class LinkProblem(Exception):
    """A mailed link that cannot be used: the page says why and how to go on."""

    def __init__(self, status: int, problem: str, campaign: Campaign | None = None) -> None:
        super().__init__(problem)
        self.status, self.problem, self.campaign = status, problem, campaign


def signature_from_link(
    tokens: TokenService, token: str, *, expired: str, only_counting: bool
) -> Signature:
    """The signature a confirm or manage link is for; ``LinkProblem`` if the link is forged,
    too old, made for a signature since erased (its secret changed), or (with
    ``only_counting``) its signature was withdrawn or invalidated."""
    try:
        payload = tokens.loads(token)
    except TokenExpired as too_old:
        campaign = find_campaign(db.session, str(too_old.payload.get("c", "")))
        raise LinkProblem(410, expired, campaign) from None
    except TokenInvalid:
        raise LinkProblem(400, "invalid") from None
    signature_id = payload.get("s")
    signature = (
        db.session.get(Signature, signature_id, options=[joinedload(Signature.campaign)])
        if type(signature_id) is int
        else None
    )
    gone = only_counting and signature and (signature.withdrawn_at or signature.invalidated_at)
    if signature is None or gone or not link_fits(payload, signature.link_secret):
        raise LinkProblem(404, "gone")
    g.widget_locale = signature.language if signature.language in LOCALES else LOCALES[0]
    return signature


def _link_problem_page(error: LinkProblem) -> tuple[str, int]:
    return render_message(
        "widget/link_problem.html", error.status, campaign=error.campaign, problem=error.problem
    )


class MalformedRequest(Exception):
    """A request no page of ours sends (JSON or a file for a form, a NUL byte): 400 or 415."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _malformed_page(error: MalformedRequest) -> tuple[str, int]:
    return render_message("widget/problem.html", error.status, campaign=None, problem="malformed")


def _limit_body_size() -> None:
    """Set per request, so a host app that mounts the widget keeps its own limit elsewhere; a
    body said to be bigger is refused here, before a limit or an error page would read it."""
    request.max_content_length = MAX_CONTENT_LENGTH
    if (request.content_length or 0) > MAX_CONTENT_LENGTH:
        abort(413)


def _refuse_malformed() -> None:
    """Refuse at the door what would otherwise reach the forms or the database half-understood:
    Flask-WTF would take a JSON body (a bare number, a list) or a file as form data, and
    PostgreSQL refuses NUL in text, so a NUL in a slug or a query would fail as a 500."""
    refuse_nul_in_url()
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.mimetype != FORM_TYPE and (request.content_length or request.mimetype):
        raise MalformedRequest(415)
    # Parsed now, under the body limit above, so that no later reader meets a surprise.
    refuse_nul_in_form()


def refuse_nul() -> None:
    """No NUL in the path, the query or a form field (PostgreSQL refuses it in text): the guard
    of every blueprint, so that no view or query needs its own check."""
    refuse_nul_in_url()
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        refuse_nul_in_form()


def refuse_nul_in_url() -> None:
    if has_nul(request.path) or any(has_nul(k) or has_nul(v) for k, v in request.args.items(True)):
        raise MalformedRequest(400)


def refuse_nul_in_form() -> None:
    if any(has_nul(k) or has_nul(v) for k, v in request.form.items(True)):
        raise MalformedRequest(400)


def has_nul(text: str) -> bool:
    return "\x00" in text


def _style_nonce() -> None:
    """A partner's accent colour is the one inline style; the CSP admits it by this nonce."""
    g.style_nonce = secrets.token_urlsafe(16)


def _security_headers(response: Response) -> Response:
    ancestors = g.get("frame_ancestors", "'none'")
    response.headers.setdefault(
        "Content-Security-Policy",
        f"default-src 'none'; script-src 'self'; style-src 'self' 'nonce-{g.style_nonce}'; "
        "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
        f"frame-ancestors {ancestors}",
    )
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def render_message(template: str, status: int = 200, **context: object) -> tuple[str, int]:
    return render_template(template, **context), status
