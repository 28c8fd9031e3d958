"""``make demo`` prepares a fresh instance folder, and again on a second run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sqlalchemy import select

from widget import create_app
from widget.extensions import db
from widget.models import Campaign, Partner, Staff

from .conftest import make_settings

SERVE = Path(__file__).resolve().parent.parent / "demo" / "serve.py"


def demo_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("demo_serve", SERVE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_demo_prepares_its_instance_twice_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = demo_module()
    monkeypatch.setenv("FLASK_DEBUG", "1")
    app = create_app(
        make_settings(f"sqlite:///{tmp_path}/demo.db", tmp_path, WIDGET_PUBLIC_URL=demo.WIDGET_URL)
    )
    demo.prepare(app)
    demo.prepare(app)  # make demo again on the same data
    with db.sessionmaker(app)() as session:
        assert session.scalars(select(Campaign.slug)).all() == ["ua-109-23"]
        assert session.scalars(select(Partner.origins)).all() == [[demo.PARTNER_URL]]
        assert session.scalars(select(Staff.email)).all() == [demo.DEMO_STAFF]
    assert app.test_client().get("/dev/mail").status_code == 200
    db.engine(app).dispose()


def test_the_demo_is_run_by_a_plainly_fictional_organisation(tmp_path: Path) -> None:
    demo = demo_module()
    app = create_app(
        make_settings(f"sqlite:///{tmp_path}/demo.db", tmp_path, **demo.DEMO_ORGANISATION)
    )
    settings = app.extensions["widget"].settings
    assert "fictional" in (settings.org_name or "")
    assert (settings.org_url or "").endswith(".example/")
    assert (settings.privacy_contact or "").endswith("@lantern-rights.example")
    db.engine(app).dispose()
