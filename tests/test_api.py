"""Public JSON and health: cacheable counts with ETags, clear 404s, honest liveness."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from widget import create_app
from widget.extensions import db

from .conftest import make_settings


def test_count_is_public_cacheable_json(client: FlaskClient) -> None:
    response = client.get("/api/v1/campaigns/ua-109-23/count")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "campaign": "ua-109-23",
        "count": 0,
        "offline": 0,
        "total": 0,
        "goal": 5000,
        "by_action": {"letter": 0, "email": 0, "call": 0, "fax": 0, "social": 0},
        "offline_by_action": {"letter": 0, "email": 0, "call": 0, "fax": 0, "social": 0},
        "updated_at": None,
    }
    assert response.headers["Cache-Control"] == "public, max-age=5, stale-while-revalidate=30"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["ETag"].startswith('"')


def test_an_unchanged_count_costs_a_304_without_body(client: FlaskClient) -> None:
    etag = client.get("/api/v1/campaigns/ua-109-23/count").headers["ETag"]
    response = client.get("/api/v1/campaigns/ua-109-23/count", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag


def test_a_changed_count_gets_a_new_etag(client: FlaskClient, supporter, session) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from widget.models import Signature
    from widget.tokens import verify_tokens

    from .conftest import SECRET, link_claims

    before = client.get("/api/v1/campaigns/ua-109-23/count").headers["ETag"]
    supporter.sign()
    signature_id = session.scalars(select(Signature.id)).one()
    token = verify_tokens((SECRET,)).dumps(link_claims(session, signature_id, c="ua-109-23"))
    client.post(f"/v/{token}", headers={"Sec-Fetch-Site": "same-origin"})
    response = client.get("/api/v1/campaigns/ua-109-23/count", headers={"If-None-Match": before})
    assert response.status_code == 200
    assert response.get_json()["count"] == 1
    assert response.get_json()["updated_at"].endswith("Z")
    assert response.headers["ETag"] != before


def test_campaign_facts(client: FlaskClient) -> None:
    data = client.get("/api/v1/campaigns/ua-109-23").get_json()
    assert data["campaign"] == "ua-109-23"
    assert data["reference"] == "UA 109.23"
    assert data["title"] == "Stop deporting Afghan refugees"
    assert data["open"] is True
    assert data["deadline"] is None
    assert data["goal"] == 5000
    assert data["count"] == 0
    assert data["actions"] == ["letter", "email", "call", "fax", "social"]


def test_unknown_campaign_is_a_json_404(client: FlaskClient) -> None:
    for url in ("/api/v1/campaigns/nope", "/api/v1/campaigns/nope/count"):
        response = client.get(url)
        assert response.status_code == 404
        assert response.get_json() == {
            "error": "not-found",
            "message": "No campaign with this name.",
        }


def test_healthz_is_200_with_the_database_up(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "database": "ok",
        "outbox": {"queued": 0, "failed": 0, "oldest_unsent_seconds": None},
    }


def test_healthz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    app = create_app(make_settings(f"sqlite:///{tmp_path}/missing/dir/widget.db", tmp_path))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "unreachable"}
    db.engine(app).dispose()


def test_dev_mailbox_exists_only_in_debug(app: Flask, client: FlaskClient) -> None:
    assert client.get("/dev/mail").status_code == 404
