"""In Chromium, inside a partner's page: the supporter edits the letter, switches it to Urdu,
edits that too, and sends the sign form with a typo in the email; the answer brings back the
Urdu letter as edited, in Urdu, with its links. A target greeted only in English keeps its own
comma and direction inside the Urdu letter."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest

from widget.campaigns import save_campaign
from widget.clock import utcnow
from widget.extensions import db

from .conftest import LiveSite, embed_tag, screenshot
from .test_accessibility import assert_accessible
from .test_take_action import SHORT

pytestmark = pytest.mark.browser

#: SHORT with a second target greeted only in English
KEPT: dict[str, Any] = {
    **SHORT,
    "slug": "kept-letter",
    "targets": [
        SHORT["targets"][0],
        {"name": "Envoy Lee", "salutation": "Dear Envoy", "email": "envoy@example.org"},
    ],
}
EDIT = " میں آپ کے جواب کا منتظر ہوں۔"  # noqa: RUF001


@pytest.fixture
def site(live_site: LiveSite) -> LiveSite:
    with db.sessionmaker(live_site.app)() as session:
        save_campaign(session, dict(KEPT), utcnow(), actor=None)
    return live_site


@pytest.mark.parametrize("lang", ["en", "ur"])
@pytest.mark.parametrize("width", [360, 1280])
def test_a_form_error_brings_back_the_letter_as_edited_in_its_language(
    site: LiveSite, browser_context: Any, lang: str, width: int
) -> None:
    page = browser_context.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    tag = embed_tag(site.widget_url, "kept-letter", lang=lang)
    page.goto(site.partner_page(tag, path=f"/kept-{lang}-{width}"))
    widget = page.frame_locator("iframe")
    box = widget.locator("#sample-letter")
    box.wait_for()
    widget.locator("#letter-language").select_option("en")
    box.fill("My own English words.")
    widget.locator("#letter-language").select_option("ur")
    urdu = SHORT["translations"]["ur"]["sample_letter"] + EDIT
    assert box.input_value() + EDIT == urdu
    box.fill(urdu)
    widget.locator("#name").fill("Ayesha Khan")
    widget.locator("#email").fill("ayesha.example.org")
    widget.locator("#country").select_option("PK")
    widget.locator("input[name=actions]").first.check()
    widget.locator("#consent").check()
    widget.locator("form.sign button[type=submit]").click()

    widget.locator("#error-summary").wait_for()
    assert box.input_value() == urdu
    assert (box.get_attribute("lang"), box.get_attribute("dir")) == ("ur", "rtl")
    assert widget.locator("#letter-language").input_value() == "ur"
    links = widget.locator("a.email-letter").evaluate_all("links => links.map(a => a.href)")
    first = unquote(links[0].split("body=")[1])
    assert first == "محترمہ وزیر صاحبہ،\r\n\r\n" + urdu.replace("\n", "\r\n") + "\r\nAyesha Khan"
    # the target greeted only in English: its own comma, isolated inside the Urdu letter
    assert unquote(links[1].split("body=")[1]).startswith("\u2068Dear Envoy,\u2069\r\n\r\n")
    greeting = widget.locator("[data-greeting]").nth(1)
    assert greeting.inner_text() == "Dear Envoy,"
    assert (greeting.get_attribute("lang"), greeting.get_attribute("dir")) == ("en", "ltr")
    frame = next(f for f in page.frames if f.url.startswith(site.widget_url))
    assert_accessible(frame, f"the sign form's error with the kept letter ({lang}, {width} px)")
    widget.locator("#sample-letter").scroll_into_view_if_needed()
    screenshot(page, f"kept-letter-{lang}-{width}")
    # the English edit was made before the switch: the page drew it anew, as the campaign has it
    widget.locator("#letter-language").select_option("en")
    assert box.input_value() == SHORT["sample_letter"]


def test_a_letter_too_long_for_the_form_stays_behind_and_the_form_still_goes(
    site: LiveSite, browser_context: Any
) -> None:
    """18 KB of Urdu as sent would take the form past the 16 KiB body limit (refused, nothing
    signed): the script leaves the letter out instead, so the form's answer comes back."""
    page = browser_context.new_page()
    page.goto(f"{site.widget_url}/w/kept-letter?letter=ur")
    page.locator("#sample-letter").fill("ب" * 3000)
    page.locator("#email").fill("ayesha.example.org")
    page.locator("form.sign button[type=submit]").click()
    page.locator("#error-summary").wait_for()
    assert (
        page.locator("#sample-letter").input_value() == SHORT["translations"]["ur"]["sample_letter"]
    )
    page.locator("#sample-letter").fill("ب" * 1000)
    page.locator("form.sign button[type=submit]").click()
    page.locator("#error-summary").wait_for()
    assert page.locator("#sample-letter").input_value() == "ب" * 1000
