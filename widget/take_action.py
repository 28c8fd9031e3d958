"""Taking the action: each target's own letter (its salutation, the letter, the supporter's name)
in any language the campaign gives the letter in, as a ``mailto:`` link where it fits, and the
target's other routes (a call, a post to its social handle). No Flask here: the page and its
script build the same links from the same rules (``static/letter.js`` mirrors ``mailto``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

from .campaigns import OPTIONAL_TEXT
from .directions import text_direction
from .models import Campaign

#: the longest ``mailto:`` link we hand to a mail app: longer ones are cut short or refused
#: by some (Outlook on Windows and old browsers stop near 2,000), so past it the supporter
#: copies the letter and the link carries the subject only
MAILTO_LIMIT = 2000
#: languages whose comma after a salutation is the Arabic one
ARABIC_COMMA_LANGUAGES = {"ar", "fa", "ps", "sd", "ur"}
#: FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE: a greeting in a language written the other
#: way than its letter keeps its own direction in plain text (the mail, the textarea)
FSI, PDI = "\u2068", "\u2069"
#: the longest letter the supporter's edit may be (the campaign's own letter's limit)
LETTER_MAX = OPTIONAL_TEXT["sample_letter"]
#: the most the letter may add to the sign form as the browser sends it (percent-encoded UTF-8,
#: line breaks as CRLF): with the rest of the form it stays under the widget's body limit
#: (``widget.views.MAX_CONTENT_LENGTH``, 16 KiB), else the signature itself would be refused;
#: a longer letter is not sent, and a form error shows it as the campaign wrote it
LETTER_POST_BYTES = 10 * 1024
#: ``@name`` (X) or ``@name.example.social`` (Bluesky), or a profile link on either
_X_HANDLE = re.compile(r"@?([A-Za-z0-9_]{1,15})")
_BLUESKY_HANDLE = re.compile(
    r"@?((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,})"
)
_PROFILE = re.compile(
    r"https://(?:www\.)?(x\.com|twitter\.com|bsky\.app/profile)/([^/?#\s]+)/?", re.IGNORECASE
)
#: the compose pages that open with a text filled in: plain links, no script of theirs
INTENTS = {
    "x": "https://x.com/intent/post?text=",
    "bluesky": "https://bsky.app/intent/compose?text=",
}
NETWORK_NAMES = {"x": "X", "bluesky": "Bluesky"}


def mailto(address: str, subject: str, body: str) -> str:
    """RFC 6068: every character outside the unreserved set percent-encoded as UTF-8 (so a
    ``&``, ``#`` or ``?`` in a letter stays text), line breaks as CRLF; no body, no ``body=``."""
    link = f"mailto:{quote(address, safe='@')}?subject={quote(subject, safe='')}"
    if body:
        link += "&body=" + quote(body.replace("\r\n", "\n").replace("\n", "\r\n"), safe="")
    return link


def posted_size(letter: str) -> int:
    """The bytes ``letter`` takes in a form body (``application/x-www-form-urlencoded``)."""
    return len(quote_plus(letter.replace("\r\n", "\n").replace("\n", "\r\n")))


def greeting(salutation: str, language: str, letter_language: str | None = None) -> str:
    """``Dear Ambassador,`` or ``محترم سفیر صاحب،``: the salutation with the comma of its own
    ``language``; in a letter written the other way (an English salutation in an Urdu letter),
    between FSI and PDI, so it is not reordered into the letter's direction."""
    if not salutation:
        return ""
    comma = "،" if language.split("-")[0] in ARABIC_COMMA_LANGUAGES else ","
    line = salutation if salutation.endswith((",", "،")) else salutation + comma
    if letter_language and text_direction(letter_language) != text_direction(language):
        return FSI + line + PDI
    return line


def letter_body(
    salutation: str, letter: str, name: str, language: str, salutation_language: str | None = None
) -> str:
    """What one target receives: its greeting (the salutation in ``salutation_language``, by
    default the letter's), the letter in ``language``, then the supporter's name."""
    opening = greeting(salutation.strip(), salutation_language or language, language)
    return joined(opening, letter, name)


def joined(opening: str, letter: str, name: str) -> str:
    """The greeting line, a blank line, the letter, then the name; what is missing left out."""
    parts = [opening, letter.strip(), name.strip()]
    body = ""
    for index, part in enumerate(parts):
        if part:
            body += ("\n\n" if index == 1 and body else "\n" if body else "") + part
    return body


@dataclass(frozen=True)
class Opening:
    """A target's greeting for a letter in one language: as shown on the page (``text``, in its
    own ``language`` and ``direction``) and as the letter's first line (``line``)."""

    text: str
    language: str
    direction: str
    line: str


def opening_for(target: dict[str, Any], letter_language: str, own: str) -> Opening:
    """The target's salutation for a letter in ``letter_language``: its own one in that
    language, else the one in the campaign's language ``own`` (the right person, if not in the
    letter's language), each with its own language's comma and direction."""
    translated = (target.get("salutations") or {}).get(letter_language)
    language = letter_language if translated and letter_language != own else own
    salutation = str(translated if language != own else target.get("salutation") or "").strip()
    return Opening(
        greeting(salutation, language),
        language,
        text_direction(language),
        greeting(salutation, language, letter_language),
    )


@dataclass(frozen=True)
class Letter:
    """The sample letter in one language, with the mail subject (the title) in that language."""

    language: str
    subject: str
    text: str


@dataclass(frozen=True)
class Social:
    network: str
    handle: str
    #: the compose page with the handle and the campaign's title filled in
    url: str

    @property
    def network_name(self) -> str:
        return NETWORK_NAMES[self.network]


@dataclass(frozen=True)
class Route:
    """One target and the ways to reach it, with the letter in the chosen language."""

    target: dict[str, Any]
    #: its greeting for each letter language (for the page's script)
    openings: dict[str, Opening]
    #: its greeting in the chosen language; None where it has no salutation
    opening: Opening | None
    #: the ``mailto:`` link with the body, or with the subject only where that is too long
    email_href: str | None
    email_fits: bool
    phone_href: str | None
    social: Social | None


@dataclass(frozen=True)
class TakeAction:
    letters: list[Letter]
    #: the letter shown, as the campaign wrote it or as the supporter edited it
    chosen: Letter | None
    routes: list[Route]
    limit: int = MAILTO_LIMIT
    letter_max: int = LETTER_MAX
    letter_post_bytes: int = LETTER_POST_BYTES

    @property
    def posts_letter(self) -> bool:
        """Whether the sign form can carry the letter shown (see ``LETTER_POST_BYTES``)."""
        return self.chosen is not None and posted_size(self.chosen.text) <= LETTER_POST_BYTES


def letters_of(campaign: Campaign) -> list[Letter]:
    """The sample letter in every language the campaign gives it, its own language first."""
    languages = campaign.languages or ["en"]
    translations = campaign.translations or {}
    letters = []
    for index, language in enumerate(languages):
        texts = translations.get(language, {}) if index else {}
        text = texts.get("sample_letter") if index else campaign.sample_letter
        if text:
            letters.append(Letter(language, texts.get("title") or campaign.title, text))
    return letters


def social_link(social: str, text: str) -> Social | None:
    """An X or Bluesky handle (``@name``, ``@name.bsky.social`` or a profile link) as a compose
    link that starts the post with it; None for any other network, which the page just shows."""
    social = social.strip()
    profile = _PROFILE.fullmatch(social)
    if profile:
        network = "bluesky" if profile[1].lower().startswith("bsky") else "x"
        social = profile[2]
    else:
        network = "bluesky" if "." in social else "x"
    pattern = _BLUESKY_HANDLE if network == "bluesky" else _X_HANDLE
    handle = pattern.fullmatch(social)
    if handle is None or (not profile and not social.startswith("@")):
        return None
    name = "@" + handle[1]
    return Social(network, name, INTENTS[network] + quote(f"{name} {text}", safe=""))


def take_action(
    campaign: Campaign,
    reader_language: str,
    wanted: str | None = None,
    name: str = "",
    edited: str | None = None,
) -> TakeAction:
    """Everything the ask shows per target: the letter in ``wanted`` (or the reader's
    language, or the campaign's own) with each target's salutation and the typed ``name``.
    ``edited`` is the supporter's own text of the letter in ``wanted``, sent back with the sign
    form so a form error loses none of it; shown only, never kept."""
    letters = letters_of(campaign)
    by_language = {letter.language: letter for letter in letters}
    chosen = by_language.get(wanted or "") or by_language.get(reader_language)
    chosen = chosen or (letters[0] if letters else None)
    if chosen and edited is not None and chosen.language == wanted:
        text = edited.replace("\r\n", "\n")[:LETTER_MAX]
        chosen = Letter(chosen.language, chosen.subject, text)
    own = (campaign.languages or ["en"])[0]
    title = chosen.subject if chosen else campaign.title
    routes = []
    for target in campaign.targets or []:
        openings = {
            letter.language: opening_for(target, letter.language, own) for letter in letters
        }
        opening = openings[chosen.language] if chosen else None
        body = joined(opening.line, chosen.text, name) if chosen and opening else ""
        email_href, fits = None, True
        if target.get("email"):
            email_href = mailto(target["email"], title, body)
            fits = len(email_href) <= MAILTO_LIMIT
            if not fits:
                email_href = mailto(target["email"], title, "")
        phone = target.get("phone")
        social = social_link(target["social"], title) if target.get("social") else None
        routes.append(
            Route(
                target=target,
                openings=openings,
                opening=opening if opening and opening.text else None,
                email_href=email_href,
                email_fits=fits,
                phone_href="tel:" + re.sub(r"[^0-9+]", "", phone) if phone else None,
                social=social,
            )
        )
    return TakeAction(letters, chosen, routes)
