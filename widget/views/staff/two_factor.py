"""Staff: the second sign-in step, the account's own second factor, and the admins' list of
accounts, where a locked-out account's second factor is reset (``widget.two_factor``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, abort, g, redirect, render_template, request, session, url_for
from markupsafe import Markup
from sqlalchemy import select
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from ... import clock, enrol_codes, limits, signin_audit, two_factor, widget_state
from ...abuse import ip_hash
from ...extensions import db
from ...models import Staff
from ...staff import WrongPassword
from . import (
    ButtonForm,
    StaffForm,
    admin_required,
    also_for_partners,
    bp,
    safe_next,
    sign_in_browser,
)

T = TypeVar("T")

CODE_HELP = "The 6-digit code from your authenticator app, or one of your recovery codes."


class CodeForm(StaffForm):
    code = StringField("Code", validators=[DataRequired()])


class EnrolForm(StaffForm):
    password = PasswordField("Your password", validators=[DataRequired()])
    current = StringField("A code from your current app, or a recovery code")
    enrol_code = StringField("Enrolment code (from the command line or another admin)")
    code = StringField("The 6-digit code the app now shows", validators=[DataRequired()])


class DisableForm(StaffForm):
    password = PasswordField("Your password", validators=[DataRequired()])
    code = StringField("A code from your app, or a recovery code", validators=[DataRequired()])


class ResetForm(StaffForm):
    password = PasswordField("Your own password", validators=[DataRequired()])
    code = StringField("A code from your own app, or one of your recovery codes")


def client_hash() -> str | None:
    settings = widget_state().settings
    return ip_hash(settings.secret_key, request.remote_addr, settings.ipv6_prefix)


def after_password(staff: Staff) -> Response:
    """The password was right: with a second factor, on to the code step (a ticket in the
    cookie, no session yet); without, signed in, and sent to enrol first if it must."""
    settings, now = widget_state().settings, clock.utcnow()
    if two_factor.enrolled(staff):
        session["staff_pending"] = two_factor.pending_ticket(db.session, settings, staff, now)
        return redirect(url_for("staff.login_code", next=request.args.get("next")))  # type: ignore[return-value]
    signin_audit.signed_in(db.session, staff, "password", client_hash(), now)
    sign_in_browser(staff)
    if two_factor.must_enrol(settings, staff):
        return redirect(url_for("staff.two_factor_enrol"))  # type: ignore[return-value]
    return redirect(safe_next(request.args.get("next")))  # type: ignore[return-value]


def password_failed(email: str) -> None:
    signin_audit.password_failed(db.session, email, client_hash(), clock.utcnow())


def code_attempt(staff: Staff) -> int:
    """Record the code about to be judged for ``staff`` as a failure first, or answer 429
    past ``MAX_CODE_FAILURES`` in a quarter of an hour (``signin_audit.code_attempt``)."""
    attempt = signin_audit.code_attempt(db.session, staff, client_hash(), clock.utcnow())
    if attempt is None:
        abort(429, retry_after=int(two_factor.FAILURE_SPAN.total_seconds()))
    return attempt


def judging_a_code(staff: Staff, change: Callable[[], T]) -> T:
    """Run a change that checks a current code of ``staff`` (if it has a second factor) within
    the code limit: only a wrong code stays counted as a failed one."""
    attempt = code_attempt(staff) if two_factor.enrolled(staff) else None
    try:
        result = change()
    except two_factor.WrongCode:
        raise
    except Exception:
        db.session.rollback()
        if attempt is not None:
            signin_audit.code_attempt_passed(db.session, attempt)
        raise
    if attempt is not None:
        signin_audit.code_attempt_passed(db.session, attempt)
    return result


def changed_with_code(change: Callable[[], T], code_field: str) -> tuple[T | None, dict[str, str]]:
    """A change of the second factor (enrol, disable, reset) as each of their forms makes it:
    within the sign-in limit, its code judged within the code limit (``judging_a_code``).
    Returns the change's result and no errors, or None and the field error (``refused``)."""
    limits.wait_out_login(g.staff.email)
    try:
        return judging_a_code(g.staff, change), {}
    except (WrongPassword, two_factor.SecondFactorError) as problem:
        return None, refused(problem, code_field)


def refused(problem: Exception, code_field: str) -> dict[str, str]:
    """The field error for a refused change of the second factor (``code_field``: where the
    page asks for the current code). A wrong password or code is a guess: it spends the
    account's sign-in budget."""
    db.session.rollback()
    if isinstance(problem, WrongPassword):
        limits.login_failed(g.staff.email)
    if isinstance(problem, two_factor.WrongEnrolCode):
        field = "enrol_code"
    elif isinstance(problem, two_factor.WrongCode):
        field = code_field
    else:
        field = "password" if isinstance(problem, WrongPassword) else "code"
    return {field: str(problem).capitalize() + "."}


@bp.route("/login/code", methods=["GET", "POST"])
@also_for_partners
@limits.limited(limits.LOGIN)
def login_code() -> Any:
    """The second step. Wrong codes spend the sign-in budget of the client and the account,
    and past ``MAX_CODE_FAILURES`` in a quarter of an hour the account's code step waits."""
    settings, now = widget_state().settings, clock.utcnow()
    staff = two_factor.pending_staff(db.session, settings, session.get("staff_pending"), now)
    if staff is None:
        session.pop("staff_pending", None)
        return redirect(url_for("staff.login"))
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        limits.wait_out_login(staff.email)
        attempt = code_attempt(staff)
        how = two_factor.check_second_factor(db.session, settings, staff, form.code.data, now)
        if how is not None:
            db.session.commit()
            signin_audit.code_attempt_passed(db.session, attempt)
            signin_audit.signed_in(db.session, staff, how, client_hash(), now)
            sign_in_browser(staff)
            return redirect(safe_next(request.args.get("next")))
        db.session.rollback()
        limits.login_failed(staff.email)
        error = "That code is not right. Codes change every 30 seconds, and each works once."
    status = 401 if error else 400 if form.errors else 200
    return render_template("staff/login_code.html", form=form, error=error, help=CODE_HELP), status


@bp.get("/two-factor")
@also_for_partners
def two_factor_page() -> str:
    return render_two_factor(DisableForm(), {})


def render_two_factor(form: DisableForm, errors: dict[str, str]) -> str:
    settings = widget_state().settings
    return render_template(
        "staff/two_factor.html",
        form=form,
        errors=errors,
        enrolled=two_factor.enrolled(g.staff),
        required=two_factor.required(settings, g.staff),
        codes_left=two_factor.recovery_codes_left(db.session, g.staff),
    )


@bp.route("/two-factor/enrol", methods=["GET", "POST"])
@also_for_partners
@limits.limited(limits.LOGIN)
def two_factor_enrol() -> Any:
    """Scan a new secret and prove it with a code (and, re-enrolling, with a code of the old
    one). The secret waits sealed in the signed cookie until then (signed is not secret); the
    page is never cached."""
    settings, now = widget_state().settings, clock.utcnow()
    secret = two_factor.open_candidate(settings, session.get("totp_candidate"), g.staff.id)
    if secret is None:
        secret = two_factor.new_secret()
        session["totp_candidate"] = two_factor.seal_secret(settings, secret, g.staff.id)
    form = EnrolForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        codes, errors = changed_with_code(
            lambda: two_factor.enrol(
                db.session,
                settings,
                g.staff,
                secret=secret,
                code=form.code.data,
                password=form.password.data,
                current=form.current.data,
                enrol_code=form.enrol_code.data,
                now=now,
            ),
            "current",
        )
        if not errors:
            sign_in_browser(g.staff)
            return render_template("staff/recovery_codes.html", codes=codes)
    uri = two_factor.enrolment_uri(secret, g.staff.email)
    status = 400 if errors or form.errors else 200
    return render_template(
        "staff/enrol.html",
        form=form,
        errors=errors,
        qr=Markup(two_factor.qr_svg(uri)),  # segno's own SVG, no user input
        secret=two_factor.secret_for_display(secret),
        enrolled=two_factor.enrolled(g.staff),
        forced=two_factor.must_enrol(settings, g.staff),
    ), status


@bp.post("/two-factor/disable")
@also_for_partners
@limits.limited(limits.LOGIN)
def two_factor_disable() -> tuple[str, int]:
    settings, now = widget_state().settings, clock.utcnow()
    form = DisableForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        _none, errors = changed_with_code(
            lambda: two_factor.disable(
                db.session,
                settings,
                g.staff,
                password=form.password.data,
                code=form.code.data,
                now=now,
            ),
            "code",
        )
        if not errors:
            sign_in_browser(g.staff)
            return render_template(
                "staff/message.html",
                title="Two-factor sign-in is off",
                message="This account signs in with its password alone. Every other browser "
                "signed in to it has been signed out.",
            ), 200
    return render_two_factor(form, errors), 400


@bp.get("/accounts")
@admin_required
def staff_accounts() -> str:
    accounts = db.session.scalars(select(Staff).order_by(Staff.role, Staff.email)).all()
    return render_template("staff/accounts.html", accounts=accounts, button=ButtonForm())


@bp.route("/accounts/<int:account_id>/two-factor/reset", methods=["GET", "POST"])
@admin_required
@limits.limited(limits.LOGIN)
def two_factor_reset(account_id: int) -> tuple[str, int]:
    """Take another account's second factor away, once the acting admin has proved itself
    again (its password and, if it has one, a current code)."""
    account = db.session.get(Staff, account_id)
    if account is None:
        abort(404)
    if not two_factor.enrolled(account):  # nothing (left) to reset
        if request.method == "GET":
            return redirect(url_for("staff.staff_accounts"))  # type: ignore[return-value]
        abort(400)
    form = ResetForm()
    errors: dict[str, str] = {}
    submitted = form.validate_on_submit()
    if "csrf_token" in form.errors:
        abort(400)
    if submitted:
        _none, errors = changed_with_code(
            lambda: two_factor.reset_by_admin(
                db.session,
                widget_state().settings,
                account,
                admin=g.staff,
                password=form.password.data,
                code=form.code.data or "",
                now=clock.utcnow(),
            ),
            "code",
        )
        if not errors:
            return render_template(
                "staff/message.html",
                title="Two-factor sign-in reset",
                message=f"{account.email} now signs in with the password alone, and enrols "
                "again where admins must have a second factor. Its browsers have been signed out.",
            ), 200
    return render_template(
        "staff/reset_two_factor.html",
        account=account,
        form=form,
        errors=errors,
        own=account.id == g.staff.id,
        asks_code=two_factor.enrolled(g.staff),
    ), 400 if errors or form.errors else 200


@bp.post("/accounts/<int:account_id>/enrol-code")
@admin_required
def enrol_code(account_id: int) -> tuple[str, int]:
    """A one-time code for the account's first enrolment, shown here once (audited)."""
    account = db.session.get(Staff, account_id)
    if account is None:
        abort(404)
    if not ButtonForm().validate_on_submit() or two_factor.enrolled(account):
        abort(400)
    code = enrol_codes.issue(db.session, account, actor=g.staff.email, now=clock.utcnow())
    return render_template("staff/enrol_code.html", account=account, code=code), 200
