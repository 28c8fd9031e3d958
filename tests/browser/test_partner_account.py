"""A partner in Chromium: an admin gives the partner an account, a supporter ticks the partner's
box in the widget on the partner's site, and the partner signs in to see its count and download
that supporter."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from widget.clock import utcnow
from widget.extensions import db
from widget.models import Signature
from widget.partners import save_partner
from widget.staff import create_staff

from ..conftest import STAFF_PASSWORD
from .conftest import SCREENSHOTS, LiveSite, screenshot

pytestmark = pytest.mark.browser

WIDTHS = (360, 1280)


@pytest.fixture
def partner_site(live_site: LiveSite) -> LiveSite:
    """The live site's page embeds for ``courier``: registered here, with the page's origin."""
    with db.sessionmaker(live_site.app)() as session:
        create_staff(session, "admin@example.org", STAFF_PASSWORD, "admin", utcnow())
        save_partner(
            session, "courier", "The Courier", [live_site.partner_origin], utcnow(), actor="t"
        )
    return live_site


def at_each_width(page: Any, name: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth") <= max(width, 400)
        screenshot(page, f"{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})


def sign_in_as(site: LiveSite, page: Any, email: str, password: str) -> None:
    page.goto(f"{site.widget_url}/staff/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_partner_account_sees_its_supporter_who_ticked_its_box(
    partner_site: LiveSite, browser_context: Any
) -> None:
    admin = browser_context.new_page()
    sign_in_as(partner_site, admin, "admin@example.org", STAFF_PASSWORD)
    admin.get_by_role("heading", name="Campaigns").wait_for()
    admin.goto(f"{partner_site.widget_url}/staff/partners/courier")
    admin.get_by_label("Email address of the new account").fill("desk@courier.example")
    admin.get_by_role("button", name="Create a partner account").click()
    admin.get_by_role("heading", name="New account for The Courier").wait_for()
    password = admin.locator("code.secret").inner_text()
    assert re.fullmatch(r"[A-Za-z0-9_-]{20}", password)
    at_each_width(admin, "staff-partner-account-created")
    admin.goto(f"{partner_site.widget_url}/staff/partners/courier")
    assert admin.get_by_role("cell", name="desk@courier.example").is_visible()
    at_each_width(admin, "staff-partner-accounts")
    admin.get_by_role("button", name="Sign out").click()

    site = browser_context.new_page()
    site.goto(partner_site.partner_origin + "/")
    widget = site.frame_locator("iframe")
    box = widget.get_by_label("Also let The Courier contact me.", exact=False)
    box.wait_for()
    assert not box.is_checked()
    widget.get_by_label("Your name").fill("Ayesha Khan")
    widget.get_by_label("Your email").fill("ayesha@example.org")
    widget.get_by_label("Your country").select_option("PK")
    widget.get_by_label("Count my signature.", exact=False).check()
    box.check()
    for width in WIDTHS:
        site.set_viewport_size({"width": width, "height": 800})
        screenshot(site, f"widget-partner-box-{width}")
        if SCREENSHOTS:  # the form alone, readable at a glance
            form = widget.locator("form.sign")
            form.scroll_into_view_if_needed()
            form.screenshot(path=f"{SCREENSHOTS}/widget-partner-box-form-{width}.png")
    site.set_viewport_size({"width": 1280, "height": 900})
    widget.get_by_role("button", name="Sign").click()
    widget.get_by_role("heading", name="Check your email").wait_for()

    mail = browser_context.new_page()
    mail.goto(f"{partner_site.widget_url}/dev/mail")
    mail.get_by_role("link", name="Please confirm your signature", exact=False).click()
    mail.get_by_role("link", name="/v/", exact=False).click()
    mail.get_by_role("heading", name="Confirm your signature").wait_for()
    kept = mail.get_by_label("The Courier may contact me.", exact=False)
    assert kept.is_checked()
    at_each_width(mail, "confirm-partner-box")
    mail.get_by_role("button", name="Confirm my signature").click()
    mail.get_by_role("heading", name="Thank you! Your signature is confirmed.").wait_for()
    with db.sessionmaker(partner_site.app)() as session:
        stored = session.execute(
            select(Signature.partner_opt_in, Signature.verified_at.is_not(None))
        ).one()
    assert tuple(stored) == (True, True)

    partner = browser_context.new_page()
    sign_in_as(partner_site, partner, "desk@courier.example", password)
    partner.get_by_role("heading", name="The Courier").wait_for()
    assert partner.url == f"{partner_site.widget_url}/staff/partners/courier/home"
    row = partner.get_by_role("row", name="UA 109.23", exact=False)
    assert row.get_by_role("cell").all_inner_texts()[1:3] == ["1", "1"]
    at_each_width(partner, "staff-partner-home")
    with partner.expect_download() as download:
        partner.get_by_role("link", name="Download the supporters (CSV)").click()
    path = download.value.path()
    assert path is not None
    content = Path(path).read_text(encoding="utf-8")
    assert content.startswith("\ufeff")
    assert '"Ayesha Khan","ayesha@example.org","PK","en"' in content

    partner.get_by_role("navigation").get_by_role("link", name="Embed code").click()
    partner.get_by_role("heading", name="Embed code").wait_for()
    assert partner.locator("#partner option").all_inner_texts() == ["The Courier"]
    assert 'data-partner="courier"' in partner.locator("#snippet").input_value()
    at_each_width(partner, "staff-partner-embed")

    partner.goto(f"{partner_site.widget_url}/staff/audit")
    partner.get_by_role("heading", name="Not part of your partner account").wait_for()
    at_each_width(partner, "staff-partner-refused")
