"""Jinja filters and globals: formatting only, so templates never compute."""

from __future__ import annotations

import re
from dataclasses import dataclass

from babel import Locale, UnknownLocaleError
from babel.numbers import format_decimal
from flask import Flask
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from .forms import ACTION_LABELS, country_names
from .models import Campaign
from .themes import Theme

RTL_LANGUAGES = {"ar", "fa", "he", "ps", "sd", "ur", "yi"}
URL = re.compile(r"https?://[^\s<>\"']+")


def paragraphs(text: str) -> Markup:
    """Blank-line separated text as ``<p>`` elements, single newlines kept as ``<br>``."""
    blocks = [block.strip() for block in re.split(r"\n\s*\n", text or "") if block.strip()]
    return Markup("\n").join(
        Markup("<p>{}</p>").format(Markup("<br>\n").join(escape(line) for line in b.split("\n")))
        for b in blocks
    )


def linkify(text: str) -> Markup:
    """Plain text with its URLs as links (the dev mailbox)."""
    escaped = str(escape(text))
    return Markup(URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped))


def country_name(code: str) -> str:
    return dict(country_names(str(get_locale() or "en"))).get(code, code)


def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


def language_name(code: str) -> str:
    """A language's name in the reader's language (CLDR), e.g. "Urdu" or "اردو"."""
    try:
        name = Locale.parse(code).get_display_name(str(get_locale() or "en"))
    except (UnknownLocaleError, ValueError, TypeError):
        return code
    return name or code


@dataclass(frozen=True)
class CampaignText:
    """One of a campaign's texts in the reader's language where the campaign gives it, with the
    ``lang`` and ``dir`` of the language it is really in (an English ask inside an Urdu widget
    must still read left to right)."""

    text: str
    language: str

    @property
    def attrs(self) -> Markup:
        direction = "rtl" if self.language.split("-")[0] in RTL_LANGUAGES else "ltr"
        return Markup(' lang="{}" dir="{}"').format(self.language, direction)


def campaign_text(campaign: Campaign, field: str) -> CampaignText:
    return CampaignText(*campaign.text(field, str(get_locale() or "en")))


def own_language(campaign: Campaign) -> CampaignText:
    """For texts given only in the campaign's first language (the targets' addresses)."""
    return CampaignText("", (campaign.languages or ["en"])[0])


def page_context() -> dict[str, object]:
    """The text direction of the current locale; first-party pages follow the reader's OS theme."""
    locale = get_locale()
    return {
        "text_direction": "rtl" if locale and locale.language in RTL_LANGUAGES else "ltr",
        "default_theme": Theme("auto"),
    }


#: the digits of the numbering systems our locales default to (Babel formats, not transliterates)
DIGITS = {"arab": "٠١٢٣٤٥٦٧٨٩", "arabext": "۰۱۲۳۴۵۶۷۸۹"}


def number(value: int) -> str:
    """A number in the reader's digits and grouping (Persian digits in Farsi and Pashto, Latin
    in Urdu, as CLDR has it); ``data-count`` attributes keep plain digits for scripts."""
    locale = Locale.parse(str(get_locale() or "en"))
    system = locale.default_numbering_system
    text = format_decimal(value, locale=locale, numbering_system="default")
    digits = DIGITS.get(system)
    return text.translate(str.maketrans("0123456789", digits)) if digits else text


def register(app: Flask) -> None:
    app.jinja_env.filters.update(
        paragraphs=paragraphs,
        linkify=linkify,
        country_name=country_name,
        action_label=action_label,
        language_name=language_name,
        number=number,
    )
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals.update(campaign_text=campaign_text, own_language=own_language)
    # The staff area's session-bound token (Flask-WTF), for forms that are only a button.
    app.jinja_env.globals.setdefault("csrf_token", generate_csrf)
    app.context_processor(page_context)
