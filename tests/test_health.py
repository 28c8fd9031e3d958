"""``/healthz`` tells a database that only reads from one that writes, and shows a stuck
mail sender: the oldest unsent mail's age and the failed count, on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url

from widget import create_app
from widget.extensions import db
from widget.models import OutboxMessage
from widget.outbox import Mail, enqueue

from .conftest import make_settings

NOW = datetime(2025, 3, 1, 12, 0, 0)


def read_only_url(database_url: str) -> str:
    """The same database, opened so that the server itself refuses every write."""
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        return f"sqlite:///file:{path}?mode=ro&uri=true"
    url = make_url(database_url).update_query_dict(
        {"options": "-c default_transaction_read_only=on"}
    )
    return url.render_as_string(hide_password=False)


def test_a_database_that_reads_but_cannot_write_is_503(
    app: Flask, database_url: str, tmp_path: Path
) -> None:
    reader = create_app(make_settings(read_only_url(database_url), tmp_path))
    try:
        with db.sessionmaker(reader)() as session:  # it does read
            assert session.execute(text("SELECT count(*) FROM campaign")).scalar_one() == 1
        response = reader.test_client().get("/healthz")
        assert response.status_code == 503
        assert response.get_json() == {"status": "unavailable", "database": "read-only"}
        assert response.headers["Cache-Control"] == "no-store"
    finally:
        db.engine(reader).dispose()


def test_a_stuck_sender_shows_in_the_oldest_unsent_age_and_the_failed_count(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("widget.views.health.utcnow", lambda: NOW)
    with db.sessionmaker(app)() as session:
        for hours_ago, name in ((5, "a"), (2, "b"), (1, "c"), (3, "d")):
            mail = Mail(f"{name}@example.org", "s", "t", "h", kind="confirm")
            enqueue(session, mail, NOW - timedelta(hours=hours_ago))
        session.commit()
        sent, failed, _, _ = session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id))
        done = {"next_attempt_at": None}
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id == sent).values(sent_at=NOW, **done)
        )
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id == failed).values(failed_at=NOW, **done)
        )
        session.commit()
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "database": "ok",
        "outbox": {"queued": 2, "failed": 1, "oldest_unsent_seconds": 3 * 3600},
    }
