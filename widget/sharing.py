"""Bring others: share links that lead back to where the supporter signed, each carrying a
source code (``ref=``) so staff see which way of sharing brings signatures.

Plain links only (no third-party script, pixel or request): the supporter's browser contacts
a network only when they choose one. A link leads to the partner's page only when that page is
the recorded source and its origin an allowed partner origin; otherwise to the widget's own
page, so nobody can turn a confirm page into a redirect to a site of their choosing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from .models import Campaign, Partner
from .origins import is_origin

#: a source code: short, lowercase ASCII letters, digits, "-" and "_", a letter or digit first
REF = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
#: what is looked at before normalising: anything longer is refused unread
MAX_REF_INPUT = 64

#: the ways to share, in the order shown; each one is also its links' source code
CHANNELS = ("whatsapp", "telegram", "x", "facebook", "bluesky", "email", "copy", "share")
#: between the message and the link in a mail body (mail apps take CRLF from ``mailto:``)
NEW_PARAGRAPH = "\r\n\r\n"


def normalise_ref(value: object) -> str | None:
    """The source code in ``value``, or None. Full-width and other compatibility spellings
    fold to ASCII (NFKC) and case to lower; anything else outside the charset (markup,
    quotes, spaces, controls, other scripts) is refused whole, never trimmed into shape."""
    if not isinstance(value, str) or not value or len(value) > MAX_REF_INPUT:
        return None
    folded = unicodedata.normalize("NFKC", value).strip().lower()
    return folded if REF.fullmatch(folded) else None


def partner_origins(campaign: Campaign, active_partners: Iterable[Partner]) -> set[str]:
    """Origins named for this campaign or by an active partner; ``*`` names none."""
    origins = {origin for origin in campaign.allowed_origins if origin != "*"}
    for partner in active_partners:
        origins.update(partner.origins)
    return {origin for origin in origins if is_origin(origin)}


def back_to_source(source_url: str | None, allowed: set[str]) -> str | None:
    """The partner's page to return to: the recorded source (``partners.source_url`` form, no
    query) if its origin is an allowed partner origin; else None."""
    if not source_url:
        return None
    try:
        parts = urlsplit(source_url)
    except ValueError:
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    origin = f"{parts.scheme}://{parts.netloc}"
    return source_url if origin in allowed else None


def with_ref(url: str, ref: str) -> str:
    """``url`` with ``ref=<code>`` (replacing any ``ref`` it had)."""
    parts = urlsplit(url)
    query = [pair for pair in parts.query.split("&") if pair and not pair.startswith("ref=")]
    query.append(urlencode({"ref": ref}))
    return urlunsplit(parts._replace(query="&".join(query), fragment=""))


@dataclass(frozen=True)
class ShareLinks:
    """Every way to share one page: ``links`` maps a channel to its href; ``copy`` and
    ``share`` are the plain page URLs for the copy button and the Web Share API."""

    links: dict[str, str]
    copy: str
    share: str


def share_links(page_url: str, message: str, subject: str) -> ShareLinks:
    """The share step's links for ``page_url``; ``message`` is the text offered with it."""

    def q(text: str) -> str:
        return quote(text, safe="")

    url = {channel: with_ref(page_url, channel) for channel in CHANNELS}
    links = {
        "whatsapp": f"https://wa.me/?text={q(message + ' ' + url['whatsapp'])}",
        "telegram": f"https://t.me/share/url?url={q(url['telegram'])}&text={q(message)}",
        "x": f"https://x.com/intent/post?text={q(message)}&url={q(url['x'])}",
        "facebook": f"https://www.facebook.com/sharer/sharer.php?u={q(url['facebook'])}",
        "bluesky": f"https://bsky.app/intent/compose?text={q(message + ' ' + url['bluesky'])}",
        "email": f"mailto:?subject={q(subject)}&body={q(message + NEW_PARAGRAPH + url['email'])}",
    }
    return ShareLinks(links=links, copy=url["copy"], share=url["share"])
