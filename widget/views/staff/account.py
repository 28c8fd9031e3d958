"""Staff: the signed-in account's own password."""

from __future__ import annotations

from typing import Any

from flask import g, render_template
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo

from ... import limits
from ...extensions import db
from ...staff import MIN_PASSWORD_LENGTH, StaffError, WrongPassword, change_password
from . import StaffForm, also_for_partners, bp, sign_in_browser


class PasswordForm(StaffForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    new = PasswordField(
        f"New password (at least {MIN_PASSWORD_LENGTH} characters)", validators=[DataRequired()]
    )
    again = PasswordField(
        "New password again",
        validators=[DataRequired(), EqualTo("new", message="The two new passwords differ.")],
    )


@bp.route("/password", methods=["GET", "POST"])
@also_for_partners
@limits.limited(limits.LOGIN)
def password() -> Any:
    """A new password signs the account out of every other browser; this one stays in. A wrong
    current password spends the sign-in budget (``limits.login_failed``): a stolen session must
    not be a faster way to guess the password than the sign-in page."""
    form = PasswordForm()
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        limits.wait_out_login(g.staff.email)
        try:
            change_password(db.session, g.staff, form.current.data, form.new.data)
        except WrongPassword as problem:
            db.session.rollback()
            limits.login_failed(g.staff.email)
            errors["current"] = str(problem).capitalize() + "."
        except StaffError as problem:
            db.session.rollback()
            errors["new"] = str(problem).capitalize() + "."
        else:
            sign_in_browser(g.staff)
            return render_template(
                "staff/message.html",
                title="Password changed",
                message="Your password is changed. Every other browser signed in to this "
                "account has been signed out.",
            )
    status = 400 if errors or form.errors else 200
    return render_template("staff/password.html", form=form, errors=errors), status
