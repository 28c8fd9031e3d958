"""After signing, in Chromium (issue 12): the embedded widget on a cross-site partner page, with
third-party cookies blocked, moves on to "Thank you" and the share step by itself when the
supporter confirms in another tab; share links carry ref=; nothing goes to a third party;
keyboard only; axe-core in English and Urdu; screenshots of every new state."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from sqlalchemy import update

from widget.clock import utcnow
from widget.extensions import db
from widget.models import Campaign, Signature
from widget.partners import save_partner
from widget.sharing import CHANNELS

from .conftest import LiveSite, embed_tag, screenshot, sign_in
from .test_accessibility import assert_accessible
from .test_staff_pages import staffed_site  # noqa: F401  (a fixture)

pytestmark = pytest.mark.browser

THANKS = "#thanks-title"


def register_partner(site: LiveSite) -> None:
    with db.sessionmaker(site.app)() as session:
        save_partner(session, "courier", "The Courier", [site.partner_origin], utcnow(), actor="t")


def fill_and_sign(frame: Any, email: str = "ayesha@example.org") -> None:
    """By field ids, so that it works in every language."""
    frame.locator("#actions-0").check()
    frame.locator("#name").fill("Ayesha Khan")
    frame.locator("#email").fill(email)
    frame.locator("#country").select_option("PK")
    frame.locator("#consent").check()
    frame.locator("form.sign button[type=submit]").click()
    frame.locator("#result-title").wait_for()


def open_latest_link(site: LiveSite, context: Any, width: int = 1280) -> Any:
    """Another tab, on the confirm page of the newest mail."""
    tab = context.new_page()
    tab.set_viewport_size({"width": width, "height": 800})
    tab.goto(f"{site.widget_url}/dev/mail")
    tab.locator("a[href^='/dev/mail/']").first.click()
    tab.locator("a[href*='/v/']").first.click()
    tab.locator("#verify-title").wait_for()
    return tab


def confirm_latest(site: LiveSite, context: Any, width: int = 1280) -> Any:
    """The supporter confirms from the newest mail, in another tab (returned, open)."""
    tab = open_latest_link(site, context, width)
    tab.locator("form button[type=submit]").click()
    tab.locator("#confirmed-title").wait_for()
    return tab


def foreign_requests(requests: list[str], site: LiveSite) -> list[str]:
    ours = {urlsplit(site.widget_url).netloc, urlsplit(site.partner_origin).netloc}
    return [
        url for url in requests if urlsplit(url).netloc not in ours and not url.startswith("data:")
    ]


@pytest.mark.parametrize("lang", ["en", "ur"])
def test_the_embedded_widget_moves_on_to_the_share_step_after_confirming_elsewhere(
    live_site: LiveSite, browser_context: Any, lang: str
) -> None:
    register_partner(live_site)
    requests: list[str] = []
    browser_context.on("request", lambda request: requests.append(request.url))
    page = browser_context.new_page()
    page.goto(
        live_site.partner_page(
            embed_tag(live_site.widget_url, partner="courier", lang=lang), path=f"/{lang}"
        )
    )
    frame = page.frame_locator("iframe")
    fill_and_sign(frame)
    assert frame.locator(".typed-address").inner_text() == "ayesha@example.org"
    assert frame.locator("[data-count]").get_attribute("data-count") == "0"
    assert frame.locator(THANKS).is_hidden()
    screenshot(page, f"journey-embedded-check-email-{lang}-1280")

    confirm_latest(live_site, browser_context).close()
    page.bring_to_front()
    frame.locator(THANKS).wait_for(timeout=45_000)
    assert frame.locator("#result-title").is_hidden()
    frame.locator('[data-count="1"]').wait_for(timeout=45_000)
    hrefs = frame.locator(".share-links a").evaluate_all("links => links.map(a => a.href)")
    assert len(hrefs) == 6
    # the partner's article itself (embed.js passes its path; the referrer agrees on the
    # origin), each with its own source code
    for href, code in zip(hrefs, CHANNELS[:6], strict=True):
        assert f"{live_site.partner_origin}/{lang}?ref={code}" in unquote(href), href
    link = frame.locator("#share-link").input_value()
    assert link == f"{live_site.partner_origin}/{lang}?ref=copy"
    screenshot(page, f"journey-embedded-thanks-{lang}-1280")
    assert foreign_requests(requests, live_site) == []


@pytest.mark.parametrize("lang", ["en", "ur"])
@pytest.mark.parametrize("width", [360, 1280])
def test_the_new_states_have_no_axe_violations(
    live_site: LiveSite, browser_context: Any, lang: str, width: int
) -> None:
    requests: list[str] = []
    browser_context.on("request", lambda request: requests.append(request.url))
    page = browser_context.new_page()
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{live_site.widget_url}/w/ua-109-23?lang={lang}&ref=newsletter")
    fill_and_sign(page)
    assert_accessible(page, f"check email ({lang})")
    screenshot(page, f"journey-check-email-{lang}-{width}")

    page.locator("form[action*='/correct'] button").click()
    page.locator("form.sign").wait_for()
    assert page.locator("#email").input_value() == "ayesha@example.org"
    screenshot(page, f"journey-corrected-{lang}-{width}")
    page.locator("#consent").check()
    page.locator("#email").fill("ayesha.khan@example.org")
    page.locator("form.sign button[type=submit]").click()
    page.locator("#result-title").wait_for()

    confirmed = confirm_latest(live_site, browser_context, width)
    assert confirmed.locator(".share-links a").count() == 6
    assert_accessible(confirmed, f"confirmed, with the share step ({lang})")
    screenshot(confirmed, f"journey-confirmed-{lang}-{width}")
    confirmed.close()
    page.bring_to_front()
    page.locator(THANKS).wait_for(timeout=45_000)
    assert page.evaluate("document.activeElement.id") == "thanks-title"
    assert_accessible(page, f"thanks and share, in the widget ({lang})")
    screenshot(page, f"journey-thanks-{lang}-{width}")

    page.goto(f"{live_site.widget_url}/w/ua-109-23?lang={lang}")
    fill_and_sign(page, "late@example.org")
    with db.sessionmaker(live_site.app)() as session:
        session.execute(update(Campaign).values(closes_at=utcnow() - timedelta(minutes=1)))
        session.commit()
    closed = open_latest_link(live_site, browser_context, width)
    assert closed.locator("button").count() == 0
    assert_accessible(closed, f"confirm link after the close ({lang})")
    screenshot(closed, f"journey-verify-closed-{lang}-{width}")
    assert foreign_requests(requests, live_site) == []


def test_a_keyboard_alone_reaches_send_again_correct_and_share(
    live_site: LiveSite, browser_context: Any
) -> None:
    page = browser_context.new_page()
    page.goto(f"{live_site.widget_url}/w/ua-109-23")
    fill_and_sign(page)

    def tab_to(name: str) -> None:
        for _ in range(30):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent.trim()") == name:
                return
        raise AssertionError(f"Tab never reached {name!r}")

    tab_to("Send the link again")
    page.keyboard.press("Enter")
    page.get_by_text("we have sent the link again", exact=False).wait_for()
    tab_to("The address is wrong: correct it")
    page.keyboard.press("Enter")
    page.locator("form.sign").wait_for()
    assert page.locator("#email").input_value() == "ayesha@example.org"


def test_a_keyboard_alone_reaches_every_way_to_share(
    live_site: LiveSite, browser_context: Any
) -> None:
    page = browser_context.new_page()
    page.goto(f"{live_site.widget_url}/w/ua-109-23")
    fill_and_sign(page)
    confirmed = confirm_latest(live_site, browser_context)
    reached = []
    for _ in range(20):
        confirmed.keyboard.press("Tab")
        reached.append(confirmed.evaluate("document.activeElement.textContent.trim()"))
    for name in ["WhatsApp", "Telegram", "X", "Facebook", "Bluesky", "Email", "Copy link"]:
        assert name in reached, reached
    assert reached.index("WhatsApp") < reached.index("Copy link")


def test_staff_see_the_funnel_per_source_code(
    staffed_site: LiveSite,  # noqa: F811
    browser_context: Any,
) -> None:
    with db.sessionmaker(staffed_site.app)() as session:
        session.execute(update(Signature).where(Signature.id % 3 == 0).values(ref="whatsapp"))
        session.execute(update(Signature).where(Signature.id % 3 == 1).values(ref="newsletter"))
        session.commit()
    page = sign_in(staffed_site, browser_context)
    page.goto(f"{staffed_site.widget_url}/staff/campaigns/ua-109-23/funnel")
    table = page.locator("#funnel-refs")
    assert table.locator("tbody tr").count() == 3
    assert table.locator("tbody th").all_inner_texts() == [
        "newsletter",
        "whatsapp",
        "No source code",
    ]
    for width in (1280, 360):
        page.set_viewport_size({"width": width, "height": 800})
        screenshot(page, f"journey-funnel-refs-{width}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


# Records, on the page's own clock, when it asks; and how many of its questions are unanswered
# (the count drops before the page's own handlers run, in the same turn of its event loop).
RECORD_PROGRESS = """(() => {
  const real = window.fetch, seen = (window.__progress = { calls: [], open: 0 });
  window.fetch = function (url) {
    if (!String(url).endsWith("/progress")) return real.apply(this, arguments);
    seen.calls.push(Date.now());
    seen.open += 1;
    return real.apply(this, arguments).then(
      (response) => {
        const json = response.json.bind(response);
        response.json = () => json().finally(() => { seen.open -= 1; });
        return response;
      },
      (error) => { seen.open -= 1; throw error; },
    );
  };
})();"""


def test_the_open_page_asks_less_and_less_often(live_site: LiveSite, browser_context: Any) -> None:
    """Every 5 s for two minutes, every 20 s to ten minutes, then once a minute (so that many
    widgets fit behind one address), on the page's own clock: a fake one, paused, moved a second
    at a time and only once the page has had its answer, so a slow machine changes nothing."""
    page = browser_context.new_page()
    page.add_init_script(RECORD_PROGRESS)
    page.route("**/progress", lambda route: route.fulfill(json={"state": "pending"}))
    page.clock.install()
    page.goto(f"{live_site.widget_url}/w/ua-109-23")
    fill_and_sign(page)
    page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 0.1)  # Unix seconds
    first_asked_after = None
    for seconds in range(1, 14 * 60 + 1):
        page.clock.run_for(1000)
        while page.evaluate("window.__progress.open"):
            page.wait_for_timeout(5)
        if first_asked_after is None and page.evaluate("window.__progress.calls.length"):
            first_asked_after = seconds
    calls = page.evaluate("window.__progress.calls")
    assert first_asked_after is not None and first_asked_after <= 6, calls
    # the first question may come before the clock was paused, and its answer late: the gaps are
    # counted from the second, about 10 s after the page started (the boundaries are left out)
    gaps = [
        ((earlier - calls[1]) / 1000 + 10, later - earlier)
        for earlier, later in pairwise(calls[1:])
    ]
    assert len(gaps) > 30, calls
    early = {gap for at, gap in gaps if at < 115}
    middle = {gap for at, gap in gaps if 125 <= at < 590}
    late = {gap for at, gap in gaps if at >= 610}
    assert (early, middle, late) == ({5000}, {20000}, {60000}), calls
