"""The abuse monitor and its alerts in sealed mode: every sealed address has one "domain",
``(sealed)``, which is always the whole window; it is shown, never marked unusual, never
mailed about (an honest campaign would otherwise raise an alert every hour)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.abuse import SEALED_DOMAIN, recent_activity
from widget.alerts import send_alerts
from widget.clock import utcnow
from widget.models import Campaign, OutboxMessage, Signature
from widget.sealing import generate_key_file, load_private_key, public_key_text
from widget.staff import create_staff

from .conftest import STAFF_PASSWORD, Supporter

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def settings_env(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "keys" / "data.key"
    path.parent.mkdir()
    generate_key_file(path)
    return {"WIDGET_DATA_PUBLIC_KEY": public_key_text(load_private_key(path).public_key)}


def test_sealed_signatures_are_never_an_unusual_domain(
    client: FlaskClient, supporter: Supporter, session: Session
) -> None:
    create_staff(session, "admin@example.org", STAFF_PASSWORD, "admin", utcnow())
    # twelve people of twelve organisations, each from an address of their own
    for n in range(12):
        form = supporter.form(email=f"person{n}@org{n}.example")
        environ = {"REMOTE_ADDR": f"192.0.2.{n + 1}"}
        response = client.post(
            "/w/ua-109-23", data=form, headers=SAME_ORIGIN, environ_overrides=environ
        )
        assert response.status_code == 200
    keys = session.scalars(select(Signature.email_key)).all()
    assert len(keys) == 12 and all(key.startswith("hmac:") for key in keys)
    now = utcnow() + timedelta(seconds=1)
    campaign = session.scalars(select(Campaign)).one()
    report = recent_activity(session, campaign, now - timedelta(hours=1), now)
    assert [(g.key, g.signatures, g.unusual) for g in report.by_domain] == [
        (SEALED_DOMAIN, 12, False)
    ]
    alerts = send_alerts(session, now, lambda slug: f"https://actions.example/{slug}")
    assert (alerts.sent, alerts.quiet) == ([], [])
    assert (
        session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "abuse_alert")).all()
        == []
    )
