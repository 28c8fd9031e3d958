"""When the database or our code fails under a supporter: the widget's own page in their
language, never Flask's bare English one, and on the sign form what they typed is kept.

A database that cannot serve now (down, restarting, read-only, locked) answers 503 with
``Retry-After``; any other failure is a 500. Both are logged without personal data
(``widget.logs``).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, g, make_response, render_template, request
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from werkzeug.exceptions import InternalServerError

from .. import LOCALES, logs
from ..extensions import db

log = logging.getLogger(__name__)

#: seconds a supporter (or a proxy) is asked to wait before trying again after a 503
RETRY_AFTER = 30


def register(bp: Blueprint) -> None:
    bp.register_error_handler(DBAPIError, database_failed)
    bp.register_error_handler(InternalServerError, internal_error)


#: PostgreSQL's SQLSTATE classes for a server that cannot serve now: connection lost (08),
#: read-only (25006), out of disk or memory (53), shutting down (57P)
UNAVAILABLE_STATES = ("08", "25006", "53", "57P")


def is_unavailable(error: BaseException) -> bool:
    """A database that cannot serve at the moment, as opposed to a query that is wrong."""
    if isinstance(error, OperationalError):
        return True
    if not isinstance(error, DBAPIError):
        return False
    state = getattr(error.orig, "sqlstate", None) or ""
    return error.connection_invalidated or state.startswith(UNAVAILABLE_STATES)


def database_status(error: DBAPIError) -> int:
    """Log a database failure without personal data; 503 if it cannot serve now, else 500."""
    if is_unavailable(error):
        log.error("database unavailable in %s: %s", request.endpoint, logs.describe(error))
        return 503
    log.error("database error in %s: %s", request.endpoint, logs.describe(error))
    return 500


def database_failed(error: DBAPIError) -> Response:
    return failure_page(database_status(error))


def internal_error(error: InternalServerError) -> Response:
    """Flask has logged the exception already (``WidgetFlask.log_exception``)."""
    return failure_page(500)


def failure_page(status: int) -> Response:
    """The sign form again with the supporter's values if the campaign can still be read,
    else the widget's problem page; a page that cannot be drawn at all falls back to text."""
    _forget_failed_transaction()
    if request.args.get("lang") in LOCALES and not g.get("widget_locale"):
        g.widget_locale = request.args["lang"]
    problem = "unavailable" if status == 503 else "error"
    try:
        body = _sign_form_again(status, problem) or render_template(
            "widget/problem.html", campaign=None, problem=problem
        )
    except Exception:
        log.exception("the %s page could not be drawn", status)
        body = "Something went wrong. Please try again in a minute."
    response = make_response(body, status)
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


def _sign_form_again(status: int, problem: str) -> str | None:
    from .embed import campaign_for_failure, posted_source, render_widget, sign_form

    if request.endpoint != "widget.sign":
        return None
    try:
        campaign = campaign_for_failure()
        if campaign is None:
            return None
        body, _status = render_widget(
            campaign,
            sign_form(campaign),
            posted_source(),
            status,
            failure=problem,
        )
    except SQLAlchemyError:
        _forget_failed_transaction()
        return None
    return body


def _forget_failed_transaction() -> None:
    try:
        db.session.rollback()
    except SQLAlchemyError:
        db.session.close()
