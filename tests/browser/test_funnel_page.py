"""The funnel page in Chromium: reached from the campaign page, readable at phone width."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from widget.clock import utcnow
from widget.extensions import db
from widget.models import Signature

from .conftest import LiveSite, screenshot, sign_in
from .test_staff_pages import staffed_site  # noqa: F401  (a fixture)

pytestmark = pytest.mark.browser


def test_the_funnel_page_from_the_campaign_page_at_two_widths(
    staffed_site: LiveSite,  # noqa: F811
    browser_context: Any,
) -> None:
    now = utcnow()
    with db.sessionmaker(staffed_site.app)() as session:
        session.execute(update(Signature).values(mailed_at=now, link_opened_at=now))
        session.execute(
            update(Signature)
            .where(Signature.id % 5 == 0)
            .values(reminded_at=now - timedelta(days=30))
        )
        session.commit()
    page = sign_in(staffed_site, browser_context)
    page.get_by_role("link", name="Stop deporting Afghan refugees").click()
    page.get_by_role("link", name="Funnel").click()
    page.get_by_role("heading", name="Funnel: Stop deporting Afghan refugees").wait_for()
    total = page.locator("#funnel-total")
    assert (
        total.locator("tr", has_text="Mail sent")
        .locator("td")
        .nth(1)
        .inner_text()
        .replace("\xa0", " ")
        == "100.0 %"
    )
    assert "Refused by the receiving server" in total.inner_text()
    for width in (1280, 360):
        page.set_viewport_size({"width": width, "height": 800})
        screenshot(page, f"funnel-{width}")
    # at phone width the page itself does not scroll sideways; the partner table does
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
