"""An organisation mounts the widget into its own Flask site with ``ActionWidget``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from widget import ActionWidget
from widget.campaigns import load_campaign_file
from widget.cli import upgrade_database
from widget.clock import utcnow
from widget.extensions import db

from .conftest import DEMO, form_token, make_settings


@pytest.fixture
def host_app(tmp_path: Path) -> Iterator[Flask]:
    host = Flask("host_site")
    host.secret_key = "the-host-sites-own-key"

    @host.get("/")
    def home() -> str:
        return "the host's home page"

    ActionWidget().init_app(
        host, make_settings(f"sqlite:///{tmp_path}/widget.db", tmp_path), url_prefix="/act"
    )
    with host.app_context():
        upgrade_database(host)
        load_campaign_file(db.session, DEMO, utcnow())
    yield host
    db.engine(host).dispose()


def test_the_widget_lives_under_the_prefix(host_app: Flask) -> None:
    client = host_app.test_client()
    assert client.get("/").get_data(as_text=True) == "the host's home page"
    page = client.get("/act/w/ua-109-23")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'action="/act/w/ua-109-23"' in html
    assert 'href="/act/static/widget.css"' in html
    with client.get("/act/static/widget.css") as css:
        assert css.status_code == 200
    assert client.get("/act/api/v1/campaigns/ua-109-23/count").get_json()["count"] == 0
    assert client.get("/act/healthz").status_code == 200
    assert client.get("/w/ua-109-23").status_code == 404


def test_signing_works_under_the_prefix(host_app: Flask) -> None:
    client = host_app.test_client()
    token = form_token(client.get("/act/w/ua-109-23").get_data(as_text=True))
    response = client.post(
        "/act/w/ua-109-23",
        data={
            "csrf_token": token,
            "name": "A",
            "email": "a@example.org",
            "country": "PK",
            "consent": "y",
        },
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 200
    assert "Check your email" in response.get_data(as_text=True)


def test_the_host_keeps_its_own_secret_key_and_body_limit(host_app: Flask) -> None:
    assert host_app.secret_key == "the-host-sites-own-key"
    assert host_app.config["MAX_CONTENT_LENGTH"] is None
