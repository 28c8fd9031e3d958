"""Offline actions and the recount in Chromium: an admin enters paper letters (a mistake first),
checks the count, mends a drift, and reads the report; the widget's offline line follows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from widget.extensions import db
from widget.models import Campaign, Count

from .conftest import SCREENSHOTS, LiveSite, screenshot, sign_in
from .test_staff_pages import staffed_site  # noqa: F401  (a fixture)

pytestmark = pytest.mark.browser


def panels(page: Any, name: str) -> None:
    """The offline and recount panels alone, readable at phone width."""
    if SCREENSHOTS:
        for panel in ("offline-title", "recount-title"):
            page.locator(f"section[aria-labelledby={panel}]").screenshot(
                path=f"{SCREENSHOTS}/{name}-{panel.removesuffix('-title')}.png"
            )


def test_an_admin_counts_paper_letters_checks_and_mends_the_count(
    staffed_site: LiveSite,  # noqa: F811
    browser_context: Any,
) -> None:
    page = sign_in(staffed_site, browser_context)
    page.get_by_role("link", name="Stop deporting Afghan refugees").click()
    page.get_by_label("How many actions").fill("0")
    page.get_by_label("Which action").select_option("letter")
    page.get_by_label("Where they come from").fill("Letters from the vigil at the embassy, 3 Dec")
    page.get_by_role("button", name="Count them").click()
    error = page.locator("#count-error")
    assert error.inner_text() == "The number must be at least 1."
    assert page.get_by_label("How many actions").get_attribute("aria-invalid") == "true"
    assert "vigil at the embassy" in page.get_by_label("Where they come from").input_value()

    page.get_by_label("How many actions").fill("1200")
    page.get_by_role("button", name="Count them").click()
    page.get_by_text("1,200 actions taken offline are counted apart").wait_for()
    assert "Online and offline together: 1,320." in page.locator("#offline-title + p").inner_text()

    with db.sessionmaker(staffed_site.app)() as session:
        session.execute(update(Count).where(Count.action == "*", Count.shard == 0).values(value=0))
        session.commit()
    page.get_by_role("button", name="Check the count").click()
    page.get_by_text("The count differs from the signatures:").wait_for()
    drift = page.locator(".recount li").first.inner_text()
    assert drift.startswith("signatures: counted ") and drift.endswith("signatures say 120")
    screenshot(page, "staff-campaign-offline-drift-1280")
    page.set_viewport_size({"width": 360, "height": 800})
    screenshot(page, "staff-campaign-offline-drift-360")
    panels(page, "staff-campaign-360")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("button", name="Mend the count").click()
    page.get_by_text("The count was off and has been mended:").wait_for()
    page.get_by_role("button", name="Check the count").click()
    page.get_by_text("The count agrees with the signatures.").wait_for()
    assert page.get_by_role("button", name="Mend the count").count() == 0
    screenshot(page, "staff-campaign-offline-agreed-1280")

    page.get_by_role("link", name="Count report for officials").click()
    totals = page.locator("table.totals")
    assert totals.locator("tr.together td").inner_text() == "1,320"
    assert (
        "Letters from the vigil at the embassy"
        in page.locator("table.offline-entries").inner_text()
    )
    assert "agreed with the count" in page.locator(".recount-statement").inner_text()
    screenshot(page, "staff-report-totals-1280")
    page.set_viewport_size({"width": 360, "height": 800})
    screenshot(page, "staff-report-totals-360")
    page.emulate_media(media="print")
    screenshot(page, "staff-report-totals-print")


def test_the_widget_shows_offline_actions_when_the_campaign_says_so(
    live_site: LiveSite, browser_context: Any
) -> None:
    from widget.clock import utcnow
    from widget.offline import add_offline_action

    with db.sessionmaker(live_site.app)() as session:
        campaign = session.scalars(select(Campaign)).one()
        campaign.count_offline_in_widget = True
        session.commit()
    page = browser_context.new_page()
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto(f"{live_site.widget_url}/w/ua-109-23")
    line = page.locator("[data-offline]")
    assert line.is_hidden()  # nothing entered yet
    with db.sessionmaker(live_site.app)() as session:
        campaign = session.scalars(select(Campaign)).one()
        add_offline_action(
            session, campaign, count=40, action="letter", note="Stall", now=utcnow(), actor="t"
        )
    # the widget polls every 5 seconds: the line appears without a reload
    page.get_by_text("plus 40 actions taken offline").wait_for(timeout=45_000)
    assert page.locator("[data-count]").get_attribute("data-count") == "0"
    screenshot(page, "widget-offline-line-360")
