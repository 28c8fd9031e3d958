"""Staff sessions end: on sign-out (even for a copied cookie), on a password change (in every
other browser), and 8 hours after sign-in however busy they are."""

from __future__ import annotations

import html
from datetime import datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget import clock
from widget.models import StaffSession

from .conftest import STAFF_PASSWORD, StaffActions, form_token
from .test_staff import get, post

NEW_PASSWORD = "a brand new passphrase"


def copy_of(client: FlaskClient, staff: StaffActions) -> FlaskClient:
    """Another browser holding a copy of ``client``'s session cookie."""
    cookie = client.get_cookie("session", domain="localhost")
    assert cookie is not None
    other = staff.client()
    other.set_cookie("session", cookie.value, domain="localhost")
    return other


def signed_in(client: FlaskClient) -> bool:
    status = get(client, "/staff/").status_code
    assert status in (200, 302)
    return status == 200


def test_a_copied_cookie_stops_working_after_sign_out(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    thief = copy_of(admin, staff)
    assert signed_in(thief)
    post(admin, "/staff/logout", {}, page="/staff/")
    assert not signed_in(admin)
    assert not signed_in(thief)
    assert get(thief, "/staff/").headers["Location"] == "/staff/login?next=/staff/?"
    assert session.scalars(select(StaffSession)).all() == []


def test_the_session_row_holds_a_hash_of_the_cookies_token(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    with admin.session_transaction() as cookie:
        token = cookie["staff_token"]
    [row] = session.scalars(select(StaffSession)).all()
    assert len(row.token_hash) == 64
    assert token not in row.token_hash


def test_a_password_change_ends_every_other_session(staff: StaffActions) -> None:
    staff.create("admin@example.org")
    here, _ = staff.login("admin@example.org")
    laptop, _ = staff.login("admin@example.org")
    thief = copy_of(here, staff)
    changed = post(
        here,
        "/staff/password",
        {"current": STAFF_PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD},
    )
    assert changed.status_code == 200
    assert "Every other browser signed in to this account has been signed out." in (
        changed.get_data(as_text=True)
    )
    assert signed_in(here)
    assert not signed_in(laptop)
    assert not signed_in(thief)
    assert staff.login("admin@example.org")[1].status_code == 401
    assert staff.login("admin@example.org", NEW_PASSWORD)[1].status_code == 302


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"current": "not it at all", "new": NEW_PASSWORD, "again": NEW_PASSWORD},
            "current",
            "The current password is not right.",
        ),
        (
            {"current": STAFF_PASSWORD, "new": "short", "again": "short"},
            "new",
            "The password needs at least 12 characters.",
        ),
        (
            {"current": STAFF_PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD + "!"},
            "again",
            "The two new passwords differ.",
        ),
        (
            {"current": STAFF_PASSWORD, "new": "x" * 1025, "again": "x" * 1025},
            "new",
            "The password may have at most 1024 characters.",
        ),
    ],
)
def test_a_refused_password_change_says_why_next_to_the_field(
    staff: StaffActions, fields: dict[str, str], field: str, message: str
) -> None:
    admin = staff.signed_in()
    other, _ = staff.login("admin@example.org")
    response = post(admin, "/staff/password", fields)
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    assert f'<p class="error" id="{field}-error">{message}</p>' in page
    assert signed_in(other)
    assert staff.login("admin@example.org")[1].status_code == 302


def test_a_session_ends_eight_hours_after_sign_in_even_in_constant_use(
    staff: StaffActions, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime(2025, 3, 1, 9, 0)
    now = [start]
    monkeypatch.setattr(clock, "utcnow", lambda: now[0])
    admin = staff.signed_in()
    while now[0] < start + timedelta(hours=8) - timedelta(minutes=5):
        now[0] += timedelta(minutes=5)
        assert signed_in(admin), now[0]
    now[0] = start + timedelta(hours=8)
    assert not signed_in(admin)
    assert staff.login("admin@example.org")[1].status_code == 302


def test_the_page_links_to_change_password(staff: StaffActions) -> None:
    page = get(staff.signed_in(), "/staff/").get_data(as_text=True)
    assert '<a href="/staff/password">Change password</a>' in page


def test_signing_in_again_ends_the_browsers_previous_session(
    staff: StaffActions, session: Session
) -> None:
    admin = staff.signed_in()
    thief = copy_of(admin, staff)
    _, again = staff.login("admin@example.org", client=admin)
    assert again.status_code == 302
    assert signed_in(admin)
    assert not signed_in(thief)
    assert len(session.scalars(select(StaffSession)).all()) == 1


def change_from(client: FlaskClient, address: str, current: str) -> int:
    """One password change from ``address`` with the ``current`` password given; the status."""
    environ = {"environ_base": {"REMOTE_ADDR": address}, "base_url": "https://localhost"}
    page = client.get("/staff/password", **environ).get_data(as_text=True)
    fields = {"current": current, "new": NEW_PASSWORD, "again": NEW_PASSWORD}
    return client.post(
        "/staff/password", data={"csrf_token": form_token(page), **fields}, **environ
    ).status_code


def test_wrong_current_passwords_spend_the_sign_in_budget(staff: StaffActions) -> None:
    thief = staff.signed_in()
    assert [change_from(thief, "203.0.113.9", f"guess {n}!") for n in range(5)] == [400] * 5
    assert change_from(thief, "203.0.113.9", STAFF_PASSWORD) == 429
    client = staff.client()
    environ = {"environ_base": {"REMOTE_ADDR": "203.0.113.9"}, "base_url": "https://localhost"}
    page = client.get("/staff/login", **environ).get_data(as_text=True)
    fields = {"email": "admin@example.org", "password": STAFF_PASSWORD}
    response = client.post(
        "/staff/login", data={"csrf_token": form_token(page), **fields}, **environ
    )
    assert response.status_code == 429
    assert "Too many sign-in attempts." in response.get_data(as_text=True)


@pytest.mark.parametrize("settings_env", [{"WIDGET_RATELIMIT_LOGIN_ACCOUNT": "3 per hour"}])
def test_past_the_accounts_ceiling_a_session_gets_one_guess_per_address(
    staff: StaffActions,
) -> None:
    thief = staff.signed_in()
    assert [change_from(thief, f"203.0.113.{n}", "wrong!") for n in range(3)] == [400] * 3
    assert change_from(thief, "203.0.113.50", "wrong!") == 400
    assert change_from(thief, "203.0.113.50", "wrong!") == 429
