"""The widget's views on a cross-site partner page in Chromium: compact and counter on a phone,
the full width, a first height near the final one, the link that replaces a refused frame, the
organisation in the footer, and the mails on a 320 px phone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from widget import widget_state
from widget.clock import utcnow
from widget.extensions import db
from widget.models import Campaign, OutboxMessage, Signature
from widget.notices import MailNotices
from widget.staff import create_staff
from widget.views import absolute_url

from ..conftest import STAFF_PASSWORD, Supporter
from .conftest import LiveSite, embed_tag, screenshot, sign_in
from .test_accessibility import assert_accessible

pytestmark = pytest.mark.browser

#: a plainly fictional organisation with a long, non-ASCII name
ORG_NAME = "Ḥuqūq Watch (a fictional organisation for tests) — انجمن حقوق"


@pytest.fixture
def live_env() -> dict[str, str]:
    return {
        "WIDGET_ORG_NAME": ORG_NAME,
        "WIDGET_ORG_URL": "https://huquq.example.org/",
        "WIDGET_PRIVACY_CONTACT": "privacy@huquq.example.org",
    }


#: the iframe's height as embed.js first set it, before the widget said its own
FIRST_HEIGHT = """window.firstHeight = null; new MutationObserver(function () {
  var frame = document.querySelector('iframe');
  if (frame && window.firstHeight === null) window.firstHeight = frame.offsetHeight;
}).observe(document, {childList: true, subtree: true});"""
#: counts the callbacks of embed.js's IntersectionObserver that saw the frame come into view,
#: after each has run: from then its 15 s wait runs on the page's clock
IN_VIEW = """window.framesInView = 0;
(function (Native) {
  if (!Native) return;
  window.IntersectionObserver = function (callback, options) {
    return new Native(function (changes, observer) {
      callback.call(this, changes, observer);
      if (changes[0] && changes[0].isIntersecting) window.framesInView += 1;
    }, options);
  };
  window.IntersectionObserver.prototype = Native.prototype;
})(window.IntersectionObserver);"""
CLOCK_START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ANSWERED = "() => window.ActionWidget && window.ActionWidget.frames.every(f => f.answered)"


def freeze_clock(page: Any) -> None:
    """Playwright's fake clock, stopped: time moves only by ``run_for``, never with the machine's
    own (a busy machine would otherwise bring the 15 s on early)."""
    page.clock.install(time=CLOCK_START)
    page.clock.pause_at(CLOCK_START + timedelta(seconds=1))


def watch_the_frame_come_into_view(page: Any) -> None:
    """Before ``goto``: ``frame_in_view`` can then wait until embed.js's 15 s wait has begun."""
    page.add_init_script(IN_VIEW)


def frame_in_view(page: Any) -> None:
    """Until the frame came into view and embed.js started its 15 s wait (on the page's clock,
    but only once Chromium has seen the frame in view, which a busy machine may delay)."""
    page.wait_for_function("() => window.framesInView > 0")


def open_partner_page(site: LiveSite, context: Any, viewport: int, path: str, **data: str) -> Any:
    page = context.new_page()
    page.set_viewport_size({"width": viewport, "height": 640})
    page.add_init_script(FIRST_HEIGHT)
    page.goto(site.partner_page(embed_tag(site.widget_url, partner="courier", **data), path=path))
    return page


def widget_frame(site: LiveSite, page: Any) -> Any:
    page.wait_for_function(ANSWERED)
    return next(f for f in page.frames if f.url.startswith(site.widget_url))


def frame_height(page: Any) -> int:
    return int(page.evaluate("document.querySelector('iframe').offsetHeight"))


def settled_height(page: Any) -> int:
    """The frame's height once the widget has said it and it stays put."""
    page.wait_for_function(ANSWERED)
    height = -1
    while height != frame_height(page):
        height = frame_height(page)
        page.wait_for_timeout(300)
    return height


@pytest.mark.parametrize("lang", ["en", "ur"])
def test_compact_starts_the_form_on_a_phones_first_screen(
    live_site: LiveSite, browser_context: Any, lang: str
) -> None:
    page = open_partner_page(
        live_site, browser_context, 360, f"/c-{lang}", view="compact", lang=lang
    )
    frame = widget_frame(live_site, page)
    frame_top = page.evaluate("document.querySelector('iframe').getBoundingClientRect().top")
    form_top = frame.evaluate("document.getElementById('sign-title').getBoundingClientRect().top")
    # a 360 by 640 phone, the partner's own headline above the widget
    assert frame_top + form_top < 640
    assert frame.locator("details.fold").evaluate("d => d.open") is False
    assert frame.locator("#ask-title").is_hidden()
    screenshot(page, f"compact-partner-{lang}-360")
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, f"compact-partner-{lang}-1280")


@pytest.mark.parametrize("lang", ["en", "ur"])
def test_compact_by_keyboard_the_form_then_the_fold(
    live_site: LiveSite, browser_context: Any, lang: str
) -> None:
    page = browser_context.new_page()
    page.set_viewport_size({"width": 360, "height": 640})
    page.goto(f"{live_site.widget_url}/w/ua-109-23?view=compact&lang={lang}")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('form.sign') !== null")
    page.locator("details.fold > summary").focus()
    page.keyboard.press("Enter")
    page.locator("#ask-title").wait_for()
    assert page.locator("details.fold").evaluate("d => d.open") is True
    assert_accessible(page, f"compact, folded ask open ({lang})")
    screenshot(page, f"compact-open-{lang}-360")
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, f"compact-open-{lang}-1280")


@pytest.mark.parametrize("lang", ["en", "ur"])
@pytest.mark.parametrize("width", [360, 1280])
def test_counter_is_short_and_opens_the_whole_action(
    live_site: LiveSite, browser_context: Any, lang: str, width: int
) -> None:
    page = open_partner_page(
        live_site, browser_context, width, f"/n-{lang}-{width}", view="counter", lang=lang
    )
    frame = widget_frame(live_site, page)
    assert settled_height(page) <= 300
    assert frame.locator("form").count() == 0
    screenshot(page, f"counter-partner-{lang}-{width}")
    # keyboard only: the link is the first stop inside the widget
    frame.locator("body").evaluate("b => b.focus()")
    frame.locator(".action-link a").focus()
    with page.expect_popup() as opened:
        page.keyboard.press("Enter")
    action = opened.value
    action.wait_for_load_state()
    # "courier" is no registered partner on this site: the link credits nobody, so leaves it out
    assert action.url == f"{live_site.widget_url}/w/ua-109-23?lang={lang}"
    action.locator("#sign-title").wait_for()
    assert action.locator("body.view-full").count() == 1


@pytest.mark.parametrize("lang", ["en", "ur"])
def test_counter_and_compact_have_no_axe_violations(
    live_site: LiveSite, browser_context: Any, lang: str
) -> None:
    page = browser_context.new_page()
    page.set_viewport_size({"width": 360, "height": 640})
    for view in ("counter", "compact"):
        page.goto(f"{live_site.widget_url}/w/ua-109-23?view={view}&lang={lang}")
        assert_accessible(page, f"{view} ({lang})")
    page.goto(f"{live_site.widget_url}/privacy?lang={lang}&campaign=ua-109-23")
    assert_accessible(page, f"privacy notice with the organisation ({lang})")
    screenshot(page, f"privacy-org-{lang}-360")
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, f"privacy-org-{lang}-1280")


@pytest.mark.parametrize("view", ["full", "compact", "counter"])
@pytest.mark.parametrize("width", [360, 1280])
def test_the_frame_starts_near_its_final_height(
    live_site: LiveSite, browser_context: Any, view: str, width: int
) -> None:
    page = open_partner_page(live_site, browser_context, width, f"/h-{view}-{width}", view=view)
    page.locator("iframe").scroll_into_view_if_needed()
    final = settled_height(page)
    first = page.evaluate("window.firstHeight")
    jump = abs(final - first)
    assert jump <= 0.15 * final, f"{view} at {width} px: first {first} px, final {final} px"


def test_the_full_width_option_fills_the_column(live_site: LiveSite, browser_context: Any) -> None:
    page = open_partner_page(live_site, browser_context, 1280, "/wide", width="full")
    widget_frame(live_site, page)
    column = page.evaluate("document.body.clientWidth - 32")  # the partner page's 1rem padding
    assert page.evaluate("document.querySelector('iframe').offsetWidth") == column
    narrow = open_partner_page(live_site, browser_context, 1280, "/narrow")
    widget_frame(live_site, narrow)
    assert narrow.evaluate("document.querySelector('iframe').offsetWidth") == 672  # 42rem
    screenshot(page, "full-width-en-1280")


def refuse_the_partner(site: LiveSite) -> None:
    with db.sessionmaker(site.app)() as session:
        campaign = session.scalars(select(Campaign)).one()
        campaign.allowed_origins = ["https://only.example.org"]
        session.commit()


@pytest.mark.parametrize(("lang", "title"), [("en", "Take action"), ("ur", "اقدام کریں")])
@pytest.mark.parametrize("width", [360, 1280])
def test_a_refused_frame_becomes_a_link_and_tells_the_webmaster(
    live_site: LiveSite, browser_context: Any, width: int, lang: str, title: str
) -> None:
    refuse_the_partner(live_site)
    page = browser_context.new_page()
    page.set_viewport_size({"width": width, "height": 640})
    freeze_clock(page)
    watch_the_frame_come_into_view(page)
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    data = {"partner": "courier", "lang": lang, **({"title": title} if lang != "en" else {})}
    page.goto(live_site.partner_page(embed_tag(live_site.widget_url, **data), path=f"/r{lang}"))
    page.wait_for_function("() => document.querySelector('iframe') !== null")
    # a slow network gets 15 s from when the frame comes into view
    frame_in_view(page)
    page.clock.run_for(14_000)
    assert page.get_by_role("link", name=title).count() == 0
    page.clock.run_for(1_500)
    link = page.get_by_role("link", name=title)
    link.wait_for()
    # hidden, not dropped: a widget that answers late comes back
    assert page.locator("iframe").count() == 1
    assert not page.locator("iframe").is_visible()
    action = f"{live_site.widget_url}/w/ua-109-23?partner=courier&lang={lang}"
    assert link.get_attribute("href") == action
    [advice] = [text for text in console if text.startswith("warning: action-widget:")]
    assert f"allow the origin {live_site.partner_origin} for this campaign" in advice
    assert 'or partner "courier"' in advice
    screenshot(page, f"refused-link-{lang}-{width}")
    # the link works by keyboard, first-party
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(action)
    page.locator("#sign-title").wait_for()


def test_an_unreachable_widget_becomes_a_link(live_site: LiveSite, browser_context: Any) -> None:
    page = browser_context.new_page()
    freeze_clock(page)
    watch_the_frame_come_into_view(page)
    page.route(f"{live_site.widget_url}/w/**", lambda route: route.abort("connectionrefused"))
    page.goto(live_site.partner_page(embed_tag(live_site.widget_url), path="/down"))
    page.wait_for_function("() => document.querySelector('iframe') !== null")
    frame_in_view(page)
    page.clock.run_for(15_500)
    page.get_by_role("link", name="Take action").wait_for()
    assert not page.locator("iframe").is_visible()


@pytest.mark.parametrize(("lang", "title"), [("en", "Take action"), ("ur", "اقدام کریں")])
@pytest.mark.parametrize("width", [360, 1280])
def test_a_widget_that_answers_after_the_timeout_comes_back(
    live_site: LiveSite, browser_context: Any, width: int, lang: str, title: str
) -> None:
    """Slow 2G or Tor: the link stands in while the widget loads, then the widget returns."""
    page = browser_context.new_page()
    page.set_viewport_size({"width": width, "height": 640})
    freeze_clock(page)
    watch_the_frame_come_into_view(page)
    held: list[Any] = []
    page.route(f"{live_site.widget_url}/w/**", lambda route: held.append(route))
    tag = embed_tag(live_site.widget_url, lang=lang, title=title)
    page.goto(live_site.partner_page(tag, path=f"/slow-{lang}"), wait_until="domcontentloaded")
    page.wait_for_function("() => document.querySelector('iframe') !== null")
    while not held:
        page.wait_for_timeout(50)
    frame_in_view(page)
    page.clock.run_for(15_500)
    page.get_by_role("link", name=title).wait_for()
    assert not page.locator("iframe").is_visible()
    screenshot(page, f"slow-link-{lang}-{width}")
    held[0].continue_()
    page.wait_for_function(ANSWERED)
    page.locator("iframe").wait_for(state="visible")
    assert page.get_by_role("link", name=title).count() == 0
    widget = next(f for f in page.frames if f.url.startswith(live_site.widget_url))
    widget.locator("#sign-title").wait_for()
    assert frame_height(page) > 600
    screenshot(page, f"slow-back-{lang}-{width}")


def test_a_widget_that_answered_is_never_replaced(
    live_site: LiveSite, browser_context: Any
) -> None:
    page = browser_context.new_page()
    page.clock.install()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(live_site.partner_page(embed_tag(live_site.widget_url, partner="courier")))
    page.wait_for_function(ANSWERED)
    page.clock.run_for(60_000)
    assert page.locator("iframe").count() == 1
    assert not any(text.startswith("action-widget:") for text in console)


def test_the_footer_names_the_organisation(live_site: LiveSite, browser_context: Any) -> None:
    page = open_partner_page(live_site, browser_context, 360, "/org")
    footer = widget_frame(live_site, page).locator(".widget-footer")
    assert footer.inner_text() == f"An action by {ORG_NAME} · Privacy"
    organisation = footer.get_by_role("link", name=ORG_NAME)
    assert organisation.get_attribute("href") == "https://huquq.example.org/"
    assert page.locator("iframe").get_attribute("title") == (
        f"Stop deporting Afghan refugees · {ORG_NAME}"
    )


def every_mail(site: LiveSite, lang: str) -> list[str]:
    """The HTML part of each of the four mails, for a supporter reading ``lang``."""
    client = site.app.test_client()
    supporter = Supporter(client)
    client.post(
        f"/w/ua-109-23?lang={lang}",
        data=supporter.form(),
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    with site.app.test_request_context(), db.sessionmaker(site.app)() as session:
        signature = session.scalars(select(Signature)).one()
        notices = MailNotices(absolute_url, widget_state(site.app))
        made = [notices.remind(signature), notices.already_signed(signature)]
        made.append(notices.withdrawn(signature))
        sent = session.scalars(select(OutboxMessage.html_body)).all()
        return [*sent, *(mail.html for mail in made)]


@pytest.mark.parametrize("lang", ["en", "ur"])
def test_the_mails_fit_a_320px_phone(live_site: LiveSite, browser_context: Any, lang: str) -> None:
    page = browser_context.new_page()
    page.set_viewport_size({"width": 320, "height": 640})
    mails = every_mail(live_site, lang)
    assert len(mails) == 4
    for number, html in enumerate(mails):
        page.set_content(html)
        sizes = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert sizes[0] <= sizes[1], f"mail {number} ({lang}) scrolls sideways: {sizes}"
        if number == 0:
            screenshot(page, f"mail-confirm-{lang}-320")
            page.set_viewport_size({"width": 1280, "height": 900})
            screenshot(page, f"mail-confirm-{lang}-1280")
            page.set_viewport_size({"width": 320, "height": 640})


def test_the_embed_code_generator_offers_the_views(
    live_site: LiveSite, browser_context: Any
) -> None:
    with db.sessionmaker(live_site.app)() as session:
        create_staff(session, "admin@example.org", STAFF_PASSWORD, "admin", utcnow())
    page = sign_in(live_site, browser_context)
    page.get_by_role("link", name="Embed code").click()
    page.get_by_label("View", exact=True).select_option("counter")
    page.get_by_label("Width", exact=True).select_option("full")
    snippet = page.get_by_label("Paste this into the partner's page").input_value()
    assert 'data-theme="light" data-view="counter" data-width="full"></script>' in snippet
    page.wait_for_function(
        "() => document.getElementById('embed-preview').src.endsWith('view=counter')"
    )
    page.frame_locator("#embed-preview").locator(".action-link a").wait_for()
    screenshot(page, "staff-embed-counter-1280")
    page.get_by_label("View", exact=True).select_option("full")
    assert "data-view" not in page.get_by_label("Paste this into the partner's page").input_value()
