"""What ``/healthz`` checks: the database takes writes (reads alone miss a read-only file or a
standby), and the mail queue moves (a stuck sender shows as an old unsent message)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from sqlalchemy import Connection, false, text, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from .models import OutboxMessage
from .outbox_status import QueueStatus, queue_status

#: on SQLite a write waits for the write lock; a probe waits this long at most (milliseconds)
SQLITE_PROBE_WAIT_MS = 250


@dataclass(frozen=True)
class Health:
    #: ``ok``, ``read-only`` or ``unreachable``
    database: str
    outbox: QueueStatus | None = None

    @property
    def ok(self) -> bool:
        return self.database == "ok"


def check(session: Session) -> Health:
    """Prove a write is accepted (an UPDATE of no row, rolled back), then read the queue."""
    try:
        with session.get_bind().connect() as connection:
            if not accepts_writes(connection):
                return Health("read-only")
        return Health("ok", queue_status(session))
    except SQLAlchemyError:
        return Health("unreachable")
    finally:
        session.rollback()


def accepts_writes(connection: Connection) -> bool:
    """A write statement that matches nothing: SQLite and PostgreSQL refuse it as such on a
    read-only database (file, ``mode=ro``, ``query_only``, a standby, a read-only transaction).
    On SQLite, a writer holding the lock means writes work: it counts as writable."""
    probe = update(OutboxMessage).where(false()).values(attempts=OutboxMessage.attempts)
    waited = None
    if connection.dialect.name == "sqlite":
        waited = int(connection.execute(text("PRAGMA busy_timeout")).scalar_one())
        connection.execute(text(f"PRAGMA busy_timeout = {SQLITE_PROBE_WAIT_MS}"))
    try:
        connection.execute(probe)
    except DBAPIError as error:
        code = getattr(error.orig, "sqlite_errorcode", None)
        if code == sqlite3.SQLITE_BUSY:
            return True
        if code == sqlite3.SQLITE_READONLY or _read_only_postgres(error):
            return False
        raise
    finally:
        connection.rollback()
        if waited is not None:
            connection.execute(text(f"PRAGMA busy_timeout = {waited}"))
            connection.commit()
    return True


def _read_only_postgres(error: DBAPIError) -> bool:
    """SQLSTATE 25006: read_only_sql_transaction (a standby, ``default_transaction_read_only``)."""
    return getattr(error.orig, "sqlstate", None) == "25006"
