"""The officials' report as a PDF (``widget.report_pdf``): a real PDF laid out from the report
page's HTML and print stylesheet, its text in English and in Urdu (real glyphs: the Urdu names
come back out of the PDF), never fetching a URL, for staff only, never cached."""

from __future__ import annotations

import http.server
import io
import sys
import threading
from collections.abc import Iterator
from datetime import datetime

import pytest
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget import paths, report_pdf
from widget.clock import utcnow
from widget.models import Campaign
from widget.offline import add_offline_action

from .conftest import StaffActions
from .partners_helpers import add_partners, partner_login
from .test_officials_report import HTTPS, REPORT, sign_from

PDF = REPORT + ".pdf"


def pdf_text(body: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(body))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def download(browser: FlaskClient, query: str = "") -> bytes:
    response = browser.get(PDF + query, **HTTPS)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    today = utcnow().date().isoformat()
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="ua-109-23-count-report-{today}.pdf"'
    )
    return response.get_data()


@pytest.fixture
def settings_env() -> dict[str, str]:
    return {"WIDGET_ORG_NAME": "Amnesty International UK"}


@pytest.fixture
def signed(session: Session) -> None:
    day = datetime(2026, 12, 1, 10)
    for n, country in enumerate(["DE", "DE", "FR", "AF", "PK", "PK", "PK"]):
        sign_from(session, country, day, f"s{n}@example.org")
    campaign = session.scalars(select(Campaign)).one()
    add_offline_action(
        session, campaign, count=40, action=None, note="Vigil, Trafalgar Square", now=day, actor="t"
    )
    session.commit()


def test_the_pdf_is_the_report_in_english(staff: StaffActions, signed: None) -> None:
    body = download(staff.signed_in("viewer"))
    assert body.startswith(b"%PDF-")
    pages, text = pdf_text(body)
    assert pages >= 1
    assert "Amnesty International UK" in text
    assert "UA 109.23" in text
    assert "H.E. Anwaar-ul-Haq Kakar" in text  # the addressee
    for country in ("Afghanistan", "France", "Germany", "Pakistan"):
        assert country in text
    assert "Together" in text and "47" in text  # 7 online and 40 offline
    assert "Vigil, Trafalgar Square" in text
    assert "Print this page" not in text  # the print stylesheet hides the navigation


def test_the_pdf_in_urdu_has_urdu_country_names_in_real_glyphs(
    staff: StaffActions, signed: None
) -> None:
    body = download(staff.signed_in("viewer"), "?lang=ur")
    pages, text = pdf_text(body)
    assert pages >= 1
    for country in ("افغانستان", "پاکستان", "جرمنی", "فرانس"):  # each letter came back out
        assert country in text
    assert "Germany" not in text
    fonts = {
        str(font["/BaseFont"]).split("+", 1)[-1]
        for page in PdfReader(io.BytesIO(body)).pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert "Noto-Naskh-Arabic" in fonts  # a font that has the Urdu letters, not boxes
    assert "Amnesty International UK" in text


@pytest.mark.parametrize("wanted", ["xx", "../ur", "UR", "ur-PK", "e\u0301n"])
def test_a_language_the_campaign_does_not_have_gives_the_english_pdf(
    staff: StaffActions, wanted: str
) -> None:
    response = staff.signed_in("viewer").get(PDF, query_string={"lang": wanted}, **HTTPS)
    assert response.status_code == 200
    assert "Count report" in pdf_text(response.get_data())[1]


def test_the_report_page_links_its_pdf_in_its_own_language(staff: StaffActions) -> None:
    page = staff.signed_in("viewer").get(REPORT + "?lang=ur", **HTTPS).get_data(as_text=True)
    assert (
        '<a class="pdf" href="/staff/campaigns/ua-109-23/report.pdf?lang=ur" download>'
        "download it as a PDF</a>"
    ) in page


def test_a_partner_account_and_the_signed_out_get_no_pdf(staff: StaffActions) -> None:
    add_partners(staff.app)
    refused = partner_login(staff).get(PDF, **HTTPS)
    assert refused.status_code == 403
    assert refused.mimetype == "text/html"
    anonymous = staff.app.test_client().get(PDF, **HTTPS)
    assert anonymous.status_code == 302
    assert "/staff/login" in anonymous.headers["Location"]
    assert staff.signed_in("viewer").get(PDF.replace("ua-109-23", "nope"), **HTTPS).status_code == (
        404
    )


def test_without_weasyprint_the_page_says_why_and_the_pdf_is_503(
    staff: StaffActions, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import weasyprint fails, as uninstalled
    report_pdf.unavailable_reason.cache_clear()
    try:
        browser = staff.signed_in("viewer")
        page = browser.get(REPORT, **HTTPS).get_data(as_text=True)
        refused = browser.get(PDF, **HTTPS)
    finally:
        report_pdf.unavailable_reason.cache_clear()
    assert 'class="pdf"' not in page
    assert (
        'save it as PDF from the print dialog (<span class="pdf-unavailable">no PDF download on '
        "this server: WeasyPrint is not installed (pip install &#39;action-widget[pdf]&#39;)."
        "</span>)"
    ) in page
    assert refused.status_code == 503
    assert refused.get_data(as_text=True) == (
        "No PDF on this server: WeasyPrint is not installed (pip install 'action-widget[pdf]')."
    )


# --- never a request from the PDF -----------------------------------------------------------------


class Hits(http.server.BaseHTTPRequestHandler):
    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body { color: red }")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 that notes every request it gets."""
    seen: list[str] = []
    handler = type("Handler", (Hits,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_fetcher_serves_our_stylesheet_and_refuses_everything_else(
    listener: tuple[str, list[str]],
) -> None:
    url, seen = listener
    fetcher = report_pdf.static_fetcher(paths.STATIC, "/static")
    served = fetcher.fetch(report_pdf.BASE_URL + "static/staff.css")
    assert served.read() == (paths.STATIC / "staff.css").read_bytes()
    assert served.content_type == "text/css"
    served.close()
    for refused in [
        f"{url}/evil.css",
        f"{url}/static/staff.css",
        "file:///etc/passwd",
        "file://" + str(paths.STATIC / "staff.css"),
        "data:text/css,body{color:red}",
        "ftp://127.0.0.1/x.css",
        "https://report.invalid:443/static/staff.css",
        "https://user@report.invalid/static/staff.css",
        "https://report.invalid/staff/campaigns/ua-109-23/report",
        "https://report.invalid/static/../widget/settings.py",
        "https://report.invalid/static/%2e%2e/pyproject.toml",
        "https://report.invalid/static/..%2fpyproject.toml",
        "https://report.invalid/static/%00staff.css",
        "https://report.invalid/static/no-such.css",
        "https://report.invalid/static/",
        "https://report.invalid/staticX/staff.css",
    ]:
        with pytest.raises(report_pdf.RefusedFetch):
            fetcher.fetch(refused)
    assert seen == []


def test_under_a_url_prefix_the_fetcher_serves_the_prefixed_stylesheet_only() -> None:
    fetcher = report_pdf.static_fetcher(paths.STATIC, "/act/static")
    served = fetcher.fetch(report_pdf.BASE_URL + "act/static/staff.css")
    assert served.read() == (paths.STATIC / "staff.css").read_bytes()
    served.close()
    with pytest.raises(report_pdf.RefusedFetch):
        fetcher.fetch(report_pdf.BASE_URL + "static/staff.css")


def test_hostile_html_is_laid_out_without_a_single_request(
    listener: tuple[str, list[str]],
) -> None:
    url, seen = listener
    html = (
        f'<!doctype html><html><head><link rel="stylesheet" href="{url}/a.css">'
        f"<style>@import url({url}/b.css); @font-face {{ font-family: X; src: url({url}/c.ttf) }}"
        f" body {{ background: url({url}/d.png); font-family: X }}</style></head>"
        f'<body><img src="{url}/e.png" alt="e"><iframe src="{url}/f"></iframe>'
        f'<object data="{url}/g.svg"></object><p>Still a report</p></body></html>'
    )
    body = report_pdf.render_pdf(html, paths.STATIC, "/static")
    assert "Still a report" in pdf_text(body)[1]
    assert seen == []


def test_hostile_campaign_texts_cause_no_request(
    staff: StaffActions, session: Session, listener: tuple[str, list[str]]
) -> None:
    url, seen = listener
    campaign = session.scalars(select(Campaign)).one()
    campaign.title = f'<link rel="stylesheet" href="{url}/t.css"><img src="{url}/t.png">'
    campaign.targets = [{"name": f"<style>@import url({url}/n.css)</style>", "address": url}]
    session.commit()
    text = pdf_text(download(staff.signed_in("viewer")))[1]
    assert f'<img src="{url}/t.png">' in text.replace("\n", "")  # shown as text, never loaded
    assert seen == []


def test_pdfs_are_limited_per_account_and_in_number_at_once(staff: StaffActions) -> None:
    """Every render slot of the process busy: a clear 503 with Retry-After; and past the
    per-account limit a 429, whichever answer the earlier requests had."""
    viewer = staff.signed_in("viewer")
    held = [report_pdf.RENDERS.acquire(blocking=False) for _ in range(report_pdf.MAX_RENDERS)]
    try:
        assert all(held)
        for _ in range(report_pdf.LIMIT_PER_MINUTE):
            busy = viewer.get(PDF, **HTTPS)
            assert busy.status_code == 503
            assert busy.headers["Retry-After"] == "10"
            assert "making other PDFs" in busy.get_data(as_text=True)
    finally:
        for _ in held:
            report_pdf.RENDERS.release()
    limited = viewer.get(PDF, **HTTPS)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    # another account has its own budget, and a free slot gives it the PDF
    download(staff.signed_in("admin"))


def test_a_library_error_is_logged_and_not_shown(caplog: pytest.LogCaptureFixture) -> None:
    error = OSError("cannot load library '/usr/lib/x86_64-linux-gnu/libpango-1.0.so.0'")
    with caplog.at_level("ERROR", logger="widget.report_pdf"):
        reason = report_pdf.library_problem(error)
    assert "/usr/lib" not in reason and "libpango" not in reason
    assert reason == "WeasyPrint cannot load its system libraries (Pango); see the server log."
    assert "/usr/lib/x86_64-linux-gnu/libpango-1.0.so.0" in caplog.text
