"""WCAG 2.2 AA in Chromium: axe-core finds nothing on the supporter's pages in English and Urdu,
a keyboard alone can sign, and the Urdu form mirrors."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from widget.extensions import db
from widget.models import Signature
from widget.tokens import manage_tokens, verify_tokens

from ..conftest import SECRET, link_claims
from .conftest import LiveSite, screenshot

pytestmark = pytest.mark.browser

WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def assert_accessible(page: Any, what: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG}})
    assert results.violations_count == 0, f"{what}:\n{results.generate_report()}"


def fill_form(page: Any) -> None:
    page.locator("#actions-0").check()
    page.locator("#name").fill("Ayesha Khan")
    page.locator("#email").fill("ayesha@example.org")
    page.locator("#country").select_option("PK")
    page.locator("#consent").check()


def latest_signature_id(site: LiveSite) -> int:
    with db.sessionmaker(site.app)() as session:
        return session.scalars(select(Signature.id).order_by(Signature.id.desc())).first()  # type: ignore[return-value]


@pytest.mark.parametrize("lang", ["en", "ur"])
def test_the_supporters_pages_have_no_axe_violations(
    live_site: LiveSite, browser_context: Any, lang: str
) -> None:
    page = browser_context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    widget = f"{live_site.widget_url}/w/ua-109-23?lang={lang}"
    page.goto(widget)
    assert_accessible(page, f"empty widget ({lang})")
    screenshot(page, f"a11y-widget-{lang}-390")

    page.locator("button.primary").click()
    page.locator("#error-summary").wait_for()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert_accessible(page, f"widget with errors ({lang})")
    name_input = page.locator("#name")
    assert "name-error" in (name_input.get_attribute("aria-describedby") or "")
    assert name_input.get_attribute("aria-invalid") == "true"

    page.goto(widget)
    fill_form(page)
    page.locator("button.primary").click()
    page.locator(".result h1").wait_for()
    assert page.evaluate("document.activeElement.tagName") == "H1"
    assert_accessible(page, f"after submitting ({lang})")

    signature_id = latest_signature_id(live_site)
    with db.sessionmaker(live_site.app)() as session:
        claims = link_claims(session, signature_id)
    verify = verify_tokens((SECRET,)).dumps({**claims, "c": "ua-109-23"})
    page.goto(f"{live_site.widget_url}/v/{verify}")
    assert_accessible(page, f"verify page ({lang})")
    manage = manage_tokens((SECRET,)).dumps(claims)
    page.goto(f"{live_site.widget_url}/m/{manage}")
    assert_accessible(page, f"manage page ({lang})")


def test_a_keyboard_alone_can_sign(live_site: LiveSite, browser_context: Any) -> None:
    page = browser_context.new_page()
    page.goto(f"{live_site.widget_url}/w/ua-109-23")
    page.locator("#actions-0").focus()
    page.keyboard.press("Space")  # I wrote a letter
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # I phoned
    for _ in range(3):
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "name"
    page.keyboard.type("Ayesha Khan")
    page.keyboard.press("Tab")
    page.keyboard.type("ayesha@example.org")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "country"
    page.keyboard.type("Pakistan")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")  # consent
    page.keyboard.press("Tab")  # opt in: left unticked
    page.keyboard.press("Tab")  # the honeypot is skipped: straight to the button
    assert page.evaluate("document.activeElement.textContent.trim()") == "Sign"
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Check your email").wait_for()
    with db.sessionmaker(live_site.app)() as session:
        signature = session.scalars(select(Signature)).one()
        assert (signature.name, signature.country, signature.actions, signature.opt_in) == (
            "Ayesha Khan",
            "PK",
            ["letter", "call"],
            False,
        )


def test_the_urdu_form_mirrors(live_site: LiveSite, browser_context: Any) -> None:
    page = browser_context.new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    text_box = (
        "() => { const r = document.createRange();"
        " r.selectNodeContents(document.querySelector('label[for=name]'));"
        " const b = r.getBoundingClientRect(); return {left: b.left, right: b.right}; }"
    )
    edges = {}
    for lang in ("en", "ur"):
        page.goto(f"{live_site.widget_url}/w/ua-109-23?lang={lang}")
        edges[lang] = (
            page.evaluate(text_box),
            page.locator("#name").bounding_box(),
            page.locator("#consent").bounding_box(),
        )
        screenshot(page, f"widget-{lang}-1280")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    (en_label, en_field, en_box), (ur_label, ur_field, ur_box) = edges["en"], edges["ur"]
    ur_right = ur_field["x"] + ur_field["width"]
    assert abs(en_label["left"] - en_field["x"]) < 2  # English: the label starts at the left
    assert abs(ur_label["right"] - ur_right) < 2  # Urdu: it starts at the right
    assert ur_label["left"] > en_label["right"]
    assert ur_box["x"] > ur_right - 40  # the checkbox sits on the right too
    assert en_box["x"] < en_field["x"] + 40
