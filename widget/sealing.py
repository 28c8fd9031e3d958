"""Sealed supporter data: names and addresses readable only with the organisation's private key.

With ``WIDGET_DATA_PUBLIC_KEY`` set, a signature's personal fields are stored only as one
libsodium sealed box (X25519 + XSalsa20-Poly1305, through PyNaCl): the server can seal but
never open, so a breach, a seizure or a subpoena of it yields no names or addresses. What the
app needs without the private key stays usable: a keyed hash of the normalised address
(duplicates, the mail budget, erasure, withdrawal) and the clear country, actions, partner and
dates (counts and breakdowns). No home-made cryptography: sealing, opening and the key format
are PyNaCl's; the hash is HMAC-SHA256 under a key derived for it alone (``widget.kdf``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.orm import Session

from .addresses import email_key
from .kdf import derive_key
from .models import Signature

#: the first line of a private key file; the second is the key, base64
KEY_FILE_HEADER = "action-widget sealed-data private key (X25519, base64) v1"
#: the personal fields a box holds; their clear columns stay empty ('' or NULL)
SEALED_FIELDS = ("name", "email", "source_url")
#: the ``widget.kdf`` purpose of the address hash's key
ADDRESS_KEY_PURPOSE = "sealed-email-key/v1"
#: rows re-sealed per transaction
REKEY_BATCH = 500


class SealingError(Exception):
    """A key or a box cannot be used; the message says what and how to fix it (no data)."""


class KeyFileError(SealingError):
    """The private key file is missing, readable by others, or not a key file."""


class WrongKey(SealingError):
    """The private key does not open the boxes it was asked to open."""


def public_key_from_text(value: str) -> PublicKey:
    """A public key from its base64 form; ``ValueError`` unless it is 32 bytes exactly."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(raw) != PublicKey.SIZE:
        raise ValueError(f"{len(raw)} bytes, not {PublicKey.SIZE}")
    return PublicKey(raw)


def public_key_text(key: PublicKey) -> str:
    return base64.b64encode(bytes(key)).decode("ascii")


def fingerprint(key: PublicKey) -> str:
    """SHA-256 of the public key, hex: which key sealed a row, without storing the key."""
    return hashlib.sha256(bytes(key)).hexdigest()


def generate_key_file(path: Path) -> PublicKey:
    """Write a new private key to ``path`` (mode 0600, never over an existing file); return
    its public key. The file is created with its final mode, so it is never readable by others
    even for a moment; an existing file is refused, since overwriting a key loses the data."""
    key = PrivateKey.generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} exists: a key file is never overwritten.") from None
    except OSError as error:
        raise KeyFileError(f"{path} cannot be created: {error.strerror}.") from None
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(f"{KEY_FILE_HEADER}\n{base64.b64encode(bytes(key)).decode('ascii')}\n")
    return key.public_key


def load_private_key(path: Path) -> PrivateKey:
    """The private key in ``path``; ``KeyFileError`` if it is missing, readable or writable
    by group or others (like ssh, a shared key is refused), or not a key file."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such key file.") from None
    except OSError as error:
        raise KeyFileError(f"{path} cannot be read: {error.strerror}.") from None
    if not stat.S_ISREG(mode):
        raise KeyFileError(f"{path} is not a file.")
    if mode & 0o077:
        raise KeyFileError(
            f"{path} may be read by other users (mode {stat.S_IMODE(mode):o}): "
            f"run chmod 600 {path} first."
        )
    try:
        lines = path.read_text(encoding="ascii").splitlines()
        if len(lines) != 2 or lines[0] != KEY_FILE_HEADER:
            raise ValueError
        raw = base64.b64decode(lines[1], validate=True)
        if len(raw) != PrivateKey.SIZE:
            raise ValueError
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise KeyFileError(
            f"{path} is not a key file made by: flask --app widget keys generate."
        ) from None
    except OSError as error:
        raise KeyFileError(f"{path} cannot be read: {error.strerror}.") from None
    return PrivateKey(raw)


@dataclass(frozen=True)
class AddressHasher:
    """The keyed hash of an address, one key per ``WIDGET_SECRET_KEY`` in the list (derived
    for this purpose alone). Built whether or not sealed mode is on: rows sealed before the mode
    was turned off, or before a key rotation, must still be found to be erased."""

    #: the hash keys, in the order of the secret keys: the first hashes new rows
    keys: tuple[bytes, ...]

    @classmethod
    def from_secret_keys(cls, secret_keys: Sequence[str]) -> AddressHasher:
        if isinstance(secret_keys, str) or not secret_keys:
            # a string would be taken as one-character keys
            raise TypeError("secret_keys is a non-empty sequence of keys, not a string")
        return cls(tuple(derive_key(key, ADDRESS_KEY_PURPOSE) for key in secret_keys))

    def address_key(self, email: str) -> str:
        """``email_key`` (every spelling of one mailbox alike) under HMAC with the first key:
        duplicates and erasure by address work, and the stored value names nobody without the
        secret key."""
        return _hashed(self.keys[0], email)

    def stored_forms(self, email: str) -> list[str]:
        """Every form an address's key may be stored in: the clear one (rows from before, or
        without, sealed mode) and its hash under each secret key (rows sealed before a
        rotation)."""
        return [email_key(email), *(_hashed(key, email) for key in self.keys)]


def _hashed(key: bytes, email: str) -> str:
    return "hmac:" + hmac.new(key, email_key(email).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Sealer:
    """What the server holds in sealed mode: the public key (it seals) and the address hasher
    (derived from the secret keys). It cannot open a box."""

    public_key: PublicKey
    addresses: AddressHasher

    @classmethod
    def from_settings(cls, public_key: str, addresses: AddressHasher) -> Sealer:
        return cls(public_key_from_text(public_key), addresses)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def seal(self, fields: dict[str, Any]) -> str:
        """One sealed box of the fields as JSON, base64; a fresh ephemeral key every time, so
        two boxes of the same values differ."""
        plain = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
        return base64.b64encode(SealedBox(self.public_key).encrypt(plain)).decode("ascii")

    def address_key(self, email: str) -> str:
        """The key a new sealed row stores: the address's hash under the first secret key."""
        return self.addresses.address_key(email)

    def sealed_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """The row's values with its personal fields moved into the box: the same work for
        every submission, whatever the state of the address."""
        box = {name: values[name] for name in SEALED_FIELDS}
        return {
            **values,
            "name": "",
            "email": "",
            "source_url": None,
            "sealed": self.seal(box),
            "sealed_key": self.fingerprint,
        }


def personal_fields(signature: Signature) -> dict[str, Any]:
    """The one place an output takes a supporter's personal fields from: name, address and
    source page, or for a sealed row its box as stored (only the private key's holder opens
    it). Webhooks send this as it is; the signatures API maps it to OSDI's shape."""
    if signature.sealed is not None:
        return {"sealed": signature.sealed}
    return {field: getattr(signature, field) for field in SEALED_FIELDS}


def open_box(private_key: PrivateKey, sealed: str) -> dict[str, Any]:
    """The fields in a box; ``WrongKey`` if this key did not seal it (or it was altered)."""
    try:
        plain = SealedBox(private_key).decrypt(base64.b64decode(sealed))
    except (CryptoError, binascii.Error, ValueError):
        raise WrongKey(
            "the private key does not open the sealed data (a different key sealed it, or it "
            "was altered)."
        ) from None
    fields: dict[str, Any] = json.loads(plain)
    return fields


def sealed_by_key(session: Session, where: Iterable[Any] = ()) -> dict[str, int]:
    """How many rows each public key (fingerprint) sealed, among those ``where`` selects."""
    rows = session.execute(
        select(Signature.sealed_key, func.count())
        .where(Signature.sealed.is_not(None), *where)
        .group_by(Signature.sealed_key)
    ).all()
    return {str(key): int(count) for key, count in rows}


def check_opens(session: Session, private_key: PrivateKey, where: Iterable[Any] = ()) -> int:
    """Before any output: every sealed row ``where`` selects must be this key's, and one box
    must open. Returns how many sealed rows there are; ``WrongKey`` names the problem."""
    where = list(where)
    counts = sealed_by_key(session, where)
    ours = fingerprint(private_key.public_key)
    others = {key: count for key, count in counts.items() if key != ours}
    if others:
        described = ", ".join(f"{count} by key {key[:12]}…" for key, count in others.items())
        raise WrongKey(
            f"this private key (public key {ours[:12]}…) did not seal {sum(others.values())} of "
            f"these signatures ({described}). Use the key that did, or re-seal them with: "
            "flask --app widget rekey --old-key FILE."
        )
    sample = session.scalar(select(Signature.sealed).where(Signature.sealed.is_not(None), *where))
    if sample is not None:
        open_box(private_key, sample)
    return counts.get(ours, 0)


def _not_before_itself(now: datetime) -> ColumnElement[datetime]:
    """``max(updated_at, now)``, in the statement: rekey runs on the computer with the key,
    whose clock may lag the server's, and a change that moved ``updated_at`` backwards would
    land behind pages the signatures API has already handed out."""
    return case((Signature.updated_at > now, Signature.updated_at), else_=now)


@dataclass(frozen=True)
class RekeyReport:
    resealed: int
    #: rows still sealed by keys other than the current one (neither old nor new)
    other_keys: dict[str, int]


def rekey(
    session: Session,
    old_key: PrivateKey,
    sealer: Sealer,
    *,
    now: datetime,
    batch: int = REKEY_BATCH,
) -> RekeyReport:
    """Re-seal every row the old key's public key sealed for the current public key, a batch
    per transaction, so an interrupted run keeps what it did and a second run goes on (or does
    nothing). Raises ``WrongKey`` when the old key is not one that sealed any row still to do."""
    old = fingerprint(old_key.public_key)
    if old == sealer.fingerprint:
        raise WrongKey(
            "the old key is the current WIDGET_DATA_PUBLIC_KEY's: set the new public key first."
        )
    resealed = 0
    pending = sealed_by_key(session)
    others = [key[:12] + "…" for key in pending if key != sealer.fingerprint]
    if old not in pending and others:
        session.rollback()
        raise WrongKey(
            f"no signature is sealed with this key (public key {old[:12]}…); signatures still "
            f"to re-seal were sealed by: {', '.join(others)}."
        )
    while True:
        rows = session.execute(
            select(Signature.id, Signature.sealed)
            .where(Signature.sealed_key == old)
            .order_by(Signature.id)
            .limit(batch)
        ).all()
        if not rows:
            break
        for signature_id, sealed in rows:
            session.execute(
                update(Signature)
                .where(Signature.id == signature_id, Signature.sealed_key == old)
                .values(
                    sealed=sealer.seal(open_box(old_key, sealed)),
                    sealed_key=sealer.fingerprint,
                    updated_at=_not_before_itself(now),
                )
                .execution_options(synchronize_session=False)
            )
        session.commit()
        resealed += len(rows)
    others = {k: n for k, n in sealed_by_key(session).items() if k != sealer.fingerprint}
    session.rollback()
    return RekeyReport(resealed, others)
