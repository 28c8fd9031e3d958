"""Sealed mode in Chromium, for a partner account: its home, keys and webhooks pages say why
there is no supporters' CSV, no key and no endpoint to make, at phone and desktop width,
passing axe."""

from __future__ import annotations

from typing import Any

import pytest
from nacl.public import PrivateKey

from widget.clock import utcnow
from widget.extensions import db
from widget.partners import save_partner
from widget.sealing import public_key_text
from widget.staff import create_staff

from ..conftest import STAFF_PASSWORD
from .conftest import LiveSite, screenshot
from .test_accessibility import assert_accessible

pytestmark = pytest.mark.browser

REASON = "that key is not given to partners, because it opens every supporter's data"


@pytest.fixture
def live_env() -> dict[str, str]:
    return {"WIDGET_DATA_PUBLIC_KEY": public_key_text(PrivateKey.generate().public_key)}


@pytest.mark.parametrize(
    ("path", "name", "missing"),
    [
        ("/staff/partners/courier/home", "home", "Download the supporters (CSV)"),
        ("/staff/keys", "keys", "Make a key"),
        ("/staff/webhooks", "webhooks", "Add endpoint"),
    ],
)
def test_a_partner_account_is_told_why_in_sealed_mode(
    live_site: LiveSite, browser_context: Any, path: str, name: str, missing: str
) -> None:
    with db.sessionmaker(live_site.app)() as session:
        save_partner(session, "courier", "The Courier", [], utcnow(), actor="t")
        create_staff(
            session, "desk@courier.example", STAFF_PASSWORD, "partner", utcnow(), partner="courier"
        )
    page = browser_context.new_page()
    page.goto(f"{live_site.widget_url}/staff/")
    page.get_by_label("Email").fill("desk@courier.example")
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="The Courier").wait_for()
    page.goto(live_site.widget_url + path)
    note = page.locator("#sealed-note")
    for width in (360, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        assert note.is_visible()
        assert REASON in note.inner_text()
        assert page.get_by_role("button", name=missing).count() == 0
        assert page.get_by_role("link", name=missing).count() == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert_accessible(page, f"sealed partner {name} ({width} px)")
        screenshot(page, f"sealed-partner-{name}-{width}")
