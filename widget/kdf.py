"""Keys for each purpose, derived from the secret key, so that no two uses share one key.

HKDF (RFC 5869) with SHA-256, built from ``hmac`` as the RFC specifies it: the ``cryptography``
package is not a dependency, and one 32-byte block needs only the RFC's first two HMACs.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import cache

#: HKDF's extract salt: fixed, so a key is the same in every process and after every restart
SALT = b"action-widget/hkdf/v1"


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    """The first 32 bytes of HKDF-SHA256(ikm, salt, info): Extract, then one Expand block."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


@cache
def derive_key(secret_key: str, purpose: str) -> bytes:
    """The key for ``purpose`` (e.g. ``"ip-hash/v1"``): knowing it reveals neither the secret
    key nor any other purpose's key. Changing ``purpose``'s version changes the key."""
    return hkdf_sha256(secret_key.encode(), SALT, f"action-widget/{purpose}".encode())
