"""The mails a supporter gets, rendered from ``templates/email`` with a plain-text and HTML part."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from .models import Signature
from .outbox import Mail
from .page_cache import page_cache
from .tokens import TokenService, link_payload

#: builds an absolute URL from an endpoint and its arguments
LinkBuilder = Callable[..., str]


class TokenServices(Protocol):
    """The token services a mail needs (``widget.WidgetState`` has them)."""

    verify_tokens: TokenService
    manage_tokens: TokenService


class MailNotices:
    """Implements ``widget.signing.Notices`` for the running app. Every mail but the last
    ("withdrawn") carries the supporter's own link to see and withdraw the signature; links
    carry the signature's secret, so they die with it."""

    def __init__(self, link: LinkBuilder, tokens: TokenServices) -> None:
        self.link = link
        self.tokens = tokens

    def ask_to_confirm(self, signature: Signature) -> Mail:
        return self._mail(
            signature,
            "confirm",
            lambda: _("Please confirm your signature: %(title)s", title=signature.campaign.title),
            verify_url=self._verify_url(signature),
            manage_url=self._manage_url(signature),
        )

    def remind(self, signature: Signature) -> Mail:
        """The one reminder (``widget.reminders``): the same ask and subject, a fresh link,
        one line on why it matters and the way out for whoever did not sign."""
        return self._mail(
            signature,
            "reminder",
            lambda: _("Please confirm your signature: %(title)s", title=signature.campaign.title),
            verify_url=self._verify_url(signature),
            manage_url=self._manage_url(signature),
        )

    def already_signed(self, signature: Signature) -> Mail:
        return self._mail(
            signature,
            "already_signed",
            lambda: _("You have already signed: %(title)s", title=signature.campaign.title),
            manage_url=self._manage_url(signature),
        )

    def withdrawn(self, signature: Signature) -> Mail:
        """The last mail: no token at all, since there is nothing left to see or withdraw."""
        return self._mail(
            signature,
            "withdrawn",
            lambda: _("Your signature was withdrawn: %(title)s", title=signature.campaign.title),
        )

    def _verify_url(self, signature: Signature) -> str:
        claims = link_payload(signature.id, signature.link_secret, c=signature.campaign.slug)
        return self.link("widget.verify", token=self.tokens.verify_tokens.dumps(claims))

    def _manage_url(self, signature: Signature) -> str:
        token = self.tokens.manage_tokens.dumps(link_payload(signature.id, signature.link_secret))
        return self.link("manage.manage", token=token)

    def _mail(
        self, signature: Signature, template: str, subject: Callable[[], str], **links: str
    ) -> Mail:
        """Rendered once per campaign, language and kind of mail in each process
        (``widget.page_cache``); the signature's own links are its slots."""
        inputs = {
            "language": signature.language,
            "campaign": signature.campaign,
            "widget_url": self.link("widget.page", slug=signature.campaign.slug),
            "privacy_url": self.link("manage.notice", lang=signature.language),
            "link_days": self.tokens.verify_tokens.max_age.days,
        }
        pages = page_cache(current_app)
        text, html = f"email/{template}.txt", f"email/{template}.html"
        with force_locale(signature.language):
            return Mail(
                recipient=signature.email,
                subject=subject(),
                text=pages.page(text, inputs, links, _rendering(text), escaped=False),
                html=pages.page(html, inputs, links, _rendering(html)),
                kind=template,
                signature_id=signature.id,
            )


def _rendering(template: str) -> Callable[[dict[str, object]], str]:
    return lambda context: render_template(template, **context)
