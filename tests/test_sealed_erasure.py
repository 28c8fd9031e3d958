"""Erasure finds sealed signatures after sealed mode is turned off and after the secret key
is rotated: the address hash is looked up under every secret key, whatever the mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from widget.extensions import db
from widget.models import Signature
from widget.sealing import AddressHasher, generate_key_file, public_key_text

from .conftest import SECRET, StaffActions, Supporter, erase_search, make_app

EMAIL = "Zarmina.Q+petition@qaderi-family.org"
SPELLING = "zarmina.q@QADERI-FAMILY.ORG"
NEW_SECRET = "rotated-secret-key-9876543210"
HTTPS = {"base_url": "https://localhost"}


@pytest.fixture
def settings_env(tmp_path: Path) -> dict[str, str]:
    """The app signs in sealed mode under the first secret key."""
    return {"WIDGET_DATA_PUBLIC_KEY": public_key_text(generate_key_file(tmp_path / "data.key"))}


@pytest.fixture
def sealed_row(app: Flask, session: Session) -> Signature:
    assert Supporter(app.test_client()).sign(email=EMAIL).status_code == 200
    row = session.scalars(select(Signature)).one()
    assert row.sealed is not None and row.email_key.startswith("hmac:")
    return row


LATER = {
    "mode off": {},
    "key rotated": {"WIDGET_SECRET_KEY": f"{NEW_SECRET},{SECRET}"},
    "mode off, key rotated": {"WIDGET_SECRET_KEY": f"{NEW_SECRET},{SECRET}"},
}


def later_app(database_url: str, tmp_path: Path, settings_env: dict[str, str], case: str) -> Flask:
    env = dict(LATER[case])
    if case == "key rotated":
        env.update(settings_env)
    return make_app(database_url, tmp_path, **env)


@pytest.mark.parametrize("case", list(LATER))
def test_erase_finds_a_sealed_signature_later(
    sealed_row: Signature,
    session: Session,
    database_url: str,
    tmp_path: Path,
    settings_env: dict[str, str],
    case: str,
) -> None:
    later = later_app(database_url, tmp_path, settings_env, case)
    runner = later.test_cli_runner()
    dry = runner.invoke(args=["erase", SPELLING])
    assert dry.output.startswith("Would erase 1 signature (campaigns: ua-109-23).")
    done = runner.invoke(args=["erase", SPELLING, "--apply"])
    assert done.output == "Erased 1 signature (campaigns: ua-109-23).\n"
    session.expire_all()
    row = session.get_one(Signature, sealed_row.id)
    assert (row.sealed, row.sealed_key, row.email_key) == (None, None, f"erased:{row.id}")
    assert row.withdrawn_at is not None
    db.engine(later).dispose()


@pytest.mark.parametrize("case", list(LATER))
def test_the_staff_erase_page_finds_a_sealed_signature_later(
    sealed_row: Signature,
    database_url: str,
    tmp_path: Path,
    settings_env: dict[str, str],
    case: str,
) -> None:
    later = later_app(database_url, tmp_path, settings_env, case)
    admin = StaffActions(later).signed_in()
    page = erase_search(admin, SPELLING)
    assert page.status_code == 200
    assert "Erase 1 signature" in page.get_data(as_text=True)
    db.engine(later).dispose()


def test_a_new_sealed_row_is_hashed_with_the_first_secret_key(
    database_url: str, tmp_path: Path, settings_env: dict[str, str], session: Session
) -> None:
    rotated = make_app(
        database_url, tmp_path, WIDGET_SECRET_KEY=f"{NEW_SECRET},{SECRET}", **settings_env
    )
    assert Supporter(rotated.test_client()).sign(email=EMAIL).status_code == 200
    row = session.scalars(select(Signature)).one()
    assert row.email_key == AddressHasher.from_secret_keys((NEW_SECRET,)).address_key(EMAIL)
    assert row.email_key != AddressHasher.from_secret_keys((SECRET,)).address_key(EMAIL)
    db.engine(rotated).dispose()


def test_the_address_hasher_refuses_a_string_for_its_list_of_keys() -> None:
    with pytest.raises(TypeError, match="not a string"):
        AddressHasher.from_secret_keys(SECRET)


@pytest.mark.parametrize("case", list(LATER))
def test_signing_again_later_finds_the_sealed_signature(
    sealed_row: Signature,
    session: Session,
    database_url: str,
    tmp_path: Path,
    settings_env: dict[str, str],
    case: str,
) -> None:
    """Another spelling of the address, after the mode was turned off or the key rotated, is
    the same supporter: it counts once and the first row stays as it was."""
    later = later_app(database_url, tmp_path, settings_env, case)
    assert Supporter(later.test_client()).sign(email=SPELLING).status_code == 200
    session.expire_all()
    rows = session.scalars(select(Signature)).all()
    assert [(row.id, row.email_key, row.sealed) for row in rows] == [
        (sealed_row.id, sealed_row.email_key, sealed_row.sealed)
    ]
    db.engine(later).dispose()


def test_signing_in_sealed_mode_finds_a_signature_from_before_the_mode(
    database_url: str, tmp_path: Path, settings_env: dict[str, str], session: Session
) -> None:
    clear = make_app(database_url, tmp_path / "clear")
    assert Supporter(clear.test_client()).sign(email=EMAIL).status_code == 200
    sealed = make_app(database_url, tmp_path / "sealed", **settings_env)
    assert Supporter(sealed.test_client()).sign(email=SPELLING).status_code == 200
    session.expire_all()
    rows = session.scalars(select(Signature)).all()
    assert len(rows) == 1
    assert rows[0].sealed is None and not rows[0].email_key.startswith("hmac:")
    db.engine(clear).dispose()
    db.engine(sealed).dispose()
