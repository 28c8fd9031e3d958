"""Two-factor sign-in in Chromium (issue 13): an admin who must have a second factor is sent to
enrol right after the password, scans (here: reads) the key, keeps the recovery codes, and then
signs in with a code the authenticator app (here: pyotp) computes; the audit page shows it."""

from __future__ import annotations

import time
from typing import Any

import pyotp
import pytest

from widget import enrol_codes
from widget.clock import utcnow
from widget.extensions import db
from widget.staff import create_staff

from ..conftest import STAFF_PASSWORD
from .conftest import LiveSite, screenshot
from .test_accessibility import assert_accessible

pytestmark = pytest.mark.browser

WIDTHS = (360, 1280)


@pytest.fixture
def live_env() -> dict[str, str]:
    return {"WIDGET_STAFF_REQUIRE_2FA": "1"}


def at_each_width(page: Any, name: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        screenshot(page, f"{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})


def password_step(page: Any, site: LiveSite) -> None:
    page.goto(f"{site.widget_url}/staff/")
    page.get_by_label("Email").fill("admin@example.org")
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_an_admin_enrols_then_signs_in_with_a_code(
    live_site: LiveSite, browser_context: Any
) -> None:
    with db.sessionmaker(live_site.app)() as session:
        admin = create_staff(session, "admin@example.org", STAFF_PASSWORD, "admin", utcnow())
        enrol_code = enrol_codes.issue(session, admin, actor="cli:test", now=utcnow())
    page = browser_context.new_page()
    password_step(page, live_site)
    page.get_by_role("heading", name="Set up two-factor sign-in").wait_for()
    assert page.locator(".qr svg").is_visible()
    assert_accessible(page, "enrolment")
    at_each_width(page, "staff-2fa-enrol")
    # nothing else opens until enrolled
    page.goto(f"{live_site.widget_url}/staff/audit")
    page.get_by_role("heading", name="Set up two-factor sign-in").wait_for()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.get_by_label("Your password").fill(STAFF_PASSWORD)
    page.get_by_label("Enrolment code").fill(enrol_code)
    page.get_by_label("The 6-digit code the app now shows").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    page.get_by_role("heading", name="Two-factor sign-in is on").wait_for()
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    assert_accessible(page, "recovery codes")
    at_each_width(page, "staff-2fa-recovery-codes")

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    password_step(page, live_site)
    page.get_by_role("heading", name="Sign-in code").wait_for()
    assert_accessible(page, "code step")
    at_each_width(page, "staff-2fa-code")
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").wait_for()
    assert "That code is not right" in page.get_by_role("alert").inner_text()
    at_each_width(page, "staff-2fa-code-wrong")
    page.get_by_label("Code").fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Campaigns").wait_for()

    page.get_by_role("link", name="Audit log").click()
    page.get_by_role("heading", name="Audit log").wait_for()
    rows = page.locator("tbody tr").all_inner_texts()
    assert "signin.code-failed" in rows[1] and "with: totp" in rows[0]
    assert_accessible(page, "audit log")
    at_each_width(page, "staff-audit-signins")
    page.get_by_role("link", name="Two-factor sign-in").click()
    page.get_by_role("heading", name="Two-factor sign-in").wait_for()
    assert "10 of 10 recovery codes left" in page.locator("main").inner_text()
    at_each_width(page, "staff-2fa-account")
    with db.sessionmaker(live_site.app)() as session:
        create_staff(session, "viewer@example.org", STAFF_PASSWORD, "viewer", utcnow())
    page.get_by_role("link", name="Accounts").click()
    page.get_by_role("heading", name="Staff accounts").wait_for()
    # an admin does not reset its own second factor there (it moves it to a new app)
    assert (
        page.get_by_role("link", name="Reset two-factor sign-in of admin@example.org").count() == 0
    )
    assert_accessible(page, "staff accounts")
    at_each_width(page, "staff-accounts")
    page.get_by_role("button", name="Enrolment code for viewer@example.org").click()
    page.get_by_role("heading", name="Enrolment code for viewer@example.org").wait_for()
    assert len(page.locator("#enrol-code").inner_text()) == 19
    assert_accessible(page, "enrolment code")
    at_each_width(page, "staff-2fa-enrol-code")
    page.get_by_role("link", name="Erase a supporter").click()
    page.get_by_label("The supporter's email address").fill("nobody@example.org")
    page.get_by_role("button", name="Find").click()
    page.get_by_text("No signatures with this address").wait_for()
    assert "nobody" not in page.url
    at_each_width(page, "staff-erase-searched")
