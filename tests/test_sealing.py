"""The sealed mode's keys and boxes (``widget.sealing``): key files that are never shared or
overwritten, boxes only the private key opens, and an address hash that every spelling of one
mailbox shares."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from widget import signature_feed, webhook_events
from widget.models import Signature
from widget.sealing import (
    KEY_FILE_HEADER,
    AddressHasher,
    KeyFileError,
    Sealer,
    WrongKey,
    fingerprint,
    generate_key_file,
    load_private_key,
    open_box,
    personal_fields,
    public_key_from_text,
    public_key_text,
)
from widget.settings import ConfigurationError

from .conftest import make_settings


def full_width(ascii_text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) for c in ascii_text)


def sealer_for(key: PrivateKey) -> Sealer:
    addresses = AddressHasher.from_secret_keys(("test-secret-key-0123456789",))
    return Sealer.from_settings(public_key_text(key.public_key), addresses)


def test_a_generated_key_file_is_mode_600_and_opens_what_its_public_key_seals(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data.key"
    public_key = generate_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    header, line = path.read_text().splitlines()
    assert header == KEY_FILE_HEADER
    assert len(base64.b64decode(line, validate=True)) == 32
    private_key = load_private_key(path)
    assert private_key.public_key == public_key
    box = sealer_for(private_key).seal({"name": "زرمینه", "email": "z@example.org"})
    assert open_box(private_key, box) == {"name": "زرمینه", "email": "z@example.org"}


def test_a_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "data.key"
    path.write_text("the organisation's only copy")
    with pytest.raises(KeyFileError, match="exists: a key file is never overwritten"):
        generate_key_file(path)
    assert path.read_text() == "the organisation's only copy"


def test_a_key_file_cannot_be_written_into_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot be created"):
        generate_key_file(tmp_path / "no-such-folder" / "data.key")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o707, 0o610, 0o602])
def test_a_key_file_others_may_read_or_write_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "data.key"
    generate_key_file(path)
    os.chmod(path, mode)
    with pytest.raises(KeyFileError) as refused:
        load_private_key(path)
    assert str(refused.value) == (
        f"{path} may be read by other users (mode {mode:o}): run chmod 600 {path} first."
    )


@pytest.mark.parametrize("mode", [0o400, 0o600, 0o700])
def test_a_key_file_only_its_owner_may_use_is_accepted(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "data.key"
    public_key = generate_key_file(path)
    os.chmod(path, mode)
    assert load_private_key(path).public_key == public_key


def test_a_missing_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"data\.key: no such key file\."):
        load_private_key(tmp_path / "data.key")


def test_a_folder_is_not_a_key_file(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o700)
    with pytest.raises(KeyFileError, match="is not a file"):
        load_private_key(folder)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "just one line\n",
        f"{KEY_FILE_HEADER}\n",
        f"{KEY_FILE_HEADER}\nnot base64!\n",
        f"{KEY_FILE_HEADER}\n{base64.b64encode(bytes(31)).decode()}\n",
        f"{KEY_FILE_HEADER}\n{base64.b64encode(bytes(33)).decode()}\n",
        f"wrong header\n{base64.b64encode(bytes(32)).decode()}\n",
        f"{KEY_FILE_HEADER}\n{base64.b64encode(bytes(32)).decode()}\nextra\n",
        "ключ\nключ\n",
    ],
)
def test_a_file_that_is_not_a_key_file_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "data.key"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="is not a key file made by: flask --app widget keys"):
        load_private_key(path)


def test_another_key_does_not_open_a_box_and_says_so() -> None:
    ours, theirs = PrivateKey.generate(), PrivateKey.generate()
    box = sealer_for(ours).seal({"name": "Zarmina"})
    with pytest.raises(WrongKey, match="does not open the sealed data"):
        open_box(theirs, box)


def test_an_altered_box_does_not_open() -> None:
    key = PrivateKey.generate()
    raw = bytearray(base64.b64decode(sealer_for(key).seal({"name": "Zarmina"})))
    raw[-1] ^= 1
    with pytest.raises(WrongKey):
        open_box(key, base64.b64encode(bytes(raw)).decode())
    with pytest.raises(WrongKey):
        open_box(key, "not base64 at all")


def test_two_boxes_of_the_same_values_differ() -> None:
    sealer = sealer_for(PrivateKey.generate())
    assert sealer.seal({"name": "Zarmina"}) != sealer.seal({"name": "Zarmina"})


def test_sealed_values_move_every_personal_field_into_the_box() -> None:
    key = PrivateKey.generate()
    sealer = sealer_for(key)
    values = {
        "name": "Zarmina Qaderi",
        "email": "Zarmina@qaderi-family.org",
        "source_url": "https://news.example.net/appeal",
        "country": "PK",
        "actions": ["letter"],
    }
    sealed = sealer.sealed_values(values)
    assert {k: sealed[k] for k in ("name", "email", "source_url", "country", "actions")} == {
        "name": "",
        "email": "",
        "source_url": None,
        "country": "PK",
        "actions": ["letter"],
    }
    assert sealed["sealed_key"] == fingerprint(key.public_key)
    assert len(sealed["sealed_key"]) == 64
    assert open_box(key, sealed["sealed"]) == {
        "name": "Zarmina Qaderi",
        "email": "Zarmina@qaderi-family.org",
        "source_url": "https://news.example.net/appeal",
    }


@pytest.mark.parametrize(
    "spelling",
    [
        "ZARMINA@qaderi-family.org",
        "zarmina+petition@QADERI-FAMILY.ORG",
        full_width("zarmina") + "@qaderi-family.org",
        " zarmina@qaderi-family.org. ",
    ],
)
def test_every_spelling_of_a_mailbox_has_one_address_hash(spelling: str) -> None:
    sealer = sealer_for(PrivateKey.generate())
    key = sealer.address_key("zarmina@qaderi-family.org")
    assert sealer.address_key(spelling) == key
    assert key.startswith("hmac:") and len(key) == 69
    assert "zarmina" not in key and "qaderi" not in key


def test_the_address_hash_depends_on_the_secret_key() -> None:
    public_key = public_key_text(PrivateKey.generate().public_key)
    one = Sealer.from_settings(
        public_key, AddressHasher.from_secret_keys(("first-secret-key-0123456789",))
    )
    other = Sealer.from_settings(
        public_key, AddressHasher.from_secret_keys(("other-secret-key-0123456789",))
    )
    assert one.address_key("z@qaderi-family.org") != other.address_key("z@qaderi-family.org")
    assert one.address_key("z@qaderi-family.org") != one.address_key("y@qaderi-family.org")


def test_a_public_key_is_32_bytes_of_base64() -> None:
    key = PrivateKey.generate().public_key
    assert public_key_from_text(" " + public_key_text(key) + "\n") == key


@pytest.mark.parametrize(
    "value",
    [
        "not base64!",
        base64.b64encode(bytes(31)).decode(),
        base64.b64encode(bytes(33)).decode(),
        base64.b64encode(bytes(64)).decode(),
        "QUJD",
        full_width("QUJD"),
        base64.urlsafe_b64encode(b"\xfb" * 32).decode(),
    ],
)
def test_a_malformed_public_key_stops_start_up(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigurationError) as stopped:
        make_settings("sqlite://", tmp_path, WIDGET_DATA_PUBLIC_KEY=value)
    assert str(stopped.value).startswith("WIDGET_DATA_PUBLIC_KEY: not a public key (")
    assert "flask --app widget keys generate --output FILE" in str(stopped.value)


def test_a_valid_public_key_turns_the_mode_on(tmp_path: Path) -> None:
    key = public_key_text(PrivateKey.generate().public_key)
    assert make_settings("sqlite://", tmp_path, WIDGET_DATA_PUBLIC_KEY=key).sealed
    assert not make_settings("sqlite://", tmp_path).sealed
    assert not make_settings("sqlite://", tmp_path, WIDGET_DATA_PUBLIC_KEY="  ").sealed


def test_personal_fields_are_the_clear_three_or_the_box_alone() -> None:
    clear = Signature(name="Zarmina", email="z@qaderi-family.org", source_url=None, sealed=None)
    assert personal_fields(clear) == {
        "name": "Zarmina",
        "email": "z@qaderi-family.org",
        "source_url": None,
    }
    sealed = Signature(name="", email="", source_url=None, sealed="Ym94")
    assert personal_fields(sealed) == {"sealed": "Ym94"}


def test_webhooks_and_the_api_take_personal_fields_from_the_one_function() -> None:
    assert webhook_events.personal_fields is personal_fields
    assert signature_feed.personal_fields is personal_fields
