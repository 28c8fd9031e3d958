"""Logging with no personal data: what the app logs, and how failures are told.

A database error's text carries what the supporter sent (PostgreSQL's ``DETAIL: Key
(email)=(...)``, a value that did not fit), a request's path carries confirm and manage tokens.
So a failure is logged as the endpoint, the traceback's frames and the errors' kinds and SQL
statements, never their values; SQL parameters are hidden by the engine (``hide_parameters``).
"""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

from flask import Flask, request
from sqlalchemy.exc import DBAPIError, StatementError

#: one line per record; no client address, path or form value ever appears in a message
FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s"
#: the loggers we speak through: ours (the app's logger is "widget"; ``widget.limits`` says when
#: the limits fall back to memory)
LOGGERS = ("widget",)

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def describe(error: BaseException) -> str:
    """An exception and its causes, told without their messages where those carry values."""
    lines = []
    current: BaseException | None = error
    while current is not None:
        frames = traceback.extract_tb(current.__traceback__)
        lines.extend(traceback.format_list(frames))
        lines.append(_kind(current) + "\n")
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return "".join(lines).rstrip()


def summary(error: BaseException) -> str:
    """``describe``'s last word on one line, for a log message: the error's kind (a database
    error's code and SQL statement), never the values its message may carry."""
    return " ".join(_kind(error).split())


def _kind(error: BaseException) -> str:
    name = type(error).__qualname__
    if isinstance(error, StatementError):
        orig = error.orig
        code = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
        cause = f" from {type(orig).__module__}.{type(orig).__qualname__}" if orig else ""
        return f"{name}{cause} ({code or 'no code'}) in: {error.statement}"
    if _from_database(error):
        return f"{type(error).__module__}.{name}"
    return f"{name}: {error}"


def _from_database(error: BaseException) -> bool:
    module = type(error).__module__
    return isinstance(error, DBAPIError) or module.startswith(("psycopg", "sqlite3"))


class Formatter(logging.Formatter):
    """Tracebacks as ``describe`` tells them, whoever logs them (gunicorn's workers included)."""

    def formatException(self, ei) -> str:  # type: ignore[no-untyped-def,override]
        return describe(ei[1]) if ei[1] is not None else ""


class WidgetFlask(Flask):
    """Flask whose unhandled exceptions are logged without the path (it may hold a token) and
    without values from the database's error text."""

    def log_exception(self, exc_info: ExcInfo | tuple[None, None, None]) -> None:
        error = exc_info[1]
        told = describe(error) if error is not None else "no exception"
        self.logger.error("Exception in %s [%s]\n%s", request.endpoint, request.method, told)


def configure(app: Flask) -> None:
    """Give our loggers a handler to stderr, unless the process already set logging up (a host
    app, pytest's capture): under gunicorn the limits' fallback warning would be lost."""
    if logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Formatter(FORMAT))
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if any(isinstance(h.formatter, Formatter) for h in logger.handlers):
            continue
        logger.addHandler(handler)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.DEBUG if app.debug else logging.INFO)
