"""The baselines the app is measured against: bare Flask, no extensions, served by the same
gunicorn profile in the same run, so a ratio shows what the widget adds, not what Flask or
gunicorn cost.

- ``GET /count``: the count's JSON with a content ETag, no database (the baseline of the count
  endpoint and of the widget page);
- ``POST /insert``: the form's fields parsed and one row inserted into ``BARE_DATABASE_URL``
  (SQLite or PostgreSQL) through a plain SQLAlchemy connection with the app's engine settings,
  committed (the baseline of a sign and a confirm).
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime

from flask import Flask, Response, request
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, insert

from widget.extensions import make_engine

app = Flask(__name__)

BODY = json.dumps(
    {
        "campaign": "ua-109-23",
        "count": 1234,
        "goal": 10000,
        "by_action": {"call": 10, "email": 1234, "letter": 1234},
        "updated_at": "2026-11-29T00:00:00Z",
    },
    separators=(",", ":"),
    sort_keys=True,
)

ROWS = Table(
    "bare_row",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("name", String(120)),
    Column("email", String(254)),
    Column("country", String(2)),
    Column("created_at", DateTime),
)
#: with the app's own engine settings (SQLite: WAL, synchronous=NORMAL, a busy timeout)
engine = make_engine(os.environ["BARE_DATABASE_URL"]) if "BARE_DATABASE_URL" in os.environ else None


@app.get("/count")
def count() -> Response:
    response = Response(BODY, mimetype="application/json")
    response.set_etag(hashlib.sha256(BODY.encode()).hexdigest()[:20])
    response.headers["Cache-Control"] = "public, max-age=5, stale-while-revalidate=30"
    return response.make_conditional(request)


@app.post("/insert")
def insert_one() -> tuple[str, int]:
    assert engine is not None, "BARE_DATABASE_URL is not set"
    row = {key: request.form.get(key) for key in ("name", "email", "country")}
    with engine.begin() as connection:
        connection.execute(insert(ROWS), {**row, "created_at": datetime.now(UTC)})
    return "stored", 200


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_table(database_url: str) -> None:
    """The baseline's table, made by the benchmark before the server starts."""
    setup = make_engine(database_url)
    ROWS.create(setup, checkfirst=True)
    setup.dispose()
