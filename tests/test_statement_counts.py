"""How many SQL statements a sign and a confirm run, counted (not timed): the hot paths stay
as lean as they were made (``bench/README.md``), and a change that adds a query says so here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from widget.extensions import db
from widget.models import Signature
from widget.tokens import link_payload

from .conftest import Supporter, form_token, freeze_reuse

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        seen.append(statement.split(None, 1)[0].upper())

    engine = db.engine(app)
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_a_sign_runs_four_statements(
    app: Flask, supporter: Supporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    freeze_reuse(monkeypatch, app)  # what the first sign reads stays within its reuse
    supporter.sign(email="first@example.org")  # the campaign and count are read and kept
    body = supporter.form(email="second@example.org")
    with statements(app) as seen:
        response = supporter.client.post("/w/ua-109-23", data=body, headers=SAME_ORIGIN)
    assert response.status_code == 200
    # the address's other stored forms, the upsert, the queued mail
    # the address's stored forms; the signature, its mail, the page's receipt
    assert seen == ["SELECT", "INSERT", "INSERT", "INSERT"]


def test_a_widget_page_after_the_first_runs_none(
    app: Flask, supporter: Supporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    freeze_reuse(monkeypatch, app)  # what the first page reads stays within its reuse
    supporter.open_widget()
    with statements(app) as seen:
        assert form_token(supporter.open_widget())
    assert seen == []


def test_a_confirm_runs_five_statements(
    app: Flask, supporter: Supporter, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    freeze_reuse(monkeypatch, app)  # the campaign the sign reads stays within its reuse
    supporter.sign()
    signature = session.scalar(select(Signature))
    assert signature is not None
    token = app.extensions["widget"].verify_tokens.dumps(
        link_payload(signature.id, signature.link_secret, c="ua-109-23")
    )
    with statements(app) as seen:
        response = supporter.client.post(f"/v/{token}", headers=SAME_ORIGIN)
    assert response.status_code == 200
    # the signature with its campaign; the update; every count of it in one upsert; the
    # webhook events; the count the page shows
    assert seen == ["SELECT", "UPDATE", "INSERT", "INSERT", "SELECT"]
