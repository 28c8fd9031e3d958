"""The staff area: sign in, then campaigns, partners, exports and the count report.

Every page needs a signed-in account; pages that show or change supporters' data need an admin.
Every form carries Flask-WTF's CSRF token (the staff session is a first-party cookie, so the
cookie-bound token works here, unlike in the widget). Pages are never framed and never cached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_babel import ngettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RoutingException
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from ... import clock, limits, paths, widget_state
from ...extensions import db
from ...security import is_same_origin
from ...staff import authenticate
from ...staff_sessions import end_session, resume_session, start_session
from ...two_factor import must_enrol
from .. import MalformedRequest, our_origin, refuse_nul

bp = Blueprint("staff", __name__, url_prefix="/staff", template_folder=str(paths.TEMPLATES))
View = TypeVar("View", bound=Callable[..., Any])


class StaffForm(FlaskForm):
    """The staff forms' base. Flask-WTF hands a multipart POST's files to any field of the
    name; only file fields take one, so no text rule ever meets a file."""

    def validate(self, extra_validators: Any = None) -> bool:
        files = [
            field
            for field in self
            if not isinstance(field, FileField)
            and any(isinstance(value, FileStorage) for value in field.raw_data or ())
        ]
        for field in files:
            field.data, field.raw_data = None, []
            field.errors = ["Give text here, not a file."]
        return not files and super().validate(extra_validators)


class LoginForm(StaffForm):
    email = EmailField("Email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


class ButtonForm(StaffForm):
    """A form that is only a button (sign out, close a campaign): still CSRF-protected."""


bp.before_request(refuse_nul)

#: endpoints that hand out supporters' data on a GET (``own_pages_only``)
OWN_PAGES_ONLY: set[str] = set()


def own_pages_only(view: View) -> View:
    """Served only to a request from our own pages or the address bar (Fetch Metadata): a
    cross-site link rides on the ``SameSite=Lax`` cookie and would act in an admin's name.
    Checked in ``load_staff`` before the session, so a signed-out request is refused too
    rather than turned into a sign-in whose redirect would then come from our own page."""
    OWN_PAGES_ONLY.add(f"{bp.name}.{view.__name__}")
    return view


def csv_download(chunks: Callable[[Session], Iterator[str]], name: str) -> Response:
    """A CSV streamed as the attachment ``NAME-YYYY-MM-DD.csv``, read in a session of its own:
    the request's session ends before the stream does."""
    stream_session = db.sessionmaker()()

    def generate() -> Iterator[str]:
        try:
            yield from chunks(stream_session)
        finally:
            stream_session.close()

    response = Response(stream_with_context(generate()), mimetype="text/csv")
    filename = f"{name}-{clock.utcnow():%Y-%m-%d}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.before_request
def load_staff() -> Response | tuple[str, int] | None:
    """Every staff request finds its session row (``widget.staff_sessions``): a cookie whose
    session was ended or is over 8 hours old signs nobody in. Signed out, a plain page is
    remembered as ``next`` for after sign-in; a request that acts or hands out data is not."""
    if request.endpoint in OWN_PAGES_ONLY and not is_same_origin(
        request.headers, our_origin(), navigation=True
    ):
        return render_template(
            "staff/message.html",
            title="Download from the campaign page",
            message="For the supporters' safety the signatures download only from the "
            "campaign's staff page, not from a link on another site.",
        ), 403
    token = session.get("staff_token")
    g.staff = resume_session(db.session, token, clock.utcnow()) if token else None
    if g.staff is None and token:
        session.clear()
    if g.staff is None and request.endpoint not in ("staff.login", "staff.login_code"):
        target = request.full_path if is_plain_page(request.full_path) else None
        return redirect(url_for("staff.login", next=target))  # type: ignore[return-value]
    if g.staff is not None and g.staff.role == "partner" and request.endpoint not in PARTNER_PAGES:
        abort(403)
    if (
        g.staff is not None
        and must_enrol(widget_state().settings, g.staff)
        and request.endpoint not in ("staff.two_factor_enrol", "staff.logout")
    ):
        return redirect(url_for("staff.two_factor_enrol"))  # type: ignore[return-value]
    return None


def is_plain_page(target: str) -> bool:
    """Whether ``target`` (a path and query below the app's root) is a staff page that a GET
    only shows: the one kind of page a sign-in may lead on to."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    try:
        endpoint, _args = adapter.match(target.split("?", 1)[0], method="GET")
    except (RoutingException, HTTPException):
        return False
    return endpoint.startswith(f"{bp.name}.") and endpoint not in OWN_PAGES_ONLY


def sign_in_browser(staff: Any) -> None:
    """A new session row, and its token in a fresh cookie; the browser's previous session row
    ends first, or a copy of the old cookie would stay valid for the rest of its 8 hours."""
    previous = session.get("staff_token")
    if previous:
        end_session(db.session, previous)
    session.clear()
    # Flask-WTF keeps this request's CSRF token in ``g``: made from the key just cleared, it
    # would put a dead token in the page that follows (its sign-out button would do nothing)
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    session.permanent = True
    session["staff_token"] = start_session(db.session, staff, clock.utcnow())


@bp.after_request
def staff_headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
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


#: the endpoints a partner account may open (``admin_or_partner``); every other staff URL
#: answers 403 to one
PARTNER_PAGES: set[str] = {"staff.login", "staff.logout"}


def admin_or_partner(view: View) -> View:
    """Open to admins and to partner accounts. The view shows and changes only what belongs to
    ``g.staff.partner_id`` when that is set (a partner account); None is the organisation's."""
    PARTNER_PAGES.add(f"{bp.name}.{view.__name__}")

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.staff.role not in ("admin", "partner"):
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def also_for_partners(view: View) -> View:
    """A page every role may open, partner accounts too (the dashboard, the embed-code
    generator, the account's own password); the view scopes by ``g.staff.partner_id``."""
    PARTNER_PAGES.add(f"{bp.name}.{view.__name__}")
    return view


@bp.route("/login", methods=["GET", "POST"])
@limits.limited(limits.LOGIN)
def login() -> Any:
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        limits.wait_out_login(form.email.data)
        staff = authenticate(db.session, form.email.data, form.password.data, clock.utcnow())
        if staff is not None:
            return two_factor.after_password(staff)
        limits.login_failed(form.email.data)
        two_factor.password_failed(form.email.data)
        error = "That email address and password do not match an account."
    status = 401 if error else 400 if form.errors else 200
    return render_template("staff/login.html", form=form, error=error), status


def safe_next(target: str | None) -> str:
    """Only a path inside the staff area: never an open redirect to another site, and only
    printable ASCII (a line break would split the Location header)."""
    printable = target and all("!" <= char <= "~" and char != "\\" for char in target)
    inside = printable and target.startswith(url_for("staff.dashboard")) and "//" not in target
    if inside and is_plain_page(target[len(request.script_root) :]):
        return target
    return url_for("staff.dashboard")


@bp.post("/logout")
def logout() -> Response:
    if ButtonForm().validate_on_submit():
        end_session(db.session, session["staff_token"])
        session.clear()
    return redirect(url_for("staff.login"))  # type: ignore[return-value]


@bp.errorhandler(HTTPException)
def client_error(error: HTTPException) -> HTTPException | tuple[str, int]:
    """A malformed request (bad form data, an unknown campaign, a body too large) gets a
    staff page with its 4xx status; anything else goes on to the app's handlers."""
    code = error.code or 500
    if not 400 <= code < 500:
        return error
    return render_template(
        "staff/message.html",
        title=error.name,
        message="That request could not be used. Go back and try again from the staff pages.",
    ), code


@bp.errorhandler(MalformedRequest)
def malformed(error: MalformedRequest) -> tuple[str, int]:
    return render_template(
        "staff/message.html",
        title="Bad request",
        message="That request could not be used. Go back and try again from the staff pages.",
    ), error.status


@bp.errorhandler(403)
def forbidden(_error: Exception) -> tuple[str, int]:
    if g.get("staff") is not None and g.staff.role == "partner":
        return render_template(
            "staff/message.html",
            title="Not part of your partner account",
            message="This page is not part of your partner account. Your account shows "
            "your own partner page, its embed codes and its supporters.",
        ), 403
    return render_template(
        "staff/message.html",
        title="Not for your role",
        message="This page is for admins. Ask an admin if you need it.",
    ), 403


@bp.errorhandler(429)
def too_many(error: Exception) -> Response:
    seconds = getattr(error, "retry_after", None)
    seconds = seconds if isinstance(seconds, int) else limits.retry_after()
    minutes = max(1, -(-seconds // 60))
    body = render_template(
        "staff/message.html",
        title="Too many attempts",
        message=ngettext(
            "Too many sign-in attempts. Please try again in %(num)d minute.",
            "Too many sign-in attempts. Please try again in %(num)d minutes.",
            minutes,
        ),
    )
    response = Response(body, 429)
    response.headers["Retry-After"] = str(seconds)
    return response


from . import (  # noqa: E402, F401  (routes on bp)
    abuse,
    account,
    campaigns,
    counts,
    data,
    editor,
    funnel,
    keys,
    mail,
    partner_accounts,
    partners,
    runtime,
    two_factor,
    webhooks,
)
