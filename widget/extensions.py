"""Extension objects, made without an app and bound in ``create_app`` (the Flask pattern)."""

from __future__ import annotations

from flask import Flask, current_app, g
from flask_babel import Babel
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


class Database:
    """One SQLAlchemy engine per app and one session per app context.

    Plain SQLAlchemy 2 rather than Flask-SQLAlchemy: the domain modules take a ``Session``
    argument and never need Flask, and the CLI and tests use the same ``sessionmaker``.
    """

    def init_app(self, app: Flask, url: str) -> None:
        engine = make_engine(url)
        app.extensions["widget.db"] = sessionmaker(engine, expire_on_commit=False)
        app.teardown_appcontext(self._close_session)

    @staticmethod
    def sessionmaker(app: Flask | None = None) -> sessionmaker[Session]:
        return (app or current_app).extensions["widget.db"]

    def engine(self, app: Flask | None = None) -> Engine:
        bind = self.sessionmaker(app).kw["bind"]
        assert isinstance(bind, Engine)
        return bind

    @property
    def session(self) -> Session:
        if "widget_db_session" not in g:
            g.widget_db_session = self.sessionmaker()()
        session: Session = g.widget_db_session
        return session

    @staticmethod
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("widget_db_session", None)
        if session is not None:
            session.close()


def make_engine(url: str) -> Engine:
    """SQLite gets WAL, a busy timeout and enforced foreign keys; others a pre-ping pool.

    Statement parameters are a supporter's name, address and IP hash: ``hide_parameters``
    keeps them out of every error message (and so out of logs and tracebacks)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


db = Database()
babel = Babel()
