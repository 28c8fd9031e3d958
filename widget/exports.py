"""Verified signatures as CSV, streamed in constant memory, safe to open in a spreadsheet.

Only signatures that count and still hold personal data are exported: verified, not withdrawn,
not invalidated, not anonymised. Every export is audited (who, when, what filter, how many rows).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, Text, case, cast, func, literal, select
from sqlalchemy.orm import Session

from .models import Audit, Campaign, Partner, Signature

#: a cell starting with one of these is run as a formula by Excel, LibreOffice or Sheets
#: (OWASP CSV injection, with the full-width forms and LF of its newer revisions)
FORMULA_STARTS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
#: Excel reads UTF-8 (Urdu, Farsi names) only when the file starts with a byte order mark
BOM = "\ufeff"
HEADER = (
    "signed_at",
    "confirmed_at",
    "name",
    "email",
    "country",
    "actions",
    "opt_in",
    "partner",
    "language",
    # may the partner it came through contact them: how the organisation shares a partner's
    # consenting supporters when partner exports are off (sealed data)
    "partner_opt_in",
)
#: rows fetched from the database at a time
BATCH = 2000
#: opens one sealed box into its fields (``widget.sealing.open_box`` with the private key)
Opener = Callable[[str], dict[str, Any]]


class SealedExport(Exception):
    """Names and addresses are sealed: only the command line, with the private key, exports
    them. The message says how."""

    def __init__(self, campaign: Campaign) -> None:
        super().__init__(sealed_note(campaign))


def sealed_note(campaign: Campaign) -> str:
    """What staff are told where a download of sealed names would be."""
    return (
        "Names and email addresses are sealed: this server cannot read them, so it cannot "
        "export them. On a computer that holds the private key, run: flask --app widget "
        f"export {campaign.slug} --key FILE"
    )


def safe_cell(value: object) -> str:
    """The cell as text, with a leading ``'`` if a spreadsheet would run it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


@dataclass(frozen=True)
class ExportFilter:
    since: date | None = None
    partner: str | None = None
    opted_in_only: bool = False

    def describe(self) -> dict[str, str]:
        described = {}
        if self.since:
            described["since"] = self.since.isoformat()
        if self.partner:
            described["partner"] = self.partner
        if self.opted_in_only:
            described["opted_in_only"] = "yes"
        return described


def _selection(
    campaign: Campaign, filters: ExportFilter, *columns: ColumnElement[Any]
) -> Select[Any]:
    query = (
        select(*columns)
        .outerjoin(Partner, Signature.partner_id == Partner.id)
        .where(Signature.campaign_id == campaign.id)
        .where(Signature.verified_at.is_not(None))
        .where(Signature.withdrawn_at.is_(None), Signature.invalidated_at.is_(None))
        .where(Signature.anonymised_at.is_(None))
    )
    if filters.since:
        query = query.where(Signature.verified_at >= datetime.combine(filters.since, time()))
    if filters.partner:
        query = query.where(Partner.slug == filters.partner)
    if filters.opted_in_only:
        query = query.where(Signature.opt_in.is_(True))
    return query


def count_rows(session: Session, campaign: Campaign, filters: ExportFilter) -> tuple[int, int]:
    """How many rows the export holds, and how many of them are sealed: one pass."""
    held = _selection(campaign, filters, Signature.sealed).subquery()
    rows, sealed = session.execute(select(func.count(), func.count(held.c.sealed))).one()
    return rows, sealed


def in_export(campaign: Campaign, filters: ExportFilter) -> ColumnElement[bool]:
    """A condition on ``Signature`` that holds for the rows the export holds."""
    return Signature.id.in_(_selection(campaign, filters, Signature.id))


def audit_export(
    session: Session,
    campaign: Campaign,
    filters: ExportFilter,
    *,
    rows: int,
    actor: str,
    now: datetime,
) -> None:
    """Record the export of ``rows`` rows (``count_rows``) before it starts."""
    session.add(
        Audit(
            at=now,
            actor=actor,
            action="export",
            details={"campaign": campaign.slug, "filter": filters.describe(), "rows": rows},
        )
    )
    session.commit()


def csv_chunks(
    session: Session, campaign: Campaign, filters: ExportFilter, opener: Opener | None = None
) -> Iterator[str]:
    """The CSV, a batch of rows per chunk: memory stays flat however many rows there are.

    The database writes every cell as it goes in the file (the formula guard, the action list,
    yes and no), so that without ``opener`` no Python runs per row, which was most of a
    million-row export's time: each batch goes to the csv writer whole. A sealed row then
    raises ``SealedExport`` (callers check ``count_rows`` first, so it comes before any output
    unless a row was sealed since). With ``opener``, a sealed row's name and address come from
    its box."""
    buffer, writer = csv_writer()
    writer.writerow(HEADER)
    yield BOM + drain(buffer)
    connection = streaming(session)
    dialect = connection.dialect.name
    columns = (
        timestamp_text(Signature.created_at, dialect),
        timestamp_text(Signature.verified_at, dialect),
        formula_safe(Signature.name),
        formula_safe(Signature.email),
        Signature.country,
        action_words(Signature.actions),
        yes_no(Signature.opt_in),
        formula_safe(Partner.slug),
        Signature.language,
        yes_no(Signature.partner_opt_in),
    )
    query = _selection(campaign, filters, *columns).order_by(Signature.verified_at, Signature.id)
    # ``with``: the cursor (on PostgreSQL a server-side one) is closed however the stream ends
    if opener is None:
        is_sealed, cells = itemgetter(-1), itemgetter(slice(0, -1))
        with connection.execute(query.add_columns(Signature.sealed.is_not(None))) as result:
            for partition in result.partitions(BATCH):
                if any(map(is_sealed, partition)):
                    raise SealedExport(campaign)
                writer.writerows(map(cells, partition))
                yield drain(buffer)
        return
    with connection.execute(query.add_columns(Signature.sealed)) as result:
        for partition in result.partitions(BATCH):
            for *row, sealed in partition:
                if sealed is not None:
                    fields = opener(sealed)
                    row[2], row[3] = safe_cell(fields["name"]), safe_cell(fields["email"])
                writer.writerow(row)
            yield drain(buffer)


def formula_safe(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """``safe_cell`` done by the database: a leading ``'`` where a spreadsheet would see a
    formula."""
    first = func.substr(column, 1, 1)
    return case((first.in_(sorted(FORMULA_STARTS)), literal("'") + column), else_=column)


def action_words(column: ColumnElement[Any]) -> ColumnElement[str]:
    """The stored JSON list of actions (``["letter", "email"]``) as ``letter email``. Action
    names are a fixed set of lower-case words (``widget.campaigns.ACTIONS``): nothing in them
    needs JSON's escapes, so taking out brackets, quotes and spaces and spacing the commas is
    the list exactly."""
    text = cast(column, Text)
    for mark in ("[", "]", '"', " "):
        text = func.replace(text, mark, "")
    return func.replace(text, ",", " ")


def yes_no(column: ColumnElement[Any]) -> ColumnElement[str]:
    return case((column.is_(True), "yes"), else_="no")


def csv_writer() -> tuple[io.StringIO, Any]:
    """A buffer and its writer in the one CSV dialect of every export: every cell quoted,
    CRLF line ends (what spreadsheets expect)."""
    buffer = io.StringIO()
    return buffer, csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")


def streaming(session: Session) -> Connection:
    """The session's connection reading ``BATCH`` rows at a time (a server-side cursor where
    the driver has one): memory stays flat however many rows there are."""
    return session.connection().execution_options(stream_results=True, max_row_buffer=BATCH)


def timestamp_text(column: ColumnElement[Any], dialect: str) -> ColumnElement[str]:
    """``YYYY-MM-DD HH:MM:SS`` (UTC, as stored), formatted by the database."""
    if dialect == "postgresql":
        return func.to_char(column, "YYYY-MM-DD HH24:MI:SS")
    # SQLite holds SQLAlchemy's text form, YYYY-MM-DD HH:MM:SS.ffffff
    return func.substr(column, 1, 19)


def drain(buffer: io.StringIO) -> str:
    """What the CSV writer put in ``buffer`` since the last chunk, and an empty buffer."""
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
