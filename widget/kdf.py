"""Keys for each purpose, derived from the secret key, so that no two uses share one key.

HKDF (RFC 5869) with SHA-256, from the ``cryptography`` package: no home-made cryptography.
"""

from __future__ import annotations

from functools import cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

#: HKDF's extract salt: fixed, so a key is the same in every process and after every restart
SALT = b"action-widget/hkdf/v1"


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA256(ikm, salt, info), ``length`` bytes."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


@cache
def derive_key(secret_key: str, purpose: str) -> bytes:
    """The key for ``purpose`` (e.g. ``"ip-hash/v1"``): knowing it reveals neither the secret
    key nor any other purpose's key. Changing ``purpose``'s version changes the key."""
    return hkdf_sha256(secret_key.encode(), SALT, f"action-widget/{purpose}".encode())
