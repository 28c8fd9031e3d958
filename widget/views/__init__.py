"""Blueprints: ``embed`` (widget, verify), ``api`` (public JSON), ``health``, ``dev`` (mailbox)."""

from __future__ import annotations

from flask import request, url_for

from .. import widget_state
from ..security import origin_of


def absolute_url(endpoint: str, **values: object) -> str:
    """A link for a mail: ``WIDGET_PUBLIC_URL`` if set, else the host this request came to."""
    base = widget_state().settings.public_url or request.host_url.rstrip("/")
    return base + url_for(endpoint, **values)


def our_origin() -> str:
    base = widget_state().settings.public_url or request.host_url
    return origin_of(base)
