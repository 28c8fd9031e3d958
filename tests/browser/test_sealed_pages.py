"""Sealed mode in Chromium: the supporter's manage page says the name and address are sealed,
shows what it can, passes axe in English and Urdu at phone and desktop width, and still
withdraws."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nacl.public import PrivateKey
from sqlalchemy import select

from widget.extensions import db
from widget.models import Signature
from widget.sealing import public_key_text
from widget.tokens import manage_tokens

from ..conftest import SECRET, link_claims
from .conftest import LiveSite, screenshot
from .test_accessibility import assert_accessible

pytestmark = pytest.mark.browser

#: Urdu: "Your name and email address are sealed" is translated by the lead; the page's
#: direction and language come from the signature's own language
SEALED_EN = "Your name and email address are sealed"


@pytest.fixture
def live_env() -> dict[str, str]:
    return {"WIDGET_DATA_PUBLIC_KEY": public_key_text(PrivateKey.generate().public_key)}


def sign_in_browser(page: Any, site: LiveSite, lang: str) -> int:
    page.goto(f"{site.widget_url}/w/ua-109-23?lang={lang}")
    page.locator("#actions-0").check()
    page.locator("#name").fill("Zarmina Qaderi")
    page.locator("#email").fill("zarmina@qaderi-family.org")
    page.locator("#country").select_option("AF")
    page.locator("#consent").check()
    page.locator("button.primary").click()
    page.locator(".result h1").wait_for()
    with db.sessionmaker(site.app)() as session:
        row = session.scalars(select(Signature).order_by(Signature.id.desc())).first()
        assert row is not None
        assert (row.name, row.email, row.language) == ("", "", lang)
        assert row.sealed
        return row.id


@pytest.mark.parametrize("lang", ["en", "ur"])
def test_the_sealed_manage_page_says_so_and_still_withdraws(
    live_site: LiveSite, browser_context: Any, lang: str, tmp_path: Path
) -> None:
    page = browser_context.new_page()
    signature_id = sign_in_browser(page, live_site, lang)
    with db.sessionmaker(live_site.app)() as session:
        claims = link_claims(session, signature_id)
    manage = f"{live_site.widget_url}/m/{manage_tokens((SECRET,)).dumps(claims)}"
    for width in (360, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(manage)
        notice = page.locator("p.notice.sealed")
        assert notice.is_visible()
        assert page.locator("html").get_attribute("lang") == lang
        assert page.locator("html").get_attribute("dir") == ("rtl" if lang == "ur" else "ltr")
        body = page.locator("main").inner_text()
        assert "Zarmina" not in body and "qaderi" not in body
        if lang == "en":
            assert SEALED_EN in notice.inner_text()
            assert "Afghanistan" in body
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert_accessible(page, f"sealed manage page ({lang}, {width} px)")
        screenshot(page, f"sealed-manage-{lang}-{width}")
    page.locator("form button.danger").click()
    page.locator(".result h1").wait_for()
    with db.sessionmaker(live_site.app)() as session:
        row = session.get(Signature, signature_id)
        assert row is not None
        assert (row.withdrawn_at is not None, row.sealed) == (True, None)
    screenshot(page, f"sealed-withdrawn-{lang}-1280")
