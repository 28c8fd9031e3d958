"""The abuse monitor in Chromium: an admin selects an unusual IP hash, reads the dry run,
confirms, and the count drops by exactly the bots; then the limits page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from widget.clock import utcnow
from widget.counter import add, tally
from widget.extensions import db
from widget.models import Audit, Campaign, Signature
from widget.staff import create_staff

from ..conftest import STAFF_PASSWORD
from .conftest import LiveSite, screenshot, sign_in
from .test_accessibility import assert_accessible

pytestmark = pytest.mark.browser

BOT_IP = "5d41402abc4b2a76b9719d911017c592"


@pytest.fixture
def attacked_site(live_site: LiveSite) -> LiveSite:
    """Eight people from their own addresses, and twelve bots from one in the last hour."""
    now = utcnow()
    with db.sessionmaker(live_site.app)() as session:
        create_staff(session, "admin@example.org", STAFF_PASSWORD, "admin", now)
        campaign = session.scalars(select(Campaign)).one()
        people = [(f"person{n}@example.org", f"{n:032x}", ["letter"]) for n in range(8)]
        bots = [(f"x{n}@mailbot.example", BOT_IP, ["email", "call"]) for n in range(12)]
        for n, (email, ip, actions) in enumerate(people + bots):
            moment = now - timedelta(minutes=50 - n)
            signature = Signature(
                campaign_id=campaign.id,
                email=email,
                email_key=email,
                name=f"Signer {n}",
                country="PK",
                actions=actions,
                consent_version="2026-11",
                language="en",
                created_at=moment,
                verified_at=moment,
                ip_hash=ip,
            )
            session.add(signature)
            session.flush()
            add(session, campaign.id, actions, shard_key=signature.id, now=moment)
        session.commit()
    return live_site


def count(site: LiveSite) -> int:
    with db.sessionmaker(site.app)() as session:
        return tally(session, session.scalars(select(Campaign.id)).one()).count


@pytest.mark.parametrize("width", [1280, 360])
def test_an_admin_takes_the_bots_out_after_the_dry_run(
    attacked_site: LiveSite, browser_context: Any, width: int
) -> None:
    page = sign_in(attacked_site, browser_context)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{attacked_site.widget_url}/staff/campaigns/ua-109-23/activity")
    row = page.locator("tr.unusual", has_text=BOT_IP)
    assert "12" in row.inner_text()
    assert_accessible(page, "the abuse monitor")
    screenshot(page, f"abuse-monitor-{width}")

    row.get_by_role("link", name=f"Select IP hash {BOT_IP}").click()
    assert page.get_by_role("textbox", name="IP hash", exact=True).input_value() == BOT_IP
    page.get_by_role("textbox", name="Email domain", exact=True).fill("MAILBOT.example")
    page.get_by_role("button", name="Show what would change").click()
    page.get_by_role("heading", name="What would change").wait_for()
    assert page.locator("[data-verified]").inner_text() == "12"
    assert page.locator("[data-count-before]").inner_text() == "20"
    assert page.locator("[data-count-after]").inner_text() == "8"
    assert "mailbot.example and its subdomains" in page.locator(".criteria").inner_text()
    assert page.locator('[data-action-after="email"]').inner_text() == "0"
    assert page.locator('[data-action-after="call"]').inner_text() == "0"
    assert count(attacked_site) == 20  # a dry run changes nothing
    assert_accessible(page, "the dry run")
    screenshot(page, f"abuse-dry-run-{width}")

    page.get_by_role("button", name="Take 12 out of the count").click()
    page.get_by_role("heading", name="Taken out of the count").wait_for()
    assert page.locator("[data-count-after]").inner_text() == "8"
    screenshot(page, f"abuse-done-{width}")
    assert count(attacked_site) == 8
    with db.sessionmaker(attacked_site.app)() as session:
        [audit] = session.scalars(select(Audit).where(Audit.action == "invalidate")).all()
        assert (audit.actor, audit.details["verified"]) == ("admin@example.org", 12)

    # a refused selection is explained beside the form, in the page
    page.goto(f"{attacked_site.widget_url}/staff/campaigns/ua-109-23/activity")
    page.get_by_label("From (UTC)").fill("2026-01-01T00:00")
    page.get_by_label("Until (UTC)").fill("2026-12-31T00:00")
    page.get_by_role("button", name="Show what would change").click()
    alert = page.get_by_role("alert")
    assert "A time window alone may span at most 48 hours" in alert.inner_text()


@pytest.mark.parametrize("width", [1280, 360])
def test_the_limits_page(attacked_site: LiveSite, browser_context: Any, width: int) -> None:
    page = sign_in(attacked_site, browser_context)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{attacked_site.widget_url}/staff/limits")
    card = page.locator("#limit-sign")
    card.get_by_label("New limit").fill("3 per minute;20 per hour")
    card.get_by_role("button", name="Save").click()
    page.locator('[data-limit="sign"]', has_text="3 per minute;20 per hour").wait_for()
    page.get_by_label("Network (CIDR)").fill("192.0.2.0/24")
    page.get_by_label("Whose addresses they are").fill("University campus Wi-Fi")
    assert page.get_by_label("Limits times", exact=True).input_value() == "20"
    page.get_by_label("Limits times", exact=True).fill("50")
    page.get_by_role("button", name="Add the network").click()
    page.locator("td code", has_text="192.0.2.0/24").wait_for()
    times = page.get_by_label("Limits times for 192.0.2.0/24")
    assert times.input_value() == "50"
    times.fill("5000")
    page.get_by_role("button", name="Save the multiplier of 192.0.2.0/24").click()
    assert "whole number from 2 to 1000" in page.get_by_role("alert").inner_text()
    card = page.locator("#limit-login")
    card.get_by_label("New limit").fill("1 per day")
    card.get_by_role("button", name="Save").click()
    assert "at least 10 attempts an hour" in page.locator("#limit-login").inner_text()
    card = page.locator("#limit-ip")
    card.get_by_label("New limit").fill("lots per minute")
    card.get_by_role("button", name="Save").click()
    assert "not a limit string" in page.locator("#limit-ip").inner_text()
    assert "starts every client's budget under it afresh" in page.locator("main").inner_text()
    assert_accessible(page, "the limits page")
    screenshot(page, f"limits-{width}")
    page.goto(f"{attacked_site.widget_url}/staff/limits")
    times = page.get_by_label("Limits times for 192.0.2.0/24")
    times.fill("5000")
    page.get_by_role("button", name="Save the multiplier of 192.0.2.0/24").click()
    page.locator("#allowances").scroll_into_view_if_needed()
    assert_accessible(page, "the limits page, a multiplier refused")
    screenshot(page, f"limits-multiplier-refused-{width}")
    times = page.get_by_label("Limits times for 192.0.2.0/24")
    times.fill("100")
    page.get_by_role("button", name="Save the multiplier of 192.0.2.0/24").click()
    page.locator('[data-multiplier="100"]').wait_for()
