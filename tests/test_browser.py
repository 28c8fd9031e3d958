"""A real person in a real Chromium: the widget embedded on another site with third-party cookies
blocked, signed inside the iframe, confirmed from the mail in a first-party tab.

Set ``WIDGET_SCREENSHOTS=folder`` to keep screenshots of what the browser showed.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from widget import create_app
from widget.campaigns import load_campaign_file
from widget.clock import utcnow
from widget.extensions import db

from .conftest import DEMO, free_port, make_settings, unavailable

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
#: Chromium as root in a closed network (see the machine notes): no sandbox, no background calls
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--test-third-party-cookie-phaseout",
]
SCREENSHOTS = os.environ.get("WIDGET_SCREENSHOTS")


@dataclass
class LiveSite:
    app: Flask
    widget_url: str
    partner_url: str


def serve_partner_page(html: str, port: int) -> http.server.ThreadingHTTPServer:
    body = html.encode()

    class PartnerPage(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), PartnerPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


PARTNER_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Partner news</title>
<style>body{{font:18px/1.6 Georgia,serif;margin:0;padding:1rem;background:#fbfaf7}}</style></head>
<body><h1>A news article on a partner site</h1><p>Readers can act below.</p>
<script async src="{widget}/embed.js" data-campaign="ua-109-23" data-partner="courier"></script>
<p>After the widget.</p></body></html>"""


@pytest.fixture
def live_site(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveSite]:
    """The widget on http://localhost:P and a partner page on http://127.0.0.1:Q (two sites),
    in debug mode as ``make demo`` runs it, so the dev mailbox is there."""
    monkeypatch.setenv("FLASK_DEBUG", "1")
    database = tmp_path / "widget.db"
    shutil.copy(sqlite_template, database)
    app = create_app(make_settings(f"sqlite:///{database}", tmp_path))
    with app.app_context():
        load_campaign_file(db.session, DEMO, utcnow())
        db.session.close()
    widget_port, partner_port = free_port(), free_port()
    server = make_server("localhost", widget_port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    widget_url = f"http://localhost:{widget_port}"
    partner = serve_partner_page(PARTNER_PAGE.format(widget=widget_url), partner_port)
    yield LiveSite(app, widget_url, f"http://127.0.0.1:{partner_port}/")
    for running in (server, partner):
        running.shutdown()
        running.server_close()
    db.engine(app).dispose()


@pytest.fixture
def browser_context(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Chromium with a profile that blocks third-party cookies."""
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium is not installed at {CHROMIUM} (Debian package 'chromium')")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the Python package 'playwright' is not installed")
    profile = tmp_path / "profile"
    (profile / "Default").mkdir(parents=True)
    (profile / "Default" / "Preferences").write_text(
        json.dumps({"profile": {"block_third_party_cookies": True, "cookie_controls_mode": 1}})
    )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


def screenshot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SCREENSHOTS}/{name}.png", full_page=True)


def test_sign_inside_the_iframe_on_another_site_and_confirm_from_the_mail(
    live_site: LiveSite, browser_context
) -> None:  # type: ignore[no-untyped-def]
    page = browser_context.new_page()
    page.goto(live_site.partner_url)
    widget = page.frame_locator("iframe")
    widget.get_by_role("heading", name="Stop deporting Afghan refugees").wait_for()
    # The iframe grows to its content (nothing inside needs scrolling) and takes its title.
    page.wait_for_function("document.querySelector('iframe').offsetHeight > 1500")
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
    page.wait_for_function("document.querySelector('iframe').offsetHeight < 600")
    page.wait_for_function(
        "Math.abs(document.querySelector('iframe').getBoundingClientRect().top) < 200"
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
    live_site: LiveSite, browser_context
) -> None:  # type: ignore[no-untyped-def]
    page = browser_context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_site.widget_url}/w/ua-109-23")
    page.get_by_label("Your name").fill("Ayesha Khan")
    page.get_by_label("Your email").fill("not-an-address")
    page.get_by_role("button", name="Sign").click()
    page.locator("#error-summary").wait_for()
    assert page.evaluate("document.activeElement.id") == "error-summary"
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
    live_site: LiveSite, browser_context
) -> None:  # type: ignore[no-untyped-def]
    page = browser_context.new_page()
    for width in (320, 390):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(live_site.partner_url)
        frame = page.frame_locator("iframe")
        frame.get_by_role("button", name="Sign").wait_for()
        inner = page.frames[1]
        assert inner.evaluate("document.documentElement.scrollWidth") <= width
        screenshot(page, f"partner-{width}")
