"""The campaign editor in Chromium: the preview follows typing before anything is saved, the
language tabs say what they still lack, and target groups are added and removed in place."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from widget.clock import utcnow
from widget.extensions import db
from widget.models import Campaign
from widget.staff import create_staff

from ..conftest import STAFF_PASSWORD
from .conftest import LiveSite, screenshot, sign_in


@pytest.fixture
def admin_site(live_site: LiveSite) -> LiveSite:
    with db.sessionmaker(live_site.app)() as session:
        create_staff(session, "admin@example.org", STAFF_PASSWORD, "admin", utcnow())
    return live_site


def saved_title(site: LiveSite) -> str:
    with db.sessionmaker(site.app)() as session:
        return session.scalars(select(Campaign.title)).one()


def test_the_preview_follows_typing_and_tabs_say_what_is_missing(
    admin_site: LiveSite, browser_context: Any
) -> None:
    page = sign_in(admin_site, browser_context)
    problems: list[str] = []
    # The sandboxed preview runs no script (Chromium says so); a CSP refusal or an error would
    # be the editor's own.
    page.on("console", lambda m: problems.extend([m.text] if "Refused" in m.text else []))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{admin_site.widget_url}/staff/campaigns/ua-109-23/edit")
    preview = page.frame_locator("#preview-frame")
    page.locator("#preview-frame[srcdoc]").wait_for(state="attached")
    preview.get_by_role("heading", name="Stop deporting Afghan refugees").wait_for()

    page.locator("#title").fill("Free <Ayesha> now")
    preview.get_by_role("heading", name="Free <Ayesha> now").wait_for()
    assert saved_title(admin_site) == "Stop deporting Afghan refugees"
    assert problems == []

    urdu = page.get_by_role("tab", name="Urdu")
    assert urdu.locator(".tab-marker").inner_text() == "✓"  # the demo ships its Urdu texts
    urdu.click()
    assert page.locator("#translations-0-title").is_visible()
    assert not page.locator("#title").is_visible()
    status = page.locator("#tab-1 .tab-status")
    for key in ("title", "summary", "ask", "sample_letter", "deadline_note"):
        page.locator(f"#translations-0-{key}").fill("")
    assert urdu.locator(".tab-marker").inner_text() == "…"
    assert status.inner_text() == "Missing: title, summary, ask, sample letter, deadline note"
    for key, text in [
        ("title", "افغان پناہ گزینوں کی ملک بدری روکیں"),
        ("summary", "خلاصہ"),
        ("ask", "لکھیں"),
        ("sample_letter", "خط"),
    ]:
        page.locator(f"#translations-0-{key}").fill(text)
    assert status.inner_text() == "Missing: deadline note"
    page.locator("#translations-0-deadline_note").fill("جلد")
    assert status.inner_text() == "Complete: all five texts are filled in."
    assert urdu.locator(".tab-marker").inner_text() == "✓"

    page.locator("#preview-lang").select_option("ur")
    preview.get_by_role("heading", name="افغان پناہ گزینوں کی ملک بدری روکیں").wait_for()
    page.get_by_role("button", name="Phone (360 px)").click()
    assert page.locator("#preview-frame").evaluate("f => f.style.width") == "360px"
    screenshot(page, "staff-editor-preview-360")
    page.get_by_role("button", name="Desktop (1280 px)").click()
    assert page.locator("#preview-frame").evaluate("f => f.style.width") == "1280px"
    screenshot(page, "staff-editor-preview-1280")
    for width in (360, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        screenshot(page, f"staff-editor-{width}")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert saved_title(admin_site) == "Stop deporting Afghan refugees"


def test_targets_are_added_moved_and_removed_in_place_then_saved(
    admin_site: LiveSite, browser_context: Any
) -> None:
    page = sign_in(admin_site, browser_context)
    page.goto(f"{admin_site.widget_url}/staff/campaigns/ua-109-23/edit")
    url = page.url
    groups = page.locator(".target")
    before = groups.count()
    page.get_by_role("button", name="Add a target").click()
    assert groups.count() == before + 1
    assert page.url == url
    new = f"#targets-{before}-name"
    assert page.locator(new).input_value() == ""
    page.locator(new).fill("Minister of the Interior")
    page.locator(f"#targets-{before}-email").fill("minister@example.org")
    groups.nth(before).get_by_role("button", name="Move up").click()
    assert page.locator(f"#targets-{before - 1}-name").input_value() == "Minister of the Interior"
    groups.first.get_by_role("button", name="Remove").click()
    assert groups.count() == before
    assert page.locator("#targets-0-name").input_value() == "Minister of the Interior"
    assert page.locator("#targets-1-name").input_value() == "Ambassador Masood Khan"
    assert groups.first.get_by_role("button", name="Move up").is_disabled()
    assert groups.last.get_by_role("button", name="Move down").is_disabled()
    page.get_by_role("button", name="Save").click()
    page.get_by_role("link", name="Edit").first.wait_for()
    with db.sessionmaker(admin_site.app)() as session:
        targets = session.scalars(select(Campaign.targets)).one()
    assert [t["name"] for t in targets] == ["Minister of the Interior", "Ambassador Masood Khan"]
    assert targets[0] == {"name": "Minister of the Interior", "email": "minister@example.org"}
