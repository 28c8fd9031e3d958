"""The officials' report as a PDF: the report page's own HTML laid out by WeasyPrint with its
print stylesheet, so the PDF reads like the printed page.

WeasyPrint is the optional extra ``[pdf]`` (it needs Debian's Pango): without it the report page
says why there is no PDF. WeasyPrint never touches the network: its ``url_fetcher`` serves only
our own static files (the report's stylesheet) and refuses every other URL, whatever a campaign's
texts hold.
"""

from __future__ import annotations

import logging
import mimetypes
import threading
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

#: the address the report's HTML is laid out at: relative URLs resolve here, never to a host
BASE_URL = "https://report.invalid/"
#: PDFs one account may ask for a minute (``widget.limits.REPORT_PDF``)
LIMIT_PER_MINUTE = 6
#: PDFs laid out at once in one process (each takes a core and tens of MB); more wait outside
MAX_RENDERS = 2
RENDERS = threading.BoundedSemaphore(MAX_RENDERS)
#: seconds the 503 of a busy process asks the browser to wait
BUSY_RETRY_AFTER = 10

log = logging.getLogger(__name__)


class RefusedFetch(ValueError):
    """A URL the PDF may not load (WeasyPrint skips it and goes on without it)."""


@cache
def unavailable_reason() -> str | None:
    """Why this server cannot make PDFs, or ``None`` when it can."""
    try:
        import weasyprint  # noqa: F401
    except ImportError:
        return "WeasyPrint is not installed (pip install 'action-widget[pdf]')."
    except OSError as error:  # the Python package is there, Pango is not
        return library_problem(error)
    return None


def library_problem(error: OSError) -> str:
    """What the page says when the system libraries fail: the error itself (library paths of
    the server) goes to the log, not to the browser."""
    log.error("WeasyPrint cannot load its system libraries: %s", error)
    return "WeasyPrint cannot load its system libraries (Pango); see the server log."


def static_file(url: str, static_dir: Path, static_url_path: str) -> tuple[bytes, str]:
    """The bytes and type of ``BASE_URL`` + ``static_url_path``/FILE, a file of ``static_dir``;
    anything else (another host or scheme, ``file:``, ``data:``, a path out of the folder, a file
    that is not there) raises ``RefusedFetch``. Nothing here opens a connection."""
    parts = urlsplit(url)
    base = urlsplit(BASE_URL)
    prefix = static_url_path.rstrip("/") + "/"
    path = unquote(parts.path)
    own = (parts.scheme, parts.netloc) == (base.scheme, base.netloc) and "\x00" not in path
    if not own or not path.startswith(prefix):
        raise RefusedFetch(f"not one of the report's own files: {url[:200]}")
    root = static_dir.resolve()
    file = (root / path[len(prefix) :]).resolve()
    if not file.is_relative_to(root) or not file.is_file():
        raise RefusedFetch(f"not one of the report's own files: {url[:200]}")
    return file.read_bytes(), mimetypes.guess_type(file.name)[0] or "application/octet-stream"


def static_fetcher(static_dir: Path, static_url_path: str) -> Any:
    """A WeasyPrint URL fetcher that serves ``static_file`` and nothing else: it replaces the
    fetching itself, so no URL reaches urllib."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StaticFilesOnly(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: object = None) -> URLFetcherResponse:
            body, mime_type = static_file(url, static_dir, static_url_path)
            return URLFetcherResponse(url, body, {"Content-Type": mime_type})

    return StaticFilesOnly()


def render_pdf(html: str, static_dir: Path, static_url_path: str) -> bytes:
    """The PDF of the report page ``html`` (print media, A4 from the stylesheet's ``@page``)."""
    from weasyprint import HTML

    document = HTML(
        string=html,
        base_url=BASE_URL,
        url_fetcher=static_fetcher(static_dir, static_url_path),
        media_type="print",
    )
    return bytes(document.write_pdf())


def pdf_filename(slug: str, day: str) -> str:
    """``SLUG-count-report-YYYY-MM-DD.pdf`` (a campaign slug is lower-case ASCII already)."""
    return f"{slug}-count-report-{day}.pdf"
