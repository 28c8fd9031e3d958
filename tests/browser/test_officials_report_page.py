"""The officials' report in Chromium: the letterhead, the addressee, countries by name, on a
desktop and a phone screen and as printed (A4, no navigation); in Urdu, right to left; and its
PDF download, kept as PNG pages next to the print screenshots (pdftoppm, Debian's poppler-utils)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from widget.clock import utcnow
from widget.counter import add
from widget.extensions import db
from widget.models import Campaign, Signature
from widget.staff import create_staff

from ..conftest import STAFF_PASSWORD, unavailable
from .conftest import SCREENSHOTS, LiveSite, screenshot, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def live_env() -> dict[str, str]:
    return {"WIDGET_ORG_NAME": "Amnesty International UK", "WIDGET_ORG_URL": "https://example.org"}


@pytest.fixture
def report_site(live_site: LiveSite) -> LiveSite:
    with db.sessionmaker(live_site.app)() as session:
        create_staff(session, "admin@example.org", STAFF_PASSWORD, "admin", utcnow())
        campaign = session.query(Campaign).one()
        for n, country in enumerate(["DE", "FR", "AF", "GB", "GB", "PK", "PK", "PK"]):
            moment = datetime(2026, 11, 11 + 2 * n, 12)
            signature = Signature(
                campaign_id=campaign.id,
                email=f"p{n}@example.org",
                email_key=f"p{n}@example.org",
                name=f"Person {n}",
                country=country,
                actions=["letter", "email"],
                consent_version="2026-11",
                opt_in=False,
                language="en",
                created_at=moment,
                verified_at=moment,
            )
            session.add(signature)
            session.flush()
            add(session, campaign.id, signature.actions, shard_key=signature.id, now=moment)
        session.commit()
    return live_site


def fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_the_report_on_screen_on_a_phone_and_printed(
    report_site: LiveSite, browser_context: Any
) -> None:
    page = sign_in(report_site, browser_context)
    page.goto(f"{report_site.widget_url}/staff/campaigns/ua-109-23/report")
    page.get_by_role("heading", name="UA 109.23: Stop deporting Afghan refugees").wait_for()
    assert page.locator(".letterhead .org").inner_text() == "Amnesty International UK"
    assert page.locator(".addressee address").count() == 2
    countries = page.locator(".countries tbody td:first-child").all_inner_texts()
    assert countries == ["Afghanistan", "France", "Germany", "Pakistan", "United Kingdom"]
    assert page.locator(".period").inner_text() == "11 November 2026 to 25 November 2026"
    assert "@example.org" not in page.content()
    screenshot(page, "report-1280")
    page.set_viewport_size({"width": 360, "height": 800})
    assert fits(page)
    screenshot(page, "report-360")
    page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    page.emulate_media(media="print")
    assert page.locator("nav.no-print").is_hidden()
    assert page.locator(".letterhead .org-url").inner_text() == "https://example.org"
    screenshot(page, "report-print")


def test_the_report_in_urdu_reads_right_to_left(
    report_site: LiveSite, browser_context: Any
) -> None:
    page = sign_in(report_site, browser_context)
    page.goto(f"{report_site.widget_url}/staff/campaigns/ua-109-23/report")
    page.get_by_role("link", name="اردو").click()  # each language by its own name
    page.wait_for_url("**lang=ur")
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    assert page.evaluate("getComputedStyle(document.querySelector('nav')).direction") == "ltr"
    assert "جرمنی" in page.locator(".countries").inner_text()
    # the targets' addresses are in the campaign's own language: left to right
    assert page.evaluate("getComputedStyle(document.querySelector('address')).direction") == "ltr"
    screenshot(page, "report-ur-1280")
    page.set_viewport_size({"width": 794, "height": 1123})
    page.emulate_media(media="print")
    assert page.locator("nav.no-print").is_hidden()
    screenshot(page, "report-ur-print")


def pdf_pages(pdf: Path, name: str) -> None:
    """Keep the PDF's pages as PNG (96 dpi, like the print screenshots) with the screenshots."""
    if not SCREENSHOTS:
        return
    if not shutil.which("pdftoppm"):
        unavailable("pdftoppm is not installed (Debian package 'poppler-utils')")
    subprocess.run(["pdftoppm", "-png", "-r", "96", str(pdf), f"{SCREENSHOTS}/{name}"], check=True)


@pytest.mark.parametrize(("lang", "country"), [("en", "Germany"), ("ur", "جرمنی")])
def test_the_report_downloads_as_a_pdf(
    report_site: LiveSite, browser_context: Any, tmp_path: Path, lang: str, country: str
) -> None:
    page = sign_in(report_site, browser_context)
    page.goto(f"{report_site.widget_url}/staff/campaigns/ua-109-23/report?lang={lang}")
    assert country in page.locator(".countries").inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="download it as a PDF").click()
    today = utcnow().date().isoformat()
    assert download.value.suggested_filename == f"ua-109-23-count-report-{today}.pdf"
    pdf = tmp_path / f"report-{lang}.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF-")
    pdf_pages(pdf, f"report-pdf-{lang}")
