"""The staff area in Chromium: sign in, read the numbers, generate embed code, print the report."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from widget.clock import utcnow
from widget.counter import add
from widget.extensions import db
from widget.models import Campaign, Signature
from widget.staff import create_staff

from ..conftest import STAFF_PASSWORD
from .conftest import LiveSite, screenshot, sign_in

pytestmark = pytest.mark.browser

COUNTRIES = ["PK", "DE", "US", "GB", "AF", "FR", "CA", "NL"]


@pytest.fixture
def staffed_site(live_site: LiveSite) -> LiveSite:
    """An admin account and three weeks of confirmed signatures to look at."""
    rng = random.Random(109)
    now = utcnow()
    with db.sessionmaker(live_site.app)() as session:
        create_staff(session, "admin@example.org", STAFF_PASSWORD, "admin", now)
        campaign = session.query(Campaign).one()
        for n in range(120):
            moment = now - timedelta(days=rng.randrange(21), hours=rng.randrange(24))
            actions = rng.sample(["letter", "email", "call", "fax", "social"], rng.randint(1, 3))
            signature = Signature(
                campaign_id=campaign.id,
                email=f"p{n}@example.org",
                email_key=f"p{n}@example.org",
                name=f"Person {n}",
                country=rng.choice(COUNTRIES),
                actions=actions,
                consent_version="2026-11",
                opt_in=False,
                language="en",
                created_at=moment,
                verified_at=moment,
            )
            session.add(signature)
            session.flush()
            add(session, campaign.id, actions, shard_key=signature.id, now=moment)
        session.commit()
    return live_site


def test_staff_read_the_numbers_and_print_the_report(
    staffed_site: LiveSite, browser_context: Any
) -> None:
    page = sign_in(staffed_site, browser_context)
    assert page.locator(".card .big").inner_text() == "120 verified"
    screenshot(page, "staff-dashboard")

    page.get_by_role("link", name="Stop deporting Afghan refugees").click()
    page.locator("figure.chart svg rect").first.wait_for(state="attached")
    assert page.locator("figure.chart svg rect").count() == 30
    screenshot(page, "staff-campaign")

    page.get_by_role("link", name="Count report for officials").click()
    page.get_by_role("heading", name="UA 109.23: Stop deporting Afghan refugees").wait_for()
    page.emulate_media(media="print")
    assert page.locator(".no-print").is_hidden()
    assert "@example.org" not in page.content()
    screenshot(page, "staff-report-print")


def test_the_embed_code_generator_follows_the_choices(
    staffed_site: LiveSite, browser_context: Any
) -> None:
    page = sign_in(staffed_site, browser_context)
    page.get_by_role("link", name="Embed code").click()
    page.get_by_label("Theme").select_option("dark")
    page.get_by_label("Accent colour (optional, e.g. #d4351c)").fill("#d4351c")
    page.get_by_label("Language").select_option("ur")
    snippet = page.get_by_label("Paste this into the partner's page").input_value()
    assert 'data-campaign="ua-109-23"' in snippet
    assert 'data-lang="ur"' in snippet
    assert 'data-theme="dark #d4351c"' in snippet
    preview = page.frame_locator("#embed-preview")
    preview.get_by_role("button").last.wait_for()
    page.wait_for_function(
        "() => document.getElementById('embed-preview').src.includes('theme=dark+%23d4351c')"
    )
    screenshot(page, "staff-embed-generator")


def test_the_campaign_editor_shows_the_form_and_a_preview(
    staffed_site: LiveSite, browser_context: Any
) -> None:
    page = sign_in(staffed_site, browser_context)
    page.goto(f"{staffed_site.widget_url}/staff/campaigns/ua-109-23/edit")
    assert page.locator("#title").input_value() == "Stop deporting Afghan refugees"
    # the editor's first preview, in a frame of its own (no longer the saved page first)
    page.locator("#preview-frame[srcdoc]").wait_for(state="attached")
    page.frame_locator("#preview-frame").get_by_role(
        "heading", name="Stop deporting Afghan refugees"
    ).wait_for()
    screenshot(page, "staff-editor")
