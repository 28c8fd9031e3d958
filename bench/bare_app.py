"""The baseline the count endpoint is measured against: bare Flask, the same JSON with a content
ETag, no database, no extensions. Served by the same gunicorn profile in the same run, so the
ratio shows what the widget adds (campaign lookup, tally, hooks), not what Flask or gunicorn cost.
"""

from __future__ import annotations

import hashlib
import json

from flask import Flask, Response, request

app = Flask(__name__)

BODY = json.dumps(
    {
        "campaign": "ua-109-23",
        "count": 1234,
        "goal": 10000,
        "by_action": {"call": 10, "email": 1234, "letter": 1234},
        "updated_at": "2026-11-29T00:00:00Z",
    },
    separators=(",", ":"),
    sort_keys=True,
)


@app.get("/count")
def count() -> Response:
    response = Response(BODY, mimetype="application/json")
    response.set_etag(hashlib.sha256(BODY.encode()).hexdigest()[:20])
    response.headers["Cache-Control"] = "public, max-age=5, stale-while-revalidate=30"
    return response.make_conditional(request)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
