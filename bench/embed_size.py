"""How many bytes a partner's readers download: embed.js gzipped (goal: at most 2 KB) and the
widget page with its CSS and JS, each gzipped as a server or CDN would send them."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

from widget import Settings, create_app
from widget.campaigns import load_campaign_file
from widget.cli import upgrade_database
from widget.clock import utcnow
from widget.extensions import db
from widget.paths import CAMPAIGNS

GOAL = 2048


def gzipped(body: bytes) -> int:
    return len(gzip.compress(body, compresslevel=9))


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings.from_env(
            {"WIDGET_PUBLIC_URL": "http://localhost"}, instance_path=Path(folder)
        )
        app = create_app(settings)
        upgrade_database(app)
        with app.app_context():
            load_campaign_file(db.session, CAMPAIGNS / "ua-109-23.toml", utcnow())
        client = app.test_client()
        rows = []
        for url in ("/embed.js", "/w/ua-109-23", "/static/widget.css", "/static/widget.js"):
            with client.get(url) as response:
                body = response.get_data()
            rows.append((url, len(body), gzipped(body)))
        db.engine(app).dispose()
    print(f"{'resource':<22}{'bytes':>8}{'gzipped':>10}")
    for url, raw, packed in rows:
        print(f"{url:<22}{raw:>8}{packed:>10}")
    total = sum(packed for _url, _raw, packed in rows)
    embed = rows[0][2]
    print(f"{'widget transfer':<22}{'':>8}{total:>10}")
    print(f"embed.js gzipped: {embed} B of a {GOAL} B budget ({embed / GOAL:.0%})")


if __name__ == "__main__":
    main()
