"""The export's cells, written by the database (``widget.exports.csv_chunks``): the formula
guard for every character a spreadsheet starts a formula with, the action list, yes and no,
the same on SQLite and PostgreSQL as ``safe_cell`` writes them in Python."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.campaigns import ACTIONS
from widget.exports import (
    FORMULA_STARTS,
    HEADER,
    ExportFilter,
    SealedExport,
    csv_chunks,
    safe_cell,
)
from widget.extensions import db
from widget.models import Campaign

from .partners_helpers import PARTNER, add_partners, add_signature


def exported(app: Flask, tmp_path: Path) -> list[dict[str, str]]:
    output = tmp_path / "out.csv"
    result = app.test_cli_runner().invoke(args=["export", "ua-109-23", "--output", str(output)])
    assert result.exit_code == 0, result.output
    with output.open(encoding="utf-8-sig", newline="") as file:
        rows = list(csv.reader(file))
    assert tuple(rows[0]) == HEADER
    return [dict(zip(HEADER, row, strict=True)) for row in rows[1:]]


@pytest.mark.parametrize("start", sorted(FORMULA_STARTS))
def test_every_formula_start_is_guarded_as_in_python(
    app: Flask, session: Session, tmp_path: Path, start: str
) -> None:
    name, email = f"{start}SUM(A1) Khan", f"{start}cmd|x@example.org"
    add_signature(session, email, name=name, partner=None)
    [row] = exported(app, tmp_path)
    assert (row["name"], row["email"]) == (safe_cell(name), safe_cell(email))
    assert row["name"] == "'" + name


@pytest.mark.parametrize(
    "name",
    ['Ayesha, "Ash" Khan', "عائشہ خان", "  spaced", "Line\u2028break", "x=1", "'quoted"],
)
def test_other_names_are_written_as_typed(
    app: Flask, session: Session, tmp_path: Path, name: str
) -> None:
    add_signature(session, "ayesha@example.org", name=name, partner=None)
    [row] = exported(app, tmp_path)
    assert row["name"] == name == safe_cell(name)


@pytest.mark.parametrize(
    ("actions", "cell"),
    [([], ""), (["letter"], "letter"), (["letter", "email", "call", "fax", "social"], None)],
)
def test_the_actions_are_the_stored_list_in_words(
    app: Flask, session: Session, tmp_path: Path, actions: list[str], cell: str | None
) -> None:
    add_signature(session, "ayesha@example.org", actions=actions, partner=None)
    [row] = exported(app, tmp_path)
    assert row["actions"] == (" ".join(actions) if cell is None else cell)


def test_yes_no_partner_and_times(app: Flask, session: Session, tmp_path: Path) -> None:
    add_partners(app)
    add_signature(session, "a@example.org", opt_in=True, partner_opt_in=True)
    add_signature(session, "b@example.org", opt_in=False, partner_opt_in=False, partner=None)
    by_email = {row["email"]: row for row in exported(app, tmp_path)}
    assert {
        email: (row["opt_in"], row["partner_opt_in"], row["partner"])
        for email, row in by_email.items()
    } == {"a@example.org": ("yes", "yes", PARTNER), "b@example.org": ("no", "no", "")}
    assert by_email["a@example.org"]["signed_at"] == "2026-11-20 09:30:05"
    assert by_email["a@example.org"]["confirmed_at"] == "2026-11-20 09:35:05"


def test_the_file_is_exactly_what_the_csv_module_writes(
    app: Flask, session: Session, tmp_path: Path
) -> None:
    add_signature(session, "a@example.org", name='=A1, "x"', partner=None)
    output = tmp_path / "out.csv"
    app.test_cli_runner().invoke(args=["export", "ua-109-23", "--output", str(output)])
    expected = io.StringIO()
    writer = csv.writer(expected, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerow(
        [
            "2026-11-20 09:30:05",
            "2026-11-20 09:35:05",
            '\'=A1, "x"',
            "a@example.org",
            "PK",
            "letter",
            "no",
            "",
            "en",
            "yes",
        ]
    )
    assert output.read_bytes() == ("\ufeff" + expected.getvalue()).encode()


def test_action_names_need_no_json_escapes() -> None:
    """``action_words`` takes the stored JSON list apart by its brackets, quotes and commas."""
    assert all(re.fullmatch(r"[a-z]+", action) for action in ACTIONS)


def test_a_row_sealed_after_the_check_stops_the_export_before_it_is_written(
    app: Flask, session: Session
) -> None:
    add_signature(session, "clear@example.org", partner=None)
    add_signature(session, "sealed@example.org", partner=None, name="", sealed="box")
    campaign = session.scalars(select(Campaign)).one()
    with app.app_context():
        chunks = csv_chunks(db.session, campaign, ExportFilter())
        assert next(chunks).startswith("\ufeff")  # the header
        with pytest.raises(SealedExport, match="flask --app widget export ua-109-23 --key"):
            next(chunks)
