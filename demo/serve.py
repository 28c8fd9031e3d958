"""``make demo``: the widget, the demo campaign, a partner page on another site, the dev mailbox.

The widget is served at http://localhost:8000 and the partner page at http://127.0.0.1:8001:
two different sites, as on the real web, so the widget runs as a third-party iframe.
"""

from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

HERE = Path(__file__).resolve().parent
WIDGET_PORT = int(os.environ.get("DEMO_WIDGET_PORT", "8000"))
PARTNER_PORT = int(os.environ.get("DEMO_PARTNER_PORT", "8001"))
WIDGET_URL = f"http://localhost:{WIDGET_PORT}"
PARTNER_URL = f"http://127.0.0.1:{PARTNER_PORT}"
#: the demo's staff account: for this local demo only, never for a real deployment
DEMO_STAFF = "admin@example.org"
DEMO_PASSWORD = "demo-only-password"
#: a plainly fictional organisation behind the demo (the footer, the mails, the privacy notice);
#: ``.example`` is a name reserved for examples, so nothing here can reach a real one
DEMO_ORGANISATION = {
    "WIDGET_ORG_NAME": "Lantern Rights Collective (a fictional demo organisation)",
    "WIDGET_ORG_URL": "https://lantern-rights.example/",
    "WIDGET_PRIVACY_CONTACT": "privacy@lantern-rights.example",
}


def partner_server() -> http.server.ThreadingHTTPServer:
    page = (HERE / "partner.html").read_text().replace("{{WIDGET_URL}}", WIDGET_URL).encode()

    class PartnerPage(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return http.server.ThreadingHTTPServer(("127.0.0.1", PARTNER_PORT), PartnerPage)


def prepare(app: Flask) -> None:
    """Migrate, load the demo campaign, register the partner page and the staff account; safe
    to run again on the same instance folder (``make demo`` twice)."""
    from sqlalchemy import select

    from widget.campaigns import load_campaign_file
    from widget.cli import upgrade_database
    from widget.clock import utcnow
    from widget.extensions import db
    from widget.models import Staff
    from widget.partners import save_partner
    from widget.paths import CAMPAIGNS
    from widget.staff import create_staff

    with app.app_context():
        upgrade_database(app)
        for file in sorted(CAMPAIGNS.glob("*.toml")):
            load_campaign_file(db.session, file, utcnow(), actor="demo")
        save_partner(
            db.session,
            "daily-courier",
            "The Daily Courier",
            [PARTNER_URL],
            utcnow(),
            actor="demo",
        )
        if db.session.scalar(select(Staff).where(Staff.email == DEMO_STAFF)) is None:
            create_staff(db.session, DEMO_STAFF, DEMO_PASSWORD, "admin", utcnow())


def main() -> None:
    os.environ["FLASK_DEBUG"] = "1"  # the dev mailbox at /dev/mail exists only in debug
    os.environ.setdefault("WIDGET_PUBLIC_URL", WIDGET_URL)  # where the links in mails point
    for name, value in DEMO_ORGANISATION.items():
        os.environ.setdefault(name, value)
    from widget import create_app

    app = create_app()
    prepare(app)
    partner = partner_server()
    threading.Thread(target=partner.serve_forever, daemon=True).start()
    print(
        "\naction-widget demo is running (Ctrl+C stops it):\n"
        f"  Partner page embedding the widget: {PARTNER_URL}/\n"
        f"  The widget on its own:             {WIDGET_URL}/w/ua-109-23\n"
        f"  Dev mailbox (confirmation mails):  {WIDGET_URL}/dev/mail\n"
        f"  Live count (JSON):                 {WIDGET_URL}/api/v1/campaigns/ua-109-23/count\n"
        f"  Staff area:                        {WIDGET_URL}/staff/"
        f"  (sign in as {DEMO_STAFF} / {DEMO_PASSWORD})\n"
        f"Data lives in {app.instance_path}.\n",
        flush=True,
    )
    app.run(host="localhost", port=WIDGET_PORT, debug=True, use_reloader=False, use_debugger=False)


if __name__ == "__main__":
    main()
