"""The staff area: sign in, then campaigns, partners, exports and the count report.

Every page needs a signed-in account; pages that show or change supporters' data need an admin.
Every form carries Flask-WTF's CSRF token (the staff session is a first-party cookie, so the
cookie-bound token works here, unlike in the widget). Pages are never framed and never cached.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from ... import limits, paths
from ...clock import utcnow
from ...extensions import db
from ...models import Staff
from ...staff import authenticate

bp = Blueprint("staff", __name__, url_prefix="/staff", template_folder=str(paths.TEMPLATES))
View = TypeVar("View", bound=Callable[..., Any])


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


class ButtonForm(FlaskForm):
    """A form that is only a button (sign out, close a campaign): still CSRF-protected."""


@bp.before_request
def load_staff() -> Response | None:
    staff_id = session.get("staff_id")
    g.staff = db.session.get(Staff, staff_id) if staff_id else None
    if g.staff is not None and not g.staff.active:
        session.clear()
        g.staff = None
    if g.staff is None and request.endpoint != "staff.login":
        return redirect(url_for("staff.login", next=request.full_path))  # type: ignore[return-value]
    return None


@bp.after_request
def staff_headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    return response


def admin_required(view: View) -> View:
    """Changing things and seeing supporters' personal data is for admins only."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.staff.role != "admin":
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


@bp.route("/login", methods=["GET", "POST"])
@limits.limit_login
def login() -> Any:
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        if not limits.may_try_login(form.email.data):
            abort(429)
        staff = authenticate(db.session, form.email.data, form.password.data, utcnow())
        if staff is not None:
            session.clear()
            session.permanent = True
            session["staff_id"] = staff.id
            return redirect(safe_next(request.args.get("next")))
        error = "That email address and password do not match an account."
    status = 401 if error else 200
    return render_template("staff/login.html", form=form, error=error), status


def safe_next(target: str | None) -> str:
    """Only a path inside the staff area: never an open redirect to another site."""
    if target and target.startswith(url_for("staff.dashboard")) and "//" not in target:
        return target
    return url_for("staff.dashboard")


@bp.post("/logout")
def logout() -> Response:
    if ButtonForm().validate_on_submit():
        session.clear()
    return redirect(url_for("staff.login"))  # type: ignore[return-value]


@bp.errorhandler(403)
def forbidden(_error: Exception) -> tuple[str, int]:
    return render_template(
        "staff/message.html",
        title="Not for your role",
        message="This page is for admins. Ask an admin if you need it.",
    ), 403


@bp.errorhandler(429)
def too_many(_error: Exception) -> Response:
    minutes = max(1, -(-limits.retry_after() // 60))
    body = render_template(
        "staff/message.html",
        title="Too many attempts",
        message=f"Too many sign-in attempts. Please try again in {minutes} minute(s).",
    )
    response = Response(body, 429)
    response.headers["Retry-After"] = str(limits.retry_after())
    return response


from . import campaigns, data, mail, partners  # noqa: E402, F401  (routes on bp)
