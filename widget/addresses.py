"""Who an email address belongs to: one key for every spelling of one mailbox.

The key finds duplicate signatures, spends the address's mail budget and finds a supporter's
signatures for erasure, so every spelling a person (or a script) can type for one mailbox must
give the same key: full-width letters, case beyond ASCII, composed and decomposed accents, an
IDN domain in Unicode or in punycode, a ``+tag``, dots in Gmail. Mail still goes to the address
as typed.
"""

from __future__ import annotations

import hashlib
import unicodedata

import idna
from email_validator import EmailNotValidError, validate_email

#: the ``signature.email_key`` column's length, and the form's cap on a typed address
KEY_LENGTH = 254
#: providers where dots in the local part do not matter
DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def email_key(email: str) -> str:
    """The form of an address used to find duplicates; it always fits ``KEY_LENGTH``.

    A key that would not fit is replaced by its SHA-256, so a lookup by any string works; the
    sign form refuses such addresses (``key_fits``), so none is stored."""
    key = _full_key(email)
    if len(key) <= KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def key_fits(email: str) -> bool:
    """Whether the address's key fits the column (NFKC and case folding can lengthen it)."""
    return len(_full_key(email)) <= KEY_LENGTH


def domain_key(domain: str) -> str:
    """A domain in its one ASCII spelling: UTS #46 mapping (full-width letters, case) + IDNA."""
    folded = _fold(domain.strip().rstrip("."))
    try:
        return idna.encode(folded, uts46=True).decode("ascii")
    except idna.IDNAError:
        return folded


def _full_key(email: str) -> str:
    """Case never matters; a ``+tag`` is dropped (most providers deliver ``a+x@`` to ``a@``);
    in Gmail dots do not matter either. So one person cannot sign twice by varying it."""
    try:
        valid = validate_email(email, check_deliverability=False)
        local, domain = valid.local_part, valid.domain
    except EmailNotValidError:
        # Not an address the form accepts (a staff search, an old row): the same rules, best effort.
        local, _, domain = email.strip().rpartition("@")
    local = _fold(local)
    domain = domain_key(domain)
    local = local.split("+", 1)[0] or local
    if domain in DOTLESS_DOMAINS:
        domain = DOTLESS_DOMAINS[domain]
        local = local.replace(".", "")
    return f"{local}@{domain}"


def _fold(text: str) -> str:
    """Unicode's NFKC_Casefold, as far as Python's ``unicodedata`` goes: compatibility forms
    (full-width letters, ligatures) and case beyond ASCII (``ß``, final sigma) fold to one."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
