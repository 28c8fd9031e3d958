"""The staff webhooks page in Chromium, on a desk and on a phone: add an endpoint and see its
secret once, see a failed delivery and replay it."""

from __future__ import annotations

from typing import Any

import pytest

from widget.clock import utcnow
from widget.extensions import db
from widget.models import WebhookDelivery
from widget.partners import save_partner
from widget.staff import create_staff
from widget.webhooks import add_webhook

from ..conftest import STAFF_PASSWORD
from .conftest import LiveSite, screenshot, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def hooks_site(live_site: LiveSite) -> LiveSite:
    now = utcnow()
    with db.sessionmaker(live_site.app)() as session:
        create_staff(session, "admin@example.org", STAFF_PASSWORD, "admin", now)
        save_partner(session, "courier", "The Courier", [], now, actor="test")
        webhook, _ = add_webhook(
            session,
            "https://crm.example.org/action-widget/hooks",
            events=["signature.verified", "signature.withdrawn"],
            actor="test",
            now=now,
        )
        for number, values in enumerate(
            (
                {"delivered_at": now, "last_status": 200, "attempts": 1, "body": ""},
                {"failed_at": now, "last_status": 503, "attempts": 20},
                {"next_attempt_at": now, "attempts": 0},
            )
        ):
            session.add(
                WebhookDelivery(
                    webhook_id=webhook.id,
                    message_id=f"msg_{number}",
                    body=values.pop("body", "{}"),
                    created_at=now,
                    last_error="the receiver answered 503" if number == 1 else "",
                    **values,
                )
            )
        session.commit()
    return live_site


def test_staff_add_an_endpoint_and_replay_a_failed_delivery(
    hooks_site: LiveSite, browser_context: Any
) -> None:
    page = sign_in(hooks_site, browser_context)
    page.get_by_role("link", name="Webhooks").click()
    page.get_by_role("heading", name="Recent deliveries").wait_for()
    states = page.locator("tbody tr td:nth-child(5)").all_inner_texts()
    assert states == ["queued", "failed", "delivered"]
    page.get_by_label("Endpoint URL (https://…)").fill("https://courier.example.org/hooks")
    page.get_by_label("For").select_option("courier")
    page.get_by_label("signature.verified").check()
    page.get_by_role("button", name="Add endpoint").click()
    page.get_by_role("heading", name="Signing secret for webhook 2").wait_for()
    secret = page.locator(".secret").inner_text()
    assert secret.startswith("whsec_") and len(secret) == 50
    screenshot(page, "staff-webhooks-1280")
    page.set_viewport_size({"width": 360, "height": 800})
    screenshot(page, "staff-webhooks-360")
    page.get_by_role("button", name="Replay delivery 2").click()
    page.get_by_role("status").wait_for()
    assert page.get_by_role("status").inner_text() == "1 delivery queued to send again."
    assert secret not in page.content()
    states = page.locator("tbody tr td:nth-child(5)").all_inner_texts()
    assert states == ["queued", "queued", "delivered"]
