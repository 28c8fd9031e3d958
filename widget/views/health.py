"""Liveness for load balancers: 200 when the database takes writes, 503 when it does not; the
mail queue's figures ride along so a stuck sender is seen."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from .. import health
from ..clock import utcnow
from ..extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[dict[str, Any], int, dict[str, str]]:
    headers = {"Cache-Control": "no-store"}
    result = health.check(db.session)
    if not result.ok or result.outbox is None:
        return {"status": "unavailable", "database": result.database}, 503, headers
    outbox = result.outbox
    body = {
        "status": "ok",
        "database": "ok",
        "outbox": {
            "queued": outbox.queued,
            "failed": outbox.failed,
            "oldest_unsent_seconds": outbox.oldest_unsent_seconds(utcnow()),
        },
    }
    return body, 200, headers
