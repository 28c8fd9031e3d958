"""The staff embed-code generator offers the views and the full width, to staff and to a
partner account (for its own slug)."""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask

from .conftest import StaffActions
from .partners_helpers import HTTPS, PARTNER, add_partners, partner_login


@pytest.fixture
def settings_env() -> dict[str, str]:
    """Over HTTPS, as a partner account signs in in production."""
    return {"WIDGET_PUBLIC_URL": "https://localhost"}


@pytest.fixture(autouse=True)
def partners(app: Flask) -> None:
    add_partners(app)


def snippet_of(page: str) -> str:
    return html.unescape(re.search(r'<textarea id="snippet"[^>]*>(.*?)</textarea>', page, re.S)[1])  # type: ignore[index]


def preview_of(page: str) -> str:
    return html.unescape(re.search(r'<iframe id="embed-preview"[^>]*src="([^"]+)"', page)[1])  # type: ignore[index]


def test_the_generator_writes_the_view_and_the_width(staff: StaffActions) -> None:
    client = staff.signed_in("viewer")
    page = client.get("/staff/embed?campaign=ua-109-23&view=counter&width=full", **HTTPS).get_data(
        as_text=True
    )
    assert snippet_of(page).startswith(
        '<script async src="https://localhost/embed.js" data-campaign="ua-109-23" '
        'data-theme="light" data-view="counter" data-width="full"></script>'
    )
    assert preview_of(page).endswith("&view=counter")
    assert re.findall(r'<option value="(\w+)"', page[page.index('id="view"') :])[:3] == [
        "full",
        "compact",
        "counter",
    ]


@pytest.mark.parametrize("view", ["", "full", "Counter", "sidebar", "counter" * 100])
def test_full_and_unknown_views_write_no_view_attribute(staff: StaffActions, view: str) -> None:
    client = staff.signed_in("viewer")
    response = client.get(
        "/staff/embed", query_string={"campaign": "ua-109-23", "view": view}, **HTTPS
    )
    assert response.status_code == 200
    snippet = snippet_of(response.get_data(as_text=True))
    assert "data-view" not in snippet and "data-width" not in snippet
    assert preview_of(response.get_data(as_text=True)).endswith("&view=full")


def test_a_partner_account_gets_the_views_for_its_own_slug(staff: StaffActions) -> None:
    browser = partner_login(staff)
    page = browser.get(
        f"/staff/embed?campaign=ua-109-23&partner={PARTNER}&view=compact&width=full", **HTTPS
    ).get_data(as_text=True)
    assert (
        f'data-campaign="ua-109-23" data-partner="{PARTNER}" data-theme="light" '
        'data-view="compact" data-width="full"></script>'
    ) in snippet_of(page)
