"""The API keys page in Chromium: make a key, see it once, revoke it; at phone and desk width."""

from __future__ import annotations

import re
from typing import Any

import pytest

from widget.apikeys import create_key, hash_key
from widget.clock import utcnow
from widget.extensions import db
from widget.models import ApiKey
from widget.partners import save_partner
from widget.staff import create_staff

from ..conftest import STAFF_PASSWORD
from .conftest import LiveSite, screenshot, sign_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [360, 1280])
def test_an_admin_makes_a_key_sees_it_once_and_revokes_it(
    live_site: LiveSite, browser_context: Any, width: int
) -> None:
    with db.sessionmaker(live_site.app)() as session:
        create_staff(session, "admin@example.org", STAFF_PASSWORD, "admin", utcnow())
        save_partner(session, "courier", "The Courier", [], utcnow(), actor="test")
        create_key(session, "Newsletter tool", "courier", utcnow(), actor="admin@example.org")
    page = sign_in(live_site, browser_context)
    page.set_viewport_size({"width": width, "height": 800})
    page.get_by_role("link", name="API keys").click()
    page.get_by_role("heading", name="API keys", level=1).wait_for()
    page.get_by_label("Name").fill("Our CRM")
    page.get_by_label("Whose supporters it reads").select_option("")
    page.get_by_role("button", name="Make a key").click()
    shown = page.locator("#new-key").inner_text()
    assert re.fullmatch(r"aw_[A-Za-z0-9_-]{43}", shown)
    with db.sessionmaker(live_site.app)() as session:
        row = session.query(ApiKey).filter_by(name="Our CRM").one()
        assert row.key_hash == hash_key(shown)
    # nothing is wider than the screen, the new key included
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"staff-keys-made-{width}")
    page.goto(f"{live_site.widget_url}/staff/keys")
    assert page.locator("#new-key").count() == 0
    assert shown not in page.content()
    page.get_by_role("button", name=f"Revoke the key Our CRM ({row.prefix})").click()
    card = page.locator(".card", has_text="Our CRM")
    assert "revoked" in card.inner_text()
    assert page.get_by_role("button", name=re.compile("Revoke the key Our CRM")).count() == 0
    screenshot(page, f"staff-keys-revoked-{width}")
