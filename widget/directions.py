"""Which way a language is written: the one rule behind every ``dir`` (pages, mails, the
officials' report, a letter's greeting)."""

from __future__ import annotations

RTL_LANGUAGES = {"ar", "fa", "he", "ps", "sd", "ur", "yi"}


def text_direction(language: str) -> str:
    """``rtl`` for a language written right to left (``ur``, ``fa-AF``), else ``ltr``."""
    return "rtl" if language.replace("_", "-").split("-")[0].lower() in RTL_LANGUAGES else "ltr"
