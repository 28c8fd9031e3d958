"""Staff, admins only: the rate limits and the allow-list of shared networks, changed while the
app runs (``widget.runtime_limits``: in force in every process within seconds, audited)."""

from __future__ import annotations

from typing import Any

from flask import abort, g, redirect, render_template, url_for
from sqlalchemy import select
from wtforms import HiddenField, StringField

from ...clock import utcnow
from ...extensions import db
from ...limits import runtime_limits
from ...models import LimitAllowance, RuntimeLimit
from ...runtime_limits import (
    DEFAULT_MULTIPLIER,
    LIMITS,
    LOGIN_FLOOR_PER_HOUR,
    MAX_AMOUNT,
    MAX_MULTIPLIER,
    MAX_PERIOD,
    MIN_MULTIPLIER,
    RuntimeLimitError,
    add_allowance,
    remove_allowance,
    reset_limit,
    set_limit,
    set_multiplier,
)
from . import ButtonForm, StaffForm, admin_required, bp


class LimitForm(StaffForm):
    name = HiddenField()
    value = StringField("Limit")


class AllowanceForm(StaffForm):
    network = StringField("Network (CIDR)")
    note = StringField("Whose addresses they are")
    multiplier = StringField("Limits times", default=str(DEFAULT_MULTIPLIER))


class MultiplierForm(StaffForm):
    multiplier = StringField("Limits times")


def limits_page(
    *,
    errors: dict[str, str] | None = None,
    typed: dict[str, str] | None = None,
    allowance: AllowanceForm | None = None,
    multiplier_errors: dict[int, str] | None = None,
    multiplier_typed: dict[int, str] | None = None,
    status: int = 200,
) -> Any:
    overrides = {row.name: row for row in db.session.scalars(select(RuntimeLimit))}
    current = runtime_limits()
    rows = [
        {
            "name": name,
            "meaning": meaning,
            "default": current.default(name),
            "override": overrides.get(name),
        }
        for name, meaning in LIMITS.items()
    ]
    allowances = db.session.scalars(select(LimitAllowance).order_by(LimitAllowance.network)).all()
    return render_template(
        "staff/limits.html",
        rows=rows,
        allowances=allowances,
        errors=errors or {},
        typed=typed or {},
        allowance_form=allowance or AllowanceForm(formdata=None),
        multiplier_errors=multiplier_errors or {},
        multiplier_typed=multiplier_typed or {},
        button=ButtonForm(),
        bounds={
            "days": MAX_PERIOD.days,
            "amount": MAX_AMOUNT,
            "floor": LOGIN_FLOOR_PER_HOUR,
            "multiplier": (MIN_MULTIPLIER, MAX_MULTIPLIER),
        },
    ), status


@bp.get("/limits")
@admin_required
def limits() -> Any:
    return limits_page()


@bp.post("/limits")
@admin_required
def set_runtime_limit() -> Any:
    form = LimitForm()
    if not form.validate_on_submit() or form.name.data not in LIMITS:
        abort(400)
    try:
        set_limit(
            db.session, form.name.data, form.value.data or "", now=utcnow(), actor=g.staff.email
        )
    except RuntimeLimitError as error:
        db.session.rollback()
        name = form.name.data
        return limits_page(errors={name: str(error)}, typed={name: form.value.data}, status=400)
    runtime_limits().expire()
    return redirect(url_for("staff.limits", _anchor=f"limit-{form.name.data}"))


@bp.post("/limits/reset")
@admin_required
def reset_runtime_limit() -> Any:
    form = LimitForm()
    if not form.validate_on_submit() or form.name.data not in LIMITS:
        abort(400)
    reset_limit(db.session, form.name.data, now=utcnow(), actor=g.staff.email)
    runtime_limits().expire()
    return redirect(url_for("staff.limits", _anchor=f"limit-{form.name.data}"))


@bp.post("/limits/allowances")
@admin_required
def add_limit_allowance() -> Any:
    form = AllowanceForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        add_allowance(
            db.session,
            form.network.data or "",
            form.note.data or "",
            now=utcnow(),
            actor=g.staff.email,
            multiplier=form.multiplier.data or "",
        )
    except RuntimeLimitError as error:
        db.session.rollback()
        form.form_errors.append(str(error))
        return limits_page(allowance=form, status=400)
    runtime_limits().expire()
    return redirect(url_for("staff.limits", _anchor="allowances"))


@bp.post("/limits/allowances/<int:entry_id>/multiplier")
@admin_required
def set_allowance_multiplier(entry_id: int) -> Any:
    form = MultiplierForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        found = set_multiplier(
            db.session, entry_id, form.multiplier.data or "", now=utcnow(), actor=g.staff.email
        )
    except RuntimeLimitError as error:
        db.session.rollback()
        return limits_page(
            multiplier_errors={entry_id: str(error)},
            multiplier_typed={entry_id: (form.multiplier.data or "")[:10]},
            status=400,
        )
    if not found:
        abort(404)
    runtime_limits().expire()
    return redirect(url_for("staff.limits", _anchor="allowances"))


@bp.post("/limits/allowances/<int:entry_id>/remove")
@admin_required
def remove_limit_allowance(entry_id: int) -> Any:
    if not ButtonForm().validate_on_submit():
        abort(400)
    if not remove_allowance(db.session, entry_id, now=utcnow(), actor=g.staff.email):
        abort(404)
    runtime_limits().expire()
    return redirect(url_for("staff.limits", _anchor="allowances"))
