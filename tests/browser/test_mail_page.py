"""The staff mail page in Chromium, on a desk and on a phone: failed mail is readable and one
button sends it again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from widget.clock import utcnow
from widget.extensions import db
from widget.models import OutboxMessage
from widget.outbox import Mail, enqueue
from widget.staff import create_staff

from ..conftest import STAFF_PASSWORD
from .conftest import LiveSite, screenshot, sign_in

pytestmark = pytest.mark.browser

REASONS = [
    "recipient refused: 550 5.1.1 <[address]>: Recipient address rejected: User unknown in "
    "virtual mailbox table",
    "recipient refused: 552 5.2.2 Mailbox full",
    "cannot compose the mail: ValueError",
]


@pytest.fixture
def mail_site(live_site: LiveSite) -> LiveSite:
    now = utcnow()
    with db.sessionmaker(live_site.app)() as session:
        create_staff(session, "admin@example.org", STAFF_PASSWORD, "admin", now)
        for n in range(5):
            mail = Mail(f"p{n}@example.org", "Please confirm", "t", "h", kind="confirm")
            enqueue(session, mail, now - timedelta(hours=5 - n))
        session.flush()
        for message_id, reason in zip((1, 2, 3), REASONS, strict=True):
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id)
                .values(failed_at=now, next_attempt_at=None, attempts=1, last_error=reason)
            )
        session.commit()
    return live_site


def test_staff_see_failed_mail_and_resend_it(mail_site: LiveSite, browser_context: Any) -> None:
    page = sign_in(mail_site, browser_context)
    page.get_by_role("link", name="Mail").click()
    page.get_by_role("heading", name="Failed messages").wait_for()
    assert page.locator(".stats p").all_inner_texts() == [
        "2 queued",
        "3 failed",
        "2 h 0 min oldest unsent",
    ]
    assert page.locator(".cards .card").count() == 3
    screenshot(page, "staff-mail-1280")
    page.set_viewport_size({"width": 360, "height": 800})
    screenshot(page, "staff-mail-360")
    page.get_by_role("button", name="Resend message 2").click()
    page.get_by_role("status").wait_for()
    assert page.get_by_role("status").inner_text() == "1 message queued to send again."
    assert page.locator(".cards .card").count() == 2
    screenshot(page, "staff-mail-360-resent")
