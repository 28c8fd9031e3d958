"""The migrations build exactly the schema the models describe, on both databases: a column
left in one and not the other is dead state or a crash waiting for its first query."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from widget import create_app
from widget.cli import upgrade_database
from widget.extensions import db
from widget.models import Base

from .conftest import make_settings


def test_the_migrated_database_matches_the_models(app: Flask) -> None:
    with db.engine(app).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_upgrading_sqlite_keeps_the_rows_that_point_at_rebuilt_tables(tmp_path: Path) -> None:
    """SQLite rebuilds a table to alter it; with foreign keys enforced, dropping the old copy
    would cascade to every row pointing at it: queued mail, staff sessions."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    app = create_app(make_settings(url, tmp_path))
    upgrade_database(app, "0007")
    engine = db.engine(app)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO campaign (slug, reference, title, summary, ask, additional_info,"
            " sample_letter, targets, languages, translations, actions, deadline_note,"
            " allowed_origins, created_at, updated_at) VALUES ('c', 'R', 'T', 'S', 'A', '', '',"
            " '[]', '[\"en\"]', '{}', '[]', '', '[\"*\"]', '2026-01-01', '2026-01-01')"
        )
        connection.exec_driver_sql(
            "INSERT INTO signature (campaign_id, email, email_key, name, country, actions,"
            " consent_version, opt_in, language, created_at, verified_at) VALUES (1, 'a@b.org',"
            " 'a@b.org', 'A', 'PK', '[]', 'v', 0, 'en', '2026-01-01', '2026-01-02')"
        )
        connection.exec_driver_sql(
            "INSERT INTO outbox_message (recipient, subject, text_body, html_body, kind,"
            " signature_id, created_at, next_attempt_at, attempts, last_error) VALUES"
            " ('a@b.org', 's', 't', 'h', 'confirm', 1, '2026-01-01', '2026-01-01', 0, '')"
        )
        connection.exec_driver_sql(
            "INSERT INTO staff (email, password_hash, role, active, created_at) VALUES"
            " ('s@b.org', 'x', 'admin', 1, '2026-01-01')"
        )
        connection.exec_driver_sql(
            "INSERT INTO staff_session (staff_id, token_hash, created_at) VALUES"
            " (1, 'h', '2026-01-01')"
        )
    upgrade_database(app)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM outbox_message").scalar() == 1
        assert connection.exec_driver_sql("SELECT count(*) FROM staff_session").scalar() == 1
        # its last change: the latest of its dates
        assert connection.exec_driver_sql("SELECT updated_at FROM signature").scalar() == (
            "2026-01-02"
        )
        # foreign keys are enforced again afterwards
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_the_migrations_form_one_line_named_in_order() -> None:
    """Branches merged side by side each start from the same parent; re-chained, they must give
    one head (``db upgrade head`` refuses several), and each file's name says its revision."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from widget import paths

    config = Config()
    config.set_main_option("script_location", str(paths.MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1
    revisions = list(script.walk_revisions())
    for revision in revisions:
        assert Path(revision.path).name.startswith(f"{revision.revision}_")
        assert f"Revises: {revision.down_revision}" in Path(revision.path).read_text() or (
            revision.down_revision is None
        )
    assert [r.revision for r in reversed(revisions)] == sorted(r.revision for r in revisions)
