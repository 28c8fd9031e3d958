"""Real Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright) against a live widget on
http://localhost:P and partner pages on http://127.0.0.1:Q: two different sites, as on the web.

Set ``ACTION_WIDGET_SCREENSHOTS=folder`` to keep screenshots of what the browser showed.

``wait_for_function`` takes a function, ``"() => …"``: a bare expression is run by ``eval``
whenever it has to be asked again, which our pages' CSP refuses (``'unsafe-eval'`` is not in
``script-src``), so such a wait fails exactly when the page is slow.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from widget import create_app
from widget.campaigns import load_campaign_file
from widget.clock import utcnow
from widget.extensions import db

from ..conftest import DEMO, STAFF_PASSWORD, make_settings, unavailable

CHROMIUM = "/usr/bin/chromium"
#: Chromium as root in a closed network: no sandbox, no background calls to Google
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
SCREENSHOTS = os.environ.get("ACTION_WIDGET_SCREENSHOTS")

PARTNER_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Partner news</title>
<style>body{{font:18px/1.6 Georgia,serif;margin:0;padding:1rem;background:#fbfaf7}}</style></head>
<body><h1>A news article on a partner site</h1><p>Readers can act below.</p>
{widgets}
<p>After the widget.</p></body></html>"""


def embed_tag(widget_url: str, campaign: str = "ua-109-23", **data: str) -> str:
    attributes = "".join(f' data-{key}="{value}"' for key, value in data.items())
    return (
        f'<script async src="{widget_url}/embed.js" data-campaign="{campaign}"{attributes}>'
        "</script>"
    )


@dataclass
class LiveSite:
    app: Flask
    widget_url: str
    partner_origin: str
    pages: dict[str, str] = field(default_factory=dict)

    def partner_page(self, *widgets: str, path: str = "/") -> str:
        """Serve a partner page holding ``widgets`` (embed tags); returns its URL."""
        self.pages[path] = PARTNER_PAGE.format(widgets="\n".join(widgets))
        return self.partner_origin + path


def serve_pages(pages: dict[str, str]) -> http.server.ThreadingHTTPServer:
    """``pages`` (path to HTML, read at each request) on a port of the system's choosing."""

    class PartnerSite(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write((body or "not found").encode())

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PartnerSite)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def live_env() -> dict[str, str]:
    """Extra ``WIDGET_*`` values for the live widget; override in a test module."""
    return {}


def closed_before_sent(app: Any) -> Any:
    """The app with every response read whole and closed before werkzeug's dev server sends
    it. The server closes a response only after draining the socket, and a browser that drops
    the connection (a page left while its script was loading) makes that drain raise first: the
    static file stays open, and its ResourceWarning fails whichever test is running then."""

    def serve(environ: Any, start_response: Any) -> list[bytes]:
        response = app(environ, start_response)
        try:
            return [b"".join(response)]
        finally:
            if hasattr(response, "close"):
                response.close()

    return serve


@pytest.fixture
def live_site(
    sqlite_template: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    live_env: dict[str, str],
) -> Iterator[LiveSite]:
    """The widget, in debug mode as ``make demo`` runs it (so the dev mailbox is there), and a
    partner site on another origin."""
    monkeypatch.setenv("FLASK_DEBUG", "1")
    database = tmp_path / "widget.db"
    shutil.copy(sqlite_template, database)
    # Both servers take a port of the system's choosing as they bind (a port picked first and
    # bound later can be taken in between); the app, which needs its own URL, comes after.
    served: dict[str, Any] = {}
    server = make_server(
        "localhost", 0, lambda environ, start: served["app"](environ, start), threaded=True
    )
    pages: dict[str, str] = {}
    partner = serve_pages(pages)
    public_url = f"http://localhost:{server.port}"
    app = create_app(
        make_settings(f"sqlite:///{database}", tmp_path, WIDGET_PUBLIC_URL=public_url, **live_env)
    )
    with app.app_context():
        load_campaign_file(db.session, DEMO, utcnow())
        db.session.close()
    served["app"] = closed_before_sent(app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = LiveSite(app, public_url, f"http://127.0.0.1:{partner.server_port}", pages)
    site.partner_page(embed_tag(site.widget_url, partner="courier"))
    yield site
    for running in (server, partner):
        running.shutdown()
        running.server_close()
    db.engine(app).dispose()


@pytest.fixture
def browser_context(tmp_path: Path) -> Iterator[Any]:
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


def sign_in(site: LiveSite, context: Any, email: str = "admin@example.org") -> Any:
    """A new page in ``context``, signed in to the staff area on the dashboard."""
    page = context.new_page()
    page.goto(f"{site.widget_url}/staff/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Campaigns").wait_for()
    return page


def screenshot(page: Any, name: str) -> None:
    """Keep what the page shows, whole, when ``ACTION_WIDGET_SCREENSHOTS`` names a folder.

    The viewport is stretched to the page's height first: Chromium paints a cross-site iframe
    only where it is on screen."""
    if not SCREENSHOTS:
        return
    Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    page.wait_for_timeout(300)
    page.screenshot(path=f"{SCREENSHOTS}/{name}.png")
    page.set_viewport_size(size)
