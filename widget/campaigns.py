"""Campaign files: one TOML file per campaign, validated whole before anything is written."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Audit, Campaign
from .origins import OriginError, check_origin

#: the actions a campaign may offer, in the order the widget lists them
ACTIONS = ("letter", "email", "call", "fax", "social")
#: matched whole (``fullmatch``): ``$`` would let a trailing line break through
SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
#: slugs that are the staff area's own paths (``/staff/campaigns/new``), not campaigns
#: slugs that are paths of the staff area (``/staff/campaigns/new``, ``/staff/partners/new``)
RESERVED_SLUGS = frozenset({"new"})
LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?")
TARGET_FIELDS = ("name", "title", "address", "email", "phone", "fax", "social", "salutation")
#: the target's fields that may span lines; the others end up in headers, links and one line
MULTILINE_TARGET_FIELDS = ("address",)
#: texts that may span lines; every other text is one line (titles go into mail subjects)
MULTILINE = ("summary", "ask", "additional_info", "sample_letter", "deadline_note", "call_script")
#: the largest goal the database's INTEGER column holds
MAX_GOAL = 2**31 - 1
#: characters that would add headers or change the target of a ``mailto:`` link
MAILTO_SYNTAX = set("?&#%")

REQUIRED_TEXT = {"slug": 64, "reference": 40, "title": 200, "summary": 5000, "ask": 5000}
OPTIONAL_TEXT = {
    "additional_info": 20000,
    "sample_letter": 20000,
    "deadline_note": 1000,
    "call_script": 5000,
}
#: the campaign's texts that a ``[translations.<lang>]`` table may give in another language
TRANSLATABLE = (
    "title",
    "summary",
    "ask",
    "sample_letter",
    "additional_info",
    "deadline_note",
    "call_script",
)


class CampaignFileError(ValueError):
    """A campaign file is wrong; ``field`` names where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def parse_campaign(data: dict[str, Any]) -> dict[str, Any]:
    """Check a campaign's fields and return them ready for the ``Campaign`` model."""
    known = {*REQUIRED_TEXT, *OPTIONAL_TEXT, "targets", "languages", "actions", "goal"}
    known |= {"opens_at", "closes_at", "allowed_origins", "translations", "count_offline_in_widget"}
    for key in data:
        if key not in known:
            raise CampaignFileError(key, f"unknown field; known fields: {', '.join(sorted(known))}")
    fields: dict[str, Any] = {}
    for key, limit in REQUIRED_TEXT.items():
        fields[key] = _text(data, key, limit, required=True)
    for key, limit in OPTIONAL_TEXT.items():
        fields[key] = _text(data, key, limit, required=False)
    if not SLUG.fullmatch(fields["slug"]):
        raise CampaignFileError("slug", "use lowercase letters, digits and inner hyphens")
    if fields["slug"] in RESERVED_SLUGS:
        raise CampaignFileError(
            "slug", f"{fields['slug']!r} is the staff area's own address; choose another"
        )
    fields["languages"] = _list(data, "languages", LANGUAGE.fullmatch, "a code such as en or ur")
    fields["targets"] = _targets(data.get("targets"), fields["languages"])
    fields["actions"] = _list(data, "actions", lambda a: a in ACTIONS, " or ".join(ACTIONS))
    fields["allowed_origins"] = allowed_origins(data.get("allowed_origins", ["*"]))
    goal = data.get("goal")
    if goal is not None and (not isinstance(goal, int) or isinstance(goal, bool) or goal < 1):
        raise CampaignFileError("goal", "must be a whole number above 0")
    if goal is not None and goal > MAX_GOAL:
        raise CampaignFileError("goal", f"must be at most {MAX_GOAL:,}")
    fields["goal"] = goal
    show_offline = data.get("count_offline_in_widget", False)
    if not isinstance(show_offline, bool):
        raise CampaignFileError("count_offline_in_widget", "must be true or false")
    fields["count_offline_in_widget"] = show_offline
    fields["translations"] = _translations(data.get("translations", {}), fields["languages"])
    fields["opens_at"] = _time(data, "opens_at")
    fields["closes_at"] = _time(data, "closes_at")
    if fields["opens_at"] and fields["closes_at"] and fields["closes_at"] <= fields["opens_at"]:
        raise CampaignFileError("closes_at", "must be after opens_at")
    return fields


def load_campaign_file(
    session: Session, path: Path, now: datetime, *, actor: str | None = None
) -> tuple[Campaign, bool]:
    """Create or update the campaign described by ``path``; returns it and whether it is new.

    The whole file is validated before the database is touched, so a bad file changes nothing.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise CampaignFileError("file", f"not valid TOML ({error})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CampaignFileError("file", f"cannot be read ({error})") from None
    return save_campaign(session, data, now, actor=actor)


def save_campaign(
    session: Session,
    data: dict[str, Any],
    now: datetime,
    *,
    actor: str | None,
    only_new: bool = False,
    expected_slug: str | None = None,
) -> tuple[Campaign, bool]:
    """Validate ``data`` whole, then create or update the campaign with its slug (audited).

    ``only_new`` refuses a slug that exists (the staff's "New campaign": never overwrite
    another campaign); ``expected_slug`` accepts only that campaign (its edit page). Without
    either it is create-or-update, the contract of ``campaign load``. ``actor`` (a staff
    email or ``cli:<user>``) goes into the audit log; None only seeds a database (tests).
    """
    fields = parse_campaign(data)
    slug = fields["slug"]
    campaign = session.scalar(select(Campaign).where(Campaign.slug == slug))
    if only_new and campaign is not None:
        raise CampaignFileError(
            "slug", f"a campaign {slug!r} exists already; change it from its own edit page"
        )
    if expected_slug is not None and slug != expected_slug:
        raise CampaignFileError("slug", f"this file is for {slug!r}, not {expected_slug!r}")
    created = campaign is None
    if campaign is None:
        campaign = Campaign(created_at=now)
        session.add(campaign)
    for key, value in fields.items():
        setattr(campaign, key, value)
    campaign.updated_at = now
    if actor is not None:
        action = "campaign.create" if created else "campaign.update"
        session.add(Audit(at=now, actor=actor, action=action, details={"campaign": slug}))
    session.commit()
    return campaign, created


def find_campaign(session: Session, slug: str, *, now: datetime | None = None) -> Campaign | None:
    """The campaign with ``slug``; with ``now`` (the public pages), one that has not opened
    yet is hidden as if it did not exist. A string that cannot be a slug costs no query."""
    if not SLUG.fullmatch(slug):
        return None
    campaign = session.scalar(select(Campaign).where(Campaign.slug == slug))
    if campaign is not None and now is not None and campaign.opens_at and now < campaign.opens_at:
        return None
    return campaign


def _text(
    data: dict[str, Any], key: str, limit: int, *, required: bool, where: str | None = None
) -> str:
    where = where or key
    value = data.get(key)
    if value is None:
        if required:
            raise CampaignFileError(where, "is required")
        return ""
    if not isinstance(value, str):
        raise CampaignFileError(where, "must be text")
    value = value.strip()
    if required and not value:
        raise CampaignFileError(where, "must not be empty")
    if len(value) > limit:
        raise CampaignFileError(where, f"is longer than {limit} characters")
    check_characters(where, value, multiline=key in MULTILINE)
    return value


def check_characters(field: str, value: str, *, multiline: bool) -> None:
    """Refuse control characters (NUL, ESC...) anywhere and line breaks in one-line fields: a
    title goes into every mail's Subject header, where a line break stops the sender."""
    for char in value:
        category = unicodedata.category(char)
        if multiline and char in "\n\r\t":
            continue
        if char in "\n\r\x85\u2028\u2029" or category in ("Zl", "Zp"):
            raise CampaignFileError(field, "must be one line: remove the line break")
        if category == "Cc":
            raise CampaignFileError(
                field, f"holds a control character (U+{ord(char):04X}); remove it"
            )


def allowed_origins(value: Any) -> list[str]:
    """``["*"]`` (any site may embed), or the sites that may, each ``scheme://host[:port]``."""
    values = _list({"allowed_origins": value}, "allowed_origins", lambda _o: True, "")
    if values == ["*"]:
        return values
    try:
        origins = [check_origin(origin) for origin in values]
    except OriginError as error:
        raise CampaignFileError(
            "allowed_origins", f'{error} (or "*" alone, for any site)'
        ) from None
    if len(set(origins)) != len(origins):
        raise CampaignFileError("allowed_origins", "lists a value twice")
    return origins


def _list(data: dict[str, Any], key: str, valid: Any, expected: str) -> list[str]:
    values = data.get(key)
    if not isinstance(values, list) or not values:
        raise CampaignFileError(key, "must be a non-empty list")
    for value in values:
        if not isinstance(value, str) or not valid(value):
            raise CampaignFileError(key, f"{value!r} is not valid; expected {expected}")
    if len(set(values)) != len(values):
        raise CampaignFileError(key, "lists a value twice")
    return list(values)


def _translations(tables: Any, languages: list[str]) -> dict[str, dict[str, str]]:
    """``[translations.ur]`` tables: the campaign's texts in its other languages."""
    if not isinstance(tables, dict):
        raise CampaignFileError("translations", "must be tables such as [translations.ur]")
    parsed: dict[str, dict[str, str]] = {}
    for language, table in tables.items():
        where = f"translations.{language}"
        if language not in languages[1:]:
            raise CampaignFileError(where, "give it only for the campaign's other languages")
        if not isinstance(table, dict):
            raise CampaignFileError(where, "must be a table")
        for key in table:
            if key not in TRANSLATABLE:
                raise CampaignFileError(f"{where}.{key}", f"only {', '.join(TRANSLATABLE)}")
        limits = {**REQUIRED_TEXT, **OPTIONAL_TEXT}
        texts = {
            key: _text(table, key, limits[key], required=False, where=f"{where}.{key}")
            for key in table
        }
        parsed[language] = {key: text for key, text in texts.items() if text}
    return parsed


def _targets(targets: Any, languages: list[str]) -> list[dict[str, Any]]:
    if not isinstance(targets, list) or not targets:
        raise CampaignFileError("targets", "must list at least one [[targets]] entry")
    parsed = []
    for number, target in enumerate(targets, start=1):
        where = f"targets[{number}]"
        if not isinstance(target, dict):
            raise CampaignFileError(where, "must be a table")
        salutations = _salutations(target.get("salutations", {}), languages, where)
        for key, value in target.items():
            if key == "salutations":
                continue
            if key not in TARGET_FIELDS:
                raise CampaignFileError(f"{where}.{key}", "unknown field")
            if not isinstance(value, str) or len(value) > 1000:
                raise CampaignFileError(f"{where}.{key}", "must be text up to 1000 characters")
            check_characters(
                f"{where}.{key}", value.strip(), multiline=key in MULTILINE_TARGET_FIELDS
            )
        if not target.get("name", "").strip():
            raise CampaignFileError(f"{where}.name", "is required")
        fields: dict[str, Any] = {
            key: value.strip()
            for key, value in target.items()
            if key != "salutations" and value.strip()
        }
        if salutations:
            fields["salutations"] = salutations
        if "email" in fields:
            fields["email"] = target_email(f"{where}.email", fields["email"])
        parsed.append(fields)
    return parsed


def _salutations(table: Any, languages: list[str], where: str) -> dict[str, str]:
    """``salutations = { ur = "محترم سفیر صاحب" }``: the target's salutation in the campaign's
    other languages, for the letter sent in them (``salutation`` is the campaign's own)."""
    where = f"{where}.salutations"
    if not isinstance(table, dict):
        raise CampaignFileError(where, 'must be a table such as { ur = "..." }')
    parsed = {}
    for language, value in table.items():
        if language not in languages[1:]:
            raise CampaignFileError(
                f"{where}.{language}", "give it only for the campaign's other languages"
            )
        if not isinstance(value, str) or len(value) > 1000:
            raise CampaignFileError(f"{where}.{language}", "must be text up to 1000 characters")
        check_characters(f"{where}.{language}", value.strip(), multiline=False)
        if value.strip():
            parsed[language] = value.strip()
    return parsed


def target_email(field: str, address: str) -> str:
    """A plain address for the widget's ``mailto:`` link: no display name, no ``?cc=``."""
    problem = f"{address!r} is not an email address (give a plain address, e.g. info@example.org)"
    if MAILTO_SYNTAX & set(address):
        raise CampaignFileError(field, problem)
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        raise CampaignFileError(field, problem) from None
    return checked.normalized


def _time(data: dict[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise CampaignFileError(key, "must be a TOML date-time, e.g. 2024-02-08T23:59:00Z")
    if value.tzinfo is None:
        raise CampaignFileError(key, "needs a time zone, e.g. 2024-02-08T23:59:00+05:00")
    return value.astimezone(UTC).replace(tzinfo=None)
