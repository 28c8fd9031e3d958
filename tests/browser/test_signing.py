"""A real person in a real Chromium: the widget embedded on another site with third-party cookies
blocked, signed inside the iframe, confirmed from the mail in a first-party tab."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import LiveSite, screenshot

pytestmark = pytest.mark.browser


def test_sign_inside_the_iframe_on_another_site_and_confirm_from_the_mail(
    live_site: LiveSite, browser_context: Any
) -> None:
    page = browser_context.new_page()
    page.goto(live_site.partner_origin + "/")
    widget = page.frame_locator("iframe")
    widget.get_by_role("heading", name="Stop deporting Afghan refugees").wait_for()
    # The iframe grows to its content (nothing inside needs scrolling) and takes its title.
    page.wait_for_function("() => document.querySelector('iframe').offsetHeight > 1500")
    assert page.locator("iframe").get_attribute("title") == "Stop deporting Afghan refugees"
    screenshot(page, "partner-1280")

    widget.get_by_label("I wrote a letter").check()
    widget.get_by_label("I phoned").check()
    widget.get_by_label("Your name").fill("Ayesha Khan")
    widget.get_by_label("Your email").fill("ayesha@example.org")
    widget.get_by_label("Your country").select_option("PK")
    widget.get_by_label("Count my signature.", exact=False).check()
    widget.get_by_role("button", name="Sign").click()
    result = widget.get_by_role("heading", name="Check your email")
    result.wait_for()
    # The iframe shrinks to the short result page and the page scrolls to show it.
    page.wait_for_function("() => document.querySelector('iframe').offsetHeight < 600")
    page.wait_for_function(
        "() => Math.abs(document.querySelector('iframe').getBoundingClientRect().top) < 200"
    )
    screenshot(page, "partner-after-sign")

    mail_tab = browser_context.new_page()
    mail_tab.goto(f"{live_site.widget_url}/dev/mail")
    screenshot(mail_tab, "dev-mailbox")
    mail_tab.get_by_role("link", name="Please confirm your signature", exact=False).click()
    mail_tab.get_by_role("link", name="/v/", exact=False).click()
    mail_tab.get_by_role("heading", name="Confirm your signature").wait_for()
    assert mail_tab.get_by_text("Ayesha Khan").is_visible()
    mail_tab.get_by_role("button", name="Confirm my signature").click()
    mail_tab.get_by_role("heading", name="Thank you! Your signature is confirmed.").wait_for()
    assert mail_tab.locator("[data-count]").get_attribute("data-count") == "1"
    screenshot(mail_tab, "confirmed")

    page.reload()
    count = page.frame_locator("iframe").locator("[data-count]")
    count.wait_for()
    assert count.get_attribute("data-count") == "1"


def test_errors_show_next_to_fields_and_keep_what_was_typed(
    live_site: LiveSite, browser_context: Any
) -> None:
    page = browser_context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_site.widget_url}/w/ua-109-23")
    page.get_by_label("Your name").fill("Ayesha Khan")
    page.get_by_label("Your email").fill("not-an-address")
    page.get_by_role("button", name="Sign").click()
    page.locator("#error-summary").wait_for()
    # the page's script moves focus there once it has run (it may run after the element shows)
    page.wait_for_function("() => document.activeElement?.id === 'error-summary'")
    assert page.locator("#email-error").inner_text() == (
        "⚠ Please enter a valid email address, like name@example.org."
    ) or page.locator("#email-error").inner_text() == (
        "Please enter a valid email address, like name@example.org."
    )
    assert page.get_by_label("Your name").input_value() == "Ayesha Khan"
    assert page.get_by_label("Your email").input_value() == "not-an-address"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "widget-390-errors")


def test_the_widget_fits_a_phone_without_sideways_scrolling(
    live_site: LiveSite, browser_context: Any
) -> None:
    page = browser_context.new_page()
    for width in (320, 390):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(live_site.partner_origin + "/")
        frame = page.frame_locator("iframe")
        frame.get_by_role("button", name="Sign").wait_for()
        inner = page.frames[1]
        assert inner.evaluate("document.documentElement.scrollWidth") <= width
        screenshot(page, f"partner-{width}")
