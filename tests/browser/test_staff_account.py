"""The staff area's new states in Chromium: changing the password, a slug that exists, and the
CSV download, which works from our page and is refused from a link on another site."""

from __future__ import annotations

from typing import Any

import pytest

from widget.clock import utcnow
from widget.extensions import db
from widget.staff import create_staff

from ..conftest import STAFF_PASSWORD
from .conftest import LiveSite, screenshot, sign_in

pytestmark = pytest.mark.browser

WIDTHS = (360, 1280)


@pytest.fixture
def admin_site(live_site: LiveSite) -> LiveSite:
    with db.sessionmaker(live_site.app)() as session:
        create_staff(session, "admin@example.org", STAFF_PASSWORD, "admin", utcnow())
    return live_site


def at_each_width(page: Any, name: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        screenshot(page, f"{name}-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_changing_the_password(admin_site: LiveSite, browser_context: Any) -> None:
    page = sign_in(admin_site, browser_context)
    page.get_by_role("link", name="Change password").click()
    page.get_by_role("heading", name="Change password").wait_for()
    at_each_width(page, "staff-password")
    page.get_by_label("Current password").fill("not the password")
    page.get_by_label("New password (at least 12 characters)").fill("a brand new passphrase")
    page.get_by_label("New password again").fill("a brand new passphrase")
    page.get_by_role("button", name="Change password").click()
    assert page.locator("#current-error").inner_text() == "The current password is not right."
    at_each_width(page, "staff-password-error")
    page.get_by_label("Current password").fill(STAFF_PASSWORD)
    page.get_by_label("New password (at least 12 characters)").fill("a brand new passphrase")
    page.get_by_label("New password again").fill("a brand new passphrase")
    page.get_by_role("button", name="Change password").click()
    page.get_by_role("heading", name="Password changed").wait_for()
    at_each_width(page, "staff-password-changed")


def test_an_existing_slug_is_refused_next_to_the_field(
    admin_site: LiveSite, browser_context: Any
) -> None:
    page = sign_in(admin_site, browser_context)
    page.goto(f"{admin_site.widget_url}/staff/campaigns/new")
    page.get_by_label("Short name in URLs (cannot change later)").fill("ua-109-23")
    page.get_by_label("Reference, e.g. UA 109.23").fill("UA 1")
    page.get_by_label("Title", exact=True).first.fill("Another campaign")
    page.get_by_label("Summary").fill("S")
    page.get_by_label("What supporters are asked to do").fill("A")
    page.locator("#targets-0-name").fill("X")
    page.get_by_label("Languages, first is the campaign's own (e.g. en, ur, fa)").fill("en")
    page.get_by_label('Sites that may embed it, one per line ("*" for any)').fill("*")
    page.get_by_role("button", name="Save").click()
    assert "exists already" in page.locator("#slug-error").inner_text()
    page.locator("#slug").scroll_into_view_if_needed()
    at_each_width(page, "staff-new-campaign-slug-exists")

    page.goto(f"{admin_site.widget_url}/staff/partners/new")
    page.get_by_label("Partner slug (the data-partner value)").fill("courier")
    page.get_by_label("Name").fill("The Courier")
    page.get_by_role("button", name="Save").click()
    # saved once the list of partners is shown: going on before would cancel the save
    page.wait_for_url(f"{admin_site.widget_url}/staff/partners")
    page.goto(f"{admin_site.widget_url}/staff/partners/new")
    page.get_by_label("Partner slug (the data-partner value)").fill("courier")
    page.get_by_label("Name").fill("Impostor")
    page.get_by_role("button", name="Save").click()
    assert "a partner 'courier' exists already" in page.locator("#slug-error").inner_text()
    at_each_width(page, "staff-partner-slug-exists")


def test_the_csv_downloads_from_our_page_and_not_from_another_site(
    admin_site: LiveSite, browser_context: Any
) -> None:
    page = sign_in(admin_site, browser_context)
    page.goto(f"{admin_site.widget_url}/staff/campaigns/ua-109-23")
    panel = page.get_by_role("region", name="Download verified signatures")
    panel.scroll_into_view_if_needed()
    at_each_width(page, "staff-csv-download")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    assert download.value.suggested_filename.startswith("ua-109-23-signatures-")

    csv_url = f"{admin_site.widget_url}/staff/campaigns/ua-109-23/signatures.csv"
    page.goto(admin_site.partner_page(f'<p><a id="grab" href="{csv_url}">Read</a></p>', path="/x"))
    page.locator("#grab").click()
    page.get_by_role("heading", name="Download from the campaign page").wait_for()
    at_each_width(page, "staff-csv-cross-site-refused")
