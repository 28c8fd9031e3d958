"""The migrations build exactly the schema the models describe, on both databases: a column
left in one and not the other is dead state or a crash waiting for its first query."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from widget.extensions import db
from widget.models import Base


def test_the_migrated_database_matches_the_models(app: Flask) -> None:
    with db.engine(app).connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
