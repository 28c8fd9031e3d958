"""The embed on a partner page, in Chromium: sizes, live counts, themes, who may talk to it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from widget.extensions import db
from widget.models import Campaign

from .conftest import LiveSite, embed_tag, screenshot

pytestmark = pytest.mark.browser

FRAME_HEIGHT = "document.querySelectorAll('iframe')[{n}].offsetHeight"


def sign_in_frame(frame: Any, email: str) -> None:
    frame.get_by_label("I wrote a letter").check()
    frame.get_by_label("Your name").fill("Ayesha Khan")
    frame.get_by_label("Your email").fill(email)
    frame.get_by_label("Your country").select_option("PK")
    frame.get_by_label("Count my signature.", exact=False).check()
    frame.get_by_role("button", name="Sign").click()
    frame.get_by_role("heading", name="Check your email").wait_for()


def confirm_from_mailbox(live_site: LiveSite, context: Any) -> None:
    tab = context.new_page()
    tab.goto(f"{live_site.widget_url}/dev/mail")
    tab.get_by_role("link", name="Please confirm your signature", exact=False).first.click()
    tab.get_by_role("link", name="/v/", exact=False).click()
    tab.get_by_role("button", name="Confirm my signature").click()
    tab.get_by_role("heading", name="Thank you! Your signature is confirmed.").wait_for()
    tab.close()


def test_the_counter_rises_without_a_reload(live_site: LiveSite, browser_context: Any) -> None:
    reader = browser_context.new_page()
    url = live_site.partner_page(
        embed_tag(live_site.widget_url, partner="courier"),
        embed_tag(live_site.widget_url, theme="dark"),
        path="/two",
    )
    reader.goto(url)
    counter = reader.frame_locator("iframe").nth(1).locator("[data-count]")
    counter.wait_for()
    assert counter.get_attribute("data-count") == "0"

    signer = browser_context.new_page()
    signer.goto(live_site.partner_origin + "/")
    sign_in_frame(signer.frame_locator("iframe"), "ayesha@example.org")
    confirm_from_mailbox(live_site, browser_context)

    # The reader's widget polls every 5 s: the count arrives without a reload.
    reader.bring_to_front()
    widget = reader.frame_locator("iframe").nth(1)
    widget.locator('[data-count="1"]', has_text=re.compile(r"^1$")).wait_for(timeout=45_000)
    assert widget.locator(".count-label").inner_text() == "verified signature"
    announced = widget.locator("[data-count-announce]")
    assert announced.inner_text() == "1 verified signature"


def test_two_widgets_on_one_page_size_and_theme_independently(
    live_site: LiveSite, browser_context: Any
) -> None:
    page = browser_context.new_page()
    page.goto(
        live_site.partner_page(
            embed_tag(live_site.widget_url, partner="courier"),
            embed_tag(live_site.widget_url, theme="dark #ffcc00"),
            path="/two",
        )
    )
    frames = page.frame_locator("iframe")
    for n in (0, 1):
        # Chromium does not render a cross-site frame that is out of view (the first one's
        # growth can push the second below the fold), so it resizes once scrolled to, as a
        # reader's would
        page.locator("iframe").nth(n).scroll_into_view_if_needed()
        frames.nth(n).get_by_role("button", name="Sign").wait_for()
        page.wait_for_function(f"() => {FRAME_HEIGHT.format(n=n)} > 1500")
    light = frames.nth(0).locator("body").evaluate("b => getComputedStyle(b).backgroundColor")
    dark = frames.nth(1).locator("body").evaluate("b => getComputedStyle(b).backgroundColor")
    button = frames.nth(1).get_by_role("button", name="Sign")
    assert light == "rgb(255, 255, 255)"
    assert dark == "rgb(18, 18, 18)"
    assert button.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(255, 204, 0)"
    assert button.evaluate("b => getComputedStyle(b).color") == "rgb(0, 0, 0)"
    assert page.evaluate("Object.keys(window).filter(k => k.startsWith('Action'))") == [
        "ActionWidget"
    ]
    assert page.evaluate("window.ActionWidget.frames.length") == 2
    screenshot(page, "partner-two-widgets-1280")


def test_messages_from_a_foreign_origin_are_ignored(
    live_site: LiveSite, browser_context: Any
) -> None:
    page = browser_context.new_page()
    page.goto(live_site.partner_origin + "/")
    page.frame_locator("iframe").get_by_role("button", name="Sign").wait_for()
    page.wait_for_function(f"() => {FRAME_HEIGHT.format(n=0)} > 1500")
    before = page.evaluate(FRAME_HEIGHT.format(n=0))
    # The partner page itself (another origin than the widget) forges a resize and a title.
    page.evaluate(
        "window.postMessage({actionWidget: {height: 50, title: 'forged', scrollTo: 9999}}, '*')"
    )
    page.wait_for_timeout(500)
    # the widget's own resize may still land (the frame starts near, not at, its height);
    # the forged 50 px never does
    assert abs(page.evaluate(FRAME_HEIGHT.format(n=0)) - before) < 200
    assert page.locator("iframe").get_attribute("title") == "Stop deporting Afghan refugees"


def test_a_restricted_campaign_cannot_be_framed_by_an_unlisted_site(
    live_site: LiveSite, browser_context: Any
) -> None:
    with db.sessionmaker(live_site.app)() as session:
        campaign = session.scalars(select(Campaign)).one()
        campaign.allowed_origins = ["https://only.example.org"]
        session.commit()
    page = browser_context.new_page()
    # Chromium says so on the console once it has refused the frame: waited for, not slept on
    with page.expect_console_message(lambda m: "frame-ancestors" in m.text, timeout=15_000):
        page.goto(live_site.partner_origin + "/")
    page.wait_for_function("() => document.querySelector('iframe') !== null")
    widget_frames = [f for f in page.frames if f.url.startswith(live_site.widget_url)]
    assert all(f.locator("h1").count() == 0 for f in widget_frames)

    # The widget page itself still opens first-party.
    direct = browser_context.new_page()
    direct.goto(f"{live_site.widget_url}/w/ua-109-23")
    assert direct.get_by_role("heading", name="Stop deporting Afghan refugees").is_visible()


@pytest.mark.parametrize("width", [320, 390, 768, 1280])
def test_no_scrollbars_inside_the_iframe(
    live_site: LiveSite, browser_context: Any, width: int
) -> None:
    page = browser_context.new_page()
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(live_site.partner_origin + "/")
    page.frame_locator("iframe").get_by_role("button", name="Sign").wait_for()
    page.wait_for_function(f"() => {FRAME_HEIGHT.format(n=0)} > 1000")
    inner = next(f for f in page.frames if f.url.startswith(live_site.widget_url))
    inner.wait_for_function(
        "() => document.documentElement.scrollHeight <= window.innerHeight + 1"
        " && document.documentElement.scrollWidth <= window.innerWidth"
    )


@pytest.mark.parametrize(("theme", "width"), [("light", 390), ("dark", 390), ("dark", 1280)])
def test_screenshots_of_the_partner_page(
    live_site: LiveSite, browser_context: Any, theme: str, width: int
) -> None:
    page = browser_context.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(live_site.partner_page(embed_tag(live_site.widget_url, theme=theme), path="/t"))
    page.frame_locator("iframe").get_by_role("button", name="Sign").wait_for()
    page.wait_for_function(f"() => {FRAME_HEIGHT.format(n=0)} > 1000")
    background = (
        page.frame_locator("iframe")
        .locator("body")
        .evaluate("b => getComputedStyle(b).backgroundColor")
    )
    assert background == ("rgb(18, 18, 18)" if theme == "dark" else "rgb(255, 255, 255)")
    screenshot(page, f"partner-{theme}-{width}")
