"""Who is behind the widget: the organisation's name, website and privacy contact, as the
widget's footer, the privacy notice and the mails' sender show them."""

from __future__ import annotations

from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import parseaddr

from .settings import Settings


@dataclass(frozen=True)
class Organisation:
    """``WIDGET_ORG_NAME``, ``WIDGET_ORG_URL``, ``WIDGET_PRIVACY_CONTACT``; each may be unset,
    and the templates then leave its words out rather than show a placeholder."""

    name: str | None = None
    url: str | None = None
    privacy_contact: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Organisation:
        return cls(settings.org_name, settings.org_url, settings.privacy_contact)


def sender(mail_from: str, name: str | None) -> Address:
    """The ``From`` of our mails: ``"Name" <address>``; a non-ASCII name is encoded (RFC 2047)
    by the mail library when the header is written, never pasted in raw. ``WIDGET_MAIL_FROM``
    may carry a name of its own (``Amnesty <actions@example.org>``); the organisation's wins."""
    own_name, address = parseaddr(mail_from)
    return Address(display_name=name or own_name, addr_spec=address)
