"""The staff editor's form as a campaign: targets as groups of fields, texts per language, and
the unsaved campaign the live preview draws. The rules stay in ``widget.campaigns`` (one place);
this module only turns the form's rows into the dict ``parse_campaign`` checks, and back."""

from __future__ import annotations

import re
from typing import Any

from .campaigns import TARGET_FIELDS, CampaignFileError, parse_campaign
from .models import Campaign

#: the texts each language's tab has, in the order the tab shows them
TAB_FIELDS = (
    "title",
    "summary",
    "ask",
    "sample_letter",
    "call_script",
    "additional_info",
    "deadline_note",
)
#: the texts a tab needs to count as complete
COMPLETE_FIELDS = ("title", "summary", "ask", "sample_letter", "deadline_note")
#: the most target groups the form takes (a campaign addresses a few officials, not a list)
MAX_TARGETS = 30
#: the largest body the preview reads: the size of a full editor form in a few languages
PREVIEW_MAX_BYTES = 64 * 1024
#: the slug an unsaved new campaign is previewed under before it has one
PREVIEW_SLUG = "preview"

_TARGET_ERROR = re.compile(r"targets\[(\d+)\]\.(\w+)(?:\..+)?")
_TRANSLATION_ERROR = re.compile(r"translations\.([^.]+)\.(\w+)")
_MOVE = re.compile(r"(remove|up|down)-(\d{1,3})")


def target_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The groups as ``[[targets]]`` entries: only the fields given (the rules strip them)."""
    entries = []
    for number, row in enumerate(rows, start=1):
        entry = {key: row[key] for key in TARGET_FIELDS if row.get(key)}
        salutations = salutations_of(row.get("salutations"), f"targets[{number}].salutations")
        if salutations:
            entry["salutations"] = salutations
        entries.append(entry)
    return entries


def salutations_of(text: str | None, field: str) -> dict[str, str]:
    """The box "salutation in the other languages", one a line as ``ur: محترم سفیر صاحب``, as
    the target's ``salutations`` table (which languages may have one is left to the rules)."""
    table: dict[str, str] = {}
    for line in (text or "").splitlines():
        code, colon, salutation = line.partition(":")
        if not line.strip():
            continue
        if not colon or not code.strip():
            raise CampaignFileError(
                field, f"{line.strip()!r}: write one a line as code: salutation, e.g. ur: محترم"
            )
        table[code.strip()] = salutation.strip()
    return table


def salutation_lines(salutations: dict[str, str] | None) -> str:
    """A target's ``salutations`` table as the editor's box shows it."""
    return "\n".join(f"{code}: {text}" for code, text in (salutations or {}).items())


def tab_translations(tabs: list[dict[str, Any]], languages: list[str]) -> dict[str, Any]:
    """The tabs of the campaign's other languages as ``[translations.<lang>]`` tables."""
    others = languages[1:]
    return {
        tab["language"]: {key: tab[key] for key in TAB_FIELDS if tab.get(key)}
        for tab in tabs
        if tab.get("language") in others
    }


def missing_texts(texts: dict[str, Any]) -> list[str]:
    """The texts a language's tab still lacks (empty when it is complete)."""
    return [key for key in COMPLETE_FIELDS if not str(texts.get(key) or "").strip()]


def languages_of(text: str | None) -> list[str]:
    """The languages field as codes, first the campaign's own; repeats are left to the rules."""
    return [code.strip() for code in (text or "").split(",") if code.strip()]


def rearranged(rows: list[dict[str, Any]], command: str) -> list[dict[str, Any]] | None:
    """The target groups after "Add a target", "Remove", "Move up" or "Move down" (``add``,
    ``remove-2``, ``up-2``, ``down-2``); None for a command that is not one of them."""
    rows = list(rows)
    if command == "add":
        return [*rows, {}] if len(rows) < MAX_TARGETS else rows
    match = _MOVE.fullmatch(command)
    if match is None or int(match[2]) >= len(rows):
        return None
    verb, index = match[1], int(match[2])
    if verb == "remove":
        del rows[index]
        return rows or [{}]
    other = index - 1 if verb == "up" else index + 1
    if 0 <= other < len(rows):
        rows[index], rows[other] = rows[other], rows[index]
    return rows


def error_key(field: str, languages: list[str]) -> str:
    """The form field a ``CampaignFileError`` belongs to: ``targets[2].email`` is the second
    group's ``targets-1-email``, ``translations.ur.title`` the Urdu tab's title."""
    target = _TARGET_ERROR.fullmatch(field)
    if target:
        return f"targets-{int(target[1]) - 1}-{target[2]}"
    translation = _TRANSLATION_ERROR.fullmatch(field)
    if translation and translation[1] in languages[1:]:
        return f"translations-{languages[1:].index(translation[1])}-{translation[2]}"
    return field.split("[")[0].split(".")[0]


def unsaved_campaign(data: dict[str, Any], saved: Campaign | None) -> Campaign:
    """The campaign the form describes, checked by the same rules as saving, never added to a
    session. It keeps the saved campaign's id, so the preview shows its real count."""
    if not data.get("slug"):
        data = {**data, "slug": PREVIEW_SLUG}
    campaign = Campaign(**parse_campaign(data))
    campaign.id = saved.id if saved else None
    return campaign
