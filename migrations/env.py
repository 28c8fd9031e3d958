"""Alembic environment: the engine comes from the app (``widget.cli.alembic_config``).

On SQLite a migration that alters a table rebuilds it (copy, drop, rename). The app's engine
enforces foreign keys, and dropping the old table would then run every ``ON DELETE CASCADE``
that points at it (the mails of every signature, the sessions of every account): so foreign
keys are off while the migrations run, and checked whole before they are on again. SQLite
ignores that pragma inside a transaction, hence the order here.
"""

from __future__ import annotations

from alembic import context

from widget.models import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    try:
        with connection.begin():
            context.configure(
                connection=connection, target_metadata=Base.metadata, render_as_batch=sqlite
            )
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"the migration left rows pointing nowhere: {broken[:5]}")
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
